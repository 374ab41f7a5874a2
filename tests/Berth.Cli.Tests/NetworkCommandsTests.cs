using System.Text.Json;
using Berth.Cli.Commands.Docker;
using Berth.Cli.Docker;
using Berth.Testing;

namespace Berth.Cli.Tests;

/// <summary>`berth network ...` against dockerd and against berth daemon: the same expectations for both.</summary>
[Collection(EngineCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class NetworkCommandsTests(EngineFixture engine)
{
    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>A 10.2xx.N.0/24 subnet no network here uses (random, retried when the daemon finds an overlap); the network's id.</summary>
    private (string Id, string Subnet) Create(string name, params string[] extra)
    {
        for (var i = 0; ; i++)
        {
            var subnet = $"10.{200 + Random.Shared.Next(50)}.{Random.Shared.Next(256)}.0/24";
            var r = engine.Berth(["network", "create", "--subnet", subnet, .. extra, name]);
            if (r.ExitCode == 0 || i > 5)
            {
                return (r.Ok().Stdout.Trim(), subnet);
            }
        }
    }

    private static string Prefix(string subnet) => subnet[..subnet.LastIndexOf('.')];

    [Fact]
    public void Create_inspect_ls_rm()
    {
        var team = Unique("team");
        var net = Unique("net");
        var subnet = $"10.{200 + Random.Shared.Next(50)}.{Random.Shared.Next(256)}.0/24";
        var p = Prefix(subnet);
        // The gateway and range are given in the other order than the subnets would pair them by position.
        var created = engine.Berth("network", "create", "--label", "team=" + team, "--subnet", subnet, "--gateway", p + ".254",
            "--ip-range", p + ".128/25", "--aux-address", "router=" + p + ".130", "-o", "com.docker.network.driver.mtu=1400", "--internal", net).Ok().Stdout;
        Assert.Matches("^[0-9a-f]{64}\n$", created);
        var id = created.Trim();

        try
        {
            var n = JsonDocument.Parse(engine.Berth("network", "inspect", net).Ok().Stdout).RootElement;
            Assert.Equal(JsonValueKind.Array, n.ValueKind);
            var first = n[0];
            Assert.Equal((net, id, "bridge", "local", true, false), (first.GetProperty("Name").GetString(), first.GetProperty("Id").GetString(),
                first.GetProperty("Driver").GetString(), first.GetProperty("Scope").GetString(), first.GetProperty("Internal").GetBoolean(), first.GetProperty("EnableIPv6").GetBoolean()));
            var pool = first.GetProperty("IPAM").GetProperty("Config")[0];
            Assert.Equal((subnet, p + ".254", p + ".128/25"), (pool.GetProperty("Subnet").GetString(), pool.GetProperty("Gateway").GetString(), pool.GetProperty("IPRange").GetString()));
            Assert.Equal(p + ".130", pool.GetProperty("AuxiliaryAddresses").GetProperty("router").GetString());
            Assert.Equal("default", first.GetProperty("IPAM").GetProperty("Driver").GetString());
            Assert.Equal("1400", first.GetProperty("Options").GetProperty("com.docker.network.driver.mtu").GetString());
            Assert.Equal(team, first.GetProperty("Labels").GetProperty("team").GetString());
            Assert.Empty(first.GetProperty("Containers").EnumerateObject());
            Assert.Equal($"{net} bridge {team}\n", engine.Berth("network", "inspect", "-f", "{{.Name}} {{.Driver}} {{index .Labels \"team\"}}", net).Ok().Stdout);
            Assert.Equal(net + "\n", engine.Berth("network", "inspect", "--format", "{{.Name}}", id[..12]).Ok().Stdout);
            Assert.Equal($"{subnet} {p}.254\n", engine.Berth("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}}", net).Ok().Stdout);

            var table = engine.Berth("network", "ls", "--filter", "label=team=" + team).Ok().Stdout;
            Assert.Matches($"^NETWORK ID +NAME +DRIVER +SCOPE\n{id[..12]} +{net} +bridge +local\n$", table);
            Assert.Matches($"^NETWORK ID +NAME +DRIVER +SCOPE\n{id} +{net} +bridge +local\n$", engine.Berth("network", "ls", "--no-trunc", "--filter", "id=" + id[..10]).Ok().Stdout);
            Assert.Equal(id[..12] + "\n", engine.Berth("network", "ls", "-q", "--filter", "name=" + net).Ok().Stdout);
            Assert.Equal($"{net} bridge local false true team={team}\n", engine.Berth("network", "ls", "--filter", "name=" + net,
                "--format", "{{.Name}} {{.Driver}} {{.Scope}} {{.IPv6}} {{.Internal}} {{.Labels}}").Ok().Stdout);
            Assert.Contains(net + "\n", engine.Berth("network", "ls", "--filter", "type=custom", "--filter", "driver=bridge", "--format", "{{.Name}}").Ok().Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain(net, engine.Berth("network", "ls", "--filter", "type=builtin", "--format", "{{.Name}}").Ok().Stdout, StringComparison.Ordinal);
            // The predefined networks are always there.
            var all = engine.Berth("network", "ls", "--format", "{{.Name}} {{.Driver}}").Ok().Stdout;
            Assert.Contains("host host\n", all, StringComparison.Ordinal);
            Assert.Contains("none null\n", all, StringComparison.Ordinal);

            Assert.Equal(net + "\n", engine.Berth("network", "rm", net).Ok().Stdout);
            Assert.Equal("", engine.Berth("network", "ls", "-q", "--filter", "name=" + net).Ok().Stdout);
            Assert.Equal(1, engine.Berth("network", "inspect", net).ExitCode);
        }
        finally
        {
            engine.Berth("network", "rm", "-f", net);
        }
    }

    [Fact]
    public void Ls_lists_in_dockers_natural_order()
    {
        var tag = Unique("order");
        var stem = "o" + Guid.NewGuid().ToString("N")[..6];
        string[] names = [stem + "10", stem + "9", stem + "1a", stem + "1", "A" + stem];
        try
        {
            foreach (var n in names)
            {
                Create(n, "--label", "order=" + tag);
            }
            var listed = engine.Berth("network", "ls", "--filter", "label=order=" + tag, "--format", "{{.Name}}").Ok().Stdout;
            Assert.Equal(string.Join("\n", "A" + stem, stem + "1", stem + "1a", stem + "9", stem + "10") + "\n", listed);
            Assert.Equal(string.Join("\n", names) + "\n", engine.Berth(["network", "rm", .. names]).Ok().Stdout);
        }
        finally
        {
            engine.Berth(["network", "rm", "-f", .. names]);
        }
    }

    [Fact]
    public void Errors_are_one_line_with_dockers_words()
    {
        var net = Unique("dup");
        var (_, subnet) = Create(net);
        try
        {
            var dup = engine.Berth("network", "create", net);
            Assert.Equal(1, dup.ExitCode);
            Assert.Contains($"network with name {net} already exists", dup.Stderr, StringComparison.Ordinal);
            var overlap = engine.Berth("network", "create", "--subnet", subnet, Unique("o"));
            Assert.Equal(1, overlap.ExitCode);
            Assert.Contains("Pool overlaps with other one on this address space", overlap.Stderr, StringComparison.Ordinal);
            var busy = engine.Berth("network", "rm", net, "no-such-network");
            Assert.Equal(1, busy.ExitCode);
            Assert.Equal(net + "\n", busy.Stdout);
            Assert.Contains("network no-such-network not found", busy.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            engine.Berth("network", "rm", "-f", net);
        }
        var p = "10.251.7";
        // The docker CLI's own checks of --subnet/--gateway/--ip-range, before the daemon is asked.
        foreach (var (args, message) in new[]
        {
            (new[] { "--gateway", p + ".1" }, "every ip-range or gateway must have a corresponding subnet"),
            (["--subnet", p + ".0/24", "--gateway", "10.252.7.1"], "no matching subnet for gateway 10.252.7.1"),
            (["--subnet", p + ".0/24", "--ip-range", "10.252.7.0/25"], "no matching subnet for range 10.252.7.0/25"),
            (["--subnet", p + ".0/24", "--subnet", p + ".0/25"], "multiple overlapping subnet configuration is not supported"),
        })
        {
            var r = engine.Berth(["network", "create", .. args, Unique("bad")]);
            Assert.Equal(125, r.ExitCode);
            Assert.Contains(message, r.Stderr, StringComparison.Ordinal);
        }
        Assert.Equal(125, engine.Berth("network", "create").ExitCode);
        Assert.Equal("", engine.Berth("network", "ls", "-q", "--filter", "name=bad-").Ok().Stdout);

        var rm = engine.Berth("network", "rm", "no-such-network");
        Assert.Equal(1, rm.ExitCode);
        Assert.Contains("network no-such-network not found", rm.Stderr, StringComparison.Ordinal);
        var force = engine.Berth("network", "rm", "-f", "no-such-network");
        Assert.Equal((0, ""), (force.ExitCode, force.Stdout));
        var predefined = engine.Berth("network", "rm", "none");
        Assert.Equal(1, predefined.ExitCode);
        Assert.Contains("none is a pre-defined network and cannot be removed", predefined.Stderr, StringComparison.Ordinal);
        var inspect = engine.Berth("network", "inspect", "no-such-network");
        Assert.Equal(1, inspect.ExitCode);
        Assert.Contains("No such network: no-such-network", inspect.Stderr, StringComparison.Ordinal);
        var filter = engine.Berth("network", "ls", "--filter", "bogus=1");
        Assert.Equal(1, filter.ExitCode);
        Assert.Contains("invalid filter 'bogus'", filter.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(1, engine.Berth("network", "connect", "no-such-network", "no-such-container").ExitCode);
    }

    private string AddressOn(string container, string ifName) =>
        engine.Berth("exec", container, "sh", "-c", $"ip -4 -o addr show dev {ifName} | awk '{{print $4}}'").Ok().Stdout.Trim();

    private JsonElement Endpoint(string container, string network) =>
        JsonDocument.Parse(engine.Berth("inspect", "-f", "{{json .NetworkSettings.Networks}}", container).Ok().Stdout).RootElement.GetProperty(network);

    [Fact]
    public void Run_mac_address_sets_the_container_interface()
    {
        var net = Unique("nm");
        Create(net);
        try
        {
            var r = engine.Berth("run", "--rm", "--network", net, "--mac-address", "02:42:ac:1f:00:98", "busybox", "cat", "/sys/class/net/eth0/address");
            Assert.Equal("02:42:ac:1f:00:98\n", r.Ok().Stdout);
        }
        finally
        {
            engine.Berth("network", "rm", net);
        }
    }

    [Fact]
    public void Connect_and_disconnect_running_and_stopped_containers()
    {
        var a = Unique("na");
        var b = Unique("nb");
        var (_, subnetA) = Create(a);
        var (idB, subnetB) = Create(b);
        var run = Unique("run");
        var stopped = Unique("stopped");
        try
        {
            engine.Berth("run", "-d", "--name", run, "--network", a, "busybox", "sleep", "300").Ok();
            Assert.StartsWith(Prefix(subnetA) + ".", AddressOn(run, "eth0"), StringComparison.Ordinal);

            // A running container gets eth1 with the address asked for, and shows on the network.
            var ip = Prefix(subnetB) + ".77";
            Assert.Equal("", engine.Berth("network", "connect", "--ip", ip, "--alias", "svc", b, run).Ok().Stdout);
            Assert.Equal(ip + "/24", AddressOn(run, "eth1"));
            var ep = Endpoint(run, b);
            Assert.Equal((ip, idB, ip), (ep.GetProperty("IPAddress").GetString(), ep.GetProperty("NetworkID").GetString(), ep.GetProperty("IPAMConfig").GetProperty("IPv4Address").GetString()));
            Assert.Contains("svc", ep.GetProperty("Aliases").EnumerateArray().Select(x => x.GetString()));
            Assert.Equal(ip + "\n", engine.Berth("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{b}\").IPAddress}}}}", run).Ok().Stdout);
            var containers = JsonDocument.Parse(engine.Berth("network", "inspect", "-f", "{{json .Containers}}", b).Ok().Stdout).RootElement;
            var only = Assert.Single(containers.EnumerateObject());
            Assert.Equal((run, ip + "/24"), (only.Value.GetProperty("Name").GetString(), only.Value.GetProperty("IPv4Address").GetString()));
            var again = engine.Berth("network", "connect", b, run);
            Assert.Equal(1, again.ExitCode);
            Assert.Contains($"endpoint with name {run} already exists in network {b}", again.Stderr, StringComparison.Ordinal);
            var inUse = engine.Berth("network", "rm", b);
            Assert.Equal(1, inUse.ExitCode);
            Assert.Contains("has active endpoints", inUse.Stderr, StringComparison.Ordinal);

            // Disconnect takes eth1 away; a second one says it is not connected.
            Assert.Equal("", engine.Berth("network", "disconnect", b, run).Ok().Stdout);
            Assert.NotEqual(0, engine.Berth("exec", run, "ip", "link", "show", "eth1").ExitCode);
            Assert.Empty(JsonDocument.Parse(engine.Berth("network", "inspect", "-f", "{{json .Containers}}", b).Ok().Stdout).RootElement.EnumerateObject());
            var twice = engine.Berth("network", "disconnect", b, run);
            Assert.Equal(1, twice.ExitCode);
            Assert.Contains("is not connected to network " + b, twice.Stderr, StringComparison.Ordinal);
            var noContainer = engine.Berth("network", "disconnect", b, "no-such-container");
            Assert.Equal(1, noContainer.ExitCode);
            Assert.Contains("No such container: no-such-container", noContainer.Stderr, StringComparison.Ordinal);

            // A stopped container is connected at its next start; connecting it twice keeps the first settings.
            engine.Berth("create", "--name", stopped, "--network", a, "busybox", "sleep", "300").Ok();
            engine.Berth("network", "connect", "--ip", Prefix(subnetB) + ".88", b, stopped).Ok();
            engine.Berth("network", "connect", b, stopped).Ok();
            Assert.Equal(Prefix(subnetB) + ".88", Endpoint(stopped, b).GetProperty("IPAMConfig").GetProperty("IPv4Address").GetString());
            engine.Berth("start", stopped).Ok();
            Assert.Equal(Prefix(subnetB) + ".88/24", AddressOn(stopped, "eth1"));
            Assert.StartsWith(Prefix(subnetA) + ".", AddressOn(stopped, "eth0"), StringComparison.Ordinal);

            // --network none cannot be combined with another network.
            var none = Unique("none");
            engine.Berth("create", "--name", none, "--network", "none", "busybox", "true").Ok();
            var noneConnect = engine.Berth("network", "connect", b, none);
            Assert.Equal(1, noneConnect.ExitCode);
            Assert.Contains("container cannot be connected to multiple networks with one of the networks in private (none) mode", noneConnect.Stderr, StringComparison.Ordinal);
            engine.Berth("rm", none).Ok();
        }
        finally
        {
            engine.Berth("rm", "-f", run, stopped);
            engine.Berth("network", "rm", a, b);
        }
        Assert.Equal("", engine.Berth("network", "ls", "-q", "--filter", "name=" + a).Ok().Stdout);
    }

    [Fact]
    public void Prune_removes_unused_networks_and_keeps_used_and_filtered_ones()
    {
        var tag = Unique("prune");
        var unused = Unique("unused");
        var kept = Unique("kept");
        var used = Unique("used");
        var user = Unique("user");
        Create(unused, "--label", "prune=" + tag);
        Create(kept, "--label", "prune=" + tag, "--label", "keep=yes");
        Create(used, "--label", "prune=" + tag);
        try
        {
            engine.Berth("run", "-d", "--name", user, "--network", used, "busybox", "sleep", "300").Ok();
            // Without -f it asks, and "n" removes nothing.
            var asked = engine.Berth(["network", "prune", "--filter", "label=prune=" + tag], stdin: "n\n");
            Assert.Equal(0, asked.ExitCode);
            Assert.Contains("WARNING! This will remove all custom networks not used by at least one container.", asked.Stdout, StringComparison.Ordinal);
            Assert.Equal(3, engine.Berth("network", "ls", "-q", "--filter", "label=prune=" + tag).Ok().Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

            var pruned = engine.Berth("network", "prune", "-f", "--filter", "label=prune=" + tag, "--filter", "label!=keep").Ok().Stdout;
            Assert.Equal($"Deleted Networks:\n{unused}\n\n", pruned);
            Assert.Equal(string.Join("\n", new[] { kept, used }.Order(NaturalOrder.Instance)) + "\n",
                engine.Berth("network", "ls", "--filter", "label=prune=" + tag, "--format", "{{.Name}}").Ok().Stdout);
            // Nothing left to prune prints nothing.
            Assert.Equal("", engine.Berth("network", "prune", "-f", "--filter", "label=prune=" + tag, "--filter", "label!=keep").Ok().Stdout);
            var bad = engine.Berth("network", "prune", "-f", "--filter", "driver=bridge");
            Assert.Equal(1, bad.ExitCode);
            Assert.Contains("invalid filter 'driver'", bad.Stderr, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            engine.Berth("rm", "-f", user);
            engine.Berth("network", "rm", "-f", unused, kept, used);
        }
    }
}

/// <summary>The docker CLI's natural order and its pairing of --subnet, --gateway and --ip-range, without a daemon.</summary>
public sealed class NetworkCommandUnitTests
{
    [Theory]
    [InlineData("a9", "a10")]
    [InlineData("a1", "a1a")]
    [InlineData("a1", "ab")]
    [InlineData("a2", "a02")]
    [InlineData("A", "a")]
    [InlineData("net", "net1")]
    [InlineData("x9y", "x10a")]
    public void Natural_order_puts_the_first_first(string first, string second)
    {
        Assert.True(NaturalOrder.Instance.Compare(first, second) < 0);
        Assert.True(NaturalOrder.Instance.Compare(second, first) > 0);
        Assert.Equal(0, NaturalOrder.Instance.Compare(first, first));
    }

    [Fact]
    public void Gateways_and_ranges_go_to_the_subnet_that_holds_them()
    {
        var config = NetworkCommands.IpamConfig(["10.1.0.0/24", "10.2.0.0/24"], ["10.2.0.128/25"], ["10.2.0.1", "10.1.0.254"]);
        Assert.Equal("[{\"Subnet\":\"10.1.0.0/24\",\"Gateway\":\"10.1.0.254\"},{\"Subnet\":\"10.2.0.0/24\",\"IPRange\":\"10.2.0.128/25\",\"Gateway\":\"10.2.0.1\"}]",
            config.ToJsonString());
        var two = Assert.Throws<UsageException>(() => NetworkCommands.IpamConfig(["10.1.0.0/24"], [], ["10.1.0.1", "10.1.0.2"]));
        Assert.Equal("every ip-range or gateway must have a corresponding subnet", two.Message);
        var same = Assert.Throws<UsageException>(() => NetworkCommands.IpamConfig(["10.1.0.0/24", "10.2.0.0/24"], [], ["10.1.0.1", "10.1.0.2"]));
        Assert.Equal("cannot configure multiple gateways (10.1.0.2, 10.1.0.1) for the same subnet (10.1.0.0/24)", same.Message);
        Assert.Equal("invalid subnet: invalid CIDR address: 10.1.0.0/33",
            Assert.Throws<UsageException>(() => NetworkCommands.IpamConfig(["10.1.0.0/33"], [], ["10.1.0.1"])).Message);
        Assert.Empty(NetworkCommands.IpamConfig([], [], []));
        var aux = NetworkCommands.IpamConfig(["10.1.0.0/24", "10.2.0.0/24"], [], [], ["r1=10.2.0.5", "r2=10.2.0.6"]);
        Assert.Equal("{\"r1\":\"10.2.0.5\",\"r2\":\"10.2.0.6\"}", aux[1]!["AuxiliaryAddresses"]!.ToJsonString());
        Assert.Null(aux[0]!["AuxiliaryAddresses"]);
        Assert.Equal("no matching subnet for aux-address 10.9.0.5",
            Assert.Throws<UsageException>(() => NetworkCommands.IpamConfig(["10.1.0.0/24"], [], [], ["r=10.9.0.5"])).Message);
    }
}
