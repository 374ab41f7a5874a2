using System.Text.Json.Serialization;

namespace Berth.Images.Snapshots;

public enum SnapshotKind
{
    /// <summary>Read-only, immutable; other snapshots build on it (one per layer chain ID).</summary>
    Committed,

    /// <summary>Writable (a container's rootfs, or a layer being extracted).</summary>
    Active,

    /// <summary>A read-only view of a committed snapshot.</summary>
    View,
}

public sealed record SnapshotInfo
{
    [JsonPropertyName("key")]
    public required string Key { get; init; }

    [JsonPropertyName("kind")]
    public required SnapshotKind Kind { get; init; }

    [JsonPropertyName("parent")]
    public string? Parent { get; init; }

    /// <summary>The directory name under snapshots/ (stable across commit, which only renames the key).</summary>
    [JsonPropertyName("id")]
    public required string Id { get; init; }

    /// <summary>The short name under l/ that stands for this snapshot's fs dir in lowerdir lists.</summary>
    [JsonPropertyName("link")]
    public required string Link { get; init; }

    [JsonPropertyName("created")]
    public DateTimeOffset Created { get; init; }

    [JsonPropertyName("labels")]
    public IReadOnlyDictionary<string, string>? Labels { get; init; }
}

/// <summary>A mount as the OCI runtime spec writes it (type, source, options).</summary>
public sealed record SnapshotMount(string Type, string Source, IReadOnlyList<string> Options);

/// <summary>
/// Layered filesystems in the containerd model: committed snapshots are immutable and shared; an active snapshot
/// is a writable layer over a committed parent chain; mounts say how to assemble one.
/// </summary>
public interface ISnapshotter
{
    /// <summary>Creates a writable snapshot over <paramref name="parent"/> (a committed key) and returns its mounts.</summary>
    Task<IReadOnlyList<SnapshotMount>> PrepareAsync(string key, string? parent, IReadOnlyDictionary<string, string>? labels = null, CancellationToken cancellationToken = default);

    /// <summary>A read-only view of a committed snapshot.</summary>
    Task<IReadOnlyList<SnapshotMount>> ViewAsync(string key, string parent, CancellationToken cancellationToken = default);

    /// <summary>Mounts of an existing active snapshot or view.</summary>
    Task<IReadOnlyList<SnapshotMount>> MountsAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Turns the active snapshot <paramref name="key"/> into the committed snapshot <paramref name="name"/>.</summary>
    Task CommitAsync(string name, string key, CancellationToken cancellationToken = default);

    Task<SnapshotInfo?> StatAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Removes a snapshot; FailedPrecondition while another snapshot builds on it.</summary>
    Task RemoveAsync(string key, CancellationToken cancellationToken = default);

    IAsyncEnumerable<SnapshotInfo> WalkAsync(CancellationToken cancellationToken = default);

    /// <summary>The directory holding a snapshot's own files (upper dir of an active snapshot, the layer of a committed one).</summary>
    string UpperDirectory(SnapshotInfo info);
}
