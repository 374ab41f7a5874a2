using System.Text.Json.Serialization;
using Berth.Core;
using Berth.Oci.Image;

namespace Berth.Images.Store;

/// <summary>A name pointing at a manifest or index in the content store.</summary>
public sealed record ImageRecord
{
    [JsonPropertyName("name")]
    public required string Name { get; init; }

    [JsonPropertyName("target")]
    public required Descriptor Target { get; init; }

    [JsonPropertyName("created")]
    public DateTimeOffset Created { get; init; }
}

/// <summary>Everything `inspect` shows about one image for one platform.</summary>
public sealed record ImageDetails(
    ImageReference? Reference,
    IReadOnlyList<string> RepoTags,
    Descriptor Target,
    Descriptor Manifest,
    ImageManifest ManifestDocument,
    ImageConfig Config,
    long Size)
{
    /// <summary>The image ID as docker shows it: the config digest.</summary>
    public Digest Id => ManifestDocument.Config.Digest;

    public IReadOnlyList<Digest> ChainIds => Layers.LayerStreams.ChainIds(Config.RootFs.DiffIds);
}

/// <summary>One line of `history`: newest first, like docker.</summary>
public sealed record ImageHistoryItem(string Id, DateTimeOffset? Created, string CreatedBy, long Size, string Comment, bool EmptyLayer);

public sealed record GcResult(IReadOnlyList<Digest> RemovedBlobs, IReadOnlyList<string> RemovedSnapshots);
