using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.ApiServer.Http;

namespace Berth.ApiServer.Schema;

/// <summary>
/// Unknown-field detection and pruning (fieldValidation Strict/Warn/Ignore), and the value checks of a CRD's
/// structural schema (type, required, enum, bounds, pattern).
/// </summary>
public static class FieldChecker
{
    /// <summary>Returns the paths of fields the schema does not declare; removes them when <paramref name="prune"/>.</summary>
    public static List<string> FindUnknown(JsonObject obj, SchemaNode schema, bool prune)
    {
        var unknown = new List<string>();
        Walk(obj, schema, "", unknown, prune);
        return unknown;
    }

    private static void Walk(JsonNode? node, SchemaNode schema, string path, List<string> unknown, bool prune)
    {
        switch (schema.Kind)
        {
            case SchemaKind.Object when node is JsonObject o && !schema.PreserveUnknown:
                foreach (var (key, value) in o.ToList())
                {
                    var childPath = path.Length == 0 ? key : path + "." + key;
                    if (schema.Properties.TryGetValue(key, out var prop))
                    {
                        Walk(value, prop.Type, childPath, unknown, prune);
                    }
                    else
                    {
                        unknown.Add(childPath);
                        if (prune)
                        {
                            o.Remove(key);
                        }
                    }
                }
                break;
            case SchemaKind.Object when node is JsonObject o:
                foreach (var (key, value) in o)
                {
                    if (schema.Properties.TryGetValue(key, out var prop))
                    {
                        Walk(value, prop.Type, path.Length == 0 ? key : path + "." + key, unknown, prune);
                    }
                }
                break;
            case SchemaKind.Array when node is JsonArray a && schema.Items is not null:
                for (var i = 0; i < a.Count; i++)
                {
                    Walk(a[i], schema.Items, $"{path}[{i}]", unknown, prune);
                }
                break;
            case SchemaKind.Map when node is JsonObject m && schema.Items is not null:
                foreach (var (key, value) in m)
                {
                    Walk(value, schema.Items, path + "." + key, unknown, prune);
                }
                break;
        }
    }

