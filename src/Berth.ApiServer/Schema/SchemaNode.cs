using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using k8s.Models;

namespace Berth.ApiServer.Schema;

public enum SchemaKind
{
    Object,
    Array,
    Map,
    String,
    Integer,
    Number,
    Boolean,
    IntOrString,
    Quantity,
    Time,
    Bytes,
    Any,
}

/// <summary>A field of an object schema, with the strategic-merge-patch metadata Kubernetes puts in its struct tags.</summary>
public sealed record SchemaProperty(string Name, SchemaNode Type, string? PatchStrategy, string? MergeKey);

/// <summary>
/// The shape of an object, derived by reflection from the k8s.Models types (or from a CRD's openAPIV3Schema).
/// One model serves OpenAPI generation, strict field validation/pruning and strategic merge patch.
/// </summary>
public sealed class SchemaNode
{
    private static readonly ConcurrentDictionary<Type, SchemaNode> Cache = new();

    private Dictionary<string, SchemaProperty>? _properties;
    private Func<Dictionary<string, SchemaProperty>>? _propertyFactory;

    public SchemaNode(SchemaKind kind, Type? clrType = null, SchemaNode? items = null)
    {
        Kind = kind;
        ClrType = clrType;
        Items = items;
    }

    public SchemaKind Kind { get; }

    public Type? ClrType { get; }

    /// <summary>Element type of arrays, value type of maps.</summary>
    public SchemaNode? Items { get; private set; }

    /// <summary>Objects that keep fields not in their schema (x-kubernetes-preserve-unknown-fields).</summary>
    public bool PreserveUnknown { get; init; }

    /// <summary>For CRD schemas: the JSON schema this node came from (for value validation).</summary>
    public JsonObject? Source { get; init; }

    public IReadOnlyDictionary<string, SchemaProperty> Properties => _properties ??= _propertyFactory?.Invoke() ?? [];

    public static SchemaNode Any { get; } = new(SchemaKind.Any);

    public static SchemaNode For(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (Cache.TryGetValue(type, out var cached))
        {
            return cached;
        }
        if (type == typeof(string))
        {
            return new SchemaNode(SchemaKind.String, type);
        }
        if (type == typeof(int) || type == typeof(long) || type == typeof(short))
        {
            return new SchemaNode(SchemaKind.Integer, type);
        }
        if (type == typeof(double) || type == typeof(float) || type == typeof(decimal))
        {
            return new SchemaNode(SchemaKind.Number, type);
        }
        if (type == typeof(bool))
        {
            return new SchemaNode(SchemaKind.Boolean, type);
        }
        if (type == typeof(DateTime) || type == typeof(DateTimeOffset))
        {
            return new SchemaNode(SchemaKind.Time, type);
        }
        if (type == typeof(byte[]))
        {
            return new SchemaNode(SchemaKind.Bytes, type);
        }
        if (type == typeof(IntOrString))
        {
            return new SchemaNode(SchemaKind.IntOrString, type);
        }
        if (type == typeof(ResourceQuantity))
        {
            return new SchemaNode(SchemaKind.Quantity, type);
        }
        if (type == typeof(object) || type == typeof(JsonElement) || type == typeof(JsonNode))
        {
            return Any;
        }
        var dict = type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));
        if (dict is not null)
        {
            return new SchemaNode(SchemaKind.Map, type, For(dict.GetGenericArguments()[1]));
        }
        var list = type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>));
        if (list is not null)
        {
            return new SchemaNode(SchemaKind.Array, type, For(list.GetGenericArguments()[0]));
        }
        var node = new SchemaNode(SchemaKind.Object, type, null, type == typeof(V1JSONSchemaProps));
        node._propertyFactory = () => ReflectProperties(type);
        return Cache.GetOrAdd(type, node);
    }

    private SchemaNode(SchemaKind kind, Type? clrType, SchemaNode? items, bool preserveUnknown)
        : this(kind, clrType, items) => PreserveUnknown = preserveUnknown;

    private static Dictionary<string, SchemaProperty> ReflectProperties(Type type)
    {
        var result = new Dictionary<string, SchemaProperty>(StringComparer.Ordinal);
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var name = p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name;
            if (name is null || p.GetCustomAttribute<JsonIgnoreAttribute>() is not null)
            {
                continue;
            }
            PatchMetadata.Lookup(type, name, out var strategy, out var key);
            result[name] = new SchemaProperty(name, For(p.PropertyType), strategy, key);
        }
        return result;
    }

    /// <summary>A node from a CRD's structural schema.</summary>
    public static SchemaNode FromOpenApi(JsonObject? schema, bool root = false)
    {
        if (schema is null)
        {
            return Any;
        }
        if (schema["x-kubernetes-int-or-string"] is JsonValue ios && ios.GetValueKind() == JsonValueKind.True)
        {
            return new SchemaNode(SchemaKind.IntOrString) { Source = schema };
        }
        var preserve = schema["x-kubernetes-preserve-unknown-fields"] is JsonValue pv && pv.GetValueKind() == JsonValueKind.True;
        var type = schema["type"] is JsonValue tv ? tv.GetValue<string>() : null;
        switch (type)
        {
            case "string":
                return new SchemaNode(SchemaKind.String) { Source = schema };
            case "integer":
                return new SchemaNode(SchemaKind.Integer) { Source = schema };
            case "number":
                return new SchemaNode(SchemaKind.Number) { Source = schema };
            case "boolean":
                return new SchemaNode(SchemaKind.Boolean) { Source = schema };
            case "array":
                return new SchemaNode(SchemaKind.Array, null, FromOpenApi(schema["items"] as JsonObject)) { Source = schema };
        }
        if (schema["additionalProperties"] is JsonObject ap && schema["properties"] is null)
        {
            return new SchemaNode(SchemaKind.Map, null, FromOpenApi(ap)) { Source = schema };
        }
        if (type is null && schema["properties"] is null && !root)
        {
            return new SchemaNode(SchemaKind.Any) { Source = schema };
        }
        var node = new SchemaNode(SchemaKind.Object, null, null, preserve || (type is null && schema["properties"] is null)) { Source = schema };
        node._propertyFactory = () =>
        {
            var props = new Dictionary<string, SchemaProperty>(StringComparer.Ordinal);
            foreach (var (k, v) in schema["properties"] as JsonObject ?? [])
            {
                props[k] = new SchemaProperty(k, FromOpenApi(v as JsonObject), null, null);
            }
            if (root)
            {
                props["apiVersion"] = new SchemaProperty("apiVersion", new SchemaNode(SchemaKind.String), null, null);
                props["kind"] = new SchemaProperty("kind", new SchemaNode(SchemaKind.String), null, null);
                props["metadata"] = new SchemaProperty("metadata", For(typeof(V1ObjectMeta)), null, null);
            }
            return props;
        };
        return node;
    }
}
