using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Berth.Engine.Networks;
using Berth.Linux.Netlink;
using Berth.Testing;

namespace Berth.Engine.Tests;

/// <summary>
/// Container networking with the real docker CLI against berth daemon: the scenarios run once with Berth's CNI
/// plugins and once with Debian's reference plugins.
/// </summary>
public abstract class NetworkScenarios
{
    protected abstract EngineFixture F { get; }

    protected static string Unique(string prefix) => prefix + Guid.NewGuid().ToString("N")[..6];

    /// <summary>A subnet no one uses: 10.2xx.N.0/24 with N random, retried by the daemon's overlap check.</summary>
    protected string CreateNetwork(string name, params string[] extra)
    {
        for (var i = 0; ; i++)
        {
            var subnet = $"10.{200 + Random.Shared.Next(50)}.{Random.Shared.Next(256)}.0/24";
            var r = F.Run(["network", "create", "--subnet", subnet, .. extra, name]);
            if (r.ExitCode == 0 || i > 5)
            {
                return r.Ok().Stdout.Trim();
            }
        }
    }

    /// <summary>One field of a container's endpoint on a network, as `docker inspect -f` prints it.</summary>
    protected string EndpointField(string container, string net, string field) =>
        F.Run("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").{field}}}}}", container).Ok().Stdout.Trim();

    internal static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    internal static string HostAddress()
    {
        using var nl = RtNetlink.Open();
        var links = nl.GetLinks().ToDictionary(l => l.Index);
        return nl.GetAddresses().First(a => a.Address.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a.Address) &&
            links.TryGetValue(a.LinkIndex, out var l) && l.Kind is null && l.Name != "lo").Address.ToString();
    }

    internal static string Get(string url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        return http.GetStringAsync(new Uri(url)).GetAwaiter().GetResult();
    }

    internal static string GetEventually(string url)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            try
            {
                return Get(url);
            }
            catch (Exception e) when ((e is HttpRequestException or TaskCanceledException) && DateTime.UtcNow < until)
            {
                Thread.Sleep(200);
            }
        }
    }

    [Fact]
    public void Containers_on_a_user_defined_network_reach_each_other()
    {
        var net = Unique("net");
        CreateNetwork(net);
        var a = Unique("a");
        var b = Unique("b");
        try
        {
            F.Run("run", "-d", "--name", a, "--network", net, "--network-alias", "web-alias", "busybox", "sh", "-c", "mkdir /www; echo from-a > /www/index.html; httpd -p 80 -h /www; exec nc -l -p 7000").Ok();
            F.Run("run", "-d", "--name", b, "--network", net, "busybox", "sleep", "300").Ok();
            var ipA = EndpointField(a, net, "IPAddress");
            var idA = F.Run("inspect", "-f", "{{.Id}}", a).Ok().Stdout.Trim();
            Assert.True(IPAddress.TryParse(ipA, out _), ipA);
            Assert.Equal(0, F.Run("exec", b, "ping", "-c", "1", "-W", "3", ipA).ExitCode);
            DockerCliTests.WaitFor(() => F.Run("exec", b, "wget", "-qO-", $"http://{ipA}/").Stdout == "from-a\n");
            // By name, network alias and short id, through the embedded DNS server on 127.0.0.11.
            Assert.Contains("nameserver 127.0.0.11", F.Run("exec", b, "cat", "/etc/resolv.conf").Ok().Stdout, StringComparison.Ordinal);
            Assert.Equal(0, F.Run("exec", b, "ping", "-c", "1", "-W", "3", a).ExitCode);
            Assert.Equal("from-a\n", F.Run("exec", b, "wget", "-qO-", $"http://{a}/").Ok().Stdout);
            Assert.Equal("from-a\n", F.Run("exec", b, "wget", "-qO-", "http://web-alias/").Ok().Stdout);
            Assert.Equal("from-a\n", F.Run("exec", b, "wget", "-qO-", $"http://{idA[..12]}/").Ok().Stdout);
            Assert.Contains(ipA, F.Run("exec", b, "nslookup", a).Stdout, StringComparison.Ordinal);
            // The network shows both endpoints; it cannot go while they are attached.
            var inspect = JsonDocument.Parse(F.Run("network", "inspect", net).Ok().Stdout).RootElement[0];
            Assert.Equal(2, inspect.GetProperty("Containers").EnumerateObject().Count());
            var rm = F.Run("network", "rm", net);
            Assert.NotEqual(0, rm.ExitCode);
            Assert.Contains("has active endpoints", rm.Stderr, StringComparison.Ordinal);
            Assert.Contains(ipA, F.Run("exec", a, "cat", "/etc/hosts").Ok().Stdout, StringComparison.Ordinal);
            // nc across the bridge (a's main process ends with it).
            F.Run("exec", b, "sh", "-c", $"echo over-nc | nc {a} 7000").Ok();
            DockerCliTests.WaitFor(() => F.Run("logs", a).Stdout.Contains("over-nc", StringComparison.Ordinal));
        }
        finally
        {
            F.Run("rm", "-f", a, b);
            F.Run("network", "rm", net);
        }
        Assert.NotEqual(0, F.Run("network", "inspect", net).ExitCode);
    }

    [Fact]
    public void Networks_are_isolated_from_each_other_but_published_ports_answer_from_any_of_them()
    {
        string[] nets = [Unique("iso"), Unique("iso"), Unique("int")];
        CreateNetwork(nets[0]);
        CreateNetwork(nets[1]);
        CreateNetwork(nets[2], "--internal");
        var web = Unique("web");
        var peer = Unique("peer");
        var other = Unique("other");
        var inner = Unique("inner");
        var port = FreePort();
        // (busybox-static 1.35 wget crashes with -T; timeout bounds a dropped connection instead.)
        Cli.Result Wget(string from, string url) => F.Run("exec", from, "timeout", "4", "wget", "-qO-", url);
        try
        {
            const string Httpd = "mkdir /www; echo $0 > /www/index.html; exec httpd -f -p 80 -h /www";
            F.Run("run", "-d", "--name", web, "--network", nets[0], "-p", $"{port}:80", "busybox", "sh", "-c", Httpd, "web").Ok();
            F.Run("run", "-d", "--name", peer, "--network", nets[0], "busybox", "sleep", "300").Ok();
            F.Run("run", "-d", "--name", other, "--network", nets[1], "busybox", "sleep", "300").Ok();
            F.Run("run", "-d", "--name", inner, "--network", nets[2], "busybox", "sh", "-c", Httpd, "inner").Ok();
            var webIp = EndpointField(web, nets[0], "IPAddress");
            var innerIp = EndpointField(inner, nets[2], "IPAddress");
            // Both servers answer: from the host (every network's gateway is the host's) and from the same network.
            Assert.Equal("web\n", GetEventually($"http://{webIp}/"));
            Assert.Equal("inner\n", GetEventually($"http://{innerIp}/"));
            Assert.Equal("web\n", Wget(peer, $"http://{webIp}/").Ok().Stdout);
            // From another network: not by address, through the host...
            Assert.NotEqual(0, Wget(other, $"http://{webIp}/").ExitCode);
            // ...but the published port answers, as it does any other machine.
            Assert.Equal("web\n", Wget(other, $"http://{HostAddress()}:{port}/").Ok().Stdout);
            // An internal network exchanges nothing with the others, either way.
            Assert.NotEqual(0, Wget(peer, $"http://{innerIp}/").ExitCode);
            Assert.NotEqual(0, Wget(inner, $"http://{webIp}/").ExitCode);
        }
        finally
        {
            F.Run("rm", "-f", web, peer, other, inner);
            F.Run(["network", "rm", .. nets]);
        }
    }

    [Fact]
    public void Aux_addresses_are_never_given_to_containers()
    {
        var net = Unique("aux");
        string prefix = "";
        for (var i = 0; i < 6; i++)
        {
            prefix = $"10.{200 + Random.Shared.Next(50)}.{Random.Shared.Next(256)}.";
            var r = F.Run("network", "create", "--subnet", prefix + "0/29", "--aux-address", $"r1={prefix}2", "--aux-address", $"r2={prefix}3",
                "--aux-address", $"r3={prefix}4", "--aux-address", $"r4={prefix}5", net);
            if (r.ExitCode == 0)
            {
                break;
            }
            Assert.Contains("overlaps", r.Stderr, StringComparison.Ordinal);
        }
        var name = Unique("a");
        try
        {
            Assert.Equal($"{prefix}5", F.Run("network", "inspect", "-f", "{{(index .IPAM.Config 0).AuxiliaryAddresses.r4}}", net).Ok().Stdout.Trim());
            // .1 is the gateway, .2-.5 are aux addresses: .6 is the one left.
            F.Run("run", "-d", "--name", name, "--network", net, "busybox", "sleep", "300").Ok();
            Assert.Equal($"{prefix}6", EndpointField(name, net, "IPAddress"));
            Assert.NotEqual(0, F.Run("run", "--rm", "--network", net, "busybox", "true").ExitCode);
            var outside = F.Run("network", "create", "--subnet", "10.251.252.0/24", "--aux-address", "x=10.9.9.9", Unique("o"));
            Assert.Contains("no matching subnet for aux-address 10.9.9.9", outside.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            F.Run("rm", "-f", name);
            F.Run("network", "rm", net);
        }
    }

    [Fact]
    public void A_networks_host_binding_address_applies_to_ports_published_without_one()
    {
        var net = Unique("hb");
        CreateNetwork(net, "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1");
        var web = Unique("web");
        var port = FreePort();
        try
        {
            F.Run("run", "-d", "--name", web, "--network", net, "-p", $"{port}:80", "busybox", "sh", "-c", "mkdir /www; echo local > /www/index.html; exec httpd -f -p 80 -h /www").Ok();
            Assert.Equal($"80/tcp -> 127.0.0.1:{port}", F.Run("port", web).Ok().Stdout.Trim());
            Assert.Equal("local\n", GetEventually($"http://127.0.0.1:{port}/"));
            Assert.ThrowsAny<Exception>(() => Get($"http://{HostAddress()}:{port}/"));
            var bad = F.Run("network", "create", "-o", "com.docker.network.bridge.host_binding_ipv4=nowhere", Unique("o"));
            Assert.Contains("invalid com.docker.network.bridge.host_binding_ipv4 nowhere", bad.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            F.Run("rm", "-f", web);
            F.Run("network", "rm", net);
        }
    }

    [Fact]
    public void Mac_address_reaches_the_container_interface_and_inspect()
    {
        var net = Unique("mac");
        CreateNetwork(net);
        var name = Unique("m");
        try
        {
            F.Run("create", "--name", name, "--network", net, "--mac-address", "02:42:AC:1F:00:99", "busybox", "sleep", "300").Ok();
            // Configured before it runs, as inspect shows it with dockerd.
            Assert.Equal("02:42:ac:1f:00:99", EndpointField(name, net, "MacAddress"));
            F.Run("start", name).Ok();
            Assert.Equal("02:42:ac:1f:00:99", F.Run("exec", name, "cat", "/sys/class/net/eth0/address").Ok().Stdout.Trim());
            Assert.Equal("02:42:ac:1f:00:99", EndpointField(name, net, "MacAddress"));
            // A multicast address passes the docker CLI's format check; the daemon refuses it and creates nothing.
            var bad = F.Run("run", "--name", name + "x", "--network", net, "--mac-address", "01:00:5e:00:00:01", "busybox", "true");
            Assert.Equal(125, bad.ExitCode);
            Assert.Contains("invalid MAC address 01:00:5e:00:00:01", bad.Stderr, StringComparison.Ordinal);
            Assert.NotEqual(0, F.Run("inspect", name + "x").ExitCode);
        }
        finally
        {
            F.Run("rm", "-f", name);
            F.Run("network", "rm", net);
        }
    }

    [Fact]
    public void A_published_httpd_answers_from_the_host_loopback_another_container_and_another_machine()
    {
        var web = Unique("web");
        var port = FreePort();
        var host = HostAddress();
        var ns = Unique("bm");
        var hostVeth = Unique("bmh");
        var octet = 1 + Random.Shared.Next(250);
        var hostSide = $"10.254.{octet}.1";
        var remoteSide = $"10.254.{octet}.2";
        try
        {
            F.Run("run", "-d", "--name", web, "-p", $"{port}:80", "busybox", "sh", "-c", "mkdir /www; echo published > /www/index.html; exec httpd -f -p 80 -h /www").Ok();
            Assert.Equal($"80/tcp -> 0.0.0.0:{port}", F.Run("port", web).Ok().Stdout.Trim());
            Assert.Equal($"0.0.0.0:{port}->80/tcp", F.Run("ps", "--filter", "name=" + web, "--format", "{{.Ports}}").Ok().Stdout.Trim());
            Assert.Equal("published\n", GetEventually($"http://127.0.0.1:{port}/"));
            Assert.Equal("published\n", Get($"http://{host}:{port}/"));
            // Another container (on the default bridge, hairpin through the host's address).
            Assert.Equal("published\n", F.Run("run", "--rm", "busybox", "wget", "-qO-", $"http://{host}:{port}/").Ok().Stdout);
            // Another machine: a namespace behind a veth pair, routed through the host.
            Cli.Run("ip", ["netns", "add", ns]).Ok();
            Cli.Run("ip", ["link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", ns]).Ok();
            Cli.Run("ip", ["addr", "add", hostSide + "/30", "dev", hostVeth]).Ok();
            Cli.Run("ip", ["link", "set", hostVeth, "up"]).Ok();
            Cli.Run("ip", ["-n", ns, "addr", "add", remoteSide + "/30", "dev", "eth0"]).Ok();
            Cli.Run("ip", ["-n", ns, "link", "set", "eth0", "up"]).Ok();
            Cli.Run("ip", ["-n", ns, "link", "set", "lo", "up"]).Ok();
            Cli.Run("ip", ["-n", ns, "route", "add", "default", "via", hostSide]).Ok();
            var remote = Cli.Run("ip", ["netns", "exec", ns, "timeout", "10", "busybox", "wget", "-qO-", $"http://{hostSide}:{port}/"]);
            Assert.Equal("published\n", remote.Ok().Stdout);
            var remoteViaHost = Cli.Run("ip", ["netns", "exec", ns, "timeout", "10", "busybox", "wget", "-qO-", $"http://{host}:{port}/"]);
            Assert.Equal("published\n", remoteViaHost.Ok().Stdout);
        }
        finally
        {
            F.Run("rm", "-f", web);
            Cli.Run("ip", ["link", "delete", hostVeth]);
            Cli.Run("ip", ["netns", "delete", ns]);
        }
        // Gone with the container: nothing answers there any more.
        Assert.ThrowsAny<Exception>(() => Get($"http://127.0.0.1:{port}/"));
    }
}

[Collection(EngineCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class NetworkTests(EngineFixture f) : NetworkScenarios
{
    protected override EngineFixture F => f;

    [Fact]
    public void A_container_runs_its_own_server_on_port_53_and_still_resolves_names()
    {
        var net = Unique("dns");
        CreateNetwork(net);
        var name = Unique("ns53");
        try
        {
            // Port 53 on every address taken by the container's own server (TCP: busybox has no UDP server; the
            // DNS server's own tests hold UDP port 53 too).
            F.Run("run", "-d", "--name", name, "--network", net, "busybox", "nc", "-ll", "-p", "53", "-e", "echo", "tcp53").Ok();
            DockerCliTests.WaitFor(() => F.Run("exec", name, "sh", "-c", "nc 127.0.0.1 53 </dev/null").Stdout.Contains("tcp53", StringComparison.Ordinal));
            var lookup = F.Run("exec", name, "nslookup", name);
            Assert.True(lookup.ExitCode == 0, lookup.Stdout + lookup.Stderr);
            Assert.Contains(EndpointField(name, net, "IPAddress"), lookup.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            F.Run("rm", "-f", name);
            F.Run("network", "rm", net);
        }
    }

    [Fact]
    public void Inspect_shows_the_default_bridge_endpoint_and_the_container_resolves_and_routes()
    {
        var c = Unique("c");
        try
        {
            F.Run("run", "-d", "--name", c, "--add-host", "gw:host-gateway", "--hostname", "box", busybox, "sleep", "300").Ok();
            var s = JsonDocument.Parse(F.Run("inspect", c).Ok().Stdout).RootElement[0].GetProperty("NetworkSettings");
            var ep = s.GetProperty("Networks").GetProperty("bridge");
            var ip = s.GetProperty("IPAddress").GetString()!;
            Assert.Equal(ep.GetProperty("IPAddress").GetString(), ip);
            Assert.Equal(ep.GetProperty("Gateway").GetString(), s.GetProperty("Gateway").GetString());
            Assert.Equal(64, ep.GetProperty("EndpointID").GetString()!.Length);
            Assert.Equal(F.Engine.Networks.Get("bridge").Id, ep.GetProperty("NetworkID").GetString());
            Assert.Matches("^([0-9a-f]{2}:){5}[0-9a-f]{2}$", ep.GetProperty("MacAddress").GetString()!);
            var inside = F.Run("exec", c, "ip", "-o", "-4", "addr", "show", "eth0").Ok().Stdout;
            Assert.Contains(ip + "/" + ep.GetProperty("IPPrefixLen").GetInt32().ToString(CultureInfo.InvariantCulture), inside, StringComparison.Ordinal);
            Assert.Contains(ep.GetProperty("MacAddress").GetString()!, F.Run("exec", c, "cat", "/sys/class/net/eth0/address").Ok().Stdout, StringComparison.Ordinal);
            var hosts = F.Run("exec", c, "cat", "/etc/hosts").Ok().Stdout;
            Assert.Contains(ip + "\tbox", hosts, StringComparison.Ordinal);
            Assert.Contains(s.GetProperty("Gateway").GetString() + "\tgw", hosts, StringComparison.Ordinal);
            var resolv = F.Run("exec", c, "cat", "/etc/resolv.conf").Ok().Stdout;
            Assert.DoesNotContain("nameserver 127.", resolv, StringComparison.Ordinal);
            Assert.Contains("nameserver", resolv, StringComparison.Ordinal);
            Assert.Equal("box\n", F.Run("exec", c, "hostname").Ok().Stdout);
            // The gateway (the host) answers.
            Assert.Equal(0, F.Run("exec", c, "ping", "-c", "1", "-W", "3", s.GetProperty("Gateway").GetString()!).ExitCode);
            // --dns replaces the resolvers.
            Assert.Contains("nameserver 192.0.2.53", F.Run("run", "--rm", "--dns", "192.0.2.53", busybox, "cat", "/etc/resolv.conf").Ok().Stdout, StringComparison.Ordinal);
        }
        finally
        {
            F.Run("rm", "-f", c);
        }
    }

    private const string busybox = "busybox";

    [Fact]
    public void Port_conflicts_and_bad_specs_are_one_line_errors_that_leave_nothing()
    {
        var port = FreePort();
        var a = Unique("pa");
        var b = Unique("pb");
        try
        {
            F.Run("run", "-d", "--name", a, "-p", $"{port}:80", busybox, "sleep", "300").Ok();
            var links = EngineLinks(F.Engine);
            var r = F.Run("run", "-d", "--name", b, "-p", $"{port}:80", busybox, "sleep", "300");
            Assert.Equal(125, r.ExitCode);
            Assert.Contains($"Bind for 0.0.0.0:{port} failed: port is already allocated", r.Stderr, StringComparison.Ordinal);
            Assert.Equal(links, EngineLinks(F.Engine));
            Assert.Equal("created", F.Run("inspect", "-f", "{{.State.Status}}", b).Ok().Stdout.Trim());
            // Removal drops the container's network state from the engine (no state kept per removed container).
            var idB = F.Run("inspect", "-f", "{{.Id}}", b).Ok().Stdout.Trim();
            Assert.True(F.Engine.Networks.Tracks(idB));
            F.Run("rm", b).Ok();
            Assert.False(F.Engine.Networks.Tracks(idB));
            // A port a host process listens on.
            using var listener = new TcpListener(IPAddress.Any, 0);
            listener.Start();
            var busy = ((IPEndPoint)listener.LocalEndpoint).Port;
            r = F.Run("run", "-d", "--name", b, "-p", $"{busy}:80", busybox, "sleep", "300");
            Assert.Equal(125, r.ExitCode);
            Assert.Contains("address already in use", r.Stderr, StringComparison.Ordinal);
            Assert.Equal(links, EngineLinks(F.Engine));
            F.Run("rm", b).Ok();
            // -P: exposed ports go to free ephemeral ports.
            F.Run("run", "-d", "--name", b, "-P", "--expose", "80", "--expose", "53/udp", busybox, "sleep", "300").Ok();
            var ports = F.Run("port", b).Ok().Stdout.Trim().Split('\n');
            Assert.Equal(2, ports.Length);
            Assert.Contains(ports, l => l.StartsWith("80/tcp -> 0.0.0.0:", StringComparison.Ordinal));
            Assert.Contains(ports, l => l.StartsWith("53/udp -> 0.0.0.0:", StringComparison.Ordinal));
            // Bad specs never reach a container.
            Assert.Contains("invalid", F.Run("run", "--rm", "-p", "80:99999", busybox, "true").Stderr, StringComparison.Ordinal);
            // The docker CLI rejects that spec itself; the daemon's own check is seen through the API.
            var name = Unique("pv");
            var (status, message) = Api("POST", $"/containers/create?name={name}", """{"Image":"busybox","Cmd":["true"],"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"99999"}]}}}""");
            Assert.Equal((HttpStatusCode.BadRequest, "invalid hostPort: 99999"), (status, message));
            (status, message) = Api("POST", $"/containers/create?name={name}", """{"Image":"busybox","Cmd":["true"],"HostConfig":{"PortBindings":{"99999/tcp":[{"HostPort":"80"}]}}}""");
            Assert.Equal((HttpStatusCode.BadRequest, "invalid containerPort: 99999"), (status, message));
            Assert.NotEqual(0, F.Run("inspect", name).ExitCode);
            var unknown = F.Run("run", "--rm", "--network", "no-such-net-" + Guid.NewGuid().ToString("N")[..4], busybox, "true");
            Assert.Equal(125, unknown.ExitCode);
        }
        finally
        {
            F.Run("rm", "-f", a, b);
        }
    }

    /// <summary>A raw request to the daemon's socket: the status and, for an error, the message of its body.</summary>
    private (HttpStatusCode Status, string Body) Api(string method, string path, string? json = null)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await s.ConnectAsync(new UnixDomainSocketEndPoint(F.Socket), ct);
                return new NetworkStream(s, ownsSocket: true);
            },
        }) { BaseAddress = new Uri("http://berth") };
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (json is not null)
        {
            request.Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        }
        using var response = http.Send(request);
        var body = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
        return ((int)response.StatusCode >= 400 ? (response.StatusCode, JsonDocument.Parse(body).RootElement.GetProperty("message").GetString()!) : (response.StatusCode, body));
    }

    [Fact]
    public void The_dangling_filter_lists_and_prunes_as_dockerd()
    {
        var unused = Unique("dg");
        var used = Unique("du");
        var c = Unique("dc");
        CreateNetwork(unused);
        CreateNetwork(used);
        try
        {
            F.Run("run", "-d", "--name", c, "--network", used, busybox, "sleep", "300").Ok();
            var filter = (bool dangling) => Uri.EscapeDataString($$"""{"dangling":["{{(dangling ? "true" : "false")}}"]}""");
            var (status, body) = Api("GET", "/networks?filters=" + filter(true));
            var names = JsonDocument.Parse(body).RootElement.EnumerateArray().Select(n => n.GetProperty("Name").GetString()).ToList();
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Contains(unused, names);
            Assert.DoesNotContain(used, names);
            Assert.DoesNotContain("bridge", names);
            names = [.. JsonDocument.Parse(Api("GET", "/networks?filters=" + filter(false)).Body).RootElement.EnumerateArray().Select(n => n.GetProperty("Name").GetString())];
            Assert.Contains(used, names);
            Assert.Contains("bridge", names);
            Assert.DoesNotContain(unused, names);
            // Prune takes only until, label and label! (dockerd 20.10 answers "Invalid filter 'dangling'"): nothing goes.
            (status, body) = Api("POST", "/networks/prune?filters=" + filter(false));
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Contains("invalid filter 'dangling'", body, StringComparison.OrdinalIgnoreCase);
            Assert.Equal(0, F.Run("network", "inspect", unused).ExitCode);
            Assert.Equal((HttpStatusCode.BadRequest, "Invalid filter 'dangling=[maybe]'"), Api("GET", "/networks?filters=" + Uri.EscapeDataString("""{"dangling":["maybe"]}""")));
        }
        finally
        {
            F.Run("rm", "-f", c);
            F.Run("network", "rm", unused, used);
        }
    }

    [Fact]
    public void Network_api_errors_are_dockers()
    {
        var n = Unique("en");
        CreateNetwork(n);
        try
        {
            var subnet = F.Run("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", n).Ok().Stdout.Trim();
            var overlap = F.Run("network", "create", "--subnet", subnet, Unique("o"));
            Assert.Equal(1, overlap.ExitCode);
            Assert.Contains("Pool overlaps with other one on this address space", overlap.Stderr, StringComparison.Ordinal);
            var cidr = F.Run("network", "create", "--subnet", "10.1.2.0/33", Unique("o"));
            Assert.Contains("invalid CIDR address: 10.1.2.0/33", cidr.Stderr, StringComparison.Ordinal);
            Assert.Contains($"network with name {n} already exists", F.Run("network", "create", n).Stderr, StringComparison.Ordinal);
            Assert.Contains("bridge is a pre-defined network and cannot be removed", F.Run("network", "rm", "bridge").Stderr, StringComparison.Ordinal);
            Assert.Contains("network nosuchnet not found", F.Run("network", "connect", "nosuchnet", "x").Stderr, StringComparison.Ordinal);
            Assert.Contains("network nosuchnet not found", F.Run("network", "inspect", "nosuchnet").Stderr, StringComparison.Ordinal);
            var gw = F.Run("network", "create", "--subnet", "10.249.250.0/24", "--gateway", "10.249.251.1", Unique("o"));
            Assert.Contains("no matching subnet for gateway", gw.Stderr, StringComparison.Ordinal);
            var icc = F.Run("network", "create", "-o", "com.docker.network.bridge.enable_icc=false", Unique("o"));
            Assert.Contains("not supported: com.docker.network.bridge.enable_icc=false", icc.Stderr, StringComparison.Ordinal);
            // Filters and labels.
            var labelled = Unique("lab");
            CreateNetwork(labelled, "--label", "team=net");
            Assert.Equal(labelled, F.Run("network", "ls", "--filter", "label=team=net", "--format", "{{.Name}}").Ok().Stdout.Trim());
            Assert.Contains("bridge", F.Run("network", "ls", "--filter", "type=builtin", "--format", "{{.Name}}").Ok().Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("bridge", F.Run("network", "ls", "--filter", "type=custom", "--format", "{{.Name}}").Ok().Stdout, StringComparison.Ordinal);
            Assert.Equal(labelled, F.Run("network", "ls", "-q", "--no-trunc", "--filter", "name=" + labelled, "--format", "{{.Name}}").Ok().Stdout.Trim());
            var pruned = F.Run("network", "prune", "-f", "--filter", "label=team=net").Ok().Stdout;
            Assert.Contains(labelled, pruned, StringComparison.Ordinal);
            Assert.NotEqual(0, F.Run("network", "inspect", labelled).ExitCode);
        }
        finally
        {
            F.Run("network", "rm", n);
        }
    }

    [Fact]
    public void Connect_a_running_container_adds_eth1_static_ip_and_alias_disconnect_removes_it()
    {
        var n1 = Unique("n");
        var n2 = Unique("n");
        CreateNetwork(n1);
        CreateNetwork(n2);
        var subnet2 = F.Run("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", n2).Ok().Stdout.Trim();
        var fixedIp = subnet2[..subnet2.LastIndexOf('.')] + ".77";
        var c = Unique("c");
        try
        {
            F.Run("run", "-d", "--name", c, "--network", n1, "--network-alias", "web", busybox, "sleep", "300").Ok();
            Assert.Equal("[web]", EndpointField(c, n1, "Aliases"));
            F.Run("network", "connect", "--ip", fixedIp, "--alias", "other", n2, c).Ok();
            Assert.Contains(fixedIp + "/24", F.Run("exec", c, "ip", "-o", "-4", "addr", "show", "eth1").Ok().Stdout, StringComparison.Ordinal);
            Assert.Equal(fixedIp, EndpointField(c, n2, "IPAddress"));
            Assert.Contains("already exists in network", F.Run("network", "connect", n2, c).Stderr, StringComparison.Ordinal);
            F.Run("network", "disconnect", n2, c).Ok();
            Assert.NotEqual(0, F.Run("exec", c, "ip", "link", "show", "eth1").ExitCode);
            Assert.DoesNotContain(n2, F.Run("inspect", "-f", "{{json .NetworkSettings.Networks}}", c).Ok().Stdout, StringComparison.Ordinal);
            // A restart keeps the alias and re-attaches.
            F.Run("restart", "-t", "0", c).Ok();
            Assert.Contains("inet ", F.Run("exec", c, "ip", "-o", "-4", "addr", "show", "eth0").Ok().Stdout, StringComparison.Ordinal);
            var onDefault = F.Run("run", "--rm", "--ip", "172.17.9.9", busybox, "true");
            Assert.Equal(125, onDefault.ExitCode);
            Assert.Contains("Error response from daemon: user specified IP address is supported on user defined networks only", onDefault.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            F.Run("rm", "-f", c);
            F.Run("network", "rm", n1, n2);
        }
    }

    [Fact]
    public void Rm_leaves_no_veth_address_nft_rule_or_ipam_reservation()
    {
        var net = Unique("t");
        CreateNetwork(net);
        var name = Unique("c");
        var links = EngineLinks(F.Engine);
        var addresses = HostAddresses();
        var ipam = IpamFiles(F.Engine);
        var table = NftTable(F.Engine);
        try
        {
            F.Run("run", "-d", "--name", name, "--network", net, "-p", $"{FreePort()}:80", busybox, "sleep", "300").Ok();
            Assert.Equal(ipam + 1, IpamFiles(F.Engine));
            Assert.True(EngineLinks(F.Engine).Count > links.Count);
            Assert.Contains("dnat", NftTable(F.Engine), StringComparison.Ordinal);
            F.Run("kill", name).Ok();
            DockerCliTests.WaitFor(() => F.Run("inspect", "-f", "{{.State.Status}}", name).Stdout.Trim() == "exited");
            // The exit alone tears the attachment down (before rm).
            DockerCliTests.WaitFor(() => IpamFiles(F.Engine) == ipam);
            F.Run("rm", name).Ok();
        }
        finally
        {
            F.Run("rm", "-f", name);
        }
        Assert.Equal(ipam, IpamFiles(F.Engine));
        Assert.Equal(links.Order(), EngineLinks(F.Engine).Order());
        Assert.Equal(addresses.Order(), HostAddresses().Order());
        Assert.Equal(table, NftTable(F.Engine));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(F.Root, "exec", "netns")));
        F.Run("network", "rm", net).Ok();
    }

    /// <summary>Host links on this engine's bridges (other engines and tests may run on the host at the same time).</summary>
    internal static HashSet<string> EngineLinks(ContainerEngine e) =>
        LinksOn(e.Networks.List().Select(n => n.Bridge).OfType<string>());

    /// <summary>Host links enslaved to the named bridges (the containers' veths).</summary>
    internal static HashSet<string> LinksOn(IEnumerable<string> bridgeNames)
    {
        var bridges = bridgeNames.ToHashSet(StringComparer.Ordinal);
        using var nl = RtNetlink.Open();
        var links = nl.GetLinks();
        var indices = links.Where(l => bridges.Contains(l.Name)).Select(l => l.Index).ToHashSet();
        return [.. links.Where(l => indices.Contains(l.MasterIndex)).Select(l => l.Name)];
    }

    /// <summary>Addresses on this engine's bridges and their ports.</summary>
    internal HashSet<string> HostAddresses()
    {
        var bridges = F.Engine.Networks.List().Select(n => n.Bridge).Where(b => b is not null).ToHashSet(StringComparer.Ordinal);
        using var nl = RtNetlink.Open();
        var links = nl.GetLinks();
        var ours = links.Where(l => bridges.Contains(l.Name)).Select(l => l.Index).ToHashSet();
        var names = links.Where(l => ours.Contains(l.Index) || ours.Contains(l.MasterIndex)).ToDictionary(l => l.Index, l => l.Name);
        return [.. nl.GetAddresses().Where(a => names.ContainsKey(a.LinkIndex)).Select(a => names[a.LinkIndex] + ":" + a.Address + "/" + a.PrefixLength)];
    }

    internal static int IpamFiles(ContainerEngine e) => Reservations(Path.Combine(e.Networks.Directory, "ipam"));

    /// <summary>IPAM reservations (files named by an address) under a host-local data directory.</summary>
    internal static int Reservations(string dir) =>
        Directory.Exists(dir) ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Count(f => IPAddress.TryParse(Path.GetFileName(f), out _)) : 0;

    internal static string NftTable(ContainerEngine e)
    {
        var r = Cli.Run("nft", ["list", "table", "ip", e.Networks.NftTable]);
        return r.ExitCode == 0 ? r.Stdout : "";
    }
}

