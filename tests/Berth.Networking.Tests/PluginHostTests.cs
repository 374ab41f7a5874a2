using System.Text;
using System.Text.Json.Nodes;
using Berth.Networking.Cni;
using Berth.Networking.Nft;
using Berth.Networking.Plugins;
using Berth.Testing;

namespace Berth.Networking.Tests;

/// <summary>Plugin-side input handling, host-local IPAM on files, and the nft script: no root needed.</summary>
public sealed class PluginHostTests
{
    private static Dictionary<string, string> Env(string command, string id = "c1", string? netns = "/var/run/netns/x", string ifname = "eth0", string path = "/nonexistent")
    {
        var env = new Dictionary<string, string> { ["CNI_COMMAND"] = command, ["CNI_CONTAINERID"] = id, ["CNI_IFNAME"] = ifname, ["CNI_PATH"] = path };
        if (netns is not null)
        {
            env["CNI_NETNS"] = netns;
        }
        return env;
    }

    private static string IpamConf(string dataDir, string ranges, string version = "1.0.0") =>
        $$$"""{"cniVersion":"{{{version}}}","name":"net1","type":"bridge","ipam":{"type":"host-local","dataDir":"{{{dataDir}}}","ranges":{{{ranges}}}}}""";

    private static JsonObject Run(string plugin, Dictionary<string, string> env, string stdin, out int code)
    {
        code = PluginHost.Run(plugin, env, Encoding.UTF8.GetBytes(stdin), out var output);
        return output.Length == 0 ? [] : (JsonObject)JsonNode.Parse(output)!;
    }

