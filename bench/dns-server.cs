// Berth's embedded DNS server for bench/dns.sh: attaches to the network namespace given as the first argument and
// answers "web" (10.0.0.3) for a container on one network, as the engine would, until stdin closes.
#:project ../src/Berth.Networking/Berth.Networking.csproj
#:property PublishAot=false
using System.Net;
using Berth.Networking.Dns;

var netns = args.Length > 0 ? args[0] : throw new ArgumentException("usage: dns-server.cs NETNS_PATH");
var zone = new DnsZone();
zone.AddEndpoint(new DnsEndpoint("n-bench", "bench", new string('a', 64), "client", [], IPAddress.Parse("10.0.0.2"), null));
zone.AddEndpoint(new DnsEndpoint("n-bench", "bench", new string('b', 64), "web", [], IPAddress.Parse("10.0.0.3"), null));
await using var server = new DnsServer(new DnsServerOptions { Upstreams = [] });
await server.AttachAsync("client", netns, zone.ViewOf(new string('a', 64)), CancellationToken.None);
Console.WriteLine("ready");
await Console.In.ReadToEndAsync();
Console.Error.WriteLine($"queries {server.Statistics.Queries}, local {server.Statistics.AnsweredLocally}, failed {server.Statistics.Failed}");
