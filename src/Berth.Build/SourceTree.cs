using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Berth.Core;

namespace Berth.Build;

public enum SourceEntryType
{
    File,
    Directory,
    Symlink,
    Other,
}

/// <summary>A file seen through a <see cref="SourceTree"/>; <see cref="Path"/> is relative to the tree root ("/"-separated).</summary>
public sealed record SourceEntry(string Path, string FullPath, SourceEntryType Type, UnixFileMode Mode, long Size, string? LinkTarget, int Uid, int Gid);

/// <summary>
/// Files a COPY/ADD can take from: the build context (filtered by .dockerignore, owned by root as Docker sends
/// them) or another stage's or image's filesystem (owners as they are). Resolves sources with Go glob syntax
/// relative to the root, walks them, and computes the content checksum the cache key uses.
/// </summary>
public sealed class SourceTree
{
    private readonly DockerIgnore _ignore;
    private readonly IFileOwnership? _owners;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _visibleDirs = new(StringComparer.Ordinal);

    /// <param name="root">The directory that is "/" of the tree.</param>
    /// <param name="ignore">Exclusions (the build context's .dockerignore), or null.</param>
    /// <param name="owners">Reads owners; null means every file counts as 0:0 (the build context).</param>
    public SourceTree(string root, DockerIgnore? ignore = null, IFileOwnership? owners = null)
    {
        if (!Directory.Exists(root))
        {
            throw BuildContextErrors.NotADirectory(root);
        }
        Root = System.IO.Path.GetFullPath(root);
        _ignore = ignore ?? DockerIgnore.Empty;
        _owners = owners;
    }

    /// <summary>Opens a build context directory with its .dockerignore.</summary>
    public static SourceTree OpenContext(string contextDir, string? dockerfilePath = null) =>
        new(contextDir, DockerIgnore.Load(contextDir, dockerfilePath));

    public string Root { get; }

    public DockerIgnore Ignore => _ignore;

    /// <summary>Every path that a <c>COPY . /dst</c> would copy, sorted (the context walker's file list).</summary>
    public IReadOnlyList<SourceEntry> Entries()
    {
        var root = Stat(".", follow: false)!;
        return Walk(root).Where(e => e.Path != ".").ToList();
    }

    private bool Visible(string rel, bool isDir)
    {
        if (rel == ".")
        {
            return true;
        }
        if (!_ignore.IsExcluded(rel))
        {
            return true;
        }
        if (!isDir || !_ignore.HasExclusions)
        {
            return false;
        }
        // An excluded directory stays visible when a "!" pattern re-includes something inside it.
        if (_visibleDirs.TryGetValue(rel, out var known))
        {
            return known;
        }
        var visible = false;
        foreach (var child in new DirectoryInfo(System.IO.Path.Combine(Root, rel)).EnumerateFileSystemInfos())
        {
            var childRel = rel + "/" + child.Name;
            var childIsDir = child is DirectoryInfo && child.LinkTarget is null;
            if (Visible(childRel, childIsDir))
            {
                visible = true;
                break;
            }
        }
        _visibleDirs[rel] = visible;
        return visible;
    }

    /// <summary>Looks up one path (relative, cleaned). Null when missing or excluded.</summary>
    public SourceEntry? Stat(string rel, bool follow)
    {
        rel = PathRules.RelativeInRoot(rel);
        var full = rel == "." ? Root : PathRules.SecureJoin(Root, rel, followLast: follow);
        var info = new FileInfo(full);
        FileSystemInfo fsi = info;
        if (!info.Exists)
        {
            var dir = new DirectoryInfo(full);
            if (!dir.Exists && info.LinkTarget is null)
            {
                return null;
            }
            fsi = dir.Exists ? dir : info;
        }
        var type = fsi.LinkTarget is not null ? SourceEntryType.Symlink
            : fsi is DirectoryInfo ? SourceEntryType.Directory
            : (fsi.Attributes & FileAttributes.Device) != 0 ? SourceEntryType.Other
            : SourceEntryType.File;
        if (!Visible(rel, type == SourceEntryType.Directory))
        {
            return null;
        }
        return Describe(rel, fsi, type);
    }

    private SourceEntry Describe(string rel, FileSystemInfo fsi, SourceEntryType type)
    {
        var mode = type == SourceEntryType.Symlink ? (UnixFileMode)0x1FF : File.GetUnixFileMode(fsi.FullName);
        var (uid, gid) = _owners?.GetOwner(fsi.FullName) ?? (0, 0);
        var size = type == SourceEntryType.File ? ((FileInfo)fsi).Length : 0;
        return new SourceEntry(rel, fsi.FullName, type, mode, size, fsi.LinkTarget, uid, gid);
    }