[Collection(ReferencePluginsCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class ReferencePluginNetworkTests(ReferencePluginsEngineFixture f) : NetworkScenarios
{
    protected override EngineFixture F => f;
}

/// <summary>
/// A `berth daemon` process SIGKILLed with containers attached: at the next start the attachments of containers
/// that died meanwhile are DEL'ed (veth, address, nft rules, IPAM reservation) and stale netns pins are removed,
/// while a running container keeps its network.
/// </summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class NetworkReconcileTests
{
    [Fact]
    public async Task A_killed_daemon_reconciles_attachments_of_containers_that_died_meanwhile()
    {
        Privileged.Require();
        using var dir = new TempDirectory("nr");
        var host = HostNetworkState.Record();
        string bridge;
        await using (var seed = await EngineFixture.StartEngineAsync(dir.Path))
        {
            bridge = seed.Networks.Get("bridge").Bridge!;
        }
        var socket = dir.Combine("s.sock");
        var daemon = LiveRestoreTests.StartDaemon(dir.Path, socket);
        var netBridge = "";
        try
        {
            string Run(params string[] args) => EngineFixture.RunOn(socket, args).Ok().Stdout.Trim();
            Run("network", "create", "--subnet", $"10.{200 + Random.Shared.Next(50)}.{Random.Shared.Next(256)}.0/24", "rn");
            netBridge = "br-" + Run("network", "inspect", "-f", "{{.Id}}", "rn")[..12];
            var port = NetworkScenarios.FreePort();
            Run("run", "-d", "--name", "keep", "--network", "rn", "-p", $"{port}:80", "busybox", "sh", "-c", "mkdir /www; echo kept > /www/index.html; exec httpd -f -p 80 -h /www");
            var dies = Run("run", "-d", "--name", "dies", "--network", "rn", "-p", $"{NetworkScenarios.FreePort()}:80", "busybox", "sleep", "300");
            var diesPid = Run("inspect", "-f", "{{.State.Pid}}", "dies");
            var diesVeth = NetworkTests.LinksOn([netBridge]);
            Assert.Equal(2, diesVeth.Count);
            var ipamDir = Path.Combine(dir.Path, "data", "networks", "ipam", "rn");
            Assert.Equal(2, NetworkTests.Reservations(ipamDir));
            Assert.Equal("kept\n", NetworkScenarios.GetEventually($"http://127.0.0.1:{port}/"));

            daemon.Kill();
            await daemon.WaitForExitAsync();
            // While the daemon is away: one container dies with its shim, and a netns pin is left as by a crash mid-setup.
            var shim = Berth.Shim.ShimClient.ReadPid(Path.Combine(dir.Path, "exec", "containers", dies[..32]));
            Cli.Run("kill", ["-9", shim.ToString(CultureInfo.InvariantCulture)]).Ok();
            Cli.Run("kill", ["-9", diesPid]);
            var stale = Path.Combine(dir.Path, "exec", "netns", new string('f', 64));
            PersistentNetworkNamespace.Create(stale);

            daemon = LiveRestoreTests.StartDaemon(dir.Path, socket);
            Assert.Equal("exited", Run("inspect", "-f", "{{.State.Status}}", "dies"));
            Assert.Equal("running", Run("inspect", "-f", "{{.State.Status}}", "keep"));
            DockerCliTests.WaitFor(() => NetworkTests.Reservations(ipamDir) == 1);
            Assert.Single(NetworkTests.LinksOn([netBridge]));
            Assert.False(File.Exists(stale));
            Assert.False(PersistentNetworkNamespace.IsMounted(stale));
            Assert.Equal("kept\n", NetworkScenarios.Get($"http://127.0.0.1:{port}/"));
            Assert.DoesNotContain(dies, Cli.Run("ls", [Path.Combine(dir.Path, "data", "networks", "cni-cache", "results")]).Stdout, StringComparison.Ordinal);

            Run("rm", "-f", "keep", "dies");
            Assert.Equal(0, NetworkTests.Reservations(ipamDir));
            Assert.Empty(NetworkTests.LinksOn([netBridge]));
            Assert.Empty(Directory.EnumerateFiles(Path.Combine(dir.Path, "exec", "netns")));
            Run("network", "rm", "rn");
            Assert.Null(Link(netBridge));
        }
        finally
        {
            if (!daemon.HasExited)
            {
                daemon.Kill();
                await daemon.WaitForExitAsync();
            }
            daemon.Dispose();
            host.Restore([bridge, netBridge], NetworkManager.NftTableFor(Path.Combine(dir.Path, "data")) + "-isolation");
        }
    }

    private static LinkInfo? Link(string name)
    {
        using var nl = RtNetlink.Open();
        return nl.FindLink(name);
    }
}
