using System.Text.RegularExpressions;

namespace Berth.Testing;

/// <summary>
/// The reference portmap plugin (iptables-nft) leaves its top-level CNI-HOSTPORT-* chains in "ip nat" and "ip6 nat"
/// by design. A nat table that did not exist when <see cref="Record"/> ran and holds nothing but CNI-* chains (and
/// base chains jumping only to them) was made by the tests and goes; anything else there is someone else's and stays.
/// </summary>
public sealed class ReferenceNatTables
{
    private static readonly string[] Families = ["ip", "ip6"];
    private static readonly string[] BaseChains = ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"];
    private readonly HashSet<string> _existed = new(StringComparer.Ordinal);

    /// <summary>Which families' nat tables exist now.</summary>
    public static ReferenceNatTables Record()
    {
        var r = new ReferenceNatTables();
        foreach (var family in Families)
        {
            if (Cli.Run("nft", ["list", "table", family, "nat"]).ExitCode == 0)
            {
                r._existed.Add(family);
            }
        }
        return r;
    }

    /// <summary>Deletes the nat tables made since <see cref="Record"/> that hold only the reference plugins' chains.</summary>
    public void RemoveMade()
    {
        foreach (var family in Families.Where(f => !_existed.Contains(f)))
        {
            var r = Cli.Run("nft", ["list", "table", family, "nat"]);
            if (r.ExitCode != 0)
            {
                continue;
            }
            var chains = Regex.Matches(r.Stdout, @"chain (\S+) \{").Select(m => m.Groups[1].Value);
            var jumps = Regex.Matches(r.Stdout, @"(?:jump|goto) (\S+)").Select(m => m.Groups[1].Value);
            if (chains.All(c => c.StartsWith("CNI-", StringComparison.Ordinal) || BaseChains.Contains(c)) &&
                jumps.All(j => j.StartsWith("CNI-", StringComparison.Ordinal)))
            {
                Cli.Run("nft", ["delete", "table", family, "nat"]);
            }
        }
    }
}
