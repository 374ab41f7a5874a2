using System.Text.Json.Serialization;
using Berth.Core;

namespace Berth.Oci.Image;

/// <summary>An OCI content descriptor: what a blob is, its digest and its size.</summary>
public sealed record Descriptor
{
    [JsonPropertyName("mediaType")]
    public required string MediaType { get; init; }

    [JsonPropertyName("digest")]
    public required Digest Digest { get; init; }

    [JsonPropertyName("size")]
    public required long Size { get; init; }

    [JsonPropertyName("urls")]
    public IReadOnlyList<string>? Urls { get; init; }

    [JsonPropertyName("annotations")]
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    [JsonPropertyName("data")]
    public string? Data { get; init; }

    [JsonPropertyName("platform")]
    public Platform? Platform { get; init; }

    [JsonPropertyName("artifactType")]
    public string? ArtifactType { get; init; }
}

/// <summary>Well-known annotation keys.</summary>
public static class Annotations
{
    /// <summary>The tag of a manifest in an OCI layout's index.json.</summary>
    public const string RefName = "org.opencontainers.image.ref.name";
    public const string Created = "org.opencontainers.image.created";

    /// <summary>The full reference containerd and podman put next to the tag when they write a layout.</summary>
    public const string ContainerdImageName = "io.containerd.image.name";
}