    private static void AssertError(JsonObject error, int code, string fragment)
    {
        Assert.Equal(code, error["code"]!.GetValue<int>());
        Assert.Contains(fragment, error["msg"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.NotNull(error["cniVersion"]);
        Assert.True(error.Count is 3 or 4, error.ToJsonString());
    }

    [Fact]
    public void Version_lists_supported_versions()
    {
        var r = Run("bridge", new() { ["CNI_COMMAND"] = "VERSION" }, "{\"cniVersion\":\"1.0.0\"}", out var code);
        Assert.Equal(0, code);
        Assert.Equal("1.0.0", r["cniVersion"]!.GetValue<string>());
        Assert.Contains("0.4.0", r["supportedVersions"]!.AsArray().Select(v => v!.GetValue<string>()));
    }

    [Theory]
    [InlineData(null, 4, "CNI_COMMAND")]
    [InlineData("FROB", 4, "FROB")]
    public void Bad_command_is_error_4(string? command, int code, string fragment)
    {
        var env = Env(command ?? "ADD");
        if (command is null)
        {
            env.Remove("CNI_COMMAND");
        }
        var r = Run("host-local", env, IpamConf("/tmp/x", "[[{\"subnet\":\"10.1.0.0/24\"}]]"), out var exit);
        Assert.Equal(1, exit);
        AssertError(r, code, fragment);
    }

    [Fact]
    public void Missing_netns_variable_and_bad_ifname_are_error_4()
    {
        AssertError(Run("bridge", Env("ADD", netns: null), IpamConf("/tmp/x", "[[{\"subnet\":\"10.1.0.0/24\"}]]"), out _), 4, "CNI_NETNS");
        AssertError(Run("bridge", Env("ADD", ifname: "a/b"), IpamConf("/tmp/x", "[[{\"subnet\":\"10.1.0.0/24\"}]]"), out _), 4, "CNI_IFNAME");
        AssertError(Run("bridge", Env("ADD", id: ""), IpamConf("/tmp/x", "[[{\"subnet\":\"10.1.0.0/24\"}]]"), out _), 4, "CNI_CONTAINERID");
    }

    [Fact]
    public void Unsupported_version_is_error_1_and_bad_json_error_6()
    {
        AssertError(Run("bridge", Env("ADD"), IpamConf("/tmp/x", "[[{\"subnet\":\"10.1.0.0/24\"}]]", "9.9.9"), out _), 1, "9.9.9");
        AssertError(Run("bridge", Env("ADD"), "{not json", out _), 6, "not valid JSON");
    }

    [Fact]
    public void Missing_netns_path_is_error_3()
    {
        using var dir = new TempDirectory();
        AssertError(Run("bridge", Env("ADD", netns: "/var/run/netns/does-not-exist-berth"), IpamConf(dir.Path, "[[{\"subnet\":\"10.1.0.0/24\"}]]"), out _), 3, "does-not-exist-berth");
    }

    [Theory]
    [InlineData("[[{\"subnet\":\"10.1.0.0/33\"}]]", "not a valid CIDR")]
    [InlineData("[[{\"subnet\":\"banana\"}]]", "not a valid CIDR")]
    [InlineData("[[{\"subnet\":\"10.1.0.0/24\"}],[{\"subnet\":\"10.1.0.128/25\"}]]", "overlaps")]
    [InlineData("[[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.2.0.5\"}]]", "outside")]
    [InlineData("[[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.50\",\"rangeEnd\":\"10.1.0.10\"}]]", "after rangeEnd")]
    public void Invalid_ranges_are_error_7(string ranges, string fragment)
    {
        using var dir = new TempDirectory();
        var r = Run("host-local", Env("ADD"), IpamConf(dir.Path, ranges), out var exit);
        Assert.Equal(1, exit);
        AssertError(r, 7, fragment);
        Assert.Empty(Directory.EnumerateFiles(dir.Path, "10.*", SearchOption.AllDirectories));
    }

    [Fact]
    public void HostLocal_allocates_skips_gateway_releases_and_reports_exhaustion()
    {
        using var dir = new TempDirectory();
        var conf = IpamConf(dir.Path, "[[{\"subnet\":\"10.9.0.0/24\",\"rangeStart\":\"10.9.0.1\",\"rangeEnd\":\"10.9.0.3\"}]]");
        var a = Run("host-local", Env("ADD", "c1"), conf, out var c1);
        Assert.Equal(0, c1);
        Assert.Equal("10.9.0.2/24", a["ips"]![0]!["address"]!.GetValue<string>()); // .1 is the gateway
        Assert.Equal("10.9.0.1", a["ips"]![0]!["gateway"]!.GetValue<string>());
        // A retried ADD of the same attachment gets the same address back.
        Assert.Equal("10.9.0.2/24", Run("host-local", Env("ADD", "c1"), conf, out _)["ips"]![0]!["address"]!.GetValue<string>());
        Assert.Equal("10.9.0.3/24", Run("host-local", Env("ADD", "c2"), conf, out _)["ips"]![0]!["address"]!.GetValue<string>());
        var full = Run("host-local", Env("ADD", "c3"), conf, out var c3);
        Assert.Equal(1, c3);
        AssertError(full, 11, "no free address");
        Assert.Equal("c1\r\neth0", File.ReadAllText(Path.Combine(dir.Path, "net1", "10.9.0.2")));
        Run("host-local", Env("CHECK", "c1"), conf, out var check);
        Assert.Equal(0, check);
        Run("host-local", Env("DEL", "c1"), conf, out var d1);
        Run("host-local", Env("DEL", "c1"), conf, out var d2);
        Assert.Equal((0, 0), (d1, d2));
        Assert.False(File.Exists(Path.Combine(dir.Path, "net1", "10.9.0.2")));
        Run("host-local", Env("CHECK", "c1"), conf, out var checkGone);
        Assert.Equal(1, checkGone);
        Assert.Equal("10.9.0.2/24", Run("host-local", Env("ADD", "c4"), conf, out _)["ips"]![0]!["address"]!.GetValue<string>());
    }

    [Fact]
    public void HostLocal_concurrent_adds_get_distinct_addresses()
    {
        using var dir = new TempDirectory();
        var conf = IpamConf(dir.Path, "[[{\"subnet\":\"10.9.0.0/26\"}]]");
        var addresses = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 40, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var r = Run("host-local", Env("ADD", "c" + i), conf, out var code);
            Assert.Equal(0, code);
            addresses.Add(r["ips"]![0]!["address"]!.GetValue<string>());
        });
        Assert.Equal(40, addresses.Distinct().Count());
    }

    [Fact]
    public void Result_before_1_0_carries_ip_version()
    {
        var r = new CniResult { Ips = [new CniIpConfig { Address = "10.0.0.2/24" }] }.ToJson("0.4.0");
        Assert.Equal("4", r["ips"]![0]!["version"]!.GetValue<string>());
        Assert.Null(new CniResult { Ips = [new CniIpConfig { Address = "10.0.0.2/24" }] }.ToJson("1.0.0")["ips"]![0]!["version"]);
    }

