using System.Text.Json.Nodes;
using Berth.Cli.Docker;

namespace Berth.Cli.Commands.Docker;

/// <summary>key=value flags (--label, --opt, --sysctl, --log-opt, --mount's volume-label/volume-opt) in one place.</summary>
public static class KeyValueFlags
{
    /// <summary>"key=value" split at the first '='; false for an empty key or (unless <paramref name="allowBare"/>) no '='.</summary>
    public static bool TrySplit(string item, bool allowBare, out string key, out string value)
    {
        var eq = item.IndexOf('=', StringComparison.Ordinal);
        key = eq < 0 ? item : item[..eq];
        value = eq < 0 ? "" : item[(eq + 1)..];
        return key.Length > 0 && (eq >= 0 || allowBare);
    }

    /// <summary>The pairs of a repeated flag; a bare key (when allowed) has an empty value, as docker's labels.</summary>
    public static IEnumerable<(string Key, string Value)> Parse(IEnumerable<string> items, string flag, bool allowBare)
    {
        foreach (var item in items)
        {
            if (!TrySplit(item, allowBare, out var key, out var value))
            {
                throw new UsageException($"invalid argument \"{item}\" for \"--{flag}\" flag: expected key=value");
            }
            yield return (key, value);
        }
    }

    /// <summary>A repeated key=value flag as a JSON map (a later key wins).</summary>
    public static JsonObject Map(IEnumerable<string> items, string flag, bool allowBare) => ToJson(Parse(items, flag, allowBare));

    public static JsonObject ToJson(IEnumerable<(string Key, string Value)> pairs)
    {
        var o = new JsonObject();
        foreach (var (k, v) in pairs)
        {
            o[k] = v;
        }
        return o;
    }
}
