using System.Net;
using System.Net.Sockets;
using Berth.Networking.Cni;
using Berth.Testing;

namespace Berth.Networking.Tests;

/// <summary>
/// Real traffic over a bridge network made by the plugins, Berth's and the reference ones, in the same scenarios:
/// namespace to namespace, and published ports from the host (127.0.0.1 and its own address), from another
/// "machine" (a namespace routed through the host) and from containers on the bridge (hairpin).
/// </summary>
[Collection("network")]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class ConnectivityTests
{
    private static IPAddress Ip(CniResult r) => IPAddress.Parse(r.Ips![0].Address.Split('/')[0]);

    [Theory]
    [InlineData(PluginSet.Berth)]
    [InlineData(PluginSet.Reference)]
    public async Task Two_namespaces_on_the_bridge_reach_each_other(PluginSet set)
    {
        Privileged.Require();
        using var world = new CniWorld(set);
        using var a = new TestNetns();
        using var b = new TestNetns();
        var list = world.ConfList(portmap: false);
        var ra = await world.Runner.AddAsync(list, CniWorld.Rt(a, "two-a"));
        var rb = await world.Runner.AddAsync(list, CniWorld.Rt(b, "two-b"));
        try
        {
            var ping = Sh.Exec("ip", "netns", "exec", a.Name, "busybox", "ping", "-c", "1", "-W", "3", Ip(rb).ToString());
            Assert.True(ping.Code == 0, ping.Stdout + ping.Stderr);
            using var server = new EchoServer(a, 7000);
            Assert.Equal($"hello from {a.Name} to {Ip(rb)}", await EchoServer.TcpHello(b, Ip(ra), 7000));
            // The gateway (the bridge address on the host) answers too.
            Assert.Equal(0, Sh.Exec("ip", "netns", "exec", b.Name, "busybox", "ping", "-c", "1", "-W", "3", world.Gateway).Code);
        }
        finally
        {
            await world.Runner.DelAsync(list, CniWorld.Rt(a, "two-a"));
            await world.Runner.DelAsync(list, CniWorld.Rt(b, "two-b"));
        }
        Assert.Empty(world.LeakedLinks());
        Assert.Equal(0, world.IpamFiles());
    }

    [Theory]
    [InlineData(PluginSet.Berth)]
    [InlineData(PluginSet.Reference)]
    [InlineData(PluginSet.ReferenceBridgeWithBerthIpamAndPortmap)]
    [InlineData(PluginSet.BerthBridgeWithReferenceIpamAndPortmap)]
    public async Task Published_ports_answer_from_host_other_machine_and_containers(PluginSet set)
    {
        Privileged.Require();
        using var world = new CniWorld(set);
        using var web = new TestNetns();
        using var peer = new TestNetns();
        using var other = new OtherMachine();
        var list = world.ConfList();
        var tcp = EchoServer.FreePort();
        var udp = EchoServer.FreePort(ProtocolType.Udp);
        var webRt = CniWorld.Rt(web, "pub-web", (tcp, 8080, "tcp", null), (udp, 5353, "udp", null));
        var peerRt = CniWorld.Rt(peer, "pub-peer");
        var hostAddress = CniWorld.HostAddress();
        var rw = await world.Runner.AddAsync(list, webRt);
        var rp = await world.Runner.AddAsync(list, peerRt);
        try
        {
            using var server = new EchoServer(web, 8080);
            using var userver = new EchoServer(web, 5353, ProtocolType.Udp);

            // From the host, via its own address and via loopback.
            Assert.StartsWith($"hello from {web.Name}", await EchoServer.TcpHello(null, hostAddress, tcp), StringComparison.Ordinal);
            Assert.StartsWith($"hello from {web.Name}", await EchoServer.TcpHello(null, IPAddress.Loopback, tcp), StringComparison.Ordinal);
            // From another machine: a namespace whose only way in is routing through the host.
            Assert.Equal($"hello from {web.Name} to {other.Address}", await EchoServer.TcpHello(other.Netns, hostAddress, tcp));
            // From another container on the bridge, and from the container itself (hairpin).
            Assert.StartsWith($"hello from {web.Name}", await EchoServer.TcpHello(peer, hostAddress, tcp), StringComparison.Ordinal);
            Assert.StartsWith($"hello from {web.Name}", await EchoServer.TcpHello(web, hostAddress, tcp), StringComparison.Ordinal);
            // UDP from the host and from the other machine.
            Assert.Equal($"hello from {web.Name}", await EchoServer.UdpHello(null, hostAddress, udp));
            Assert.Equal($"hello from {web.Name}", await EchoServer.UdpHello(other.Netns, hostAddress, udp));
            Assert.NotEqual(Ip(rw), Ip(rp));
        }
        finally
        {
            await world.Runner.DelAsync(list, peerRt);
            await world.Runner.DelAsync(list, webRt);
        }
        // Unpublished: the port no longer leads anywhere.
        await Assert.ThrowsAnyAsync<Exception>(() => EchoServer.TcpHello(null, hostAddress, tcp));
        Assert.Equal([other.HostSide], world.LeakedLinks());
        Assert.Equal(0, world.IpamFiles());
        Assert.False(world.TableExists());
    }

    [Fact]
    public async Task Host_ip_selection_limits_a_published_port_to_that_address()
    {
        Privileged.Require();
        using var world = new CniWorld(PluginSet.Berth);
        using var web = new TestNetns();
        var list = world.ConfList();
        var tcp = EchoServer.FreePort();
        var hostAddress = CniWorld.HostAddress();
        var rt = CniWorld.Rt(web, "hostip", (tcp, 8080, "tcp", hostAddress.ToString()));
        await world.Runner.AddAsync(list, rt);
        try
        {
            using var server = new EchoServer(web, 8080);
            Assert.StartsWith($"hello from {web.Name}", await EchoServer.TcpHello(null, hostAddress, tcp), StringComparison.Ordinal);
            await Assert.ThrowsAnyAsync<Exception>(() => EchoServer.TcpHello(null, IPAddress.Loopback, tcp));
        }
        finally
        {
            await world.Runner.DelAsync(list, rt);
        }
    }
}

