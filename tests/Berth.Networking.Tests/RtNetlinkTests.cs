using System.Net;
using Berth.Linux;
using Berth.Linux.Netlink;
using Berth.Testing;

namespace Berth.Networking.Tests;

/// <summary>rtnetlink and netns handling on their own, checked against what `ip` reports.</summary>
[Collection("network")]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class RtNetlinkTests
{
    private static string NetnsId(string path) => new FileInfo(path).LinkTarget ?? throw new InvalidOperationException("no link target for " + path);

    [Fact]
    public void Run_enters_the_namespace_on_its_own_thread_and_leaves_the_caller_alone()
    {
        Privileged.Require();
        using var ns = new TestNetns();
        var before = NetnsId("/proc/thread-self/ns/net");
        var inside = ns.Run(() => NetnsId("/proc/thread-self/ns/net"));
        var after = NetnsId("/proc/thread-self/ns/net");
        Assert.Equal(before, after);
        Assert.NotEqual(before, inside);
        Assert.Equal(Sh.Run("ip", "netns", "exec", ns.Name, "readlink", "/proc/self/ns/net").Trim(), inside);
        var e = Assert.Throws<LinuxSyscallException>(() => NetworkNamespace.Open("/var/run/netns/berth-none-" + Guid.NewGuid().ToString("N")));
        Assert.Equal(Errno.ENOENT, e.Errno);
    }

    [Fact]
    public void Links_move_into_a_namespace_and_take_an_mtu()
    {
        Privileged.Require();
        using var ns = new TestNetns();
        var a = "bva" + Guid.NewGuid().ToString("N")[..8];
        var b = "bvb" + Guid.NewGuid().ToString("N")[..8];
        using var host = RtNetlink.Open();
        try
        {
            host.AddVeth(a, b, 0, null);
            var peer = host.GetLink(b);
            host.SetMtu(peer.Index, 1280, b);
            Assert.Equal(1280, host.GetLink(b).Mtu);
            host.SetNamespace(peer.Index, ns.Namespace, b);
            Assert.Null(host.FindLink(b));
            using var inner = RtNetlink.OpenIn(ns.Namespace);
            Assert.Equal(1280, inner.GetLink(b).Mtu);
            Assert.Contains("mtu 1280", Sh.Run("ip", "-n", ns.Name, "link", "show", b), StringComparison.Ordinal);
        }
        finally
        {
            host.DeleteLink(a);
        }
        Assert.Null(host.FindLink(a));
    }

    [Fact]
    public void Bridge_veth_addresses_routes_and_hairpin_match_ip()
    {
        Privileged.Require();
        using var ns = new TestNetns();
        var bridge = "bbt" + Guid.NewGuid().ToString("N")[..8];
        var veth = "bvt" + Guid.NewGuid().ToString("N")[..8];
        using var host = RtNetlink.Open();
        try
        {
            host.AddBridge(bridge, 1400);
            var br = host.GetLink(bridge);
            Assert.Equal("bridge", br.Kind);
            Assert.Equal(1400, br.Mtu);
            host.AddVeth(veth, "inner0", 1400, ns.Namespace);
            var v = host.GetLink(veth);
            host.SetMaster(v.Index, br.Index, veth);
            host.SetHairpin(v.Index, true, veth);
            host.SetUp(v.Index, veth);
            host.SetUp(br.Index, bridge);
            Assert.Contains("hairpin on", Sh.Run("ip", "-d", "link", "show", veth), StringComparison.Ordinal);
            Assert.Contains("master " + bridge, Sh.Run("ip", "link", "show", veth), StringComparison.Ordinal);
            Assert.Null(host.FindLink("inner0"));

            using var inner = RtNetlink.OpenIn(ns.Namespace);
            var i = inner.GetLink("inner0");
            inner.Rename(i.Index, "inner1", "inner0");
            Assert.Equal(i.Index, inner.GetLink("inner1").Index);
            inner.Rename(i.Index, "inner0", "inner1");
            Assert.True(inner.AddAddress(i.Index, IPAddress.Parse("10.250.1.2"), 24, "inner0"));
            Assert.False(inner.AddAddress(i.Index, IPAddress.Parse("10.250.1.2"), 24, "inner0"));
            inner.SetUp(i.Index, "inner0");
            Assert.True(inner.AddRoute(null, 0, IPAddress.Parse("10.250.1.1"), i.Index, "inner0"));
            var shown = Sh.Run("ip", "-n", ns.Name, "-4", "addr", "show", "inner0") + Sh.Run("ip", "-n", ns.Name, "route");
            Assert.Contains("inet 10.250.1.2/24", shown, StringComparison.Ordinal);
            Assert.Contains("default via 10.250.1.1 dev inner0", shown, StringComparison.Ordinal);
            Assert.Contains(inner.GetAddresses(i.Index), a => a.Address.Equals(IPAddress.Parse("10.250.1.2")) && a.PrefixLength == 24);
            Assert.True(inner.DeleteAddress(i.Index, IPAddress.Parse("10.250.1.2"), 24, "inner0"));
            Assert.DoesNotContain("10.250.1.2", Sh.Run("ip", "-n", ns.Name, "addr"), StringComparison.Ordinal);

            Assert.True(host.DeleteLink(veth));
            Assert.False(host.DeleteLink(veth));
            Assert.Null(inner.FindLink("inner0")); // the peer went with it
            var dup = Assert.Throws<LinuxSyscallException>(() => host.AddBridge(bridge, 0));
            Assert.Equal(Errno.EEXIST, dup.Errno);
            Assert.Contains(bridge, dup.Message, StringComparison.Ordinal);
        }
        finally
        {
            host.DeleteLink(veth);
            host.DeleteLink(bridge);
        }
        Assert.Null(host.FindLink(bridge));
    }
}
