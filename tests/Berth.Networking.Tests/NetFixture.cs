using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Berth.Linux.Netlink;
using Berth.Networking.Cni;
using Berth.Testing;

namespace Berth.Networking.Tests;

/// <summary>Which plugins a scenario runs: Berth's (berth-cni links) or the reference ones from /usr/lib/cni.</summary>
public enum PluginSet
{
    Berth,
    Reference,

    /// <summary>The reference bridge delegating to Berth's host-local, then Berth's portmap on its result.</summary>
    ReferenceBridgeWithBerthIpamAndPortmap,

    /// <summary>Berth's bridge exec'ing the reference host-local, then the reference portmap on Berth's result.</summary>
    BerthBridgeWithReferenceIpamAndPortmap,
}

/// <summary>
/// A named network namespace made with `ip netns add` and deleted on dispose.
/// </summary>
public sealed class TestNetns : IDisposable
{
    public TestNetns()
    {
        Name = "bnt-" + Guid.NewGuid().ToString("N")[..8];
        Sh.Run("ip", "netns", "add", Name);
        Namespace = NetworkNamespace.Open(Path);
        // lo up so in-namespace servers can also be reached locally.
        Namespace.Run(() => { Berth.Linux.NetworkInterface.Up("lo"); return 0; });
    }

    public string Name { get; }

    public string Path => "/var/run/netns/" + Name;

    public NetworkNamespace Namespace { get; }

    public T Run<T>(Func<T> f) => Namespace.Run(f);

    public void Dispose()
    {
        Namespace.Dispose();
        Sh.Try("ip", "netns", "delete", Name);
    }
}

public static class Sh
{
    public static string Run(string file, params string[] args)
    {
        var (code, stdout, stderr) = Exec(file, args);
        return code == 0 ? stdout : throw new InvalidOperationException($"{file} {string.Join(' ', args)}: exit {code}: {stderr}");
    }

    public static int Try(string file, params string[] args) => Exec(file, args).Code;

    public static (int Code, string Stdout, string Stderr) Exec(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, o.Result, e.Result);
    }
}

/// <summary>
/// A private CNI world per test: plugin directory, IPAM data dir, cache dir, a unique bridge, subnet, nft table;
/// records the host's links, addresses and ip_forward before, and restores ip_forward after.
/// </summary>
public sealed class CniWorld : IDisposable
{
    private static int counter;
    private readonly string forwardBefore;
    private readonly ReferenceNatTables natTables;

    public CniWorld(PluginSet set)
    {
        Set = set;
        Dir = new TempDirectory("berth-cni");
        var n = Interlocked.Increment(ref counter) + Environment.ProcessId % 50 * 4;
        Bridge = "bbr" + Guid.NewGuid().ToString("N")[..6];
        Subnet = $"10.{200 + n % 50}.{Random.Shared.Next(0, 255)}.0/24";
        Table = "berth-test-" + Guid.NewGuid().ToString("N")[..6];
        if (set == PluginSet.Reference)
        {
            PluginDir = "/usr/lib/cni";
        }
        else
        {
            PluginDir = Dir.Combine("bin");
            Directory.CreateDirectory(PluginDir);
            var berth = System.IO.Path.Combine(AppContext.BaseDirectory, "berth-cni");
            foreach (var p in PluginHost.PluginNames)
            {
                var reference = set switch
                {
                    PluginSet.ReferenceBridgeWithBerthIpamAndPortmap => p == "bridge",
                    PluginSet.BerthBridgeWithReferenceIpamAndPortmap => p != "bridge",
                    _ => false,
                };
                File.CreateSymbolicLink(System.IO.Path.Combine(PluginDir, p), reference ? "/usr/lib/cni/" + p : berth);
            }
        }
        forwardBefore = File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim();
        natTables = ReferenceNatTables.Record();
        LinksBefore = HostLinks();
        AddressesBefore = HostAddresses();
        Runner = new CniRunner([PluginDir], Dir.Combine("cache"));
    }

    public PluginSet Set { get; }