/// <summary>A namespace standing in for another machine: a veth to the host, its own /30, default route via the host.</summary>
public sealed class OtherMachine : IDisposable
{
    public OtherMachine()
    {
        Netns = new TestNetns();
        HostSide = "bom" + Guid.NewGuid().ToString("N")[..8];
        var net = $"172.31.{Random.Shared.Next(0, 255)}";
        HostAddress = IPAddress.Parse(net + ".1");
        Address = IPAddress.Parse(net + ".2");
        Sh.Run("ip", "link", "add", HostSide, "type", "veth", "peer", "name", "eth0", "netns", Netns.Name);
        Sh.Run("ip", "addr", "add", HostAddress + "/30", "dev", HostSide);
        Sh.Run("ip", "link", "set", HostSide, "up");
        Sh.Run("ip", "-n", Netns.Name, "addr", "add", Address + "/30", "dev", "eth0");
        Sh.Run("ip", "-n", Netns.Name, "link", "set", "eth0", "up");
        Sh.Run("ip", "-n", Netns.Name, "route", "add", "default", "via", HostAddress.ToString());
    }

    public TestNetns Netns { get; }

    public string HostSide { get; }

    public IPAddress HostAddress { get; }

    public IPAddress Address { get; }

    public void Dispose()
    {
        Sh.Try("ip", "link", "delete", HostSide);
        Netns.Dispose();
    }
}

/// <summary>CNI_NETNS as a process's namespace (/proc/PID/ns/net), the way runtimes that do not pin a netns pass it.</summary>
[Collection("network")]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class ProcessNamespaceTests
{
    [Fact]
    public async Task A_process_netns_path_works_for_add_and_del()
    {
        Privileged.Require();
        using var world = new CniWorld(PluginSet.Berth);
        var psi = new System.Diagnostics.ProcessStartInfo("unshare", ["--net", "sleep", "60"]);
        using var proc = System.Diagnostics.Process.Start(psi)!;
        try
        {
            var path = $"/proc/{proc.Id}/ns/net";
            static string Ns(string p) => Sh.Run("readlink", p).Trim();
            for (var i = 0; i < 100 && Ns(path) == Ns("/proc/self/ns/net"); i++)
            {
                await Task.Delay(20); // unshare has not switched yet
            }
            Assert.NotEqual(Ns("/proc/self/ns/net"), Ns(path));
            var list = world.ConfList(portmap: false);
            var rt = new RuntimeConf { ContainerId = "procns", NetNs = path, IfName = "eth1" };
            var r = await world.Runner.AddAsync(list, rt);
            var shown = Sh.Run("nsenter", "-t", proc.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "-n", "ip", "-4", "addr", "show", "eth1");
            Assert.Contains("inet " + r.Ips![0].Address, shown, StringComparison.Ordinal);
            await world.Runner.DelAsync(list, rt);
            Assert.Empty(world.LeakedLinks());
            Assert.Equal(0, world.IpamFiles());
        }
        finally
        {
            proc.Kill();
            await proc.WaitForExitAsync();
        }
    }
}
