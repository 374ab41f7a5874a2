using System.Globalization;
using System.Text;
using Berth.Networking.Cni;

namespace Berth.Networking.Nft;

/// <summary>One engine bridge network as isolation sees it.</summary>
public sealed record IsolatedBridge(string Bridge, bool Internal);

/// <summary>
/// Isolation between an engine's bridge networks, as Docker's DOCKER-ISOLATION chains do: a table of its own
/// ("ip &lt;name&gt;") with one forward filter chain, rebuilt whole and loaded in one nft transaction whenever the set
/// of networks changes. Traffic routed from one of the engine's bridges to another is dropped; an internal
/// network's bridge exchanges nothing with any other interface. Replies of allowed connections and connections to
/// published ports (DNAT'ed, as from any other machine) pass. Traffic within one bridge is switched, not routed, and
/// never reaches this chain. The table lives beside the plugins' tables, so it holds whichever CNI plugins attach
/// the containers (Berth's or the reference ones), and only ever adds drops: other tables' rules are untouched.
/// </summary>
public static class NetworkIsolation
{
    /// <summary>The whole table as one nft script; with nothing to isolate, only the table's removal.</summary>
    public static string Render(string table, IReadOnlyList<IsolatedBridge> bridges)
    {
        foreach (var b in bridges)
        {
            if (b.Bridge.Length is 0 or > 15 || b.Bridge.Any(c => c is '"' or '\\' or '/' || char.IsWhiteSpace(c) || char.IsControl(c)))
            {
                throw new CniException(CniErrorCode.InvalidNetworkConfig, $"bridge name '{b.Bridge}' cannot be an interface name: 1-15 characters, no quotes, '/', '\\\\' or spaces");
            }
        }
        var names = bridges.Select(b => b.Bridge).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var rules = new StringBuilder();
        foreach (var b in bridges.Where(b => b.Internal).DistinctBy(b => b.Bridge).OrderBy(b => b.Bridge, StringComparer.Ordinal))
        {
            rules.Append(CultureInfo.InvariantCulture, $"    iifname \"{b.Bridge}\" oifname != \"{b.Bridge}\" drop comment \"internal network\"\n");
            rules.Append(CultureInfo.InvariantCulture, $"    oifname \"{b.Bridge}\" iifname != \"{b.Bridge}\" drop comment \"internal network\"\n");
        }
        var between = new StringBuilder();
        foreach (var name in names)
        {
            var others = names.Where(n => n != name).Select(n => "\"" + n + "\"").ToList();
            if (others.Count > 0)
            {
                between.Append(CultureInfo.InvariantCulture, $"    iifname \"{name}\" oifname {{ {string.Join(", ", others)} }} drop\n");
            }
        }
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"table ip {table}\ndelete table ip {table}\n");
        if (rules.Length == 0 && between.Length == 0)
        {
            return s.ToString();
        }
        s.Append(CultureInfo.InvariantCulture, $"table ip {table} {{\n");
        s.Append("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
        s.Append("    ct state established,related accept\n");
        s.Append(rules);
        s.Append("    ct status dnat accept\n");
        s.Append(between);
        s.Append("  }\n}\n");
        return s.ToString();
    }

    /// <summary>Loads the table for these bridges (or removes it when there is nothing to isolate).</summary>
    public static void Apply(string table, IReadOnlyList<IsolatedBridge> bridges) => NftCommand.Load(table, Render(table, bridges));

    /// <summary>The table as nft lists it now (empty when it does not exist).</summary>
    public static string List(string table) => NftCommand.ListTable(table);
}
