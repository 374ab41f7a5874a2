using System.Text.Json.Nodes;
using Berth.ApiServer.Http;
using Berth.ApiServer.Registry;

namespace Berth.ApiServer.Selectors;

public enum SelectorOperator
{
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

public sealed record Requirement(string Key, SelectorOperator Operator, IReadOnlyList<string> Values)
{
    public bool Matches(IReadOnlyDictionary<string, string> labels)
    {
        var has = labels.TryGetValue(Key, out var value);
        return Operator switch
        {
            SelectorOperator.Equals or SelectorOperator.In => has && Values.Contains(value!),
            SelectorOperator.NotEquals or SelectorOperator.NotIn => !has || !Values.Contains(value!),
            SelectorOperator.Exists => has,
            SelectorOperator.DoesNotExist => !has,
            SelectorOperator.GreaterThan => has && long.TryParse(value, out var g) && g > long.Parse(Values[0], System.Globalization.CultureInfo.InvariantCulture),
            SelectorOperator.LessThan => has && long.TryParse(value, out var l) && l < long.Parse(Values[0], System.Globalization.CultureInfo.InvariantCulture),
            _ => false,
        };
    }
}

/// <summary>
/// A label selector in Kubernetes' string syntax (<c>app=web,tier!=db,env in (a,b),!legacy,release</c>) or from a
/// metav1.LabelSelector object. Every requirement must match.
/// </summary>
public sealed class LabelSelector
{
    private LabelSelector(IReadOnlyList<Requirement> requirements) => Requirements = requirements;

    public IReadOnlyList<Requirement> Requirements { get; }

    public static LabelSelector Everything { get; } = new([]);

    public bool Matches(IReadOnlyDictionary<string, string> labels) => Requirements.All(r => r.Matches(labels));

