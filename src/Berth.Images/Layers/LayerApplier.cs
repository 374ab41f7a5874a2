using System.Formats.Tar;
using Berth.Core;
using Berth.Images.Interop;
using Microsoft.Win32.SafeHandles;

namespace Berth.Images.Layers;

public enum WhiteoutMode
{
    /// <summary>Whiteouts remove what lower layers put there: unpacking a stack of layers into one directory.</summary>
    Apply,

    /// <summary>Whiteouts become overlayfs whiteouts (0/0 char devices, trusted.overlay.opaque=y): one snapshot dir per layer.</summary>
    OverlayFs,
}

public sealed record LayerApplyOptions
{
    public WhiteoutMode Whiteouts { get; init; } = WhiteoutMode.Apply;

    /// <summary>Leave every file owned by the caller (rootless unpack) instead of the owners in the archive.</summary>
    public bool IgnoreOwners { get; init; }

    /// <summary>Entry names and link targets longer than this are refused (PATH_MAX).</summary>
    public int MaxPathLength { get; init; } = 4096;

    /// <summary>Extended attribute values longer than this are refused (XATTR_SIZE_MAX).</summary>
    public int MaxXattrSize { get; init; } = 65536;

    /// <summary>
    /// In <see cref="WhiteoutMode.OverlayFs"/>: the layers below, nearest first. A directory the archive implies
    /// (a file under it without an entry for it) takes its owner, mode and mtime from the nearest lower layer that
    /// has it, as overlayfs copy-up would, instead of hiding that layer's metadata behind root:root 0755.
    /// </summary>
    public IReadOnlyList<string>? LowerDirectories { get; init; }
}

public sealed record LayerApplyResult(Digest DiffId, long UncompressedSize, int Entries);

/// <summary>
/// Applies a (possibly compressed) tar layer onto a directory. Every path is resolved inside the target with
/// openat2(RESOLVE_IN_ROOT): ".." and symlinks (absolute or relative, including ones the archive itself planted
/// earlier) can never lead outside it; entries whose names climb above the root are refused.
/// </summary>
public static class LayerApplier
{
    public static Task<LayerApplyResult> ApplyAsync(Stream layer, string targetDirectory, LayerApplyOptions? options = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Apply(layer, targetDirectory, options, cancellationToken), cancellationToken);

    public static LayerApplyResult Apply(Stream layer, string targetDirectory, LayerApplyOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new LayerApplyOptions();
        Directory.CreateDirectory(targetDirectory);
        var decompressed = LayerStreams.OpenDecompressed(layer, out _);
        using var digesting = new DigestingReadStream(decompressed);
        using var readAhead = new ReadAheadStream(digesting);
        using var applier = new Applier(Path.GetFullPath(targetDirectory), options);
        int entries;
        try
        {
            entries = applier.Run(new TarHeaderGuard(readAhead), cancellationToken);
            DrainTo(readAhead);
        }
        catch (InvalidDataException e)
        {
            throw BerthException.InvalidArgument($"layer is not a valid tar archive: {e.Message}");
        }
        catch (FormatException e)
        {
            throw BerthException.InvalidArgument($"layer is not a valid tar archive: {e.Message}");
        }
        catch (EndOfStreamException e)
        {
            throw BerthException.InvalidArgument($"layer is truncated: {e.Message}");
        }
        catch (OverflowException e)
        {
            throw BerthException.InvalidArgument($"layer has an invalid header: {e.Message}");
        }
        catch (OutOfMemoryException)
        {
            throw BerthException.InvalidArgument("layer has a header too large to read");
        }
        return new LayerApplyResult(digesting.GetDigest(), digesting.BytesRead, entries);
    }

    /// <summary>Reads to the end (tar padding after the end marker) so the diff_id covers the whole stream.</summary>
    private static void DrainTo(Stream stream)
    {
        var buffer = new byte[1 << 16];
        while (stream.Read(buffer, 0, buffer.Length) > 0)
        {
        }
    }

