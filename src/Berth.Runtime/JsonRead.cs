using System.Globalization;
using System.Text.Json;

namespace Berth.Runtime;

/// <summary>
/// Small helpers over <see cref="Utf8JsonReader"/> for the hand-written readers of config.json and state.json. The
/// serializer's first use costs a few milliseconds per process (its metadata for the whole object graph is built and a
/// lot of code is paged in); a reader that walks the tokens itself costs a fraction of that, and every berth-runtime
/// verb and the container's init are short-lived processes that parse exactly one or two documents.
/// Semantics follow the serializer's defaults as the runtime configured them: property names are case-sensitive,
/// unknown properties are skipped, comments and trailing commas are accepted, null leaves the default.
/// </summary>
internal static class JsonRead
{
    private static readonly JsonReaderOptions Options = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>A reader over a whole document, positioned on its first token.</summary>
    public static Utf8JsonReader Open(ReadOnlySpan<byte> json)
    {
        var r = new Utf8JsonReader(json, Options);
        Next(ref r);
        return r;
    }

    /// <summary>True when the current value is an object (to be read with <see cref="NextProperty"/>), false when it is null.</summary>
    public static bool BeginObject(ref Utf8JsonReader r, string path)
    {
        if (r.TokenType == JsonTokenType.Null)
        {
            return false;
        }
        return r.TokenType == JsonTokenType.StartObject ? true : throw Mismatch(ref r, path, "an object");
    }

    /// <summary>Moves to the value of the next property of the current object; false at its end.</summary>
    public static bool NextProperty(ref Utf8JsonReader r, out string name)
    {
        Next(ref r);
        if (r.TokenType == JsonTokenType.EndObject)
        {
            name = "";
            return false;
        }
        name = r.GetString()!;
        Next(ref r);
        return true;
    }

    /// <summary>True when the current value is an array (to be read with <see cref="NextItem"/>), false when it is null.</summary>
    public static bool BeginArray(ref Utf8JsonReader r, string path)
    {
        if (r.TokenType == JsonTokenType.Null)
        {
            return false;
        }
        return r.TokenType == JsonTokenType.StartArray ? true : throw Mismatch(ref r, path, "an array");
    }

    /// <summary>Moves to the next item of the current array; false at its end.</summary>
    public static bool NextItem(ref Utf8JsonReader r)
    {
        Next(ref r);
        return r.TokenType != JsonTokenType.EndArray;
    }

    /// <summary>Skips the current value (and everything in it).</summary>
    public static void Skip(ref Utf8JsonReader r) => r.Skip();

    public static string? String(ref Utf8JsonReader r, string path) => r.TokenType switch
    {
        JsonTokenType.Null => null,
        JsonTokenType.String => r.GetString(),
        _ => throw Mismatch(ref r, path, "a string"),
    };

    public static string StringOr(ref Utf8JsonReader r, string path, string fallback) => String(ref r, path) ?? fallback;

    public static bool Bool(ref Utf8JsonReader r, string path) => r.TokenType switch
    {
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        _ => throw Mismatch(ref r, path, "true or false"),
    };

    public static bool? NullableBool(ref Utf8JsonReader r, string path) => r.TokenType == JsonTokenType.Null ? null : Bool(ref r, path);

    public static long Int64(ref Utf8JsonReader r, string path) =>
        r.TokenType == JsonTokenType.Number && r.TryGetInt64(out var v) ? v : throw Mismatch(ref r, path, "a 64-bit integer");

    public static long? NullableInt64(ref Utf8JsonReader r, string path) => r.TokenType == JsonTokenType.Null ? null : Int64(ref r, path);

    public static ulong UInt64(ref Utf8JsonReader r, string path) =>
        r.TokenType == JsonTokenType.Number && r.TryGetUInt64(out var v) ? v : throw Mismatch(ref r, path, "an unsigned 64-bit integer");

    public static ulong? NullableUInt64(ref Utf8JsonReader r, string path) => r.TokenType == JsonTokenType.Null ? null : UInt64(ref r, path);

    public static int Int32(ref Utf8JsonReader r, string path) =>
        r.TokenType == JsonTokenType.Number && r.TryGetInt32(out var v) ? v : throw Mismatch(ref r, path, "a 32-bit integer");

