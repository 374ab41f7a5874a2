using System.Collections.Concurrent;

namespace Berth.Registry.Storage;

/// <summary>
/// The registry's filesystem store. Blobs (layers, configs and manifests alike) are content-addressed and shared
/// by every repository; repositories hold only links. The layout is described in docs/design/registry.md.
/// </summary>
internal sealed partial class RegistryStorage
{
    private readonly TimeProvider _time;

    // Serialises "a manifest starts referencing these blobs" against "GC deletes this blob" within one process;
    // across processes the GC grace period covers the same race (see docs/design/registry.md).
    private readonly Lock _referenceLock = new();
    private readonly ConcurrentDictionary<string, UploadState> _uploads = new(StringComparer.Ordinal);

    public RegistryStorage(string root, TimeProvider time)
    {
        Root = Path.GetFullPath(root);
        _time = time;
        BlobsDir = Path.Combine(Root, "blobs");
        UploadsDir = Path.Combine(Root, "uploads");
        RepositoriesDir = Path.Combine(Root, "repositories");
        Directory.CreateDirectory(BlobsDir);
        Directory.CreateDirectory(UploadsDir);
        Directory.CreateDirectory(RepositoriesDir);
    }

    public string Root { get; }

    public string BlobsDir { get; }

    public string UploadsDir { get; }

    public string RepositoriesDir { get; }

    internal Lock ReferenceLock => _referenceLock;

    public string BlobPath(Digest digest) => Path.Combine(BlobsDir, digest.Algorithm, digest.Hex[..2], digest.Hex);

    public string RepositoryDir(string name) => Path.Combine(RepositoriesDir, name);

    private string LayerLink(string name, Digest digest) => Path.Combine(RepositoriesDir, name, "_layers", digest.Algorithm, digest.Hex);

    /// <summary>The blob's size when it is stored (in any repository), else null.</summary>
    public long? BlobSize(Digest digest)
    {
        var info = new FileInfo(BlobPath(digest));
        return info.Exists ? info.Length : null;
    }

    /// <summary>True when the blob is stored and linked into the repository.</summary>
    public bool IsLinked(string name, Digest digest) => File.Exists(LayerLink(name, digest)) && File.Exists(BlobPath(digest));

    public void Link(string name, Digest digest)
    {
        var link = LayerLink(name, digest);
        if (!File.Exists(link))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            // An empty file is complete the moment it exists, so no temp + rename is needed.
            using var _ = new FileStream(link, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
        }
    }

    public bool Unlink(string name, Digest digest) => FileOps.TryDelete(LayerLink(name, digest));

    /// <summary>Marks the blob as recently used so that a concurrent GC keeps it for one more grace period.</summary>
    public bool Touch(Digest digest)
    {
        try
        {
            File.SetLastWriteTimeUtc(BlobPath(digest), _time.GetUtcNow().UtcDateTime);
            return true;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        catch (DirectoryNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Links an existing blob of <paramref name="from"/> into <paramref name="name"/> (cross-repository mount).</summary>
    public bool Mount(string name, string from, Digest digest)
    {
        lock (_referenceLock)
        {
            if (!IsLinked(from, digest) || !Touch(digest))
            {
                return false;
            }
            Link(name, digest);
            return true;
        }
    }

    /// <summary>Stores <paramref name="content"/> as a blob (temp + fsync + rename) unless it already exists.</summary>
    public void PutBlob(Digest digest, ReadOnlySpan<byte> content)
    {
        var path = BlobPath(digest);
        lock (_referenceLock)
        {
            if (Touch(digest))
            {
                return;
            }
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = FileOps.TempName(path);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            FileOps.TryDelete(temp);
        }
    }

    /// <summary>Every repository that has at least one manifest or blob, in lexical order.</summary>
    public List<string> ListRepositories()
    {
        var result = new List<string>();
        Walk(RepositoriesDir, "");
        result.Sort(StringComparer.Ordinal);
        return result;

        void Walk(string dir, string prefix)
        {
            IEnumerable<string> children;
            try
            {
                children = Directory.EnumerateDirectories(dir);
            }
            catch (DirectoryNotFoundException)
            {
                return;
            }
            foreach (var child in children)
            {
                var leaf = Path.GetFileName(child);
                if (leaf.StartsWith('_'))
                {
                    continue;
                }
                var name = prefix.Length == 0 ? leaf : prefix + "/" + leaf;
                if (Directory.Exists(Path.Combine(child, "_manifests", "revisions")))
                {
                    result.Add(name);
                }
                Walk(child, name);
            }
        }
    }

    public bool RepositoryExists(string name) =>
        Directory.Exists(Path.Combine(RepositoriesDir, name, "_manifests")) || Directory.Exists(Path.Combine(RepositoriesDir, name, "_layers"));

    /// <summary>All blob files as (digest, path); files that are not named like a digest (temp files) are skipped.</summary>
    public IEnumerable<(Digest Digest, FileInfo File)> EnumerateBlobs()
    {
        foreach (var algorithmDir in SafeDirectories(BlobsDir))
        {
            var algorithm = Path.GetFileName(algorithmDir);
            foreach (var prefixDir in SafeDirectories(algorithmDir))
            {
                foreach (var file in new DirectoryInfo(prefixDir).EnumerateFiles())
                {
                    if (Digest.TryParse(algorithm + ":" + file.Name, out var digest))
                    {
                        yield return (digest, file);
                    }
                }
            }
        }
    }

    private static IEnumerable<string> SafeDirectories(string dir)
    {
        try
        {
            return Directory.GetDirectories(dir);
        }
        catch (DirectoryNotFoundException)
        {
            return [];
        }
    }
}