    [Fact]
    public void Nft_script_replaces_the_whole_table_and_removes_it_when_empty()
    {
        Assert.Equal("table ip t\ndelete table ip t\n", NftState.Render("t", []));
        var script = NftState.Render("t", [new NftEntry
        {
            Kind = "ports", Key = "n-c1-eth0", ContainerIp = "10.1.0.2", Subnet = "10.1.0.0/24",
            PortMappings = [new PortMapping { HostPort = 8080, ContainerPort = 80, Protocol = "tcp", HostIP = "192.0.2.2" }],
        }]);
        Assert.StartsWith("table ip t\ndelete table ip t\ntable ip t {", script, StringComparison.Ordinal);
        Assert.Contains("ip daddr 192.0.2.2 tcp dport 8080 dnat to 10.1.0.2:80 comment \"n-c1-eth0\"", script, StringComparison.Ordinal);
        Assert.Contains("ct status dnat ip daddr 10.1.0.2 ip saddr { 127.0.0.0/8, 10.1.0.0/24 } masquerade", script, StringComparison.Ordinal);
    }

    [Fact]
    public void Isolation_script_drops_between_bridges_and_around_internal_ones_only_when_there_is_something_to_isolate()
    {
        const string Removal = "table ip t\ndelete table ip t\n";
        Assert.Equal(Removal, NetworkIsolation.Render("t", []));
        Assert.Equal(Removal, NetworkIsolation.Render("t", [new IsolatedBridge("b0", Internal: false)]));
        var two = NetworkIsolation.Render("t", [new IsolatedBridge("b1", false), new IsolatedBridge("b0", false)]);
        Assert.StartsWith(Removal + "table ip t {\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n    ct state established,related accept\n", two, StringComparison.Ordinal);
        Assert.Contains("    iifname \"b0\" oifname { \"b1\" } drop\n", two, StringComparison.Ordinal);
        Assert.Contains("    iifname \"b1\" oifname { \"b0\" } drop\n", two, StringComparison.Ordinal);
        // Published ports stay reachable from every network: DNAT'ed connections pass before the drops between bridges.
        Assert.True(two.IndexOf("ct status dnat accept", StringComparison.Ordinal) < two.IndexOf("iifname \"b0\"", StringComparison.Ordinal));
        // One internal network alone is isolated from everything, before the DNAT exception.
        var alone = NetworkIsolation.Render("t", [new IsolatedBridge("in", Internal: true)]);
        Assert.Contains("    iifname \"in\" oifname != \"in\" drop comment \"internal network\"\n    oifname \"in\" iifname != \"in\" drop comment \"internal network\"\n    ct status dnat accept\n", alone, StringComparison.Ordinal);
        var e = Assert.Throws<CniException>(() => NetworkIsolation.Render("t", [new IsolatedBridge("a\" b", false)]));
        Assert.Contains("bridge name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mac_addresses_parse_as_users_write_them_and_multicast_ones_are_refused()
    {
        Assert.Equal("02:42:ac:11:00:02", MacAddress.Format(MacAddress.TryParse("02:42:AC:11:00:02", out _)!));
        Assert.Equal("02:42:ac:11:00:02", MacAddress.Format(MacAddress.TryParse("02-42-ac-11-00-02", out _)!));
        foreach (var bad in new[] { "", "02:42:ac:11:00", "02:42:ac:11:00:02:03", "2:42:ac:11:00:02", "02:42:ac:11:00:0g", "02:42:ac:11:00:+2" })
        {
            Assert.Null(MacAddress.TryParse(bad, out var error));
            Assert.Contains("six hex pairs", error, StringComparison.Ordinal);
        }
        Assert.Null(MacAddress.TryParse("01:00:5e:00:00:01", out var multicast));
        Assert.Contains("multicast", multicast, StringComparison.Ordinal);
    }

    [Fact]
    public void Prefix_parsing_masks_host_bits()
    {
        Assert.Equal("10.1.2.0/24", IPPrefix.Parse("10.1.2.3/24", "x").ToString());
        Assert.Equal("fd00::/64", IPPrefix.Parse("fd00::5/64", "x").ToString());
        Assert.Throws<CniException>(() => IPPrefix.Parse("10.1.2/24", "x"));
    }

    [Fact]
    public void Conflist_parse_reports_every_problem()
    {
        var e = Assert.Throws<Berth.Core.BerthException>(() =>
            NetworkConfigList.Parse(Encoding.UTF8.GetBytes("{\"cniVersion\":\"7\",\"plugins\":[{}]}")));
        Assert.Contains("name", e.Message, StringComparison.Ordinal);
        Assert.Contains("cniVersion", e.Message, StringComparison.Ordinal);
        Assert.Contains("plugin 0 has no \"type\"", e.Message, StringComparison.Ordinal);
    }
}
