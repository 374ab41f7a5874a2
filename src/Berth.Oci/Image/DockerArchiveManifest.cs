using System.Text.Json.Serialization;

namespace Berth.Oci.Image;

/// <summary>One entry of <c>manifest.json</c> in a <c>docker save</c> archive.</summary>
public sealed record DockerArchiveManifestEntry
{
    [JsonPropertyName("Config")]
    public required string Config { get; init; }

    [JsonPropertyName("RepoTags")]
    public IReadOnlyList<string>? RepoTags { get; init; }

    [JsonPropertyName("Layers")]
    public required IReadOnlyList<string> Layers { get; init; }

    /// <summary>Newer docker versions list layer media types/digests for OCI-layout based archives.</summary>
    [JsonPropertyName("LayerSources")]
    public IReadOnlyDictionary<string, Descriptor>? LayerSources { get; init; }
}

/// <summary>The legacy per-layer <c>json</c> file of a <c>docker save</c> archive (v1 image JSON).</summary>
public sealed record DockerLegacyLayerJson
{
    [JsonPropertyName("id")]
    public required string Id { get; init; }

    [JsonPropertyName("parent")]
    public string? Parent { get; init; }

    [JsonPropertyName("created")]
    public DateTimeOffset? Created { get; init; }

    [JsonPropertyName("container_config")]
    public ContainerConfig? ContainerConfig { get; init; }

    [JsonPropertyName("os")]
    public string? Os { get; init; }
}
