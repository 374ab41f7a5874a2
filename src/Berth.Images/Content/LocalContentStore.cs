using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using Berth.Core;

namespace Berth.Images.Content;

/// <summary>
/// A content store on the local filesystem:
/// <c>root/blobs/&lt;alg&gt;/&lt;hex&gt;</c> for blobs, <c>root/ingest/</c> for writes in progress (renamed into
/// place once verified), <c>root/labels/&lt;alg&gt;/&lt;hex&gt;.json</c> for labels.
/// </summary>
public sealed class LocalContentStore : IContentStore
{
    private readonly string _root;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _labelLock = new(1, 1);

    public LocalContentStore(string root, TimeProvider? timeProvider = null)
    {
        _root = Path.GetFullPath(root);
        _time = timeProvider ?? TimeProvider.System;
        Directory.CreateDirectory(Path.Combine(_root, "blobs", Digest.Sha256));
        Directory.CreateDirectory(Path.Combine(_root, "ingest"));
        Directory.CreateDirectory(Path.Combine(_root, "labels"));
    }

    public string Root => _root;

    /// <summary>The file holding a committed blob (for readers that want a path, e.g. to hard-link into a layout).</summary>
    public string BlobPath(Digest digest) => Path.Combine(_root, "blobs", digest.Algorithm, digest.Encoded);

    private string LabelPath(Digest digest) => Path.Combine(_root, "labels", digest.Algorithm, digest.Encoded + ".json");

