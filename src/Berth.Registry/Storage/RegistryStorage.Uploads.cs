using System.Buffers;
using System.Net;
using System.Security.Cryptography;

namespace Berth.Registry.Storage;

/// <summary>
/// Upload sessions: uploads/&lt;id&gt;/data grows with each chunk, uploads/&lt;id&gt;/repository names the owner.
/// The data becomes a blob only on completion, after its digest is verified, by fsync + rename into blobs/.
/// A session survives a restart: its offset is the size of its data file.
/// </summary>
internal sealed partial class RegistryStorage
{
    private const int CopyBufferSize = 1 << 20;

    public sealed record UploadInfo(string Id, string Repository, long Size, DateTimeOffset LastModified);

    private sealed class UploadState
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        // A running sha256 over the data written so far, so that completing a large upload needs no second read.
        public IncrementalHash? Hash { get; set; }

        public long HashedBytes { get; set; }
    }

    private string UploadDir(string id) => Path.Combine(UploadsDir, id);

    private static bool IsValidUploadId(string id) => id.Length == 32 && id.All(char.IsAsciiHexDigitLower);

    public string StartUpload(string name)
    {
        var id = Guid.NewGuid().ToString("N");
        var dir = UploadDir(id);
        Directory.CreateDirectory(dir);
        using (new FileStream(Path.Combine(dir, "data"), FileMode.CreateNew, FileAccess.Write))
        {
        }
        FileOps.WriteAtomic(Path.Combine(dir, "repository"), name);
        return id;
    }

    public UploadInfo GetUpload(string name, string id)
    {
        if (!IsValidUploadId(id))
        {
            throw RegistryException.UploadUnknown(id);
        }
        var dir = UploadDir(id);
        var owner = FileOps.TryReadText(Path.Combine(dir, "repository"));
        var data = new FileInfo(Path.Combine(dir, "data"));
        if (owner != name || !data.Exists)
        {
            throw RegistryException.UploadUnknown(id);
        }
        return new UploadInfo(id, owner, data.Length, data.LastWriteTimeUtc);
    }

    public async Task<long> AppendAsync(string name, string id, long? start, long? length, Stream body, Action<long> onBytes, CancellationToken ct)
    {
        GetUpload(name, id);
        var state = _uploads.GetOrAdd(id, _ => new UploadState());
        await state.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await AppendLockedAsync(name, id, state, start, length, body, onBytes, ct).ConfigureAwait(false);
        }
        finally
        {
            state.Gate.Release();
        }
    }

    private async Task<long> AppendLockedAsync(string name, string id, UploadState state, long? start, long? length, Stream body, Action<long> onBytes, CancellationToken ct)
    {
        var info = GetUpload(name, id);
        if (start is { } s && s != info.Size)
        {
            throw new RegistryException(HttpStatusCode.RequestedRangeNotSatisfiable, RegistryErrorCode.BLOB_UPLOAD_INVALID,
                $"chunk starts at byte {s} but upload '{id}' has {info.Size} bytes; send the chunk that starts at {info.Size} (GET the upload URL for its status)",
                id);
        }
        var path = Path.Combine(UploadDir(id), "data");
        if (state.Hash is null && info.Size == 0)
        {
            state.Hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            state.HashedBytes = 0;
        }
        var hashing = state.Hash is not null && state.HashedBytes == info.Size;
        long written = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            using var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 0);
            while (true)
            {
                var read = await body.ReadAtLeastAsync(buffer.AsMemory(0, CopyBufferSize), CopyBufferSize, throwOnEndOfStream: false, ct).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                await file.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                if (hashing)
                {
                    state.Hash!.AppendData(buffer, 0, read);
                    state.HashedBytes += read;
                }
                written += read;
                onBytes(read);
                if (read < CopyBufferSize)
                {
                    break;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (length is { } l && l != written)
        {
            throw new RegistryException(HttpStatusCode.BadRequest, RegistryErrorCode.SIZE_INVALID,
                $"chunk was declared as {l} bytes (Content-Range/Content-Length) but {written} bytes arrived for upload '{id}'", id);
        }
        return info.Size + written;
    }

    /// <summary>Appends the optional last chunk, verifies the digest and moves the data into the blob store.</summary>
    public async Task<long> CompleteAsync(string name, string id, Digest expected, long? start, long? length, Stream? body, Action<long> onBytes, CancellationToken ct)
    {
        GetUpload(name, id);
        var state = _uploads.GetOrAdd(id, _ => new UploadState());
        await state.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            long size = GetUpload(name, id).Size;
            if (body is not null)
            {
                size = await AppendLockedAsync(name, id, state, start, length, body, onBytes, ct).ConfigureAwait(false);
            }
            var dir = UploadDir(id);
            var data = Path.Combine(dir, "data");
            Digest actual;
            if (expected.Algorithm == "sha256" && state.Hash is not null && state.HashedBytes == size)
            {
                actual = new Digest("sha256", Convert.ToHexStringLower(state.Hash.GetHashAndReset()));
            }
            else
            {
                await using var read = new FileStream(data, FileMode.Open, FileAccess.Read, FileShare.Read, CopyBufferSize, useAsync: true);
                using var hash = Digest.CreateHash(expected.Algorithm);
                var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
                try
                {
                    int n;
                    while ((n = await read.ReadAsync(buffer.AsMemory(0, CopyBufferSize), ct).ConfigureAwait(false)) > 0)
                    {
                        hash.AppendData(buffer, 0, n);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
                actual = new Digest(expected.Algorithm, Convert.ToHexStringLower(hash.GetHashAndReset()));
            }
            if (actual != expected)
            {
                RemoveUpload(id);
                throw RegistryException.DigestInvalid(
                    $"uploaded content has digest {actual} but the client declared {expected}; the upload was discarded, push the blob again",
                    expected.ToString());
            }
            using (var handle = File.OpenHandle(data, FileMode.Open, FileAccess.ReadWrite))
            {
                RandomAccess.FlushToDisk(handle);
            }
            var target = BlobPath(expected);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            lock (_referenceLock)
            {
                if (!Touch(expected))
                {
                    File.Move(data, target, overwrite: true);
                }
                Link(name, expected);
            }
            RemoveUpload(id);
            return size;
        }
        finally
        {
            state.Gate.Release();
        }
    }

    public void CancelUpload(string name, string id)
    {
        GetUpload(name, id);
        RemoveUpload(id);
    }

    private void RemoveUpload(string id)
    {
        if (_uploads.TryRemove(id, out var state))
        {
            state.Hash?.Dispose();
        }
        FileOps.TryDeleteDirectory(UploadDir(id));
    }

    /// <summary>Upload sessions with their last activity, for garbage collection.</summary>
    public IEnumerable<(string Id, DateTime LastWriteUtc)> EnumerateUploads()
    {
        foreach (var dir in Directory.EnumerateDirectories(UploadsDir))
        {
            var id = Path.GetFileName(dir);
            var data = new FileInfo(Path.Combine(dir, "data"));
            yield return (id, data.Exists ? data.LastWriteTimeUtc : Directory.GetLastWriteTimeUtc(dir));
        }
    }

    public void ExpireUpload(string id)
    {
        if (_uploads.TryGetValue(id, out var state) && state.Gate.CurrentCount == 0)
        {
            return; // a request is writing to it right now
        }
        RemoveUpload(id);
    }
}