    public static int? NullableInt32(ref Utf8JsonReader r, string path) => r.TokenType == JsonTokenType.Null ? null : Int32(ref r, path);

    public static uint UInt32(ref Utf8JsonReader r, string path) =>
        r.TokenType == JsonTokenType.Number && r.TryGetUInt32(out var v) ? v : throw Mismatch(ref r, path, "an unsigned 32-bit integer");

    public static uint? NullableUInt32(ref Utf8JsonReader r, string path) => r.TokenType == JsonTokenType.Null ? null : UInt32(ref r, path);

    public static ushort? NullableUInt16(ref Utf8JsonReader r, string path) =>
        r.TokenType == JsonTokenType.Null ? null
        : r.TokenType == JsonTokenType.Number && r.TryGetUInt16(out var v) ? v : throw Mismatch(ref r, path, "an unsigned 16-bit integer");

    public static DateTimeOffset DateTimeOffset(ref Utf8JsonReader r, string path) =>
        r.TokenType == JsonTokenType.String && r.TryGetDateTimeOffset(out var v) ? v : throw Mismatch(ref r, path, "an ISO 8601 date and time");

    public static List<string>? Strings(ref Utf8JsonReader r, string path)
    {
        if (!BeginArray(ref r, path))
        {
            return null;
        }
        var list = new List<string>();
        while (NextItem(ref r))
        {
            list.Add(r.TokenType == JsonTokenType.String ? r.GetString()! : throw Mismatch(ref r, Item(path, list.Count), "a string"));
        }
        return list;
    }

    public static List<uint>? UInt32s(ref Utf8JsonReader r, string path)
    {
        if (!BeginArray(ref r, path))
        {
            return null;
        }
        var list = new List<uint>();
        while (NextItem(ref r))
        {
            list.Add(r.TokenType == JsonTokenType.Number && r.TryGetUInt32(out var v) ? v : throw Mismatch(ref r, Item(path, list.Count), "an unsigned 32-bit integer"));
        }
        return list;
    }

    public static Dictionary<string, string>? StringMap(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        while (NextProperty(ref r, out var key))
        {
            map[key] = String(ref r, path + "." + key) ?? throw Mismatch(ref r, path + "." + key, "a string");
        }
        return map;
    }

    /// <summary>Reads an array of objects, each with <paramref name="item"/>.</summary>
    public static List<T>? Objects<T>(ref Utf8JsonReader r, string path, ItemReader<T> item)
    {
        if (!BeginArray(ref r, path))
        {
            return null;
        }
        var list = new List<T>();
        while (NextItem(ref r))
        {
            var itemPath = Item(path, list.Count);
            list.Add(item(ref r, itemPath) ?? throw Mismatch(ref r, itemPath, "an object"));
        }
        return list;
    }

    public delegate T? ItemReader<T>(ref Utf8JsonReader r, string path);

    public static string Item(string path, int index) => path + "[" + index.ToString(CultureInfo.InvariantCulture) + "]";

    /// <summary>Requires the document to end after its value (the serializer refuses trailing data too).</summary>
    public static void End(ref Utf8JsonReader r)
    {
        if (r.Read())
        {
            throw new JsonException("more data after the document's value", null, null, r.TokenStartIndex);
        }
    }

    private static void Next(ref Utf8JsonReader r)
    {
        if (!r.Read())
        {
            throw new JsonException("the document ends early", null, null, r.BytesConsumed);
        }
    }

    /// <summary>A value of the wrong kind: the exception carries the field's path and, as its byte position, the token's offset.</summary>
    private static JsonException Mismatch(ref Utf8JsonReader r, string path, string expected)
    {
        var found = r.TokenType switch
        {
            JsonTokenType.String => "a string",
            JsonTokenType.Number => "the number " + System.Text.Encoding.UTF8.GetString(r.ValueSpan),
            JsonTokenType.True or JsonTokenType.False => "a boolean",
            JsonTokenType.StartObject => "an object",
            JsonTokenType.StartArray => "an array",
            JsonTokenType.Null => "null",
            _ => r.TokenType.ToString(),
        };
        return new JsonException($"expected {expected}, found {found}", "$." + path, null, r.TokenStartIndex);
    }
}
