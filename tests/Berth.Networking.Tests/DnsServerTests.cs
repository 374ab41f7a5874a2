using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Berth.Core;
using Berth.Linux.Netlink;
using Berth.Networking.Dns;
using Berth.Testing;

namespace Berth.Networking.Tests;

/// <summary>
/// The embedded server in real network namespaces, asked by real clients from inside them (dig over UDP and
/// TCP, busybox nslookup), forwarding to real upstreams in the host namespace (dnsmasq, and a second instance).
/// </summary>
[Collection("dns")]
[Trait(Traits.Category, Traits.Privileged)]
public sealed partial class DnsServerTests
{
    private static readonly string C1 = Id("c1");
    private static readonly string Web = Id("web");
    private static readonly string Db = Id("db");

    private static string Id(string seed) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(seed)));

    private static DnsZone Zone()
    {
        var zone = new DnsZone();
        zone.AddEndpoint(new DnsEndpoint("n-front", "front", C1, "c1", [], IPAddress.Parse("10.0.0.2"), null));
        zone.AddEndpoint(new DnsEndpoint("n-front", "front", Web, "web", ["www"], IPAddress.Parse("10.0.0.3"), IPAddress.Parse("fd00::3")));
        zone.AddEndpoint(new DnsEndpoint("n-back", "back", Db, "db", [], IPAddress.Parse("10.1.0.2"), null));
        return zone;
    }

    [Fact]
    public async Task Dig_over_udp_and_tcp_resolves_container_names_inside_the_namespace()
    {
        Privileged.Require();
        using var ns = new DnsNetns(bringLoUp: false);
        using var upstream = Dnsmasq.Start(IPAddress.Loopback, EchoServer.FreePort(ProtocolType.Udp));
        await using var server = new DnsServer(new DnsServerOptions { Upstreams = [upstream.Endpoint] });
        var zone = Zone();
        Assert.DoesNotContain(",UP", Sh.Run("ip", "-n", ns.Name, "link", "show", "lo"));

        await server.AttachAsync(C1, ns.Path, zone.ViewOf(C1), CancellationToken.None);

        Assert.Contains(",UP", Sh.Run("ip", "-n", ns.Name, "link", "show", "lo"));
        Assert.Equal(["10.0.0.3"], ns.Dig("web").Answers);
        Assert.Equal(["10.0.0.3"], ns.Dig("+tcp", "web").Answers);
        Assert.Equal(["10.0.0.3"], ns.Dig("WWW.Front").Answers);
        Assert.Equal(["fd00::3"], ns.Dig("web", "AAAA").Answers);
        Assert.Equal(["web.front."], ns.Dig("-x", "10.0.0.3").Answers);
        Assert.Equal(["web.front."], ns.Dig("+tcp", "-x", "10.0.0.3").Answers);
        Assert.Equal(["web.front."], ns.Dig("-x", "fd00::3").Answers);
        var nodata = ns.Dig("c1", "AAAA");
        Assert.Equal(("NOERROR", 0), (nodata.Status, nodata.Answers.Count));
        var reply = ns.Dig("+noedns", "web");
        Assert.Equal("NOERROR", reply.Status);
        Assert.Contains("ra", reply.Flags);
        Assert.Contains("web.\t\t\t600\tIN\tA\t10.0.0.3", reply.Output);

        // db is on a network c1 is not on: it goes upstream, where it does not exist.
        Assert.Equal(("NXDOMAIN", 0), (ns.Dig("db").Status, ns.Dig("db").Answers.Count));
        Assert.Equal("NXDOMAIN", ns.Dig("db.back").Status);
        // Names that are not containers' are forwarded, over UDP and over TCP.
        Assert.Equal(["192.0.2.7"], ns.Dig("external.test").Answers);
        Assert.Equal(["192.0.2.7"], ns.Dig("+tcp", "external.test").Answers);
        Assert.True(server.Statistics.Forwarded >= 4);
    }

    [Fact]
    public async Task Busybox_nslookup_resolves_through_a_proc_pid_namespace_path()
    {
        Privileged.Require();
        using var holder = new NamespaceHolder();
        await using var server = new DnsServer(new DnsServerOptions { Upstreams = [] });
        var zone = Zone();
        await server.AttachAsync(C1, holder.NetnsPath, zone.ViewOf(C1), CancellationToken.None);

        var (code, stdout, stderr) = Sh.Exec("nsenter", "--net=" + holder.NetnsPath, "busybox", "nslookup", "-type=a", "web", "127.0.0.11");
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("Address: 10.0.0.3", stdout);
        (code, stdout, stderr) = Sh.Exec("nsenter", "--net=" + holder.NetnsPath, "busybox", "nslookup", "-type=a", "db", "127.0.0.11");
        Assert.NotEqual(0, code); // no upstreams: SERVFAIL
        Assert.DoesNotContain("10.1.0.2", stdout);
    }

    [Fact]
    public async Task Forwarding_reads_the_hosts_resolv_conf_and_sends_from_the_daemons_namespace()
    {
        Privileged.Require();
        // 127.53.x.y exists only in the host namespace (inside the container's, 127/8 is its own loopback), so an
        // answer proves the forward left from the daemon's side, like a host's 127.0.0.53 stub resolver.
        var address = IPAddress.Parse($"127.53.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(1, 255)}");
        using var upstream = Dnsmasq.Start(address, 53);
        using var dir = new TempDirectory("berth-dns");
        var resolvConf = dir.Combine("resolv.conf");
        File.WriteAllText(resolvConf, "search example\nnameserver " + address + "\n");
        using var ns = new DnsNetns();
        await using var server = new DnsServer(new DnsServerOptions { ResolvConfPath = resolvConf });
        await server.AttachAsync(C1, ns.Path, Zone().ViewOf(C1), CancellationToken.None);

        Assert.Equal(["192.0.2.7"], ns.Dig("external.test").Answers);
        Assert.Equal(["192.0.2.7"], ns.Dig("+tcp", "external.test").Answers);
    }

    [Fact]
    public async Task A_second_instance_is_an_upstream_and_dead_upstreams_give_servfail_in_time()
    {
        Privileged.Require();
        // The "outer" server: its own zone with svc.outer, served on a loopback port of the host namespace.
        var outerZone = new DnsZone();
        outerZone.AddEndpoint(new DnsEndpoint("n-outer", "outer", Id("self"), "self", [], IPAddress.Parse("10.7.0.1"), null));
        outerZone.AddEndpoint(new DnsEndpoint("n-outer", "outer", Id("svc"), "svc", [], IPAddress.Parse("10.7.0.9"), null));
        await using var outer = new DnsServer(new DnsServerOptions { Upstreams = [] });
        var outerEndpoint = await outer.ListenAsync("outer", new IPEndPoint(IPAddress.Loopback, 0), outerZone.ViewOf(Id("self")), CancellationToken.None);

        // Dead upstreams first: a port nobody listens on (refused) and a socket that never answers (timeout).
        var refused = new IPEndPoint(IPAddress.Loopback, EchoServer.FreePort(ProtocolType.Udp));
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var silentEndpoint = (IPEndPoint)silent.LocalEndPoint!;

        using var ns = new DnsNetns();
        await using var server = new DnsServer(new DnsServerOptions { ForwardTimeout = TimeSpan.FromMilliseconds(300) });
        var zone = Zone();
        await server.AttachAsync(C1, ns.Path, zone.ViewOf(C1, upstreams: [refused, silentEndpoint, outerEndpoint]), CancellationToken.None);
        Assert.Equal(["10.7.0.9"], ns.Dig("svc.outer").Answers);
        Assert.Equal(["10.7.0.9"], ns.Dig("svc").Answers);

        await server.AttachAsync(C1, ns.Path, zone.ViewOf(C1, upstreams: [refused, silentEndpoint]), CancellationToken.None);
        var watch = Stopwatch.StartNew();
        Assert.Equal("SERVFAIL", ns.Dig("svc").Status);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"SERVFAIL took {watch.Elapsed}");
        // Local names still answer while upstreams are dead.
        Assert.Equal(["10.0.0.3"], ns.Dig("web").Answers);

        // A container without external access never forwards.
        await server.AttachAsync(C1, ns.Path, zone.ViewOf(C1, upstreams: [outerEndpoint], forwardExternal: false), CancellationToken.None);
        Assert.Equal("SERVFAIL", ns.Dig("svc").Status);
    }

    [Fact]
    public async Task Replies_over_the_udp_limit_are_truncated_and_dig_retries_over_tcp()
    {
        Privileged.Require();
        var zone = Zone();
        for (var i = 1; i <= 100; i++)
        {
            zone.AddEndpoint(new DnsEndpoint("n-front", "front", Id("many" + i), "many-" + i, ["many"], IPAddress.Parse("10.0.1." + i), null));
        }
        using var ns = new DnsNetns();
        await using var server = new DnsServer(new DnsServerOptions { Upstreams = [] });
        await server.AttachAsync(C1, ns.Path, zone.ViewOf(C1), CancellationToken.None);

        var cut = ns.Dig("+noedns", "+ignore", "many");
        Assert.Contains("tc", cut.Flags);
        Assert.Equal(30, cut.Answers.Count); // (512 - 12 header - 10 question) / 16
        var edns = ns.Dig("+ignore", "+bufsize=4096", "many");
        Assert.DoesNotContain("tc", edns.Flags);
        Assert.Equal(100, edns.Answers.Count);
        var retried = ns.Dig("many"); // 1232 bytes by default: TC, then dig asks again over TCP
        Assert.Equal(100, retried.Answers.Count);
        Assert.Equal(100, ns.Dig("+tcp", "many").Answers.Distinct().Count());
    }

    [Fact]
    public async Task Zone_changes_are_visible_to_the_next_query()
    {
        Privileged.Require();
        var zone = Zone();
        using var ns = new DnsNetns();
        await using var server = new DnsServer(new DnsServerOptions { Upstreams = [] });
        await server.AttachAsync(C1, ns.Path, zone.ViewOf(C1), CancellationToken.None);
        Assert.Equal("SERVFAIL", ns.Dig("late").Status);
        zone.AddEndpoint(new DnsEndpoint("n-front", "front", Id("late"), "late", [], IPAddress.Parse("10.0.0.50"), null));
        Assert.Equal(["10.0.0.50"], ns.Dig("late").Answers);
        zone.AddEndpoint(new DnsEndpoint("n-back", "back", C1, "c1", [], IPAddress.Parse("10.1.0.5"), null));
        Assert.Equal(["10.1.0.2"], ns.Dig("db").Answers); // connected to back: db is now visible
        zone.RemoveEndpoint("n-front", Id("late"));
        Assert.Equal("SERVFAIL", ns.Dig("late").Status);
    }

    [Fact]
    public async Task Malformed_packets_are_dropped_or_formerr_and_the_server_keeps_answering()
    {
        Privileged.Require();
        using var ns = new DnsNetns();
        await using var server = new DnsServer(new DnsServerOptions { Upstreams = [] });
        await server.AttachAsync(C1, ns.Path, Zone().ViewOf(C1), CancellationToken.None);
        var target = new IPEndPoint(ResolvConf.EmbeddedServer, 53);
        using var udp = ns.Namespace.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        udp.Connect(target);
        var random = new Random(53);
        for (var i = 0; i < 500; i++)
        {
            var junk = new byte[random.Next(0, 120)];
            random.NextBytes(junk);
            if (junk.Length > 2)
            {
                junk[2] &= 0x7F; // mostly "queries", so they reach the parser
            }
            udp.Send(junk);
        }
        // A header with no question: FORMERR, same id. The flood may have overrun the socket's buffer (UDP drops
        // quietly then), so the probe is sent again until it is answered.
        var buffer = new byte[600];
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var answered = false;
        for (var attempt = 0; attempt < 5 && !answered; attempt++)
        {
            udp.Send(Convert.FromHexString("abcd01000000000000000000"));
            using var once = CancellationTokenSource.CreateLinkedTokenSource(wait.Token);
            once.CancelAfter(TimeSpan.FromSeconds(1));
            try
            {
                while (!answered)
                {
                    var n = await udp.ReceiveAsync(buffer, SocketFlags.None, once.Token);
                    answered = n >= 12 && buffer[0] == 0xAB && buffer[1] == 0xCD;
                }
            }
            catch (OperationCanceledException) when (!wait.IsCancellationRequested)
            {
            }
        }
        Assert.True(answered, "no FORMERR reply to a question-less query");
        Assert.Equal(DnsRcode.FormErr, DnsWire.Rcode(buffer));

        // Over TCP: a message too short for a header ends the connection (there is no id to answer to)...
        using (var shortMessage = ns.Namespace.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)))
        {
            await shortMessage.ConnectAsync(target);
            await shortMessage.SendAsync(Convert.FromHexString("0005" + "0102030405"), SocketFlags.None);
            Assert.Equal(0, await shortMessage.ReceiveAsync(new byte[2], SocketFlags.None, wait.Token));
        }

        // ...one that does not parse gets FORMERR, and the connection still serves queries.
        using var tcp = ns.Namespace.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        await tcp.ConnectAsync(target);
        await tcp.SendAsync(Convert.FromHexString("000c" + "beef01000000000000000000"), SocketFlags.None);
        var framed = DnsCodecTests.BuildQuery(0x4242, "web", DnsType.A);
        byte[] prefixed = [(byte)(framed.Length >> 8), (byte)framed.Length, .. framed];
        await tcp.SendAsync(prefixed, SocketFlags.None);
        var first = await ReadFramed(tcp, wait.Token);
        Assert.Equal((0xBE, 0xEF, DnsRcode.FormErr), (first[0], first[1], DnsWire.Rcode(first)));
        var second = await ReadFramed(tcp, wait.Token);
        Assert.Equal((0x42, 0x42, DnsRcode.NoError, 1), (second[0], second[1], DnsWire.Rcode(second), (int)DnsWire.ReadU16(second, 6)));

        Assert.Equal(["10.0.0.3"], ns.Dig("web").Answers);
        Assert.True(server.Statistics.Dropped + server.Statistics.Failed > 0);
    }

    [Fact]
    public async Task Detach_closes_the_sockets_in_the_namespace()
    {
        Privileged.Require();
        using var ns = new DnsNetns();
        await using var server = new DnsServer(new DnsServerOptions { Upstreams = [] });
        await server.AttachAsync(C1, ns.Path, Zone().ViewOf(C1), CancellationToken.None);
        // The listener has an ephemeral port on 127.0.0.11; port 53 is redirected to it.
        Assert.Contains("127.0.0.11:", Sh.Run("ip", "netns", "exec", ns.Name, "ss", "-lnu"));
        Assert.Contains("127.0.0.11:", Sh.Run("ip", "netns", "exec", ns.Name, "ss", "-lnt"));
        Assert.Contains("dport 53 dnat to 127.0.0.11:", Sh.Run("ip", "netns", "exec", ns.Name, "nft", "list", "table", "ip", "berth-dns"));
        Assert.DoesNotContain("berth-dns", Sh.Run("nft", "list", "tables"));
        Assert.Equal([C1], server.Attached);

        Assert.True(await server.DetachAsync(C1));
        Assert.False(await server.DetachAsync(C1));
        Assert.Empty(server.Attached);
        Assert.DoesNotContain("127.0.0.11:", Sh.Run("ip", "netns", "exec", ns.Name, "ss", "-lnu"));
        Assert.DoesNotContain("127.0.0.11:", Sh.Run("ip", "netns", "exec", ns.Name, "ss", "-lnt"));
        var (code, stdout, _) = Sh.Exec("ip", "netns", "exec", ns.Name, "dig", "@127.0.0.11", "+time=1", "+tries=1", "+tcp", "web");
        Assert.NotEqual(0, code);
        Assert.Contains("connection refused", stdout, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Attach_to_a_missing_namespace_is_a_clear_error()
    {
        Privileged.Require();
        await using var server = new DnsServer(new DnsServerOptions { Upstreams = [] });
        var missing = await Assert.ThrowsAsync<BerthException>(() =>
            server.AttachAsync(C1, "/var/run/netns/berth-no-such-ns", Zone().ViewOf(C1), CancellationToken.None));
        Assert.Equal(ErrorCode.NotFound, missing.Code);
        Assert.Contains("berth-no-such-ns", missing.Message);
        Assert.Empty(server.Attached);
    }

    [Fact]
    public async Task A_process_in_the_namespace_keeps_port_53_on_every_address_and_names_still_resolve()
    {
        Privileged.Require();
        using var ns = new DnsNetns(bringLoUp: true);
        // A DNS server of the container's own, on 0.0.0.0:53 over UDP and TCP, there before the embedded one.
        using var udp = ns.Namespace.Run(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Any, 53));
            return s;
        });
        using var tcp = ns.Namespace.Run(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(IPAddress.Any, 53));
            s.Listen(1);
            return s;
        });
        await using var server = new DnsServer(new DnsServerOptions { Upstreams = [] });
        await server.AttachAsync(C1, ns.Path, Zone().ViewOf(C1), CancellationToken.None);
        Assert.Equal(["10.0.0.3"], ns.Dig("web").Answers);
        Assert.Equal(["10.0.0.3"], ns.Dig("+tcp", "web").Answers);
        // The container's server still gets what is sent to port 53 on its other addresses.
        using var client = ns.Namespace.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        await client.SendToAsync("ping"u8.ToArray(), SocketFlags.None, new IPEndPoint(IPAddress.Loopback, 53));
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var got = new byte[16];
        var n = await udp.ReceiveAsync(got, SocketFlags.None, wait.Token);
        Assert.Equal("ping", System.Text.Encoding.ASCII.GetString(got, 0, n));
    }

    private static async Task<byte[]> ReadFramed(Socket socket, CancellationToken ct)
    {
        var prefix = new byte[2];
        await ReadExactly(socket, prefix, ct);
        var message = new byte[prefix[0] << 8 | prefix[1]];
        await ReadExactly(socket, message, ct);
        return message;
    }

    private static async Task ReadExactly(Socket socket, byte[] buffer, CancellationToken ct)
    {
        for (var read = 0; read < buffer.Length;)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, ct);
            Assert.NotEqual(0, n);
            read += n;
        }
    }
}

