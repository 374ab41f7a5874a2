namespace Berth.Store;

/// <summary>Settings shared by both store implementations.</summary>
public sealed class ClusterStoreOptions
{
    /// <summary>How often the background compactor runs; <see cref="TimeSpan.Zero"/> turns it off (CompactAsync still works).</summary>
    public TimeSpan CompactionInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How many of the newest revisions of history the background compactor keeps for watches and old reads
    /// (a watch from an older revision gets <see cref="CompactedException"/>, i.e. 410 Gone).
    /// </summary>
    public long CompactionRetainedRevisions { get; set; } = 10_000;

    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}
