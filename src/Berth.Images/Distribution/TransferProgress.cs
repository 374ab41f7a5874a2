using Berth.Core;

namespace Berth.Images.Distribution;

/// <summary>Where one blob (config or layer) of a pull or push is.</summary>
public enum TransferStatus
{
    /// <summary>Queued behind other transfers (the concurrency limit).</summary>
    Waiting,

    Downloading,

    /// <summary>All bytes arrived; the digest and size are being checked and the blob committed.</summary>
    Verifying,

    /// <summary>Downloaded, verified and stored.</summary>
    Done,

    /// <summary>Already present on the receiving side (the local content store on pull, the registry on push).</summary>
    AlreadyExists,

    Pushing,

    Pushed,

    /// <summary>Mounted from another repository of the same registry instead of uploaded.</summary>
    Mounted,

    /// <summary>A transfer failed for a transient reason and will be retried (resumed where possible); see the message.</summary>
    Retrying,
}

/// <summary>
/// One progress event of a pull or push. <see cref="Id"/> is the short (12 hex digit) form docker prints;
/// <see cref="Current"/>/<see cref="Total"/> are bytes (Total is the descriptor's size).
/// </summary>
public readonly record struct TransferProgress(string Id, Digest Digest, TransferStatus Status, long Current, long Total, string? Message = null)
{
    public static string ShortId(Digest digest) => digest.Encoded.Length > 12 ? digest.Encoded[..12] : digest.Encoded;
}