    /// <summary>The visible children of a directory, sorted by name (ordinal).</summary>
    public IReadOnlyList<SourceEntry> List(SourceEntry dir)
    {
        var result = new List<SourceEntry>();
        foreach (var child in new DirectoryInfo(dir.FullPath).EnumerateFileSystemInfos())
        {
            var rel = dir.Path == "." ? child.Name : dir.Path + "/" + child.Name;
            var type = child.LinkTarget is not null ? SourceEntryType.Symlink
                : child is DirectoryInfo ? SourceEntryType.Directory
                : (child.Attributes & FileAttributes.Device) != 0 ? SourceEntryType.Other
                : SourceEntryType.File;
            if (Visible(rel, type == SourceEntryType.Directory))
            {
                result.Add(Describe(rel, child, type));
            }
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return result;
    }

    /// <summary>The entry and, for a directory, everything below it (symlinks are not followed), parents first.</summary>
    public IEnumerable<SourceEntry> Walk(SourceEntry entry)
    {
        yield return entry;
        if (entry.Type != SourceEntryType.Directory)
        {
            yield break;
        }
        foreach (var child in List(entry))
        {
            foreach (var e in Walk(child))
            {
                yield return e;
            }
        }
    }

    /// <summary>
    /// Resolves one COPY source (already expanded): a path relative to the root (leading "/" and ".." cannot leave
    /// it) or a Go glob matched one path component at a time. A source that is a symlink is followed. Returns the
    /// matches sorted; none found throws NotFound naming the source.
    /// </summary>
    public IReadOnlyList<SourceEntry> Resolve(string source, string what)
    {
        var rel = PathRules.RelativeInRoot(source);
        if (!PathRules.HasGlob(rel))
        {
            var entry = Stat(rel, follow: true);
            return entry is null
                ? throw BerthException.NotFound($"{what}: \"{source}\" not found in {Describe()}")
                : [entry with { Path = rel }];
        }
        var matches = new List<SourceEntry>();
        var parts = rel.Split('/');
        MatchComponents(Stat(".", follow: false)!, parts, 0, matches);
        if (matches.Count == 0)
        {
            throw BerthException.NotFound($"{what}: no files match \"{source}\" in {Describe()}");
        }
        matches.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return matches;
    }

    private string Describe() => _owners is null ? "the build context (is it excluded by .dockerignore?)" : "the source filesystem";

    private void MatchComponents(SourceEntry dir, string[] parts, int index, List<SourceEntry> matches)
    {
        var part = parts[index];
        var last = index == parts.Length - 1;
        IEnumerable<SourceEntry> candidates;
        if (!PathRules.HasGlob(part))
        {
            var rel = dir.Path == "." ? part : dir.Path + "/" + part;
            var e = Stat(rel, follow: true);
            candidates = e is null ? [] : [e with { Path = rel }];
        }
        else
        {
            var regex = PathRules.GlobRegex(part);
            candidates = List(dir).Where(c => regex.IsMatch(c.Path[(c.Path.LastIndexOf('/') + 1)..]));
        }
        foreach (var candidate in candidates)
        {
            var resolved = candidate;
            if (candidate.Type == SourceEntryType.Symlink)
            {
                resolved = Stat(candidate.Path, follow: true) is { } target ? target with { Path = candidate.Path } : candidate;
            }
            if (last)
            {
                matches.Add(resolved);
            }
            else if (resolved.Type == SourceEntryType.Directory)
            {
                MatchComponents(resolved, parts, index + 1, matches);
            }
        }
    }

    /// <summary>
    /// The content checksum of copied sources: for every file under every source, its path relative to the source,
    /// type, mode, owner, link target and the sha256 of its content, in order. Times are not part of it.
    /// </summary>
    public static string Checksum(IEnumerable<(SourceTree Tree, SourceEntry Source)> sources)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var index = 0;
        foreach (var (tree, source) in sources)
        {
            foreach (var entry in tree.Walk(source))
            {
                var rel = entry.Path == source.Path ? "." : entry.Path[(source.Path == "." ? 0 : source.Path.Length + 1)..];
                var line = string.Create(CultureInfo.InvariantCulture,
                    $"{index}\0{rel}\0{entry.Type}\0{Convert.ToString((int)entry.Mode, 8)}\0{entry.Uid}:{entry.Gid}\0{entry.LinkTarget}\0{(entry.Type == SourceEntryType.File ? FileDigest(entry.FullPath) : string.Empty)}\n");
                hash.AppendData(Encoding.UTF8.GetBytes(line));
            }
            index++;
        }
        return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static string FileDigest(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
