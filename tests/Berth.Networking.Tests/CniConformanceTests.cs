using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Berth.Linux.Netlink;
using Berth.Networking.Cni;
using Berth.Testing;

namespace Berth.Networking.Tests;

/// <summary>
/// The CNI contract, run through <see cref="CniRunner"/> against Berth's plugins and the reference plugins alike:
/// ADD result per spec, CHECK, DEL idempotent, VERSION, concurrent ADDs, and nothing left behind.
/// </summary>
[Collection("network")]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class CniConformanceTests
{
    [Theory]
    [InlineData(PluginSet.Berth)]
    [InlineData(PluginSet.Reference)]
    public async Task Add_check_del_follow_the_spec_and_leave_nothing(PluginSet set)
    {
        Privileged.Require();
        using var world = new CniWorld(set);
        using var ns = new TestNetns();
        var list = world.ConfList();
        var rt = CniWorld.Rt(ns, "conf1", (EchoServer.FreePort(), 80, "tcp", null));

        var result = await world.Runner.AddAsync(list, rt);

        // The result as the spec defines it: the bridge, the host veth, the container interface with its sandbox.
        var json = result.ToJson("1.0.0");
        Assert.Equal("1.0.0", json["cniVersion"]!.GetValue<string>());
        var interfaces = result.Interfaces!;
        Assert.Equal(3, interfaces.Count);
        Assert.Equal(world.Bridge, interfaces[0].Name);
        Assert.Equal("eth0", interfaces[2].Name);
        Assert.Equal(ns.Path, interfaces[2].Sandbox);
        Assert.All(interfaces, i => Assert.Matches("^([0-9a-f]{2}:){5}[0-9a-f]{2}$", i.Mac!));
        var ip = Assert.Single(result.Ips!);
        Assert.Equal(2, ip.Interface);
        Assert.Equal(world.Gateway, ip.Gateway);
        Assert.True(Berth.Networking.Plugins.IPPrefix.Parse(world.Subnet, "s").Contains(IPAddress.Parse(ip.Address.Split('/')[0])));
        Assert.EndsWith("/24", ip.Address, StringComparison.Ordinal);
        Assert.Contains(result.Routes!, r => r.Dst == "0.0.0.0/0" && r.Gw == world.Gateway);

        // The container really has it: eth0 up with the address, a default route via the gateway.
        using (var nl = RtNetlink.OpenIn(ns.Namespace))
        {
            var eth0 = nl.GetLink("eth0");
            Assert.True(eth0.Up);
            Assert.Equal(interfaces[2].Mac, eth0.Mac);
            Assert.Contains(nl.GetAddresses(eth0.Index), a => a.Address + "/" + a.PrefixLength == ip.Address);
            Assert.Contains(nl.GetRoutes(), r => r.Destination is null && r.Gateway?.ToString() == world.Gateway);
        }
        Assert.NotNull(world.Runner.GetCachedResult(list.Name, rt));
        Assert.Equal(1, world.IpamFiles());
        if (set == PluginSet.Berth)
        {
            Assert.True(world.TableExists());
        }

        // The reference portmap 1.1.1 fails CHECK on IPv4-only attachments (containernetworking/plugins#819,
        // fixed upstream later), so the reference chain is checked without it.
        await world.Runner.CheckAsync(set == PluginSet.Berth ? list : world.ConfList(portmap: false), rt);

        await world.Runner.DelAsync(list, rt);
        await world.Runner.DelAsync(list, rt); // idempotent
        Assert.Null(world.Runner.GetCachedResult(list.Name, rt));
        await Assert.ThrowsAsync<CniException>(() => world.Runner.CheckAsync(list, rt));
        using (var nl = RtNetlink.OpenIn(ns.Namespace))
        {
            Assert.Null(nl.FindLink("eth0"));
        }
        Assert.Equal(0, world.IpamFiles());
        var leaked = CniWorld.HostLinks().Except(world.LinksBefore).Where(l => l != world.Bridge).ToList();
        Assert.Empty(leaked);
        if (set == PluginSet.Berth)
        {
            Assert.False(world.TableExists(), "the nft table goes when its last entry does");
        }
    }

    [Theory]
    [InlineData(PluginSet.Berth)]
    [InlineData(PluginSet.Reference)]
    public async Task The_mac_capability_sets_the_container_interface_address(PluginSet set)
    {
        Privileged.Require();
        using var world = new CniWorld(set);
        using var ns = new TestNetns();
        var list = world.ConfList(portmap: false);
        var rt = new RuntimeConf { ContainerId = "mac1", NetNs = ns.Path, IfName = "eth0", CapabilityArgs = new JsonObject { ["mac"] = "02:42:AC:11:00:99" } };
        var result = await world.Runner.AddAsync(list, rt);
        Assert.Equal("02:42:ac:11:00:99", result.Interfaces!.Single(i => i.Sandbox is not null).Mac);
        using (var nl = RtNetlink.OpenIn(ns.Namespace))
        {
            Assert.Equal("02:42:ac:11:00:99", nl.GetLink("eth0").Mac);
        }
        await world.Runner.DelAsync(list, rt);
        Assert.Empty(world.LeakedLinks());

        // Not an address: refused whole, nothing left (no link, no reservation).
        using var other = new TestNetns();
        var bad = new RuntimeConf { ContainerId = "mac2", NetNs = other.Path, IfName = "eth0", CapabilityArgs = new JsonObject { ["mac"] = "02:42:zz:11:00:99" } };
        await Assert.ThrowsAsync<CniException>(() => world.Runner.AddAsync(list, bad));
        Assert.Empty(world.LeakedLinks());
        Assert.Equal(0, world.IpamFiles());
    }

    [Theory]
    [InlineData(PluginSet.Berth)]
    [InlineData(PluginSet.Reference)]
    public async Task Del_without_netns_or_add_succeeds(PluginSet set)
    {
        Privileged.Require();
        using var world = new CniWorld(set);
        var list = world.ConfList();
        var rt = new RuntimeConf { ContainerId = "never-added", NetNs = "/var/run/netns/berth-gone-" + Guid.NewGuid().ToString("N")[..6] };
        await world.Runner.DelAsync(list, rt);
        await world.Runner.DelAsync(list, rt);
    }

    [Theory]
    [InlineData(PluginSet.Berth)]
    [InlineData(PluginSet.Reference)]
    public async Task Version_answers_with_supported_versions(PluginSet set)
    {
        Privileged.Require();
        using var world = new CniWorld(set);
        foreach (var plugin in new[] { "bridge", "host-local", "portmap" })
        {
            var v = await world.Runner.VersionAsync(plugin);
            Assert.Contains("1.0.0", v.SupportedVersions);
            Assert.Contains("0.4.0", v.SupportedVersions);
        }
    }

    [Theory]
    [InlineData(PluginSet.Berth)]
    [InlineData(PluginSet.Reference)]
    public async Task Concurrent_adds_get_distinct_addresses(PluginSet set)
    {
        Privileged.Require();
        using var world = new CniWorld(set);
        var list = world.ConfList(portmap: false);
        var namespaces = Enumerable.Range(0, 8).Select(_ => new TestNetns()).ToList();
        try
        {
            var rts = namespaces.Select((n, i) => CniWorld.Rt(n, "par" + i)).ToList();
            var results = await Task.WhenAll(rts.Select(rt => world.Runner.AddAsync(list, rt)));
            var addresses = results.Select(r => r.Ips![0].Address).ToList();
            Assert.Equal(8, addresses.Distinct().Count());
            Assert.Equal(8, world.IpamFiles());
            await Task.WhenAll(rts.Select(rt => world.Runner.DelAsync(list, rt)));
            Assert.Equal(0, world.IpamFiles());
            Assert.Empty(world.LeakedLinks());
        }
        finally
        {
            namespaces.ForEach(n => n.Dispose());
        }
    }

    [Fact]
    public async Task Exhausted_range_fails_whole_with_nothing_left()
    {
        Privileged.Require();
        using var world = new CniWorld(PluginSet.Berth);
        var prefix = world.Subnet[..world.Subnet.LastIndexOf('.')];
        var list = world.ConfList(rangeStart: prefix + ".10", rangeEnd: prefix + ".10");
        using var a = new TestNetns();
        using var b = new TestNetns();
        await world.Runner.AddAsync(list, CniWorld.Rt(a, "ex1"));
        var links = CniWorld.HostLinks();
        var e = await Assert.ThrowsAsync<CniException>(() => world.Runner.AddAsync(list, CniWorld.Rt(b, "ex2")));
        Assert.Equal(11, e.Code);
        Assert.Contains("no free address", e.Message, StringComparison.Ordinal);
        Assert.Equal(links, CniWorld.HostLinks());
        using (var nl = RtNetlink.OpenIn(b.Namespace))
        {
            Assert.Null(nl.FindLink("eth0"));
        }
        await world.Runner.DelAsync(list, CniWorld.Rt(a, "ex1"));
        Assert.Equal(0, world.IpamFiles());
    }

    [Fact]
    public async Task A_crashed_add_is_cleaned_by_del()
    {
        Privileged.Require();
        using var world = new CniWorld(PluginSet.Berth);
        using var ns = new TestNetns();
        var list = world.ConfList(portmap: false);
        var rt = CniWorld.Rt(ns, "crash1");
        // What a crash right after the veth and the reservation were made looks like: both exist, no cache.
        var hostVeth = Berth.Networking.Plugins.BridgePlugin.HostVethName(rt.ContainerId, rt.IfName);
        Sh.Run("ip", "link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", ns.Name);
        Directory.CreateDirectory(Path.Combine(world.IpamDir, list.Name));
        File.WriteAllText(Path.Combine(world.IpamDir, list.Name, world.Gateway[..^1] + "7"), "crash1\r\neth0");
        await world.Runner.DelAsync(list, rt);
        Assert.Equal(0, world.IpamFiles());
        Assert.DoesNotContain(hostVeth, CniWorld.HostLinks());
        // And a retried ADD over leftovers works too.
        Sh.Run("ip", "link", "add", hostVeth, "type", "veth", "peer", "name", "tmp0");
        var r = await world.Runner.AddAsync(list, rt);
        Assert.Single(r.Ips!);
        await world.Runner.DelAsync(list, rt);
        Assert.Empty(world.LeakedLinks());
    }

    [Fact]
    public async Task Same_published_port_twice_is_refused()
    {
        Privileged.Require();
        using var world = new CniWorld(PluginSet.Berth);
        using var a = new TestNetns();
        using var b = new TestNetns();
        var list = world.ConfList();
        var port = EchoServer.FreePort();
        await world.Runner.AddAsync(list, CniWorld.Rt(a, "pa", (port, 80, "tcp", null)));
        var e = await Assert.ThrowsAsync<CniException>(() => world.Runner.AddAsync(list, CniWorld.Rt(b, "pb", (port, 81, "tcp", null))));
        Assert.Contains("already published", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, world.IpamFiles()); // the failed ADD was rolled back by DEL
        await world.Runner.DelAsync(list, CniWorld.Rt(a, "pa"));
        Assert.False(world.TableExists());
    }

    [Fact]
    public void Binary_reports_errors_as_spec_json_on_stdout()
    {
        Privileged.Require();
        using var world = new CniWorld(PluginSet.Berth);
        var conf = Encoding.UTF8.GetBytes("{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"type\":\"bridge\",\"bridge\":\"" + world.Bridge + "\",\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.300.0.0/24\",\"dataDir\":\"" + world.IpamDir + "\"}}");
        using var ns = new TestNetns();
        var e = Assert.Throws<CniException>(() => PluginExec.Run(Path.Combine(world.PluginDir, "bridge"), new Dictionary<string, string>
        {
            ["CNI_COMMAND"] = "ADD", ["CNI_CONTAINERID"] = "bin1", ["CNI_NETNS"] = ns.Path, ["CNI_IFNAME"] = "eth0", ["CNI_PATH"] = world.PluginDir,
        }, conf));
        Assert.Equal(7, e.Code);
        Assert.Contains("10.300.0.0/24", e.Message, StringComparison.Ordinal);
    }
}

