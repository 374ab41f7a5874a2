namespace Berth.Store;

/// <summary>
/// A revisioned key-value store with etcd's semantics, the only storage the API server uses.
/// Every successful write gets a new, strictly increasing, store-wide revision; that revision is
/// the object's resourceVersion. Keys are '/'-separated paths (e.g. "/registry/pods/default/web").
/// Implementations: SQLite (embedded, the default) and etcd v3. Both run the same conformance suite.
/// </summary>
public interface IClusterStore : IAsyncDisposable
{
    /// <summary>The newest revision of the whole store.</summary>
    ValueTask<long> CurrentRevisionAsync(CancellationToken cancellationToken = default);

    /// <summary>One key at the current revision, or null when absent.</summary>
    Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Keys starting with <paramref name="prefix"/>, in key order, after <paramref name="startAfter"/> (exclusive,
    /// for paging), at most <paramref name="limit"/> (0 = all). <paramref name="revision"/> 0 reads the newest
    /// revision; a positive one reads as of that revision and fails with <see cref="CompactedException"/> when it
    /// has been compacted away (reading at exactly the compacted revision works), and with
    /// <see cref="Berth.Core.BerthException"/> (InvalidArgument) when it is newer than the store's revision.
    /// <see cref="RangeResult.Revision"/> is the revision read at.
    /// </summary>
    Task<RangeResult> ListAsync(string prefix, string? startAfter = null, long limit = 0, long revision = 0, CancellationToken cancellationToken = default);

    /// <summary>Number of keys under a prefix at the current revision.</summary>
    Task<long> CountAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Creates a key that must not exist; returns its revision or throws <see cref="KeyExistsException"/>.</summary>
    Task<long> CreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces a key only if its current mod revision equals <paramref name="expectedRevision"/> (compare-and-swap).
    /// Returns the outcome and, on a conflict or a missing key, the current value so the caller can retry.
    /// </summary>
    Task<WriteResult> UpdateAsync(string key, ReadOnlyMemory<byte> value, long expectedRevision, CancellationToken cancellationToken = default);

    /// <summary>Deletes a key, only if its mod revision equals <paramref name="expectedRevision"/> (0 = unconditionally).</summary>
    Task<WriteResult> DeleteAsync(string key, long expectedRevision = 0, CancellationToken cancellationToken = default);

    /// <summary>
    /// Events for keys under <paramref name="prefix"/> with revision greater than <paramref name="afterRevision"/>,
    /// in revision order, until cancelled. Throws <see cref="CompactedException"/> (HTTP 410 at the API) when
    /// <paramref name="afterRevision"/> is older than the history the store still holds; like every iterator it
    /// throws on the first <c>MoveNextAsync</c>, not on the call. After <c>CompactAsync(c)</c> a watch from
    /// <c>afterRevision &gt;= c</c> always works and one from <c>afterRevision &lt; c - 1</c> always fails.
    /// A Delete event's <see cref="WatchEvent.Current"/> has an empty value and the deletion's revision as its
    /// <see cref="KeyValue.ModRevision"/>; a Put event's <see cref="WatchEvent.Previous"/> is the replaced value
    /// (null for a creation).
    /// </summary>
    IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long afterRevision, CancellationToken cancellationToken = default);

    /// <summary>
    /// Drops history older than <paramref name="revision"/>; the newest value of every live key is always kept.
    /// Compacting at or below the already compacted revision does nothing; a revision newer than the store's
    /// fails with <see cref="Berth.Core.BerthException"/> (InvalidArgument).
    /// </summary>
    Task CompactAsync(long revision, CancellationToken cancellationToken = default);
}

public sealed record KeyValue(string Key, ReadOnlyMemory<byte> Value, long CreateRevision, long ModRevision);

public sealed record RangeResult(IReadOnlyList<KeyValue> Items, long Revision, bool More);

public enum WriteOutcome
{
    Succeeded,
    Conflict,
    NotFound,
}

/// <summary>
/// Outcome of a conditional write; <see cref="Current"/> is the value now stored (null when the key is absent).
/// <see cref="Revision"/> is the revision of the write when it succeeded, otherwise the store's revision at which
/// the condition was evaluated.
/// </summary>
public sealed record WriteResult(WriteOutcome Outcome, long Revision, KeyValue? Current)
{
    /// <summary>On a successful update or delete, the value that was replaced or deleted; otherwise null.</summary>
    public KeyValue? Previous { get; init; }
}

public enum WatchEventType
{
    Put,
    Delete,
}

/// <summary>A change; for Delete, <see cref="Previous"/> holds the last value (the API needs it for DELETED events).</summary>
public sealed record WatchEvent(WatchEventType Type, KeyValue Current, KeyValue? Previous);

public sealed class KeyExistsException(string key) : Exception($"key '{key}' already exists")
{
    public string Key { get; } = key;
}

public sealed class CompactedException(long requested, long compacted)
    : Exception($"revision {requested} has been compacted; the oldest available is {compacted}")
{
    public long Requested { get; } = requested;

    public long CompactedRevision { get; } = compacted;
}
