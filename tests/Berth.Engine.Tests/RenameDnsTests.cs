using Berth.Testing;

namespace Berth.Engine.Tests;

/// <summary>docker rename and the embedded DNS server, seen by busybox nslookup in a peer container.</summary>
[Collection(EngineCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class RenameDnsTests(EngineFixture f)
{
    private static string Unique(string prefix) => prefix + Guid.NewGuid().ToString("N")[..6];

    private Cli.Result Lookup(string peer, string name) => f.Run("exec", peer, "nslookup", name);

    [Fact]
    public void After_a_rename_the_new_name_resolves_and_the_old_one_is_nxdomain()
    {
        var net = Unique("rn");
        f.Run("network", "create", "--subnet", $"10.{200 + Random.Shared.Next(50)}.{Random.Shared.Next(256)}.0/24", net).Ok();
        var old = Unique("old");
        var renamed = Unique("new");
        var third = Unique("third");
        var peer = Unique("peer");
        try
        {
            f.Run("run", "-d", "--name", old, "--network", net, "busybox", "sleep", "300").Ok();
            f.Run("run", "-d", "--name", peer, "--network", net, "busybox", "sleep", "300").Ok();
            var ip = f.Run("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", old).Ok().Stdout.Trim();
            Assert.Contains("Address: " + ip, Lookup(peer, old).Ok().Stdout, StringComparison.Ordinal);

            f.Run("rename", old, renamed).Ok();
            Assert.Contains("Address: " + ip, Lookup(peer, renamed).Ok().Stdout, StringComparison.Ordinal);
            var gone = Lookup(peer, old);
            Assert.NotEqual(0, gone.ExitCode);
            Assert.Contains($"can't find {old}: NXDOMAIN", gone.Stdout + gone.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain(ip, gone.Stdout, StringComparison.Ordinal);
            // The reverse name follows, and so does name.network.
            Assert.Contains($"name = {renamed}.{net}", Lookup(peer, ip).Ok().Stdout, StringComparison.Ordinal);
            Assert.Contains("Address: " + ip, Lookup(peer, $"{renamed}.{net}").Ok().Stdout, StringComparison.Ordinal);

            // Renamed while stopped: the next start publishes the newest name only.
            f.Run("stop", "-t", "0", renamed).Ok();
            f.Run("rename", renamed, third).Ok();
            f.Run("start", third).Ok();
            var ip3 = f.Run("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", third).Ok().Stdout.Trim();
            Assert.Contains("Address: " + ip3, Lookup(peer, third).Ok().Stdout, StringComparison.Ordinal);
            Assert.Contains("NXDOMAIN", Lookup(peer, renamed).Stdout, StringComparison.Ordinal);
        }
        finally
        {
            f.Run("rm", "-f", old, renamed, third, peer);
            f.Run("network", "rm", net);
        }
    }
}