/// <summary>A namespace from `ip netns add` (lo down, as a container's starts) with dig run inside it.</summary>
public sealed partial class DnsNetns : IDisposable
{
    public DnsNetns(bool bringLoUp = false)
    {
        Name = "bdns-" + Guid.NewGuid().ToString("N")[..8];
        Sh.Run("ip", "netns", "add", Name);
        Namespace = NetworkNamespace.Open(Path);
        if (bringLoUp)
        {
            Namespace.Run(() => { Berth.Linux.NetworkInterface.Up("lo"); return 0; });
        }
    }

    public string Name { get; }

    public string Path => "/var/run/netns/" + Name;

    public NetworkNamespace Namespace { get; }

    /// <summary>dig @127.0.0.11 from inside; status, flags and the answer section's data.</summary>
    public DigReply Dig(params string[] args)
    {
        var (code, stdout, stderr) = Sh.Exec("ip", ["netns", "exec", Name, "dig", "@127.0.0.11", "+time=3", "+tries=1", .. args]);
        if (code != 0)
        {
            throw new InvalidOperationException($"dig {string.Join(' ', args)}: exit {code}: {stdout}{stderr}");
        }
        var status = StatusRegex().Match(stdout).Groups[1].Value;
        var flags = FlagsRegex().Match(stdout).Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var answers = new List<string>();
        var inAnswer = false;
        foreach (var line in stdout.Split('\n'))
        {
            if (line.StartsWith(";; ANSWER SECTION:", StringComparison.Ordinal))
            {
                inAnswer = true;
                continue;
            }
            if (inAnswer)
            {
                if (line.Trim().Length == 0)
                {
                    break;
                }
                answers.Add(line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[^1]);
            }
        }
        answers.Sort(StringComparer.Ordinal);
        return new DigReply(status, flags, answers, stdout);
    }

