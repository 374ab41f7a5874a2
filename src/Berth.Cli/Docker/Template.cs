using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Berth.Cli.Docker;

/// <summary>
/// The basics of docker's Go-template --format: "{{.ID}}\t{{.Names}}", nested fields ({{.State.Status}}),
/// {{json .}} / {{json .Config}}, {{index .Config.Labels "key"}}, {{lower}}/{{upper}}, and a "table " prefix that
/// prints aligned columns with headers. Anything else is refused rather than printed wrong.
/// </summary>
public static partial class Template
{
    [GeneratedRegex(@"\{\{-?\s*(.*?)\s*-?\}\}", RegexOptions.Singleline)]
    private static partial Regex Action();

    public static bool IsTable(string format) => format.StartsWith("table", StringComparison.Ordinal);

    /// <summary>The format without its "table" prefix, with \t and \n escapes turned into characters.</summary>
    public static string Body(string format) =>
        (IsTable(format) ? format["table".Length..].TrimStart() : format).Replace("\\t", "\t", StringComparison.Ordinal).Replace("\\n", "\n", StringComparison.Ordinal);

    /// <summary>Renders <paramref name="format"/> against a JSON value (an inspect object or a row).</summary>
    public static string Render(string format, JsonNode? data) =>
        Action().Replace(Body(format), m => Evaluate(m.Groups[1].Value, data));

    /// <summary>The column header for a table format: {{.Names}} → NAMES, {{.ID}} → CONTAINER ID where given.</summary>
    public static string Header(string format, IReadOnlyDictionary<string, string> headers) =>
        Action().Replace(Body(format), m =>
        {
            var field = m.Groups[1].Value.TrimStart('.');
            return headers.TryGetValue(field, out var h) ? h : field.ToUpperInvariant();
        });

    private static string Evaluate(string expression, JsonNode? data)
    {
        var parts = Tokenize(expression);
        if (parts.Count == 0)
        {
            return "";
        }
        switch (parts[0])
        {
            case "json":
                return parts.Count > 1 ? (Resolve(parts[1], data)?.ToJsonString() ?? "null") : "null";
            case "lower":
                return Text(Resolve(parts.ElementAtOrDefault(1) ?? ".", data)).ToLowerInvariant();
            case "upper":
                return Text(Resolve(parts.ElementAtOrDefault(1) ?? ".", data)).ToUpperInvariant();
            case "index":
                if (parts.Count < 3)
                {
                    throw new UsageException($"template: index needs a value and a key in '{{{{{expression}}}}}'");
                }
                var container = Resolve(parts[1], data);
                var key = parts[2].Trim('"');
                return Text(container is JsonObject o ? o[key] : container is JsonArray a && int.TryParse(key, out var n) && n < a.Count ? a[n] : null);
            default:
                if (parts[0].StartsWith('.') && parts.Count == 1)
                {
                    return Text(Resolve(parts[0], data));
                }
                throw new UsageException($"template: unsupported action '{{{{{expression}}}}}' (supported: .Field, json, index, lower, upper)");
        }
    }

    private static List<string> Tokenize(string expression)
    {
        var tokens = new List<string>();
        var sb = new StringBuilder();
        var quoted = false;
        foreach (var c in expression)
        {
            if (c == '"')
            {
                quoted = !quoted;
            }
            if (c == ' ' && !quoted)
            {
                if (sb.Length > 0)
                {
                    tokens.Add(sb.ToString());
                    sb.Clear();
                }
                continue;
            }
            sb.Append(c);
        }
        if (sb.Length > 0)
        {
            tokens.Add(sb.ToString());
        }
        return tokens;
    }

    private static JsonNode? Resolve(string path, JsonNode? data)
    {
        if (path == ".")
        {
            return data;
        }
        var node = data;
        foreach (var segment in path.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            if (node is not JsonObject o)
            {
                return null;
            }
            // Docker's fields are Go names; the JSON may spell them differently (Id vs ID).
            node = o[segment] ?? o.FirstOrDefault(kv => string.Equals(kv.Key, segment, StringComparison.OrdinalIgnoreCase)).Value;
        }
        return node;
    }

    /// <summary>Go's default printing: strings bare, null as &lt;no value&gt;, maps and lists as Go prints them.</summary>
    public static string Text(JsonNode? node) => node switch
    {
        null => "<no value>",
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonValue v => v.ToJsonString(),
        JsonObject o => "map[" + string.Join(' ', o.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + ":" + Text(kv.Value))) + "]",
        JsonArray a => "[" + string.Join(' ', a.Select(Text)) + "]",
        _ => node.ToJsonString(),
    };
}