    public static LabelSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }
        var requirements = new List<Requirement>();
        var pos = 0;
        while (pos < text.Length)
        {
            SkipSpaces(text, ref pos);
            if (pos >= text.Length)
            {
                break;
            }
            var negate = false;
            if (text[pos] == '!')
            {
                negate = true;
                pos++;
                SkipSpaces(text, ref pos);
            }
            var key = ReadToken(text, ref pos);
            if (key.Length == 0)
            {
                throw Bad(text, "found '" + (pos < text.Length ? text[pos].ToString() : "EOF") + "', expected: identifier");
            }
            CheckKey(text, key);
            SkipSpaces(text, ref pos);
            if (negate)
            {
                requirements.Add(new Requirement(key, SelectorOperator.DoesNotExist, []));
            }
            else if (pos >= text.Length || text[pos] == ',')
            {
                requirements.Add(new Requirement(key, SelectorOperator.Exists, []));
            }
            else if (Peek(text, pos, "==") || Peek(text, pos, "!=") || text[pos] == '=')
            {
                var op = text[pos] == '!' ? SelectorOperator.NotEquals : SelectorOperator.Equals;
                pos += Peek(text, pos, "==") || Peek(text, pos, "!=") ? 2 : 1;
                SkipSpaces(text, ref pos);
                var value = ReadToken(text, ref pos);
                CheckValue(text, value);
                requirements.Add(new Requirement(key, op, [value]));
            }
            else if (text[pos] is '>' or '<')
            {
                var op = text[pos] == '>' ? SelectorOperator.GreaterThan : SelectorOperator.LessThan;
                pos++;
                SkipSpaces(text, ref pos);
                var value = ReadToken(text, ref pos);
                if (!long.TryParse(value, out _))
                {
                    throw Bad(text, $"for 'Gt', 'Lt' operators, the value must be an integer");
                }
                requirements.Add(new Requirement(key, op, [value]));
            }
            else
            {
                var word = ReadToken(text, ref pos);
                var op = word switch
                {
                    "in" => SelectorOperator.In,
                    "notin" => SelectorOperator.NotIn,
                    _ => throw Bad(text, $"found '{word}', expected: in, notin, =, ==, !=, gt, lt"),
                };
                SkipSpaces(text, ref pos);
                if (pos >= text.Length || text[pos] != '(')
                {
                    throw Bad(text, "found '" + (pos < text.Length ? text[pos].ToString() : "EOF") + "', expected: '('");
                }
                pos++;
                var values = new List<string>();
                while (true)
                {
                    SkipSpaces(text, ref pos);
                    var v = ReadToken(text, ref pos);
                    CheckValue(text, v);
                    values.Add(v);
                    SkipSpaces(text, ref pos);
                    if (pos < text.Length && text[pos] == ',')
                    {
                        pos++;
                        continue;
                    }
                    if (pos < text.Length && text[pos] == ')')
                    {
                        pos++;
                        break;
                    }
                    throw Bad(text, "found '" + (pos < text.Length ? text[pos].ToString() : "EOF") + "', expected: ',', ')' or identifier");
                }
                requirements.Add(new Requirement(key, op, values));
            }
            SkipSpaces(text, ref pos);
            if (pos < text.Length)
            {
                if (text[pos] != ',')
                {
                    throw Bad(text, $"found '{text[pos]}', expected: ',' or 'end of string'");
                }
                pos++;
            }
        }
        return new LabelSelector(requirements);
    }

    /// <summary>From a metav1.LabelSelector; null for a null selector (which selects nothing).</summary>
    public static LabelSelector? FromJson(JsonNode? selector)
    {
        if (selector is not JsonObject o)
        {
            return null;
        }
        var requirements = new List<Requirement>();
        foreach (var (k, v) in o.ObjOrNull("matchLabels").StringMap())
        {
            requirements.Add(new Requirement(k, SelectorOperator.In, [v]));
        }
        foreach (var e in o.Arr("matchExpressions") ?? [])
        {
            var values = (e.Arr("values") ?? []).Select(Json.Scalar).ToList();
            var op = e.Str("operator") switch
            {
                "In" => SelectorOperator.In,
                "NotIn" => SelectorOperator.NotIn,
                "Exists" => SelectorOperator.Exists,
                "DoesNotExist" => SelectorOperator.DoesNotExist,
                var other => throw ApiException.BadRequest($"\"{other}\" is not a valid label selector operator"),
            };
            requirements.Add(new Requirement(e.Str("key") ?? "", op, values));
        }
        return new LabelSelector(requirements);
    }

    private static void CheckKey(string text, string key)
    {
        var errors = new List<FieldError>();
        Validation.QualifiedName("key", key, errors);
        if (errors.Count > 0)
        {
            throw Bad(text, $"invalid label key \"{key}\": {errors[0].Message}");
        }
    }

    private static void CheckValue(string text, string value)
    {
        var errors = new List<FieldError>();
        Validation.Labels("value", new JsonObject { ["k"] = value }, errors);
        if (errors.Count > 0)
        {
            throw Bad(text, $"invalid label value: \"{value}\": at key: \"k\": {errors[0].Message}");
        }
    }

    private static ApiException Bad(string text, string why) => ApiException.BadRequest($"unable to parse requirement: {why}");

    private static bool Peek(string text, int pos, string what) => string.CompareOrdinal(text, pos, what, 0, what.Length) == 0;

    private static void SkipSpaces(string text, ref int pos)
    {
        while (pos < text.Length && char.IsWhiteSpace(text[pos]))
        {
            pos++;
        }
    }

    private static string ReadToken(string text, ref int pos)
    {
        var start = pos;
        while (pos < text.Length && !char.IsWhiteSpace(text[pos]) && text[pos] is not (',' or '=' or '!' or '(' or ')' or '<' or '>'))
        {
            pos++;
        }
        return text[start..pos];
    }

    public override string ToString() => string.Join(",", Requirements.Select(r => r.Operator switch
    {
        SelectorOperator.Equals => r.Key + "=" + r.Values[0],
        SelectorOperator.NotEquals => r.Key + "!=" + r.Values[0],
        SelectorOperator.In => r.Values.Count == 1 ? r.Key + "=" + r.Values[0] : r.Key + " in (" + string.Join(",", r.Values) + ")",
        SelectorOperator.NotIn => r.Key + " notin (" + string.Join(",", r.Values) + ")",
        SelectorOperator.Exists => r.Key,
        SelectorOperator.DoesNotExist => "!" + r.Key,
        SelectorOperator.GreaterThan => r.Key + ">" + r.Values[0],
        _ => r.Key + "<" + r.Values[0],
    }));
}
