using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Core;

/// <summary>Reads and writes a <see cref="Digest"/> as its string form; an invalid digest fails the read.</summary>
public sealed class DigestJsonConverter : JsonConverter<Digest>
{
    public override Digest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException("a digest must be a string such as sha256:<64 hex digits>");
        }
        var text = reader.GetString();
        return Digest.TryParse(text, out var digest, out var error) ? digest : throw new JsonException(error);
    }

    public override void Write(Utf8JsonWriter writer, Digest value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToString());
}