    public ValueTask<ContentInfo?> InfoAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        var file = new FileInfo(BlobPath(digest));
        if (!file.Exists)
        {
            return ValueTask.FromResult<ContentInfo?>(null);
        }
        return ValueTask.FromResult<ContentInfo?>(new ContentInfo(digest, file.Length, file.LastWriteTimeUtc, ReadLabels(digest)));
    }

    public ValueTask<Stream> OpenReadAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        try
        {
            Stream stream = new FileStream(BlobPath(digest), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            return ValueTask.FromResult(stream);
        }
        catch (FileNotFoundException)
        {
            throw BerthException.NotFound($"content {digest} not found in {_root}; pull or import the image that holds it");
        }
        catch (DirectoryNotFoundException)
        {
            throw BerthException.NotFound($"content {digest} not found in {_root}; pull or import the image that holds it");
        }
    }

    public ValueTask<IContentWriter> OpenWriterAsync(string digestAlgorithm = Digest.Sha256, CancellationToken cancellationToken = default)
    {
        var hash = Digest.CreateHash(digestAlgorithm);
        var temp = Path.Combine(_root, "ingest", Guid.NewGuid().ToString("N"));
        return ValueTask.FromResult<IContentWriter>(new Writer(this, temp, digestAlgorithm, hash));
    }

    public ValueTask<bool> DeleteAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        var path = BlobPath(digest);
        var existed = File.Exists(path);
        File.Delete(path);
        if (File.Exists(LabelPath(digest)))
        {
            File.Delete(LabelPath(digest));
        }
        return ValueTask.FromResult(existed);
    }

    public async ValueTask<ContentInfo> UpdateLabelsAsync(Digest digest, IReadOnlyDictionary<string, string?> labels, CancellationToken cancellationToken = default)
    {
        await _labelLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!File.Exists(BlobPath(digest)))
            {
                throw BerthException.NotFound($"content {digest} not found in {_root}; cannot label it");
            }
            var current = new Dictionary<string, string>(ReadLabels(digest));
            foreach (var (key, value) in labels)
            {
                if (value is null)
                {
                    current.Remove(key);
                }
                else
                {
                    current[key] = value;
                }
            }
            WriteLabels(digest, current);
        }
        finally
        {
            _labelLock.Release();
        }
        return (await InfoAsync(digest, cancellationToken).ConfigureAwait(false))!;
    }

    public async IAsyncEnumerable<ContentInfo> WalkAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var blobs = Path.Combine(_root, "blobs");
        foreach (var algDir in Directory.EnumerateDirectories(blobs))
        {
            var alg = Path.GetFileName(algDir);
            foreach (var file in Directory.EnumerateFiles(algDir))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!Digest.TryParse(alg + ":" + Path.GetFileName(file), out var digest))
                {
                    continue;
                }
                var info = await InfoAsync(digest, cancellationToken).ConfigureAwait(false);
                if (info is not null)
                {
                    yield return info;
                }
            }
        }
    }

    private Dictionary<string, string> ReadLabels(Digest digest)
    {
        var path = LabelPath(digest);
        if (!File.Exists(path))
        {
            return [];
        }
        return JsonSerializer.Deserialize(File.ReadAllBytes(path), ImagesJsonContext.Default.DictionaryStringString) ?? [];
    }

    private void WriteLabels(Digest digest, Dictionary<string, string> labels)
    {
        var path = LabelPath(digest);
        if (labels.Count == 0)
        {
            File.Delete(path);
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(labels, ImagesJsonContext.Default.DictionaryStringString));
    }

    private sealed class Writer : IContentWriter
    {
        private readonly LocalContentStore _store;
        private readonly string _temp;
        private FileStream? _file;
        private readonly string _algorithm;
        private readonly IncrementalHash _hash;
        private bool _done;

        public Writer(LocalContentStore store, string temp, string algorithm, IncrementalHash hash)
        {
            _store = store;
            _temp = temp;
            _algorithm = algorithm;
            _hash = hash;
            _file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        }

        public long Offset { get; private set; }

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done || _file is null, this);
            _hash.AppendData(data.Span);
            await _file.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            Offset += data.Length;
        }

        public async ValueTask<ContentInfo> CommitAsync(long? expectedSize = null, Digest? expectedDigest = null, IReadOnlyDictionary<string, string>? labels = null, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done || _file is null, this);
            if (expectedDigest is { } expected && expected.Algorithm != _algorithm)
            {
                await DiscardAsync().ConfigureAwait(false);
                throw BerthException.InvalidArgument($"content {expected}: the ingest was opened for {_algorithm}; open the writer with {expected.Algorithm}");
            }
            var actual = Digest.FromHash(_algorithm, _hash.GetHashAndReset());
            var name = expectedDigest?.ToString() ?? actual.ToString();
            if (expectedSize is { } size && size != Offset)
            {
                await DiscardAsync().ConfigureAwait(false);
                throw new BerthException(ErrorCode.FailedPrecondition, $"content {name}: expected {size} bytes, got {Offset}; the blob is truncated or corrupt and was not stored");
            }
            if (expectedDigest is { } want && want != actual)
            {
                await DiscardAsync().ConfigureAwait(false);
                throw new BerthException(ErrorCode.FailedPrecondition, $"content {want}: the data hashes to {actual}; the blob is corrupt and was not stored");
            }
            await _file.FlushAsync(cancellationToken).ConfigureAwait(false);
            _file.Flush(flushToDisk: true);
            await _file.DisposeAsync().ConfigureAwait(false);
            _file = null;
            _done = true;
            _hash.Dispose();
            var target = _store.BlobPath(actual);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (File.Exists(target))
            {
                File.Delete(_temp);
            }
            else
            {
                File.Move(_temp, target, overwrite: true);
            }
            if (labels is { Count: > 0 })
            {
                return await _store.UpdateLabelsAsync(actual, labels.ToDictionary(kv => kv.Key, kv => (string?)kv.Value), cancellationToken).ConfigureAwait(false);
            }
            return (await _store.InfoAsync(actual, cancellationToken).ConfigureAwait(false))!;
        }

        public ValueTask DisposeAsync() => _done ? ValueTask.CompletedTask : DiscardAsync();

        private async ValueTask DiscardAsync()
        {
            _done = true;
            if (_file is not null)
            {
                await _file.DisposeAsync().ConfigureAwait(false);
                _file = null;
            }
            File.Delete(_temp);
            _hash.Dispose();
        }
    }
}
