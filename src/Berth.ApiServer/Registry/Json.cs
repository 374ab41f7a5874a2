using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Berth.ApiServer.Registry;

/// <summary>Small helpers for reading and shaping objects held as <see cref="JsonObject"/>.</summary>
public static class Json
{
    public static JsonObject Obj(this JsonNode? node, string name)
    {
        if (node is not JsonObject o)
        {
            throw new InvalidOperationException("not an object");
        }
        if (o[name] is JsonObject child)
        {
            return child;
        }
        var created = new JsonObject();
        o[name] = created;
        return created;
    }

    public static JsonObject? ObjOrNull(this JsonNode? node, string name) => (node as JsonObject)?[name] as JsonObject;

    public static JsonArray? Arr(this JsonNode? node, string name) => (node as JsonObject)?[name] as JsonArray;

    public static string? Str(this JsonNode? node, string name) =>
        (node as JsonObject)?[name] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    public static long? Long(this JsonNode? node, string name) => AsLong((node as JsonObject)?[name]);

    public static double AsDouble(JsonNode? node) =>
        node is JsonValue v && double.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : 0;

    /// <summary>An integer from any JSON number node, whether parsed or created in code (int, long, double).</summary>
    public static long? AsLong(JsonNode? node)
    {
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
        {
            var text = v.ToJsonString();
            if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
            {
                return l;
            }
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? (long)d : null;
        }
        return null;
    }

    public static bool? Bool(this JsonNode? node, string name) =>
        (node as JsonObject)?[name] is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? v.GetValue<bool>() : null;

    public static void SetDefault(this JsonObject o, string name, JsonNode value)
    {
        if (o[name] is null)
        {
            o[name] = value;
        }
    }

    /// <summary>Follows a dotted path (".spec.replicas" or "spec.replicas").</summary>
    public static JsonNode? At(this JsonNode? node, string path)
    {
        foreach (var part in path.TrimStart('.').Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            node = (node as JsonObject)?[part];
            if (node is null)
            {
                return null;
            }
        }
        return node;
    }

    public static void SetAt(this JsonObject node, string path, JsonNode? value)
    {
        var parts = path.TrimStart('.').Split('.', StringSplitOptions.RemoveEmptyEntries);
        var cur = node;
        for (var i = 0; i < parts.Length - 1; i++)
        {
            cur = cur.Obj(parts[i]);
        }
        cur[parts[^1]] = value;
    }

    public static JsonObject Metadata(this JsonObject obj) => obj.Obj("metadata");

    public static string Name(this JsonObject obj) => obj.ObjOrNull("metadata").Str("name") ?? "";

    public static string? Namespace(this JsonObject obj) => obj.ObjOrNull("metadata").Str("namespace");

    public static Dictionary<string, string> StringMap(this JsonNode? node)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        if (node is JsonObject o)
        {
            foreach (var (k, v) in o)
            {
                d[k] = v is JsonValue jv && jv.GetValueKind() == JsonValueKind.String ? jv.GetValue<string>() : v?.ToJsonString() ?? "";
            }
        }
        return d;
    }

    public static string Scalar(JsonNode? node) => node switch
    {
        null => "",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonValue v => v.ToJsonString(),
        _ => node.ToJsonString(),
    };

    public static string Rfc3339(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static DateTimeOffset? Time(this JsonNode? node, string name)
    {
        var s = node.Str(name);
        return s is not null && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null;
    }

    /// <summary>Kubernetes' duration.HumanDuration, the format of every AGE column.</summary>
    public static string HumanDuration(TimeSpan d)
    {
        var seconds = (long)d.TotalSeconds;
        if (seconds < -1)
        {
            return "<invalid>";
        }
        if (seconds < 0)
        {
            return "0s";
        }
        if (seconds < 60 * 2)
        {
            return seconds + "s";
        }
        var minutes = seconds / 60;
        if (minutes < 10)
        {
            var s = seconds % 60;
            return s == 0 ? minutes + "m" : minutes + "m" + s + "s";
        }
        if (minutes < 60 * 3)
        {
            return minutes + "m";
        }
        var hours = minutes / 60;
        if (hours < 8)
        {
            var m = minutes % 60;
            return m == 0 ? hours + "h" : hours + "h" + m + "m";
        }
        if (hours < 48)
        {
            return hours + "h";
        }
        if (hours < 24 * 8)
        {
            var h = hours % 24;
            return h == 0 ? (hours / 24) + "d" : (hours / 24) + "d" + h + "h";
        }
        if (hours < 24 * 365 * 2)
        {
            return (hours / 24) + "d";
        }
        if (hours < 24 * 365 * 8)
        {
            var dy = (hours / 24) % 365;
            return dy == 0 ? (hours / 24 / 365) + "y" : (hours / 24 / 365) + "y" + dy + "d";
        }
        return (hours / 24 / 365) + "y";
    }
}
