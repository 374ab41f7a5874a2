using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.ApiServer.Http;
using Berth.ApiServer.Registry;
using Berth.ApiServer.Schema;

namespace Berth.ApiServer.Machinery;

/// <summary>
/// metadata.managedFields (FieldsV1) and a basic server-side apply: each manager owns the leaf fields it set;
/// an apply removes fields its manager no longer sets, merges the rest, and fails with a 409 listing every field
/// another manager owns with a different value, unless forced.
/// </summary>
public static class ManagedFields
{
    private static readonly HashSet<string> SystemMeta =
        ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"];

    public static SchemaNode SchemaOf(ResourceDefinition def) =>
        def.ModelType is not null ? SchemaNode.For(def.ModelType) : SchemaNode.FromOpenApi(def.CustomSchema, root: true);

    /// <summary>Leaf paths of an object; each path is a list of "f:field" / "k:{key}" segments.</summary>
    public static HashSet<string> Leaves(JsonObject obj, SchemaNode schema)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        Walk(obj, schema, [], result, root: true);
        return result;
    }

    private static void Walk(JsonNode? node, SchemaNode? schema, List<string> path, HashSet<string> result, bool root = false)
    {
        switch (node)
        {
            case JsonObject o when o.Count > 0:
                foreach (var (k, v) in o)
                {
                    if (root && k is "apiVersion" or "kind")
                    {
                        continue;
                    }
                    if (path.Count == 1 && path[0] == "f:metadata" && SystemMeta.Contains(k))
                    {
                        continue;
                    }
                    var child = schema?.Kind == SchemaKind.Map ? schema.Items : schema is not null && schema.Properties.TryGetValue(k, out var p) ? p.Type : null;
                    var mergeKey = schema is not null && schema.Kind == SchemaKind.Object && schema.Properties.TryGetValue(k, out var pp) ? pp.MergeKey : null;
                    path.Add("f:" + k);
                    if (v is JsonArray a && mergeKey is not null)
                    {
                        foreach (var item in a)
                        {
                            if (item is JsonObject io && io[mergeKey] is { } kv)
                            {
                                path.Add("k:" + new JsonObject { [mergeKey] = kv.DeepClone() }.ToJsonString());
                                result.Add(string.Join('\u0001', path.Append(".")));
                                Walk(io, child?.Items, path, result);
                                path.RemoveAt(path.Count - 1);
                            }
                        }
                        if (a.Count == 0)
                        {
                            result.Add(string.Join('\u0001', path));
                        }
                    }
                    else
                    {
                        Walk(v, child, path, result);
                    }
                    path.RemoveAt(path.Count - 1);
                }
                break;
            default:
                if (path.Count > 0)
                {
                    result.Add(string.Join('\u0001', path));
                }
                break;
        }
    }

    public static JsonObject ToFieldsV1(IEnumerable<string> leaves)
    {
        var root = new JsonObject();
        foreach (var leaf in leaves.OrderBy(l => l, StringComparer.Ordinal))
        {
            var cur = root;
            foreach (var seg in leaf.Split('\u0001'))
            {
                cur = cur[seg] as JsonObject ?? (JsonObject)(cur[seg] = new JsonObject());
            }
        }
        return root;
    }

    public static HashSet<string> FromFieldsV1(JsonNode? fields)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        void Rec(JsonObject o, List<string> path)
        {
            foreach (var (k, v) in o)
            {
                path.Add(k);
                if (v is JsonObject c && c.Count > 0)
                {
                    Rec(c, path);
                }
                else
                {
                    result.Add(string.Join('\u0001', path));
                }
                path.RemoveAt(path.Count - 1);
            }
        }
        if (fields is JsonObject f)
        {
            Rec(f, []);
        }
        return result;
    }

    /// <summary>Records an Update-style write: the manager gains the fields that changed, and others lose them.</summary>
    public static void Record(ResourceDefinition def, JsonObject obj, JsonObject? prev, string manager, string operation, string now, string subresource,
        HashSet<string>? appliedSet = null)
    {
        var schema = SchemaOf(def);
        var newLeaves = Leaves(obj, schema);
        HashSet<string> changed;
        if (prev is null)
        {
            changed = newLeaves;
        }
        else
        {
            var oldLeaves = Leaves(prev, schema);
            changed = [.. newLeaves.Where(l => !oldLeaves.Contains(l) || !JsonNode.DeepEquals(ValueAt(obj, l), ValueAt(prev, l)))];
        }
        var entries = obj.Metadata()["managedFields"] as JsonArray ?? [];
        var list = entries.OfType<JsonObject>().Select(e => (JsonObject)e.DeepClone()).ToList();
        var owned = appliedSet ?? changed;
        JsonObject? mine = list.FirstOrDefault(e => e.Str("manager") == manager && e.Str("operation") == operation && (e.Str("subresource") ?? "") == subresource);
        var mineSet = appliedSet ?? (mine is null ? [] : FromFieldsV1(mine["fieldsV1"]));
        if (appliedSet is null)
        {
            mineSet.UnionWith(changed);
        }
        // Fields nobody has anymore are dropped from every set.
        mineSet.RemoveWhere(l => !newLeaves.Contains(l) && !l.EndsWith("\u0001.", StringComparison.Ordinal));
        foreach (var e in list)
        {
            if (e == mine)
            {
                continue;
            }
            var set = FromFieldsV1(e["fieldsV1"]);
            var before = set.Count;
            set.RemoveWhere(l => (operation != "Apply" && changed.Contains(l)) || !newLeaves.Contains(l) && !l.EndsWith("\u0001.", StringComparison.Ordinal));
            if (set.Count != before)
            {
                e["fieldsV1"] = ToFieldsV1(set);
            }
        }
        if (mineSet.Count > 0 || owned.Count > 0)
        {
            if (mine is null)
            {
                mine = new JsonObject { ["manager"] = manager, ["operation"] = operation };
                list.Add(mine);
            }
            mine["apiVersion"] = def.ApiVersion;
            mine["time"] = now;
            mine["fieldsType"] = "FieldsV1";
            mine["fieldsV1"] = ToFieldsV1(mineSet);
            if (subresource.Length > 0)
            {
                mine["subresource"] = subresource;
            }
        }
        list.RemoveAll(e => e["fieldsV1"] is JsonObject { Count: 0 });
        if (list.Count == 0)
        {
            obj.Metadata().Remove("managedFields");
        }
        else
        {
            obj.Metadata()["managedFields"] = new JsonArray([.. list]);
        }
    }

    public static JsonNode? ValueAt(JsonNode? node, string leaf)
    {
        foreach (var seg in leaf.Split('\u0001'))
        {
            if (seg == ".")
            {
                return node;
            }
            node = Step(node, seg);
            if (node is null)
            {
                return null;
            }
        }
        return node;
    }

    private static JsonNode? Step(JsonNode? node, string seg)
    {
        if (seg.StartsWith("f:", StringComparison.Ordinal))
        {
            return (node as JsonObject)?[seg[2..]];
        }
        if (seg.StartsWith("k:", StringComparison.Ordinal) && node is JsonArray a)
        {
            var key = JsonNode.Parse(seg[2..]) as JsonObject;
            return a.FirstOrDefault(i => i is JsonObject io && key!.All(kv => JsonNode.DeepEquals(io[kv.Key], kv.Value)));
        }
        return null;
    }

    private static void RemoveAt(JsonObject root, string leaf)
    {
        var segs = leaf.Split('\u0001');
        if (segs[^1] == ".")
        {
            segs = segs[..^1];
        }
        JsonNode? parent = root;
        for (var i = 0; i < segs.Length - 1; i++)
        {
            parent = Step(parent, segs[i]);
            if (parent is null)
            {
                return;
            }
        }
        var last = segs[^1];
        if (last.StartsWith("f:", StringComparison.Ordinal))
        {
            (parent as JsonObject)?.Remove(last[2..]);
        }
        else if (parent is JsonArray a && Step(a, last) is { } item)
        {
            a.Remove(item);
        }
    }

    /// <summary>Server-side apply of <paramref name="applied"/> onto <paramref name="live"/> (null = create).</summary>
    public static (JsonObject Result, HashSet<string> AppliedSet) Apply(ResourceDefinition def, JsonObject? live, JsonObject applied, string manager, bool force)
    {
        var schema = SchemaOf(def);
        var appliedSet = Leaves(applied, schema);
        if (live is null)
        {
            return ((JsonObject)applied.DeepClone(), appliedSet);
        }
        var entries = (live.ObjOrNull("metadata").Arr("managedFields") ?? []).OfType<JsonObject>().ToList();
        var conflicts = new List<(string Manager, string ApiVersion, string Field)>();
        foreach (var e in entries)
        {
            if (e.Str("manager") == manager && e.Str("operation") == "Apply")
            {
                continue;
            }
            foreach (var leaf in FromFieldsV1(e["fieldsV1"]))
            {
                if (leaf.EndsWith("\u0001.", StringComparison.Ordinal) || !appliedSet.Contains(leaf))
                {
                    continue;
                }
                if (!JsonNode.DeepEquals(ValueAt(live, leaf), ValueAt(applied, leaf)))
                {
                    conflicts.Add((e.Str("manager") ?? "", e.Str("apiVersion") ?? "", Render(leaf)));
                }
            }
        }
        if (conflicts.Count > 0 && !force)
        {
            var causes = new JsonArray();
            foreach (var c in conflicts)
            {
                causes.Add(new JsonObject { ["reason"] = "FieldManagerConflict", ["message"] = $"conflict with \"{c.Manager}\" using {c.ApiVersion}", ["field"] = c.Field });
            }
            var text = conflicts.Count == 1
                ? $"Apply failed with 1 conflict: conflict with \"{conflicts[0].Manager}\" using {conflicts[0].ApiVersion}: {conflicts[0].Field}"
                : $"Apply failed with {conflicts.Count} conflicts: " + string.Join("\n", conflicts.Select(c => $"conflict with \"{c.Manager}\" using {c.ApiVersion}: {c.Field}"));
            throw new ApiException(409, "Conflict", text, new JsonObject { ["causes"] = causes });
        }
        var previous = entries.FirstOrDefault(e => e.Str("manager") == manager && e.Str("operation") == "Apply");
        var result = (JsonObject)live.DeepClone();
        if (previous is not null)
        {
            var othersOwn = new HashSet<string>(entries.Where(e => e != previous).SelectMany(e => FromFieldsV1(e["fieldsV1"])), StringComparer.Ordinal);
            foreach (var leaf in FromFieldsV1(previous["fieldsV1"]).OrderByDescending(l => l.Length))
            {
                if (!appliedSet.Contains(leaf) && !othersOwn.Contains(leaf))
                {
                    RemoveAt(result, leaf);
                }
            }
        }
        Merge(result, applied, schema);
        if (force && conflicts.Count > 0)
        {
            var lost = conflicts.Select(c => c.Field).ToHashSet();
            foreach (var e in result.Metadata().Arr("managedFields") ?? [])
            {
                if (e is JsonObject eo && !(eo.Str("manager") == manager && eo.Str("operation") == "Apply"))
                {
                    var set = FromFieldsV1(eo["fieldsV1"]);
                    set.RemoveWhere(l => appliedSet.Contains(l) && lost.Contains(Render(l)));
                    eo["fieldsV1"] = ToFieldsV1(set);
                }
            }
        }
        return (result, appliedSet);
    }

    private static string Render(string leaf) =>
        string.Concat(leaf.Split('\u0001').Where(s => s != ".").Select(s => s.StartsWith("f:", StringComparison.Ordinal) ? "." + s[2..] : "[" + ToSelector(s[2..]) + "]"));

    private static string ToSelector(string json)
    {
        var o = JsonNode.Parse(json) as JsonObject;
        return string.Join(",", (o ?? []).Select(kv => kv.Key + "=" + (kv.Value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? "\"" + v.GetValue<string>() + "\"" : kv.Value?.ToJsonString())));
    }

    private static void Merge(JsonObject target, JsonObject source, SchemaNode? schema)
    {
        foreach (var (k, v) in source)
        {
            var prop = schema?.Kind == SchemaKind.Object && schema.Properties.TryGetValue(k, out var p) ? p : null;
            var childSchema = schema?.Kind == SchemaKind.Map ? schema.Items : prop?.Type;
            if (v is JsonObject vo && target[k] is JsonObject to)
            {
                Merge(to, vo, childSchema);
            }
            else if (v is JsonArray va && target[k] is JsonArray ta && prop?.MergeKey is { } key)
            {
                foreach (var item in va)
                {
                    var existing = ta.FirstOrDefault(t => t is JsonObject tobj && item is JsonObject iobj && JsonNode.DeepEquals(tobj[key], iobj[key]));
                    if (existing is JsonObject eo && item is JsonObject io)
                    {
                        Merge(eo, io, childSchema?.Items);
                    }
                    else
                    {
                        ta.Add(item?.DeepClone());
                    }
                }
            }
            else
            {
                target[k] = v?.DeepClone();
            }
        }
    }
}
