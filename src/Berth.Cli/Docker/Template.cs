using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Berth.Cli.Docker;

/// <summary>
/// The basics of docker's Go-template --format: "{{.ID}}\t{{.Names}}", nested fields ({{.State.Status}}),
/// {{json .}} / {{json .Config}}, {{index .Config.Labels "key"}}, {{lower}}/{{upper}}, parenthesized calls with fields
/// after them ({{(index .NetworkSettings.Networks "net").IPAddress}}, {{json (index .IPAM.Config 0)}}), and a "table " prefix that
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

    private static readonly string[] Functions = ["json", "index", "lower", "upper"];

    private static string Evaluate(string expression, JsonNode? data)
    {
        var tokens = Lex(expression);
        if (tokens.Count == 0)
        {
            return "";
        }
        var pos = 0;
        var value = Expression(tokens, ref pos, data, expression);
        if (pos != tokens.Count)
        {
            throw Unsupported(expression);
        }
        return Text(value);
    }

    private static UsageException Unsupported(string expression) =>
        new($"template: unsupported action '{{{{{expression}}}}}' (supported: .Field, json, index, lower, upper, (...) with .Field after it)");

    /// <summary>A function call (json, index, lower, upper) or a single term, up to the end or a closing parenthesis.</summary>
    private static JsonNode? Expression(List<string> tokens, ref int pos, JsonNode? data, string expression)
    {
        var name = tokens[pos];
        if (!Functions.Contains(name))
        {
            return Term(tokens, ref pos, data, expression);
        }
        pos++;
        var args = new List<JsonNode?>();
        while (pos < tokens.Count && !tokens[pos].StartsWith(')'))
        {
            args.Add(Term(tokens, ref pos, data, expression));
        }
        switch (name)
        {
            case "json":
                return JsonValue.Create(args.Count > 0 ? args[0]?.ToJsonString() ?? "null" : "null");
            case "lower":
                return JsonValue.Create(Text(args.Count > 0 ? args[0] : data).ToLowerInvariant());
            case "upper":
                return JsonValue.Create(Text(args.Count > 0 ? args[0] : data).ToUpperInvariant());
            default:
                if (args.Count < 2)
                {
                    throw new UsageException($"template: index needs a value and a key in '{{{{{expression}}}}}'");
                }
                var node = args[0];
                foreach (var key in args.Skip(1))
                {
                    var k = key is JsonValue v && v.TryGetValue<string>(out var sk) ? sk : key?.ToJsonString() ?? "";
                    node = node is JsonObject o ? o[k] : node is JsonArray a && int.TryParse(k, out var n) && n >= 0 && n < a.Count ? a[n] : null;
                }
                return node;
        }
    }

    /// <summary>.Field.Path, ".", a quoted string, a number, or (expression) optionally followed by .Field.Path.</summary>
    private static JsonNode? Term(List<string> tokens, ref int pos, JsonNode? data, string expression)
    {
        var t = tokens[pos++];
        if (t == "(")
        {
            if (pos >= tokens.Count)
            {
                throw Unsupported(expression);
            }
            var inner = Expression(tokens, ref pos, data, expression);
            if (pos >= tokens.Count || !tokens[pos].StartsWith(')'))
            {
                throw Unsupported(expression);
            }
            var chain = tokens[pos++][1..];
            return chain.Length == 0 ? inner : Resolve(chain, inner);
        }
        if (t.StartsWith('.'))
        {
            return Resolve(t, data);
        }
        if (t.Length >= 2 && t[0] == '"' && t[^1] == '"')
        {
            return JsonValue.Create(t[1..^1]);
        }
        if (int.TryParse(t, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
        {
            return JsonValue.Create(number);
        }
        throw Unsupported(expression);
    }

    /// <summary>Words, quoted strings, "(" and ")" (with a field chain written right after it, as in "(...).Subnet").</summary>
    private static List<string> Lex(string expression)
    {
        var tokens = new List<string>();
        var sb = new StringBuilder();
        var quoted = false;
        void Flush()
        {
            if (sb.Length > 0)
            {
                tokens.Add(sb.ToString());
                sb.Clear();
            }
        }
        for (var i = 0; i < expression.Length; i++)
        {
            var c = expression[i];
            if (c == '"')
            {
                quoted = !quoted;
                sb.Append(c);
                continue;
            }
            if (quoted)
            {
                sb.Append(c);
                continue;
            }
            if (c == ' ')
            {
                Flush();
                continue;
            }
            if (c == '(')
            {
                Flush();
                tokens.Add("(");
                continue;
            }
            if (c == ')')
            {
                Flush();
                var end = i + 1;
                while (end < expression.Length && expression[end] is not (' ' or ')' or '('))
                {
                    end++;
                }
                tokens.Add(")" + expression[(i + 1)..end]);
                i = end - 1;
                continue;
            }
            sb.Append(c);
        }
        Flush();
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
