using System.Formats.Tar;
using System.Text.Json.Nodes;
using Berth.Core;

namespace Berth.Engine.Containers;

/// <summary>
/// docker cp: tar out of and into a container's rootfs. Every path is resolved inside the rootfs (symlinks are
/// followed as the container would see them, absolute targets re-rooted), so nothing outside it is read or written.
/// </summary>
public static class TarDirectory
{
    /// <summary>The host path of <paramref name="path"/> as seen inside <paramref name="root"/>; the last component is not followed when <paramref name="followLast"/> is false.</summary>
    public static string Resolve(string root, string path, bool followLast = true)
    {
        root = Path.GetFullPath(root);
        var parts = new Queue<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries));
        var current = new List<string>();
        var links = 0;
        while (parts.Count > 0)
        {
            var part = parts.Dequeue();
            if (part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (current.Count > 0)
                {
                    current.RemoveAt(current.Count - 1);
                }
                continue;
            }
            var candidate = Path.Combine([root, .. current, part]);
            var info = new FileInfo(candidate);
            if (info.LinkTarget is { } target && (followLast || parts.Count > 0))
            {
                if (++links > 40)
                {
                    throw BerthException.InvalidArgument($"too many levels of symbolic links in {path}");
                }
                if (target.StartsWith('/'))
                {
                    current.Clear();
                }
                var rest = parts.ToList();
                parts = new Queue<string>(target.Split('/', StringSplitOptions.RemoveEmptyEntries).Concat(rest));
                continue;
            }
            current.Add(part);
        }
        return Path.Combine([root, .. current]);
    }

    public static JsonObject Stat(string root, string path)
    {
        var host = Resolve(root, path, followLast: false);
        FileSystemInfo info = Directory.Exists(host) && new FileInfo(host).LinkTarget is null ? new DirectoryInfo(host) : new FileInfo(host);
        if (!info.Exists && !(info is FileInfo { LinkTarget: not null }))
        {
            throw BerthException.NotFound($"Could not find the file {path} in container");
        }
        var mode = (long)info.UnixFileMode;
        if (info is DirectoryInfo)
        {
            mode |= 1L << 31; // Go's os.ModeDir
        }
        if (info.LinkTarget is not null)
        {
            mode |= 1L << 27; // os.ModeSymlink
        }
        return new JsonObject
        {
            ["name"] = Path.GetFileName(path.TrimEnd('/')) is { Length: > 0 } n ? n : "/",
            ["size"] = info is FileInfo f && f.Exists ? f.Length : 4096,
            ["mode"] = mode,
            ["mtime"] = info.LastWriteTimeUtc.ToString("o", System.Globalization.CultureInfo.InvariantCulture),
            ["linkTarget"] = info.LinkTarget ?? "",
        };
    }

    /// <summary>Writes <paramref name="path"/> (a file or a directory tree) as a tar whose top entry is its base name ("" = the whole root, unprefixed).</summary>
    public static async Task WriteAsync(string root, string path, Stream output, CancellationToken cancellationToken)
    {
        var host = path.Length == 0 ? Path.GetFullPath(root) : Resolve(root, path, followLast: !path.EndsWith("/.", StringComparison.Ordinal) && false);
        if (path.Length > 0 && new FileInfo(host).LinkTarget is null && Directory.Exists(host) == false && !File.Exists(host))
        {
            throw BerthException.NotFound($"Could not find the file {path} in container");
        }
        var prefix = path.Length == 0 ? "" : Path.GetFileName(path.TrimEnd('/')) is { Length: > 0 } n ? n : ".";
        if (path.EndsWith("/.", StringComparison.Ordinal))
        {
            host = Resolve(root, path[..^2]);
            prefix = ".";
        }
        var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        await using (writer.ConfigureAwait(false))
        {
            await AddAsync(writer, host, prefix, isRoot: true, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task AddAsync(TarWriter writer, string hostPath, string name, bool isRoot, CancellationToken cancellationToken)
    {
        var info = new FileInfo(hostPath);
        if (info.LinkTarget is null && Directory.Exists(hostPath))
        {
            if (name.Length > 0)
            {
                await writer.WriteEntryAsync(hostPath, name.TrimEnd('/') + "/", cancellationToken).ConfigureAwait(false);
            }
            foreach (var child in Directory.EnumerateFileSystemEntries(hostPath).Order(StringComparer.Ordinal))
            {
                var childName = name.Length == 0 ? Path.GetFileName(child) : name.TrimEnd('/') + "/" + Path.GetFileName(child);
                await AddAsync(writer, child, childName, isRoot: false, cancellationToken).ConfigureAwait(false);
            }
            return;
        }
        _ = isRoot;
        try
        {
            await writer.WriteEntryAsync(hostPath, name, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException) when (!File.Exists(hostPath) && info.LinkTarget is null)
        {
            // Vanished while we walked (a running container's files change).
        }
    }

    /// <summary>Extracts a tar into the directory <paramref name="path"/> of the rootfs (which must exist, as docker requires).</summary>
    public static async Task ExtractAsync(Stream input, string root, string path, CancellationToken cancellationToken)
    {
        var destination = Resolve(root, path);
        if (!Directory.Exists(destination))
        {
            throw BerthException.NotFound($"Could not find the file {path} in container");
        }
        var reader = new TarReader(input, leaveOpen: true);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                var relative = entry.Name.TrimStart('/');
                if (relative.Length == 0 || relative == "./")
                {
                    continue;
                }
                // Resolve the parent inside the root; the entry itself is never followed.
                var inRoot = Path.GetRelativePath(Path.GetFullPath(root), destination).Replace('\\', '/');
                var parent = Path.GetDirectoryName(relative.TrimEnd('/'))?.Replace('\\', '/') ?? "";
                var parentHost = Resolve(root, (inRoot == "." ? "" : inRoot) + "/" + parent);
                var target = Path.Combine(parentHost, Path.GetFileName(relative.TrimEnd('/')));
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                        Directory.CreateDirectory(target);
                        File.SetUnixFileMode(target, entry.Mode);
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        Directory.CreateDirectory(parentHost);
                        if (new FileInfo(target).LinkTarget is not null)
                        {
                            File.Delete(target);
                        }
                        var fs = new FileStream(target, FileMode.Create, FileAccess.Write);
                        await using (fs.ConfigureAwait(false))
                        {
                            if (entry.DataStream is { } data)
                            {
                                await data.CopyToAsync(fs, cancellationToken).ConfigureAwait(false);
                            }
                        }
                        File.SetUnixFileMode(target, entry.Mode);
                        File.SetLastWriteTimeUtc(target, entry.ModificationTime.UtcDateTime);
                        break;
                    case TarEntryType.SymbolicLink:
                        if (File.Exists(target) || new FileInfo(target).LinkTarget is not null)
                        {
                            File.Delete(target);
                        }
                        File.CreateSymbolicLink(target, entry.LinkName);
                        break;
                    case TarEntryType.HardLink:
                        var source = Resolve(root, (inRoot == "." ? "" : inRoot) + "/" + entry.LinkName, followLast: false);
                        File.Copy(source, target, overwrite: true);
                        break;
                    default:
                        throw BerthException.Unsupported($"tar entry type {entry.EntryType} ({entry.Name}) in docker cp");
                }
            }
        }
    }
}
