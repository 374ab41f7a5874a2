using System.Text.Json.Nodes;
using Berth.Cli.Docker;

namespace Berth.Cli.Tests;

/// <summary>The PORTS column of ps, as the docker CLI formats GET /containers/json's Ports.</summary>
public sealed class PortsColumnTests
{
    private static SummaryPort P(string ip, int priv, int pub, string type = "tcp") => new(ip, priv, pub, type);

    private static SummaryPort Exposed(int priv, string type = "tcp") => new("", priv, 0, type);

    public static TheoryData<SummaryPort[], string> Cases => new()
    {
        { [], "" },
        { [Exposed(9988)], "9988/tcp" },
        { [Exposed(9988, "udp")], "9988/udp" },
        // Without an address the host port is not shown (and does not break a run).
        { [new SummaryPort("", 9988, 8899, "tcp")], "9988/tcp" },
        { [P("0.0.0.0", 9988, 0)], "0.0.0.0:0->9988/tcp" },
        { [P("4.3.2.1", 9988, 8899)], "4.3.2.1:8899->9988/tcp" },
        { [P("4.3.2.1", 9988, 9988)], "4.3.2.1:9988->9988/tcp" },
        { [P("::", 9988, 9988)], "[::]:9988->9988/tcp" },
        { [P("::1", 9988, 8899, "udp")], "[::1]:8899->9988/udp" },
        // Consecutive ports on the same host port numbers collapse, whatever order the daemon sent them in.
        { [P("0.0.0.0", 8002, 8002), P("0.0.0.0", 8000, 8000), P("0.0.0.0", 8001, 8001)], "0.0.0.0:8000-8002->8000-8002/tcp" },
        { [Exposed(5001), Exposed(5000), Exposed(5002, "udp")], "5000-5001/tcp, 5002/udp" },
        // Separate ports stay separate, a run that ends is written before the runs still open.
        { [P("0.0.0.0", 80, 80), P("0.0.0.0", 443, 443), Exposed(53, "udp")], "0.0.0.0:80->80/tcp, 53/udp, 0.0.0.0:443->443/tcp" },
        { [P("0.0.0.0", 8000, 8000), P("0.0.0.0", 8001, 8001), P("0.0.0.0", 8005, 8005), P("0.0.0.0", 8006, 8006)],
            "0.0.0.0:8000-8001->8000-8001/tcp, 0.0.0.0:8005-8006->8005-8006/tcp" },
        // Different addresses and protocols are different runs; ports mapped to another number come last, unmerged.
        { [P("127.0.0.1", 7001, 7001, "udp"), P("127.0.0.1", 7002, 7002, "udp"), P("0.0.0.0", 7001, 7001), P("0.0.0.0", 7002, 7002)],
            "0.0.0.0:7001-7002->7001-7002/tcp, 127.0.0.1:7001-7002->7001-7002/udp" },
        { [P("1.2.3.4", 9998, 8887, "udp"), P("1.2.3.4", 9999, 8888, "udp"), Exposed(80)], "80/tcp, 1.2.3.4:8887->9998/udp, 1.2.3.4:8888->9999/udp" },
        // The same entry twice is written twice, as docker does.
        { [Exposed(9988, "udp"), Exposed(9988, "udp")], "9988/udp, 9988/udp" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Formats_as_the_docker_cli(SummaryPort[] ports, string expected) => Assert.Equal(expected, PortsColumn.Format(ports));

    [Fact]
    public void Reads_the_api_ports_array()
    {
        var json = JsonNode.Parse("""[{"PrivatePort":90,"Type":"tcp"},{"IP":"0.0.0.0","PrivatePort":8000,"PublicPort":8000,"Type":"tcp"},{"IP":"0.0.0.0","PrivatePort":8001,"PublicPort":8001,"Type":"tcp"}]""")!.AsArray();
        Assert.Equal("90/tcp, 0.0.0.0:8000-8001->8000-8001/tcp", PortsColumn.Format(PortsColumn.FromJson(json)));
        Assert.Equal("", PortsColumn.Format(PortsColumn.FromJson(null)));
    }
}