    public TempDirectory Dir { get; }

    public string Bridge { get; }

    public string Subnet { get; }

    public string Table { get; }

    public string PluginDir { get; }

    public CniRunner Runner { get; }

    public HashSet<string> LinksBefore { get; }

    public HashSet<string> AddressesBefore { get; }

    public string IpamDir => Dir.Combine("ipam");

    public string Gateway => Subnet[..Subnet.LastIndexOf('.')] + ".1";

    /// <summary>bridge (+ host-local) [+ portmap] as a conflist.</summary>
    public NetworkConfigList ConfList(bool portmap = true, string name = "bnet", string? rangeStart = null, string? rangeEnd = null)
    {
        var range = new JsonObject { ["subnet"] = Subnet };
        if (rangeStart is not null)
        {
            range["rangeStart"] = rangeStart;
        }
        if (rangeEnd is not null)
        {
            range["rangeEnd"] = rangeEnd;
        }
        var bridge = new JsonObject
        {
            ["type"] = "bridge",
            ["bridge"] = Bridge,
            ["isGateway"] = true,
            ["isDefaultGateway"] = true,
            ["ipMasq"] = Set == PluginSet.Berth,
            ["hairpinMode"] = true,
            ["ipam"] = new JsonObject { ["type"] = "host-local", ["ranges"] = new JsonArray(new JsonArray(range)), ["dataDir"] = IpamDir },
            ["capabilities"] = new JsonObject { ["mac"] = true },
        };
        var plugins = new JsonArray(bridge);
        if (portmap)
        {
            plugins.Add(new JsonObject { ["type"] = "portmap", ["capabilities"] = new JsonObject { ["portMappings"] = true }, ["snat"] = true });
        }
        if (Set != PluginSet.Reference)
        {
            // Berth's keys; the reference plugins ignore fields they do not know.
            foreach (var p in plugins.OfType<JsonObject>())
            {
                p["nftTable"] = Table;
                p["stateDir"] = Dir.Combine("state");
            }
        }
        var list = new JsonObject { ["cniVersion"] = "1.0.0", ["name"] = name, ["plugins"] = plugins };
        return NetworkConfigList.Parse(Encoding.UTF8.GetBytes(list.ToJsonString()));
    }

    public static RuntimeConf Rt(TestNetns ns, string id, params (int Host, int Container, string Proto, string? HostIp)[] ports)
    {
        JsonObject? caps = null;
        if (ports.Length > 0)
        {
            var arr = new JsonArray();
            foreach (var (h, c, p, ip) in ports)
            {
                var m = new JsonObject { ["hostPort"] = h, ["containerPort"] = c, ["protocol"] = p };
                if (ip is not null)
                {
                    m["hostIP"] = ip;
                }
                arr.Add(m);
            }
            caps = new JsonObject { ["portMappings"] = arr };
        }
        return new RuntimeConf { ContainerId = id, NetNs = ns.Path, IfName = "eth0", CapabilityArgs = caps };
    }

    /// <summary>Host links that appeared since the world was made, other than its bridge.</summary>
    public List<string> LeakedLinks() => [.. HostLinks().Except(LinksBefore).Where(l => l != Bridge)];

    public static HashSet<string> HostLinks()
    {
        using var nl = RtNetlink.Open();
        return [.. nl.GetLinks().Select(l => l.Name)];
    }

    public static HashSet<string> HostAddresses()
    {
        using var nl = RtNetlink.Open();
        return [.. nl.GetAddresses().Select(a => a.LinkIndex + ":" + a.Address + "/" + a.PrefixLength)];
    }

    public int IpamFiles() =>
        Directory.Exists(IpamDir) ? Directory.EnumerateFiles(IpamDir, "*", SearchOption.AllDirectories).Count(f => IPAddress.TryParse(System.IO.Path.GetFileName(f), out _)) : 0;

    public bool TableExists() => Sh.Try("nft", "list", "table", "ip", Table) == 0;