/// <summary>What a runtime does at start after being killed: DEL every cached attachment whose container is gone.</summary>
[Collection("network")]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class ReconcileTests
{
    [Fact]
    public async Task Cached_attachments_of_dead_containers_are_deleted_completely()
    {
        Privileged.Require();
        using var world = new CniWorld(PluginSet.Berth);
        var list = BridgeNetwork.ConfList(new BridgeNetworkOptions
        {
            Name = "recon", Bridge = world.Bridge, Subnet = world.Subnet, IpamDataDir = world.IpamDir,
            NftTable = world.Table, StateDir = world.Dir.Combine("state"),
        });
        var live = new TestNetns();
        var dead = new TestNetns();
        try
        {
            await world.Runner.AddAsync(list, CniWorld.Rt(live, "live", (EchoServer.FreePort(), 80, "tcp", null)));
            await world.Runner.AddAsync(list, CniWorld.Rt(dead, "dead", (EchoServer.FreePort(), 80, "tcp", null)));
            dead.Dispose(); // the container died with its namespace while nobody was watching

            // A fresh runner (the restarted daemon) finds both in the cache and deletes the one that is gone.
            var runner = new CniRunner([world.PluginDir], world.Dir.Combine("cache"));
            var cached = runner.CachedAttachments();
            Assert.Equal(["dead", "live"], cached.Select(c => c.ContainerId).Order().ToArray());
            foreach (var entry in cached.Where(c => c.ContainerId == "dead"))
            {
                await runner.DelAsync(NetworkConfigList.Parse(entry.Config), new RuntimeConf { ContainerId = entry.ContainerId, NetNs = entry.NetNs!, IfName = entry.IfName });
            }
            Assert.Equal(["live"], runner.CachedAttachments().Select(c => c.ContainerId).ToArray());
            Assert.Equal(1, world.IpamFiles());
            var table = Sh.Run("nft", "list", "table", "ip", world.Table);
            Assert.Contains("recon-live-eth0", table, StringComparison.Ordinal);
            Assert.DoesNotContain("recon-dead-eth0", table, StringComparison.Ordinal);
            Assert.DoesNotContain(Berth.Networking.Plugins.BridgePlugin.HostVethName("dead", "eth0"), CniWorld.HostLinks());
            await runner.DelAsync(list, CniWorld.Rt(live, "live"));
            Assert.Empty(world.LeakedLinks());
            Assert.False(world.TableExists());
        }
        finally
        {
            live.Dispose();
            dead.Dispose();
        }
    }

    [Fact]
    public void Bridge_network_conflist_rejects_bad_subnets()
    {
        Assert.Throws<CniException>(() => BridgeNetwork.ConfList(new BridgeNetworkOptions { Name = "x", Bridge = "b", Subnet = "10.0.0.0/40" }));
        Assert.Throws<CniException>(() => BridgeNetwork.ConfList(new BridgeNetworkOptions { Name = "x", Bridge = "b", Subnet = "10.0.0.0/24", Gateway = "10.1.0.1" }));
        Assert.Throws<CniException>(() => BridgeNetwork.ConfList(new BridgeNetworkOptions { Name = "x", Bridge = "b", Subnet = "10.0.0.0/24", IpRange = "10.0.1.0/28" }));
        var ok = BridgeNetwork.ConfList(new BridgeNetworkOptions { Name = "x", Bridge = "b", Subnet = "10.0.0.0/24", IpRange = "10.0.0.128/25" });
        Assert.Equal(2, ok.Plugins.Count);
        Assert.Contains("\"rangeStart\":\"10.0.0.128\"", ok.Plugins[0].ToJsonString(), StringComparison.Ordinal);
    }
}
