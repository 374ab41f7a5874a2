using Berth.Core;
using Berth.Engine.Api;
using Berth.Engine.Containers;
using Berth.Engine.Networks;
using Berth.Networking.Dns;

namespace Berth.Engine.Tests;

/// <summary>The container's /etc/resolv.conf and /etc/hosts, built in one place for create and for network start.</summary>
public sealed class ContainerDnsFilesTests
{
    private static readonly ResolvConf Host = ResolvConf.Parse("# host\nnameserver 127.0.0.53\nnameserver 192.0.2.1\ndomain old.example\nsearch\tcorp.example lab.example\noptions edns0 trust-ad\n");

    private static string[] Options(string resolv) =>
        resolv.Split('\n').Single(l => l.StartsWith("options ", StringComparison.Ordinal))["options ".Length..].Split(' ');

    [Fact]
    public void The_embedded_server_keeps_the_hosts_options_and_adds_ndots_0_only_when_none_is_set()
    {
        var text = ContainerDnsFiles.Resolv(Host, new HostConfig(), embedded: true, containerNamespace: true);
        Assert.Equal(["nameserver 127.0.0.11"], text.Split('\n').Where(l => l.StartsWith("nameserver", StringComparison.Ordinal)));
        Assert.Contains("search corp.example lab.example\n", text, StringComparison.Ordinal);
        Assert.Equal(["edns0", "ndots:0", "trust-ad"], Options(text).Order(StringComparer.Ordinal));
        // An ndots the host sets is kept, not replaced.
        var withNdots = ResolvConf.Parse("nameserver 192.0.2.1\noptions ndots:3 edns0\n");
        Assert.Equal(["edns0", "ndots:3"], Options(ContainerDnsFiles.Resolv(withNdots, new HostConfig(), true, true)).Order(StringComparer.Ordinal));
        // --dns-option replaces the host's options; ndots:0 is still added when it sets none, and not when it does.
        Assert.Equal(["ndots:0", "timeout:2"], Options(ContainerDnsFiles.Resolv(Host, new HostConfig { DnsOptions = ["timeout:2"] }, true, true)).Order(StringComparer.Ordinal));
        Assert.Equal(["ndots:5"], Options(ContainerDnsFiles.Resolv(Host, new HostConfig { DnsOptions = ["ndots:5"] }, true, true)));
        // --dns goes to the embedded server as its upstream, not into the file.
        var dns = ContainerDnsFiles.Resolv(Host, new HostConfig { Dns = ["192.0.2.53"] }, true, true);
        Assert.Contains("nameserver 127.0.0.11\n", dns, StringComparison.Ordinal);
        Assert.DoesNotContain("nameserver 192.0.2.53", dns, StringComparison.Ordinal);
        Assert.Contains("192.0.2.53", dns, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_the_embedded_server_the_servers_are_the_hosts_or_dns_and_ndots_is_not_added()
    {
        var bridge = ContainerDnsFiles.Resolv(Host, new HostConfig(), embedded: false, containerNamespace: true);
        Assert.Equal("search corp.example lab.example\nnameserver 192.0.2.1\noptions edns0 trust-ad\n", bridge);
        var loopbackOnly = ResolvConf.Parse("nameserver 127.0.0.53\nnameserver ::1\n");
        Assert.Equal("nameserver 8.8.8.8\nnameserver 8.8.4.4\n", ContainerDnsFiles.Resolv(loopbackOnly, new HostConfig(), false, true));
        // The host network shares the host's loopback: its servers stay.
        Assert.Equal("nameserver 127.0.0.53\nnameserver ::1\n", ContainerDnsFiles.Resolv(loopbackOnly, new HostConfig(), false, false));
        var given = new HostConfig { Dns = ["192.0.2.53"], DnsSearch = ["x.example"], DnsOptions = ["rotate"] };
        Assert.Equal("search x.example\nnameserver 192.0.2.53\noptions rotate\n", ContainerDnsFiles.Resolv(Host, given, false, true));
        var bad = Assert.Throws<BerthException>(() => ContainerDnsFiles.Resolv(Host, new HostConfig { Dns = ["not-an-ip"] }, false, false));
        Assert.Equal("invalid --dns not-an-ip: not an IP address", bad.Message);
    }

    [Fact]
    public void The_hosts_file_has_the_extra_hosts_and_the_containers_address_with_its_name_on_user_defined_networks()
    {
        var record = new ContainerRecord
        {
            Id = new string('a', 64),
            Name = "/web",
            Config = new ContainerCreateRequest { Hostname = "box" },
            HostConfig = new HostConfig { ExtraHosts = ["db:192.0.2.7", "gw:host-gateway", "v6=2001:db8::1"] },
        };
        var text = ContainerDnsFiles.Hosts(record, false, "172.17.0.1", "10.1.0.2", withName: true);
        Assert.StartsWith("127.0.0.1\tlocalhost\n", text, StringComparison.Ordinal);
        Assert.EndsWith("192.0.2.7\tdb\n172.17.0.1\tgw\n2001:db8::1\tv6\n10.1.0.2\tbox web\n", text, StringComparison.Ordinal);
        Assert.EndsWith("10.1.0.2\tbox\n", ContainerDnsFiles.Hosts(record, false, "172.17.0.1", "10.1.0.2", withName: false), StringComparison.Ordinal);
        record.HostConfig.ExtraHosts = ["nohost"];
        Assert.Equal("invalid extra host \"nohost\": use name:ip", Assert.Throws<BerthException>(() => ContainerDnsFiles.Hosts(record, false, null)).Message);
    }
}