    /// <summary>The host's main IPv4 address (not loopback, not on a test bridge).</summary>
    public static IPAddress HostAddress()
    {
        using var nl = RtNetlink.Open();
        var links = nl.GetLinks().ToDictionary(l => l.Index);
        return nl.GetAddresses().First(a => a.Address.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a.Address) &&
            links.TryGetValue(a.LinkIndex, out var l) && l.Kind is null && l.Name != "lo").Address;
    }

    public void Dispose()
    {
        Sh.Try("ip", "link", "delete", Bridge);
        Sh.Try("nft", "delete", "table", "ip", Table);
        if (Set != PluginSet.Berth)
        {
            natTables.RemoveMade();
        }
        File.WriteAllText("/proc/sys/net/ipv4/ip_forward", forwardBefore);
        Dir.Dispose();
    }
}

/// <summary>In-namespace TCP/UDP servers and clients: a socket belongs to the namespace it was created in.</summary>
public sealed class EchoServer : IDisposable
{
    private readonly Socket socket;
    private readonly CancellationTokenSource cts = new();

    public EchoServer(TestNetns ns, int port, ProtocolType proto = ProtocolType.Tcp)
    {
        Protocol = proto;
        socket = ns.Run(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, proto == ProtocolType.Tcp ? SocketType.Stream : SocketType.Dgram, proto);
            s.Bind(new IPEndPoint(IPAddress.Any, port));
            if (proto == ProtocolType.Tcp)
            {
                s.Listen(16);
            }
            return s;
        });
        Name = ns.Name;
        _ = proto == ProtocolType.Tcp ? Task.Run(AcceptLoop) : Task.Run(UdpLoop);
    }

    public string Name { get; }

    public ProtocolType Protocol { get; }

    private async Task AcceptLoop()
    {
        while (!cts.IsCancellationRequested)
        {
            try
            {
                var c = await socket.AcceptAsync(cts.Token);
                var peer = ((IPEndPoint)c.RemoteEndPoint!).Address;
                await c.SendAsync(Encoding.ASCII.GetBytes($"hello from {Name} to {peer}\n"));
                c.Shutdown(SocketShutdown.Both);
                c.Dispose();
            }
            catch (Exception)
            {
                return;
            }
        }
    }

    private async Task UdpLoop()
    {
        var buf = new byte[512];
        while (!cts.IsCancellationRequested)
        {
            try
            {
                var r = await socket.ReceiveFromAsync(buf, new IPEndPoint(IPAddress.Any, 0), cts.Token);
                await socket.SendToAsync(Encoding.ASCII.GetBytes($"hello from {Name}"), r.RemoteEndPoint);
            }
            catch (Exception)
            {
                return;
            }
        }
    }

    /// <summary>Connects from <paramref name="from"/> (null: the host) and returns the greeting.</summary>
    public static async Task<string> TcpHello(TestNetns? from, IPAddress address, int port)
    {
        var s = from is null ? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
            : from.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        using (s)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await s.ConnectAsync(new IPEndPoint(address, port), timeout.Token);
            var buf = new byte[256];
            var n = await s.ReceiveAsync(buf, timeout.Token);
            return Encoding.ASCII.GetString(buf, 0, n).Trim();
        }
    }

    public static async Task<string> UdpHello(TestNetns? from, IPAddress address, int port)
    {
        var s = from is null ? new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)
            : from.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        using (s)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await s.SendToAsync(Encoding.ASCII.GetBytes("ping"), new IPEndPoint(address, port), timeout.Token);
            var buf = new byte[256];
            var r = await s.ReceiveFromAsync(buf, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
            return Encoding.ASCII.GetString(buf, 0, r.ReceivedBytes).Trim();
        }
    }

    public static int FreePort(ProtocolType proto = ProtocolType.Tcp)
    {
        using var s = new Socket(AddressFamily.InterNetwork, proto == ProtocolType.Tcp ? SocketType.Stream : SocketType.Dgram, proto);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    public void Dispose()
    {
        cts.Cancel();
        socket.Dispose();
    }
}

[CollectionDefinition("network", DisableParallelization = true)]
public sealed class NetworkCollection;
