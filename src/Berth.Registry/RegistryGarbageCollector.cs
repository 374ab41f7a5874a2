using Berth.Registry.Storage;

namespace Berth.Registry;

/// <summary>What one garbage collection did.</summary>
public sealed record GarbageCollectionResult(int BlobsKept, int BlobsDeleted, long BytesFreed, int BlobsInGracePeriod, int UploadsExpired, int TempFilesRemoved);

/// <summary>
/// Mark and sweep over the blob store: every manifest revision of every repository marks itself and the blobs it
/// references; unmarked blobs older than the grace period are deleted. Safe while the registry serves traffic:
/// anything that starts referencing a blob (upload completion, mount, manifest PUT, HEAD) refreshes its mtime, and
/// the sweep re-checks the mtime under the same lock that manifest PUTs take, so a blob in use is never deleted.
/// </summary>
public sealed class RegistryGarbageCollector
{
    private readonly RegistryStorage _storage;
    private readonly RegistryOptions _options;

    public RegistryGarbageCollector(RegistryOptions options)
        : this(new RegistryStorage(options.RootDirectory, options.TimeProvider), options)
    {
    }

    internal RegistryGarbageCollector(RegistryStorage storage, RegistryOptions options)
    {
        _storage = storage;
        _options = options;
    }

    public GarbageCollectionResult Run(bool dryRun = false, CancellationToken ct = default)
    {
        var now = _options.TimeProvider.GetUtcNow().UtcDateTime;
        var marked = new HashSet<Digest>();
        foreach (var repository in _storage.ListRepositories())
        {
            foreach (var manifest in _storage.ListManifests(repository))
            {
                ct.ThrowIfCancellationRequested();
                marked.Add(manifest.Digest);
                try
                {
                    var info = ManifestInfo.Parse(File.ReadAllBytes(manifest.Path), manifest.MediaType);
                    marked.UnionWith(info.Blobs);
                    marked.UnionWith(info.Manifests);
                }
                catch (RegistryException)
                {
                    // A stored manifest that no longer parses still keeps itself; its references are unknown.
                }
                catch (FileNotFoundException)
                {
                }
            }
        }

        int kept = 0, deleted = 0, young = 0, uploads = 0, temps = 0;
        long freed = 0;
        var cutoff = now - _options.GcGracePeriod;
        foreach (var (digest, file) in _storage.EnumerateBlobs().ToList())
        {
            ct.ThrowIfCancellationRequested();
            if (marked.Contains(digest))
            {
                kept++;
                continue;
            }
            lock (_storage.ReferenceLock)
            {
                file.Refresh();
                if (!file.Exists)
                {
                    continue;
                }
                if (file.LastWriteTimeUtc > cutoff)
                {
                    young++;
                    continue;
                }
                var length = file.Length;
                if (!dryRun && FileOps.TryDelete(file.FullName))
                {
                    deleted++;
                    freed += length;
                }
                else if (dryRun)
                {
                    deleted++;
                    freed += length;
                }
            }
        }

        var uploadCutoff = now - _options.UploadExpiry;
        foreach (var (id, lastWrite) in _storage.EnumerateUploads().ToList())
        {
            if (lastWrite < uploadCutoff)
            {
                uploads++;
                if (!dryRun)
                {
                    _storage.ExpireUpload(id);
                }
            }
        }

        // Temp files are left only by a crash between create and rename.
        foreach (var temp in Directory.EnumerateFiles(_storage.Root, ".*.tmp", SearchOption.AllDirectories).ToList())
        {
            if (File.GetLastWriteTimeUtc(temp) < cutoff)
            {
                temps++;
                if (!dryRun)
                {
                    FileOps.TryDelete(temp);
                }
            }
        }
        return new GarbageCollectionResult(kept, deleted, freed, young, uploads, temps);
    }
}
