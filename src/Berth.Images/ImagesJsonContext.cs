using System.Text.Json.Serialization;

namespace Berth.Images;

/// <summary>Source-generated JSON for the state files this library writes.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true)]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class ImagesJsonContext : JsonSerializerContext;
