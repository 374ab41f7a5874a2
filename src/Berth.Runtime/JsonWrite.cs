using System.Text.Json;

namespace Berth.Runtime;

/// <summary>
/// The pieces the hand-written JSON writers (state.json, the OCI state, exec's payload) share, next to
/// <see cref="JsonRead"/>: each leaves out a property whose value is null, as the serializer does for these models.
/// </summary>
internal static class JsonWrite
{
    /// <summary>"name": "value", or nothing for null.</summary>
    public static void OptionalString(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null)
        {
            w.WriteString(name, value);
        }
    }

    /// <summary>"name": ["a", "b"], or nothing for null.</summary>
    public static void Strings(Utf8JsonWriter w, string name, List<string>? values)
    {
        if (values is null)
        {
            return;
        }
        w.WriteStartArray(name);
        foreach (var v in values)
        {
            w.WriteStringValue(v);
        }
        w.WriteEndArray();
    }

    /// <summary>"name": {"key": "value", ...}, or nothing for null (annotations).</summary>
    public static void StringMap(Utf8JsonWriter w, string name, Dictionary<string, string>? map)
    {
        if (map is null)
        {
            return;
        }
        w.WriteStartObject(name);
        foreach (var (key, value) in map)
        {
            w.WriteString(key, value);
        }
        w.WriteEndObject();
    }
}