    public void Dispose()
    {
        Namespace.Dispose();
        Sh.Try("ip", "netns", "delete", Name);
    }

    [GeneratedRegex(@"status: (\w+)")]
    private static partial Regex StatusRegex();

    [GeneratedRegex(@";; flags: ([a-z ]+);")]
    private static partial Regex FlagsRegex();
}

public sealed record DigReply(string Status, string[] Flags, List<string> Answers, string Output);

/// <summary>A namespace held by a process (`unshare -n sleep`), reached as /proc/PID/ns/net like a container's.</summary>
public sealed class NamespaceHolder : IDisposable
{
    private readonly Process process;

    public NamespaceHolder()
    {
        process = Process.Start(new ProcessStartInfo("unshare", ["-n", "sleep", "120"]))!;
        // unshare makes the namespace, then execs sleep: wait until the pid's namespace differs from ours.
        var ours = new FileInfo("/proc/self/ns/net").LinkTarget;
        for (var i = 0; ; i++)
        {
            var theirs = new FileInfo(NetnsPath).LinkTarget;
            if (theirs is not null && ours is not null && theirs != ours)
            {
                break;
            }
            if (i == 500)
            {
                throw new InvalidOperationException($"unshare -n did not make a namespace: {theirs} vs {ours}");
            }
            Thread.Sleep(10);
        }
    }

