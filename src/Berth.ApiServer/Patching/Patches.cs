using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.ApiServer.Http;
using Berth.ApiServer.Schema;

namespace Berth.ApiServer.Patching;

/// <summary>RFC 7386 JSON merge patch.</summary>
public static class MergePatch
{
    public static JsonNode? Apply(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject p)
        {
            return patch?.DeepClone();
        }
        var result = target is JsonObject t ? (JsonObject)t.DeepClone() : new JsonObject();
        foreach (var (key, value) in p)
        {
            if (value is null)
            {
                result.Remove(key);
            }
            else
            {
                result[key] = Apply(result[key], value);
            }
        }
        return result;
    }
}

/// <summary>RFC 6902 JSON patch (add, remove, replace, move, copy, test).</summary>
public static class JsonPatch
{
    public static JsonNode Apply(JsonNode target, JsonNode? patch)
    {
        if (patch is not JsonArray ops)
        {
            throw ApiException.BadRequest("the server rejected our request due to an error in our request: json patch must be an array of operations");
        }
        var root = new JsonObject { ["r"] = target.DeepClone() };
        foreach (var op in ops)
        {
            var kind = (op as JsonObject)?["op"] is JsonValue ov ? ov.GetValue<string>() : throw Bad("missing op");
            var path = (op as JsonObject)?["path"] is JsonValue pv ? pv.GetValue<string>() : throw Bad("missing path");
            switch (kind)
            {
                case "add":
                    Add(root, path, op!["value"]?.DeepClone());
                    break;
                case "remove":
                    Remove(root, path);
                    break;
                case "replace":
                    Remove(root, path);
                    Add(root, path, op!["value"]?.DeepClone());
                    break;
                case "move":
                    {
                        var from = op!["from"]?.GetValue<string>() ?? throw Bad("missing from");
                        var value = Get(root, from);
                        Remove(root, from);
                        Add(root, path, value);
                        break;
                    }
                case "copy":
                    {
                        var from = op!["from"]?.GetValue<string>() ?? throw Bad("missing from");
                        Add(root, path, Get(root, from)?.DeepClone());
                        break;
                    }
                case "test":
                    if (!JsonNode.DeepEquals(Get(root, path), op!["value"]))
                    {
                        throw Bad($"testing value {path} failed: test failed");
                    }
                    break;
                default:
                    throw Bad($"Unexpected kind: {kind}");
            }
        }
        return root["r"] ?? throw Bad("the patch removed the whole object");
    }

    private static ApiException Bad(string why) => new(422, "Invalid", why);

    private static List<string> Split(string path)
    {
        if (path.Length == 0)
        {
            return [];
        }
        if (path[0] != '/')
        {
            throw Bad($"JSON pointer must start with '/': \"{path}\"");
        }
        return [.. path[1..].Split('/').Select(s => s.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal))];
    }

    private static (JsonNode Parent, string Last) Parent(JsonObject root, string path)
    {
        var parts = Split(path);
        JsonNode cur = root;
        var last = "r";
        var segs = new List<string> { "r" };
        segs.AddRange(parts);
        for (var i = 0; i < segs.Count - 1; i++)
        {
            cur = Child(cur, segs[i]) ?? throw Bad($"doc is missing path: \"{path}\": missing value");
        }
        last = segs[^1];
        return (cur, last);
    }

    private static JsonNode? Child(JsonNode node, string seg) => node switch
    {
        JsonObject o => o[seg],
        JsonArray a when int.TryParse(seg, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < a.Count => a[i],
        _ => null,
    };

    private static JsonNode? Get(JsonObject root, string path)
    {
        var (parent, last) = Parent(root, path);
        return Child(parent, last) ?? throw Bad($"doc is missing path: \"{path}\": missing value");
    }

    private static void Add(JsonObject root, string path, JsonNode? value)
    {
        var (parent, last) = Parent(root, path);
        switch (parent)
        {
            case JsonObject o:
                o[last] = value;
                break;
            case JsonArray a:
                if (last == "-")
                {
                    a.Add(value);
                }
                else if (int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i <= a.Count)
                {
                    a.Insert(i, value);
                }
                else
                {
                    throw Bad($"add operation does not apply: doc is missing path: \"{path}\": missing value");
                }
                break;
            default:
                throw Bad($"add operation does not apply: doc is missing path: \"{path}\": missing value");
        }
    }

    private static void Remove(JsonObject root, string path)
    {
        var (parent, last) = Parent(root, path);
        switch (parent)
        {
            case JsonObject o when o.ContainsKey(last):
                o.Remove(last);
                break;
            case JsonArray a when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < a.Count:
                a.RemoveAt(i);
                break;
            default:
                throw Bad($"remove operation does not apply: doc is missing path: \"{path}\": missing value");
        }
    }
}

/// <summary>
/// Kubernetes' strategic merge patch: like a merge patch, but lists whose field has patchStrategy "merge" are merged
/// element by element on their patchMergeKey, and the $patch, $setElementOrder, $deleteFromPrimitiveList and
/// $retainKeys directives that kubectl apply sends are honoured.
/// </summary>
public static class StrategicMergePatch
{
    public static JsonObject Apply(JsonObject original, JsonObject patch, SchemaNode schema) =>
        MergeMap((JsonObject)original.DeepClone(), patch, schema) ?? new JsonObject();

