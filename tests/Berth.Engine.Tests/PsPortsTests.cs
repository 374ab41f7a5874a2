using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Berth.Testing;

namespace Berth.Engine.Tests;

/// <summary>docker ps's PORTS column for a container with a published range, a gap, a remapped port and exposed ports.</summary>
[Collection(EngineCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class PsPortsTests(EngineFixture f)
{
    /// <summary>A base port with base..base+2 and base+5 free for TCP on every address right now.</summary>
    private static int FreeBase()
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var port = 20000 + Random.Shared.Next(20000);
            if (new[] { port, port + 1, port + 2, port + 5 }.All(Free))
            {
                return port;
            }
        }
        throw new InvalidOperationException("no free run of TCP ports found between 20000 and 40005");
    }

    private static bool Free(int port)
    {
        try
        {
            using var l = new TcpListener(IPAddress.Any, port);
            l.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [Fact]
    public void Ports_column_collapses_consecutive_ports_as_docker_ps_does()
    {
        var name = "ports" + Guid.NewGuid().ToString("N")[..6];
        var b = FreeBase();
        string S(int p) => p.ToString(CultureInfo.InvariantCulture);
        try
        {
            f.Run("run", "-d", "--name", name, "--network", "bridge",
                "-p", $"{S(b)}-{S(b + 2)}:{S(b)}-{S(b + 2)}", "-p", $"{S(b + 5)}:{S(b + 5)}", "-p", "127.0.0.1::90",
                "--expose", "5000-5001", "--expose", "53/udp", "busybox", "sleep", "300").Ok();
            var remapped = f.Run("port", name, "90/tcp").Ok().Stdout.Trim();
            Assert.StartsWith("127.0.0.1:", remapped, StringComparison.Ordinal);
            // Sorted by container port; the run b..b+2 is cut by the gap to b+5, so it is written first; the port
            // published on another host port number comes last.
            var expected = $"0.0.0.0:{S(b)}-{S(b + 2)}->{S(b)}-{S(b + 2)}/tcp, 53/udp, 5000-5001/tcp, 0.0.0.0:{S(b + 5)}->{S(b + 5)}/tcp, {remapped}->90/tcp";
            Assert.Equal(expected, f.Run("ps", "--filter", "name=" + name, "--format", "{{.Ports}}").Ok().Stdout.Trim());
            // The berth CLI writes the same column for the same container.
            var berth = Cli.Run(Repo.Executable("berth"), ["ps", "--filter", "name=" + name, "--format", "{{.Ports}}"],
                env: new Dictionary<string, string> { ["BERTH_HOST"] = "unix://" + f.Socket }).Ok();
            Assert.Equal(expected, berth.Stdout.Trim());
        }
        finally
        {
            f.Run("rm", "-f", name);
        }
    }
}
