using System.Text.Json.Serialization;
using Berth.Images.Snapshots;
using Berth.Images.Store;

namespace Berth.Images;

/// <summary>Source-generated JSON for the state files this library writes.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true)]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(Dictionary<string, ImageRecord>))]
[JsonSerializable(typeof(Dictionary<string, SnapshotInfo>))]
[JsonSerializable(typeof(List<Berth.Oci.Image.Descriptor>))]
internal sealed partial class ImagesJsonContext : JsonSerializerContext;