    private static JsonObject? MergeMap(JsonObject original, JsonObject patch, SchemaNode? schema)
    {
        if (patch["$patch"] is JsonValue directive)
        {
            switch (directive.GetValue<string>())
            {
                case "replace":
                    var replaced = (JsonObject)patch.DeepClone();
                    replaced.Remove("$patch");
                    return replaced;
                case "delete":
                    return null;
                case "merge":
                    break;
                default:
                    throw ApiException.BadRequest($"Unknown patch type: {directive.GetValue<string>()}");
            }
        }
        List<string>? retainKeys = null;
        foreach (var (key, value) in patch)
        {
            if (key is "$patch")
            {
                continue;
            }
            if (key == "$retainKeys")
            {
                retainKeys = (value as JsonArray ?? []).Select(v => v!.GetValue<string>()).ToList();
                continue;
            }
            if (key.StartsWith("$setElementOrder/", StringComparison.Ordinal))
            {
                continue;
            }
            if (key.StartsWith("$deleteFromPrimitiveList/", StringComparison.Ordinal))
            {
                var field = key["$deleteFromPrimitiveList/".Length..];
                if (original[field] is JsonArray list)
                {
                    var remove = (value as JsonArray ?? []).ToList();
                    for (var i = list.Count - 1; i >= 0; i--)
                    {
                        if (remove.Any(r => JsonNode.DeepEquals(r, list[i])))
                        {
                            list.RemoveAt(i);
                        }
                    }
                }
                continue;
            }
            var prop = PropertyOf(schema, key);
            if (value is null)
            {
                original.Remove(key);
                continue;
            }
            var current = original[key];
            if (value is JsonObject vo && current is JsonObject co)
            {
                var merged = MergeMap(co, vo, prop?.Type);
                if (merged is null)
                {
                    original.Remove(key);
                }
                else
                {
                    original[key] = merged == co ? co : merged;
                }
            }
            else if (value is JsonArray va && prop?.PatchStrategy?.Contains("merge", StringComparison.Ordinal) == true)
            {
                original[key] = MergeList(current as JsonArray ?? [], va, prop.MergeKey, prop.Type.Items,
                    patch["$setElementOrder/" + key] as JsonArray);
            }
            else if (value is JsonObject newObj)
            {
                var cleaned = MergeMap(new JsonObject(), newObj, prop?.Type);
                if (cleaned is null)
                {
                    original.Remove(key);
                }
                else
                {
                    original[key] = cleaned;
                }
            }
            else
            {
                original[key] = StripDirectives(value.DeepClone());
            }
        }
        if (retainKeys is not null)
        {
            foreach (var k in original.Select(p => p.Key).ToList())
            {
                if (!retainKeys.Contains(k))
                {
                    original.Remove(k);
                }
            }
        }
        return original;
    }

    private static JsonNode? StripDirectives(JsonNode? node)
    {
        if (node is JsonArray a)
        {
            for (var i = a.Count - 1; i >= 0; i--)
            {
                if (a[i] is JsonObject o && o["$patch"] is not null && o.Count == 1)
                {
                    a.RemoveAt(i);
                }
            }
        }
        return node;
    }

    private static SchemaProperty? PropertyOf(SchemaNode? schema, string key)
    {
        if (schema is null)
        {
            return null;
        }
        if (schema.Kind == SchemaKind.Map)
        {
            return schema.Items is null ? null : new SchemaProperty(key, schema.Items, null, null);
        }
        return schema.Properties.TryGetValue(key, out var p) ? p : null;
    }

    private static JsonArray MergeList(JsonArray original, JsonArray patch, string? mergeKey, SchemaNode? itemSchema, JsonArray? order)
    {
        if (patch.Any(p => p is JsonObject o && o["$patch"] is JsonValue v && v.GetValue<string>() == "replace"))
        {
            return new JsonArray(patch.Where(p => !(p is JsonObject o && o["$patch"] is not null)).Select(p => p?.DeepClone()).ToArray());
        }
        var result = original.Select(n => n?.DeepClone()).ToList();
        if (mergeKey is null)
        {
            foreach (var p in patch)
            {
                if (!result.Any(r => JsonNode.DeepEquals(r, p)))
                {
                    result.Add(p?.DeepClone());
                }
            }
        }
        else
        {
            foreach (var p in patch)
            {
                if (p is not JsonObject po)
                {
                    result.Add(p?.DeepClone());
                    continue;
                }
                var keyValue = po[mergeKey];
                var index = result.FindIndex(r => r is JsonObject ro && JsonNode.DeepEquals(ro[mergeKey], keyValue));
                if (po["$patch"] is JsonValue d && d.GetValue<string>() == "delete")
                {
                    if (index >= 0)
                    {
                        result.RemoveAt(index);
                    }
                    continue;
                }
                if (index >= 0)
                {
                    var merged = MergeMap((JsonObject)result[index]!, po, itemSchema);
                    if (merged is null)
                    {
                        result.RemoveAt(index);
                    }
                    else
                    {
                        result[index] = merged;
                    }
                }
                else
                {
                    result.Add(MergeMap(new JsonObject(), po, itemSchema));
                }
            }
        }
        if (order is not null)
        {
            int Position(JsonNode? item)
            {
                var probe = mergeKey is null ? item : (item as JsonObject)?[mergeKey];
                for (var i = 0; i < order.Count; i++)
                {
                    var o = mergeKey is null ? order[i] : (order[i] as JsonObject)?[mergeKey];
                    if (JsonNode.DeepEquals(o, probe))
                    {
                        return i;
                    }
                }
                return int.MaxValue;
            }
            result = [.. result.Select((item, i) => (item, i)).OrderBy(t => Position(t.item)).ThenBy(t => t.i).Select(t => t.item)];
        }
        return new JsonArray([.. result]);
    }
}