    /// <summary>
    /// Cleans an archive path to a relative one: leading "/" and "./" are dropped (contained), ".." that would climb
    /// above the root is refused. Returns "" for the root itself.
    /// </summary>
    internal static string CleanPath(string name, string what)
    {
        var parts = new List<string>();
        foreach (var part in name.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (parts.Count == 0)
                {
                    throw BerthException.InvalidArgument($"layer {what} \"{name}\" points outside the root; the archive is refused");
                }
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    private sealed class Applier(string root, LayerApplyOptions options) : IDisposable
    {
        private const string WhiteoutPrefix = ".wh.";
        private const string OpaqueWhiteout = ".wh..wh..opq";

        private readonly int _rootFd = OpenRoot(root);
        private readonly HashSet<string> _written = new(StringComparer.Ordinal);
        private readonly List<(string Path, DateTimeOffset Mtime)> _dirTimes = [];
        private string? _cachedParent;
        private int _cachedFd = -1;

        private static int OpenRoot(string root)
        {
            var fd = Fs.openat(Fs.AT_FDCWD, root, Fs.O_PATH | Fs.O_DIRECTORY | Fs.O_CLOEXEC, 0);
            return fd >= 0 ? fd : throw Fs.Error("open", root, Fs.Errno);
        }

        public int Run(Stream tar, CancellationToken cancellationToken)
        {
            using var reader = new TarReader(tar, leaveOpen: true);
            var count = 0;
            while (reader.GetNextEntry(copyData: false) is { } entry)
            {
                cancellationToken.ThrowIfCancellationRequested();
                ApplyEntry(entry);
                count++;
            }
            foreach (var (path, mtime) in _dirTimes)
            {
                var (parent, name) = Split(path);
                var fd = OpenParent(parent, create: false);
                if (fd >= 0)
                {
                    Fs.SetTimes(fd, name, mtime, mtime, Fs.AT_SYMLINK_NOFOLLOW);
                }
            }
            return count;
        }

        private void ApplyEntry(TarEntry entry)
        {
            if (entry.EntryType is TarEntryType.GlobalExtendedAttributes)
            {
                return;
            }
            if (entry.Name.Length > options.MaxPathLength)
            {
                throw BerthException.InvalidArgument($"layer entry name of {entry.Name.Length} bytes is longer than {options.MaxPathLength}; the archive is refused");
            }
            var path = CleanPath(entry.Name, "entry");
            if (path.Length == 0)
            {
                if (entry.EntryType == TarEntryType.Directory)
                {
                    ApplyRootMetadata(entry);
                    return;
                }
                throw BerthException.InvalidArgument($"layer entry \"{entry.Name}\" would replace the root directory with a {entry.EntryType}");
            }
            var (parent, name) = Split(path);

            if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
            {
                ApplyWhiteout(parent, name);
                return;
            }

            var pfd = OpenParent(parent, create: true);
            var isDir = entry.EntryType == TarEntryType.Directory;
            if (Fs.TryStat(pfd, name, out var existing))
            {
                if (!(isDir && existing.IsDirectory))
                {
                    RemoveAt(pfd, parent, name);
                    pfd = OpenParent(parent, create: true);
                }
            }

            var display = "/" + path;
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    if (!existing.IsDirectory || existing.Mode == 0)
                    {
                        Check(Fs.mkdirat(pfd, name, 0x1c0), "mkdir", display);
                    }
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    WriteFile(pfd, name, display, entry);
                    break;
                case TarEntryType.SymbolicLink:
                    CheckLinkName(entry);
                    Check(Fs.symlinkat(entry.LinkName, pfd, name), "symlink", display);
                    _written.Add(path);
                    ApplyMetadata(pfd, name, display, path, entry);
                    // A symlink may now sit where a cached parent path resolved through a directory.
                    InvalidateCache();
                    return;
                case TarEntryType.HardLink:
                    CreateHardLink(pfd, name, display, entry);
                    _written.Add(path);
                    return;
                case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                    var type = entry.EntryType switch
                    {
                        TarEntryType.CharacterDevice => Fs.S_IFCHR,
                        TarEntryType.BlockDevice => Fs.S_IFBLK,
                        _ => Fs.S_IFIFO,
                    };
                    var posix = (PosixTarEntry)entry;
                    var dev = type == Fs.S_IFIFO ? 0UL : Fs.MakeDev((uint)posix.DeviceMajor, (uint)posix.DeviceMinor);
                    Check(Fs.mknodat(pfd, name, type | 0x180, dev), "mknod", display);
                    break;
                default:
                    throw BerthException.Unsupported($"layer entry \"{entry.Name}\" has tar type {entry.EntryType}; only files, directories, links, devices and fifos are supported");
            }
            _written.Add(path);
            ApplyMetadata(pfd, name, display, path, entry);
        }

        private readonly byte[] _buffer = new byte[1 << 17];

        private void WriteFile(int pfd, string name, string display, TarEntry entry)
        {
            var fd = Fs.openat(pfd, name, Fs.O_WRONLY | Fs.O_CREAT | Fs.O_EXCL | Fs.O_NOFOLLOW | Fs.O_CLOEXEC, 0x180);
            Check(fd, "open", display);
            using var handle = new SafeFileHandle(fd, ownsHandle: true);
            if (entry.DataStream is { } data && entry.Length > 0)
            {
                // RandomAccess on the raw handle: no FileStream (and its fstat and buffering) per file.
                long offset = 0;
                int read;
                while ((read = data.Read(_buffer, 0, _buffer.Length)) > 0)
                {
                    RandomAccess.Write(handle, _buffer.AsSpan(0, read), offset);
                    offset += read;
                }
            }
        }

        private void CreateHardLink(int pfd, string name, string display, TarEntry entry)
        {
            CheckLinkName(entry);
            var target = CleanPath(entry.LinkName, "hardlink target");
            if (target.Length == 0)
            {
                throw BerthException.InvalidArgument($"layer entry \"{entry.Name}\" is a hardlink to the root directory; the archive is refused");
            }
            var (tparent, tname) = Split(target);
            var tfd = Fs.OpenInRoot(_rootFd, tparent.Length == 0 ? "." : tparent, Fs.O_PATH | Fs.O_DIRECTORY);
            if (tfd < 0 || !Fs.TryStat(tfd, tname, out var st))
            {
                if (tfd >= 0)
                {
                    Fs.close(tfd);
                }
                throw BerthException.InvalidArgument($"layer entry \"{entry.Name}\" is a hardlink to \"{entry.LinkName}\", which the layer does not contain");
            }
            try
            {
                if (st.IsDirectory)
                {
                    throw BerthException.InvalidArgument($"layer entry \"{entry.Name}\" is a hardlink to the directory \"{entry.LinkName}\"; the archive is refused");
                }
                Check(Fs.linkat(tfd, tname, pfd, name, 0), "link", display);
            }
            finally
            {
                Fs.close(tfd);
            }
        }

        private void CheckLinkName(TarEntry entry)
        {
            if (entry.LinkName.Length > options.MaxPathLength)
            {
                throw BerthException.InvalidArgument($"layer entry \"{entry.Name}\" has a link target of {entry.LinkName.Length} bytes, longer than {options.MaxPathLength}; the archive is refused");
            }
        }

        private void ApplyWhiteout(string parent, string name)
        {
            var pfd = OpenParent(parent, create: options.Whiteouts == WhiteoutMode.OverlayFs);
            if (pfd < 0)
            {
                return; // whiting out inside a directory that does not exist: nothing to hide
            }
            if (name == OpaqueWhiteout)
            {
                if (options.Whiteouts == WhiteoutMode.OverlayFs)
                {
                    Check(Fs.SetXattr($"/proc/self/fd/{pfd}/.", "trusted.overlay.opaque", "y"u8), "setxattr trusted.overlay.opaque", "/" + parent);
                    return;
                }
                var prefix = parent.Length == 0 ? "" : parent + "/";
                foreach (var child in Directory.EnumerateFileSystemEntries($"/proc/self/fd/{pfd}"))
                {
                    var childName = Path.GetFileName(child);
                    if (!_written.Contains(prefix + childName))
                    {
                        RemoveAt(pfd, parent, childName);
                        pfd = OpenParent(parent, create: false);
                    }
                }
                return;
            }
            var hidden = name[WhiteoutPrefix.Length..];
            if (hidden.Length == 0 || hidden is "." or "..")
            {
                throw BerthException.InvalidArgument($"layer has an invalid whiteout \"{parent}/{name}\"");
            }
            if (Fs.TryStat(pfd, hidden, out _))
            {
                RemoveAt(pfd, parent, hidden);
                pfd = OpenParent(parent, create: true);
            }
            if (options.Whiteouts == WhiteoutMode.OverlayFs)
            {
                Check(Fs.mknodat(pfd, hidden, Fs.S_IFCHR, 0), "mknod (whiteout)", "/" + Join(parent, hidden));
            }
        }

        private void ApplyMetadata(int pfd, string name, string display, string path, TarEntry entry)
        {
            var isLink = entry.EntryType == TarEntryType.SymbolicLink;
            if (!options.IgnoreOwners)
            {
                Check(Fs.fchownat(pfd, name, (uint)entry.Uid, (uint)entry.Gid, Fs.AT_SYMLINK_NOFOLLOW), "lchown", display);
            }
            if (!isLink)
            {
                // After chown: chown clears setuid/setgid.
                Check(Fs.fchmodat(pfd, name, (uint)entry.Mode & 0xfff, 0), "chmod", display);
            }
            if (entry is PaxTarEntry pax)
            {
                foreach (var (key, value) in pax.ExtendedAttributes)
                {
                    if (!key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
                    {
                        continue;
                    }
                    var xattr = key["SCHILY.xattr.".Length..];
                    // An archive must never forge overlayfs metadata in a snapshot directory.
                    if (xattr.StartsWith("trusted.overlay.", StringComparison.Ordinal))
                    {
                        continue;
                    }
                    var bytes = System.Text.Encoding.UTF8.GetBytes(value);
                    if (bytes.Length > options.MaxXattrSize)
                    {
                        throw BerthException.InvalidArgument($"layer entry \"{entry.Name}\" has an xattr {xattr} of {bytes.Length} bytes, more than {options.MaxXattrSize}");
                    }
                    Check(Fs.SetXattr($"/proc/self/fd/{pfd}/{name}", xattr, bytes), "setxattr " + xattr, display);
                }
            }
            var mtime = entry.ModificationTime;
            if (entry.EntryType == TarEntryType.Directory)
            {
                _dirTimes.Add((path, mtime));
            }
            else
            {
                var atime = entry is GnuTarEntry gnu && gnu.AccessTime != default ? gnu.AccessTime : mtime;
                Check(Fs.SetTimes(pfd, name, atime, mtime, Fs.AT_SYMLINK_NOFOLLOW), "utimensat", display);
            }
        }

        private void ApplyRootMetadata(TarEntry entry)
        {
            if (!options.IgnoreOwners)
            {
                Check(Fs.fchownat(Fs.AT_FDCWD, root, (uint)entry.Uid, (uint)entry.Gid, Fs.AT_SYMLINK_NOFOLLOW), "lchown", root);
            }
            Check(Fs.fchmodat(Fs.AT_FDCWD, root, (uint)entry.Mode & 0xfff, 0), "chmod", root);
            _dirTimes.Add(("", entry.ModificationTime));
        }

        /// <summary>An O_PATH fd of a directory inside the root (created with parents when asked), or -1 when it does not exist.</summary>
        private int OpenParent(string parent, bool create)
        {
            if (_cachedParent == parent && _cachedFd >= 0)
            {
                return _cachedFd;
            }
            InvalidateCache();
            var fd = Fs.OpenInRoot(_rootFd, parent.Length == 0 ? "." : parent, Fs.O_PATH | Fs.O_DIRECTORY);
            if (fd < 0)
            {
                var errno = Fs.Errno;
                if (errno != Fs.ENOENT || !create)
                {
                    if (errno == Fs.ENOENT)
                    {
                        return -1;
                    }
                    throw Fs.Error("openat2", "/" + parent, errno);
                }
                CreateParents(parent);
                fd = Fs.OpenInRoot(_rootFd, parent, Fs.O_PATH | Fs.O_DIRECTORY);
                if (fd < 0)
                {
                    throw Fs.Error("openat2", "/" + parent, Fs.Errno);
                }
            }
            _cachedParent = parent;
            _cachedFd = fd;
            return fd;
        }

        /// <summary>
        /// mkdir -p inside the root. A dangling symlink on the way is followed the way the kernel would follow it
        /// with the root as "/", and the directories it names are created inside the root.
        /// </summary>
        private void CreateParents(string parent, int depth = 0)
        {
            if (depth > 40)
            {
                throw Fs.Error("mkdir", "/" + parent, Fs.ELOOP);
            }
            var parts = parent.Split('/');
            var prefix = "";
            for (var i = 0; i < parts.Length; i++)
            {
                var part = parts[i];
                var next = Join(prefix, part);
                var fd = Fs.OpenInRoot(_rootFd, next, Fs.O_PATH | Fs.O_DIRECTORY);
                if (fd >= 0)
                {
                    Fs.close(fd);
                    prefix = next;
                    continue;
                }
                if (Fs.Errno != Fs.ENOENT)
                {
                    throw Fs.Error("openat2", "/" + next, Fs.Errno);
                }
                var pfd = Fs.OpenInRoot(_rootFd, prefix.Length == 0 ? "." : prefix, Fs.O_PATH | Fs.O_DIRECTORY);
                Check(pfd, "openat2", "/" + prefix);
                try
                {
                    if (Fs.TryStat(pfd, part, out var st) && st.Type == Fs.S_IFLNK)
                    {
                        var target = Fs.ReadLink(pfd, part) ?? throw Fs.Error("readlink", "/" + next, Fs.Errno);
                        var at = target.StartsWith('/') ? target : Join(InRootPath(pfd), target);
                        CreateParents(CleanContained(at), depth + 1);
                    }
                    else if (Fs.mkdirat(pfd, part, 0x1ed) != 0)
                    {
                        if (Fs.Errno != Fs.EEXIST)
                        {
                            throw Fs.Error("mkdir", "/" + next, Fs.Errno);
                        }
                    }
                    else
                    {
                        CopyLowerMetadata(pfd, part, next);
                    }
                }
                finally
                {
                    Fs.close(pfd);
                }
                prefix = next;
            }
        }

        private void CopyLowerMetadata(int pfd, string name, string path)
        {
            foreach (var lower in options.LowerDirectories ?? [])
            {
                var lowerRoot = Fs.openat(Fs.AT_FDCWD, lower, Fs.O_PATH | Fs.O_DIRECTORY | Fs.O_CLOEXEC, 0);
                if (lowerRoot < 0)
                {
                    continue;
                }
                try
                {
                    var fd = Fs.OpenInRoot(lowerRoot, path, Fs.O_PATH | Fs.O_NOFOLLOW);
                    if (fd < 0)
                    {
                        continue;
                    }
                    var found = Fs.TryStat(fd, "", out var st);
                    Fs.close(fd);
                    if (!found || !st.IsDirectory)
                    {
                        return; // a whiteout or a file hides anything further down
                    }
                    Fs.fchownat(pfd, name, st.Uid, st.Gid, Fs.AT_SYMLINK_NOFOLLOW);
                    Fs.fchmodat(pfd, name, st.Mode & 0xfff, 0);
                    var mtime = DateTimeOffset.FromUnixTimeSeconds(st.MtimeSec).AddTicks(st.MtimeNsec / 100);
                    _dirTimes.Add((path, mtime));
                    return;
                }
                finally
                {
                    Fs.close(lowerRoot);
                }
            }
        }

        /// <summary>Where an fd inside the root really is, relative to the root.</summary>
        private string InRootPath(int fd)
        {
            var real = Fs.ReadLink(Fs.AT_FDCWD, $"/proc/self/fd/{fd}") ?? throw Fs.Error("readlink", $"/proc/self/fd/{fd}", Fs.Errno);
            var rootReal = _rootReal ??= Fs.ReadLink(Fs.AT_FDCWD, $"/proc/self/fd/{_rootFd}")!;
            if (real == rootReal)
            {
                return "";
            }
            return real.StartsWith(rootReal + "/", StringComparison.Ordinal) ? real[(rootReal.Length + 1)..] : "";
        }

        private string? _rootReal;

        /// <summary>Cleans a path with ".." stopping at the root, as path resolution inside a chroot does.</summary>
        private static string CleanContained(string path)
        {
            var parts = new List<string>();
            foreach (var part in path.Split('/'))
            {
                if (part.Length == 0 || part == ".")
                {
                    continue;
                }
                if (part == "..")
                {
                    if (parts.Count > 0)
                    {
                        parts.RemoveAt(parts.Count - 1);
                    }
                    continue;
                }
                parts.Add(part);
            }
            return string.Join('/', parts);
        }

        private void RemoveAt(int pfd, string parent, string name)
        {
            if (!Fs.TryStat(pfd, name, out var st))
            {
                return;
            }
            if (st.IsDirectory)
            {
                // Recursive delete does not follow symlinks; the path goes through the already-resolved parent fd.
                Directory.Delete($"/proc/self/fd/{pfd}/{name}", recursive: true);
            }
            else
            {
                Check(Fs.unlinkat(pfd, name, 0), "unlink", "/" + Join(parent, name));
            }
            _written.Remove(Join(parent, name));
            InvalidateCache();
        }

        private void InvalidateCache()
        {
            if (_cachedFd >= 0)
            {
                Fs.close(_cachedFd);
            }
            _cachedFd = -1;
            _cachedParent = null;
        }

        private static void Check(int rc, string call, string path)
        {
            if (rc < 0)
            {
                throw Fs.Error(call, path, Fs.Errno);
            }
        }

        public void Dispose()
        {
            InvalidateCache();
            Fs.close(_rootFd);
        }
    }

    internal static (string Parent, string Name) Split(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash < 0 ? ("", path) : (path[..slash], path[(slash + 1)..]);
    }

    internal static string Join(string parent, string name) => parent.Length == 0 ? name : parent + "/" + name;
}
