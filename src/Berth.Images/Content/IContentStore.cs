using Berth.Core;

namespace Berth.Images.Content;

/// <summary>
/// Blobs addressed by their digest. Content is verified while it is written and becomes visible only
/// once complete and correct: a reader never sees a partial or corrupt blob.
/// </summary>
public interface IContentStore
{
    /// <summary>The blob's size, creation time and labels, or null when the store does not have it.</summary>
    ValueTask<ContentInfo?> InfoAsync(Digest digest, CancellationToken cancellationToken = default);

    /// <summary>Opens a blob for reading; NotFound when absent.</summary>
    ValueTask<Stream> OpenReadAsync(Digest digest, CancellationToken cancellationToken = default);

    /// <summary>
    /// Starts an ingest hashed with <paramref name="digestAlgorithm"/> (sha256 or sha512); nothing is visible until
    /// <see cref="IContentWriter.CommitAsync"/> succeeds.
    /// </summary>
    ValueTask<IContentWriter> OpenWriterAsync(string digestAlgorithm = Digest.Sha256, CancellationToken cancellationToken = default);

    /// <summary>Removes a blob; false when it was not there.</summary>
    ValueTask<bool> DeleteAsync(Digest digest, CancellationToken cancellationToken = default);

    /// <summary>Sets (non-null value) or removes (null value) labels on a blob and returns the result.</summary>
    ValueTask<ContentInfo> UpdateLabelsAsync(Digest digest, IReadOnlyDictionary<string, string?> labels, CancellationToken cancellationToken = default);

    /// <summary>Every committed blob, in no particular order.</summary>
    IAsyncEnumerable<ContentInfo> WalkAsync(CancellationToken cancellationToken = default);
}

/// <summary>An ingest in progress. Disposing without a commit discards it.</summary>
public interface IContentWriter : IAsyncDisposable
{
    /// <summary>Bytes written so far.</summary>
    long Offset { get; }

    ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);

    /// <summary>
    /// Verifies the size and digest (when given) and makes the blob visible under its digest. On a mismatch the
    /// ingest is discarded and a FailedPrecondition error names the expected and actual values. Committing content
    /// the store already has succeeds and merges the labels.
    /// </summary>
    ValueTask<ContentInfo> CommitAsync(long? expectedSize = null, Digest? expectedDigest = null, IReadOnlyDictionary<string, string>? labels = null, CancellationToken cancellationToken = default);
}

public sealed record ContentInfo(Digest Digest, long Size, DateTimeOffset CreatedAt, IReadOnlyDictionary<string, string> Labels);

/// <summary>Label keys that name references for garbage collection (the containerd convention, Berth prefix).</summary>
public static class ContentLabels
{
    /// <summary>Labels starting with this name a blob the labelled blob keeps alive: <c>berth.gc.ref.content.0=sha256:…</c>.</summary>
    public const string GcRefContentPrefix = "berth.gc.ref.content.";

    /// <summary>Set on a blob that must never be collected (e.g. pinned by a user).</summary>
    public const string GcRoot = "berth.gc.root";

    /// <summary>The uncompressed digest of a layer blob, recorded when the layer is unpacked or created.</summary>
    public const string UncompressedDigest = "berth.uncompressed";
}
