using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Berth.ApiServer.Http;

/// <summary>YAML (server-side apply bodies) to JSON, resolving plain scalars with the YAML 1.2 core schema.</summary>
public static class YamlJson
{
    public static JsonNode? Parse(string text)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw ApiException.BadRequest("error converting YAML to JSON: " + e.Message);
        }
        if (stream.Documents.Count != 1)
        {
            throw ApiException.BadRequest("error converting YAML to JSON: expected exactly one document");
        }
        return Convert(stream.Documents[0].RootNode);
    }

    private static JsonNode? Convert(YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode map:
                var o = new JsonObject();
                foreach (var (k, v) in map.Children)
                {
                    var key = (k as YamlScalarNode)?.Value ?? throw ApiException.BadRequest("error converting YAML to JSON: mapping keys must be scalars");
                    if (o.ContainsKey(key))
                    {
                        throw ApiException.BadRequest($"error converting YAML to JSON: yaml: duplicate key \"{key}\"");
                    }
                    o[key] = Convert(v);
                }
                return o;
            case YamlSequenceNode seq:
                var a = new JsonArray();
                foreach (var c in seq.Children)
                {
                    a.Add(Convert(c));
                }
                return a;
            case YamlScalarNode s:
                var value = s.Value ?? "";
                if (s.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded)
                {
                    return JsonValue.Create(value);
                }
                if (value is "" or "~" or "null" or "Null" or "NULL")
                {
                    return null;
                }
                if (value is "true" or "True" or "TRUE")
                {
                    return JsonValue.Create(true);
                }
                if (value is "false" or "False" or "FALSE")
                {
                    return JsonValue.Create(false);
                }
                if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
                {
                    return JsonValue.Create(l);
                }
                if (System.Text.RegularExpressions.Regex.IsMatch(value, "^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$") &&
                    double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
                {
                    return JsonValue.Create(d);
                }
                return JsonValue.Create(value);
            default:
                return null;
        }
    }
}