    /// <summary>Finds keys that occur twice in one JSON object (which JsonNode would silently collapse).</summary>
    public static List<string> FindDuplicates(ReadOnlySpan<byte> json)
    {
        var result = new List<string>();
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        var stack = new Stack<(HashSet<string>? Keys, string Path, int Index)>();
        string? pendingKey = null;
        string CurrentPath()
        {
            if (stack.Count == 0)
            {
                return "";
            }
            var top = stack.Peek();
            return top.Keys is null ? $"{top.Path}[{top.Index}]" : (top.Path.Length == 0 ? pendingKey ?? "" : top.Path + "." + pendingKey);
        }
        void Advance()
        {
            if (stack.Count > 0 && stack.Peek().Keys is null)
            {
                var t = stack.Pop();
                stack.Push((t.Keys, t.Path, t.Index + 1));
            }
        }
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                    stack.Push((new HashSet<string>(StringComparer.Ordinal), CurrentPath(), 0));
                    break;
                case JsonTokenType.StartArray:
                    stack.Push((null, CurrentPath(), 0));
                    break;
                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    stack.Pop();
                    Advance();
                    break;
                case JsonTokenType.PropertyName:
                    pendingKey = reader.GetString()!;
                    if (!stack.Peek().Keys!.Add(pendingKey))
                    {
                        var p = stack.Peek().Path;
                        result.Add(p.Length == 0 ? pendingKey : p + "." + pendingKey);
                    }
                    break;
                default:
                    Advance();
                    break;
            }
        }
        return result;
    }

    /// <summary>Validates values against a CRD schema, adding an error per violation.</summary>
    public static void ValidateValues(JsonNode? node, JsonObject? schema, string path, List<FieldError> errors)
    {
        if (schema is null)
        {
            return;
        }
        if (node is null)
        {
            if (schema["nullable"] is JsonValue nv && nv.GetValueKind() == JsonValueKind.True)
            {
                return;
            }
            return;
        }
        var type = schema["type"] is JsonValue tv ? tv.GetValue<string>() : null;
        var intOrString = schema["x-kubernetes-int-or-string"] is JsonValue ios && ios.GetValueKind() == JsonValueKind.True;
        var kind = node is JsonObject ? "object" : node is JsonArray ? "array" : ((JsonValue)node).GetValueKind() switch
        {
            JsonValueKind.String => "string",
            JsonValueKind.Number => IsInteger(node) ? "integer" : "number",
            JsonValueKind.True or JsonValueKind.False => "boolean",
            _ => "null",
        };
        if (intOrString)
        {
            if (kind is not ("integer" or "string"))
            {
                errors.Add(FieldError.Invalid(path, node.DeepClone(), $"{path} in body must be of type int-or-string: \"{kind}\""));
            }
            return;
        }
        if (type is not null && type != kind && !(type == "number" && kind == "integer"))
        {
            errors.Add(FieldError.Invalid(path, node.DeepClone(), $"{path} in body must be of type {type}: \"{kind}\""));
            return;
        }
        if (schema["enum"] is JsonArray e && !e.Any(v => JsonNode.DeepEquals(v, node)))
        {
            errors.Add(FieldError.NotSupported(path, node.DeepClone(), e.Select(v => Registry.Json.Scalar(v))));
        }
        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.Number)
        {
            var d = Registry.Json.AsDouble(value);
            if (schema["minimum"] is JsonValue min && d < Registry.Json.AsDouble(min))
            {
                errors.Add(FieldError.Invalid(path, node.DeepClone(), $"{path} in body should be greater than or equal to {min.ToJsonString()}"));
            }
            if (schema["maximum"] is JsonValue max && d > Registry.Json.AsDouble(max))
            {
                errors.Add(FieldError.Invalid(path, node.DeepClone(), $"{path} in body should be less than or equal to {max.ToJsonString()}"));
            }
        }
        if (node is JsonValue sv && sv.GetValueKind() == JsonValueKind.String)
        {
            var s = sv.GetValue<string>();
            if (schema["minLength"] is JsonValue minL && s.Length < (Registry.Json.AsLong(minL) ?? 0))
            {
                errors.Add(FieldError.Invalid(path, s, $"{path} in body should be at least {minL.ToJsonString()} chars long"));
            }
            if (schema["maxLength"] is JsonValue maxL && s.Length > (Registry.Json.AsLong(maxL) ?? 0))
            {
                errors.Add(new FieldError(path, "FieldValueTooLong", $"Too long: may not be more than {maxL.ToJsonString()} bytes"));
            }
            if (schema["pattern"] is JsonValue pat && !Regex.IsMatch(s, pat.GetValue<string>(), RegexOptions.None, TimeSpan.FromSeconds(1)))
            {
                errors.Add(FieldError.Invalid(path, s, $"{path} in body should match '{pat.GetValue<string>()}'"));
            }
        }
        if (node is JsonArray arr)
        {
            if (schema["minItems"] is JsonValue minI && arr.Count < (Registry.Json.AsLong(minI) ?? 0))
            {
                errors.Add(FieldError.Invalid(path, arr.Count, $"{path} in body should have at least {minI.ToJsonString()} items"));
            }
            if (schema["maxItems"] is JsonValue maxI && arr.Count > (Registry.Json.AsLong(maxI) ?? 0))
            {
                errors.Add(new FieldError(path, "FieldValueTooMany", $"Too many: {arr.Count}: must have at most {maxI.ToJsonString()} items"));
            }
            for (var i = 0; i < arr.Count; i++)
            {
                ValidateValues(arr[i], schema["items"] as JsonObject, $"{path}[{i}]", errors);
            }
        }
        if (node is JsonObject obj)
        {
            foreach (var r in schema["required"] as JsonArray ?? [])
            {
                var name = r!.GetValue<string>();
                if (obj[name] is null)
                {
                    errors.Add(FieldError.Required(path.Length == 0 ? name : path + "." + name));
                }
            }
            var props = schema["properties"] as JsonObject;
            foreach (var (k, v) in obj)
            {
                var childPath = path.Length == 0 ? k : path + "." + k;
                if (props?[k] is JsonObject ps)
                {
                    ValidateValues(v, ps, childPath, errors);
                }
                else if (schema["additionalProperties"] is JsonObject ap)
                {
                    ValidateValues(v, ap, childPath, errors);
                }
            }
        }
    }

    private static bool IsInteger(JsonNode node)
    {
        var text = node.ToJsonString();
        return !text.Contains('.', StringComparison.Ordinal) && !text.Contains('e', StringComparison.OrdinalIgnoreCase)
            || (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && Math.Abs(d % 1) < double.Epsilon);
    }
}