    public string NetnsPath => $"/proc/{process.Id}/ns/net";

    public void Dispose()
    {
        process.Kill();
        process.WaitForExit();
        process.Dispose();
    }
}

/// <summary>dnsmasq in the host namespace: external.test → 192.0.2.7, every other name NXDOMAIN.</summary>
public sealed class Dnsmasq : IDisposable
{
    private readonly Process process;

    private Dnsmasq(Process process, IPEndPoint endpoint)
    {
        this.process = process;
        Endpoint = endpoint;
    }

    public IPEndPoint Endpoint { get; }

    public static Dnsmasq Start(IPAddress address, int port)
    {
        var process = Process.Start(new ProcessStartInfo("dnsmasq",
        [
            "--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=", "--no-resolv", "--no-hosts", "--bind-interfaces",
            "--listen-address=" + address, "--port=" + port, "--address=/#/", "--address=/external.test/192.0.2.7",
        ]) { RedirectStandardError = true })!;
        var server = new Dnsmasq(process, new IPEndPoint(address, port));
        for (var i = 0; i < 100; i++)
        {
            if (Sh.Exec("dig", "@" + address, "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "+time=1", "+tries=1", "+short", "external.test").Stdout.Trim() == "192.0.2.7")
            {
                return server;
            }
            if (process.HasExited)
            {
                throw new InvalidOperationException("dnsmasq exited: " + process.StandardError.ReadToEnd());
            }
            Thread.Sleep(50);
        }
        server.Dispose();
        throw new InvalidOperationException("dnsmasq did not answer on " + server.Endpoint);
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill();
            process.WaitForExit();
        }
        process.Dispose();
    }
}

[CollectionDefinition("dns", DisableParallelization = true)]
public sealed class DnsCollection;
