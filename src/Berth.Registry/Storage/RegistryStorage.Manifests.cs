using System.Net;

namespace Berth.Registry.Storage;

/// <summary>
/// Manifests are blobs too; a repository knows one through a revision link (whose content is its media type),
/// tags are files holding a digest, and referrers are links under the subject's digest.
/// </summary>
internal sealed partial class RegistryStorage
{
    public sealed record StoredManifest(Digest Digest, string MediaType, string Path, long Size);

    private string RevisionLink(string name, Digest digest) =>
        System.IO.Path.Combine(RepositoriesDir, name, "_manifests", "revisions", digest.Algorithm, digest.Hex);

    private string TagsDir(string name) => System.IO.Path.Combine(RepositoriesDir, name, "_manifests", "tags");

    private string ReferrersDir(string name, Digest subject) =>
        System.IO.Path.Combine(RepositoriesDir, name, "_referrers", subject.Algorithm, subject.Hex);

    public StoredManifest? GetManifest(string name, Digest digest)
    {
        var mediaType = FileOps.TryReadText(RevisionLink(name, digest));
        if (mediaType is null)
        {
            return null;
        }
        var path = BlobPath(digest);
        var info = new FileInfo(path);
        return info.Exists ? new StoredManifest(digest, mediaType, path, info.Length) : null;
    }

    public Digest? ResolveTag(string name, string tag)
    {
        var text = FileOps.TryReadText(System.IO.Path.Combine(TagsDir(name), tag));
        return Digest.TryParse(text?.Trim(), out var digest) ? digest : null;
    }

    /// <summary>
    /// Stores a verified manifest: blob, then revision link, then referrer link, then tag — each step atomic, so a
    /// crash leaves at worst an unreferenced blob for GC, never a tag to a missing manifest.
    /// </summary>
    public void PutManifest(string name, Digest digest, byte[] content, ManifestInfo info, string? tag)
    {
        lock (_referenceLock)
        {
            // Touching the referenced blobs under the lock keeps a concurrent GC from sweeping them (see GC).
            var missing = info.Blobs.Where(b => !IsLinked(name, b) || !Touch(b)).Select(b => b.ToString()).ToList();
            if (missing.Count > 0)
            {
                throw new RegistryException(HttpStatusCode.BadRequest, RegistryErrorCode.MANIFEST_BLOB_UNKNOWN,
                    $"manifest references blobs that are not in repository '{name}': {string.Join(", ", missing)}; push them before the manifest",
                    missing[0]);
            }
            var missingManifests = info.Manifests.Where(m => GetManifest(name, m) is null || !Touch(m)).Select(m => m.ToString()).ToList();
            if (missingManifests.Count > 0)
            {
                throw new RegistryException(HttpStatusCode.BadRequest, RegistryErrorCode.MANIFEST_BLOB_UNKNOWN,
                    $"index references manifests that are not in repository '{name}': {string.Join(", ", missingManifests)}; push them before the index",
                    missingManifests[0]);
            }
            PutBlob(digest, content);
            FileOps.WriteAtomic(RevisionLink(name, digest), info.MediaType);
        }
        if (info.Subject is { } subject)
        {
            var link = System.IO.Path.Combine(ReferrersDir(name, subject), digest.Algorithm + "-" + digest.Hex);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(link)!);
            using var _ = new FileStream(link, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
        }
        if (tag is not null)
        {
            FileOps.WriteAtomic(System.IO.Path.Combine(TagsDir(name), tag), digest.ToString());
        }
    }

    /// <summary>Deletes a manifest from a repository, with the tags that point at it and its referrer link.</summary>
    public bool DeleteManifest(string name, Digest digest)
    {
        var stored = GetManifest(name, digest);
        if (stored is null)
        {
            return false;
        }
        foreach (var (tag, target) in ListTagTargets(name))
        {
            if (target == digest)
            {
                FileOps.TryDelete(System.IO.Path.Combine(TagsDir(name), tag));
            }
        }
        try
        {
            var info = ManifestInfo.Parse(File.ReadAllBytes(stored.Path), stored.MediaType);
            if (info.Subject is { } subject)
            {
                FileOps.TryDelete(System.IO.Path.Combine(ReferrersDir(name, subject), digest.Algorithm + "-" + digest.Hex));
            }
        }
        catch (RegistryException)
        {
        }
        return FileOps.TryDelete(RevisionLink(name, digest));
    }

    public bool DeleteTag(string name, string tag) => FileOps.TryDelete(System.IO.Path.Combine(TagsDir(name), tag));

    public List<string> ListTags(string name)
    {
        var dir = TagsDir(name);
        if (!Directory.Exists(dir))
        {
            return [];
        }
        var tags = Directory.EnumerateFiles(dir).Select(System.IO.Path.GetFileName).Where(t => t is not null && RepositoryName.IsValidTag(t)).Select(t => t!).ToList();
        tags.Sort(StringComparer.Ordinal);
        return tags;
    }

    public IEnumerable<(string Tag, Digest Digest)> ListTagTargets(string name)
    {
        foreach (var tag in ListTags(name))
        {
            if (ResolveTag(name, tag) is { } digest)
            {
                yield return (tag, digest);
            }
        }
    }

    /// <summary>Every manifest revision of a repository.</summary>
    public IEnumerable<StoredManifest> ListManifests(string name)
    {
        var revisions = System.IO.Path.Combine(RepositoriesDir, name, "_manifests", "revisions");
        if (!Directory.Exists(revisions))
        {
            yield break;
        }
        foreach (var algorithmDir in Directory.EnumerateDirectories(revisions))
        {
            foreach (var file in Directory.EnumerateFiles(algorithmDir))
            {
                if (Digest.TryParse(System.IO.Path.GetFileName(algorithmDir) + ":" + System.IO.Path.GetFileName(file), out var digest)
                    && GetManifest(name, digest) is { } manifest)
                {
                    yield return manifest;
                }
            }
        }
    }

    /// <summary>Manifests of the repository whose subject is <paramref name="subject"/>.</summary>
    public IEnumerable<StoredManifest> ListReferrers(string name, Digest subject)
    {
        var dir = ReferrersDir(name, subject);
        if (!Directory.Exists(dir))
        {
            yield break;
        }
        foreach (var file in Directory.EnumerateFiles(dir))
        {
            var leaf = System.IO.Path.GetFileName(file);
            var dash = leaf.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0 && Digest.TryParse(leaf[..dash] + ":" + leaf[(dash + 1)..], out var digest) && GetManifest(name, digest) is { } manifest)
            {
                yield return manifest;
            }
        }
    }
}
