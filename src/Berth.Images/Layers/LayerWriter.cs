using System.Formats.Tar;
using Berth.Core;
using Berth.Images.Interop;
using Berth.Oci.Image;

namespace Berth.Images.Layers;

public sealed record LayerWriteOptions
{
    public LayerCompression Compression { get; init; } = LayerCompression.Gzip;

    /// <summary>
    /// The directory is an overlayfs upper dir: 0/0 character devices become <c>.wh.</c> whiteout files and
    /// directories marked trusted.overlay.opaque=y get a <c>.wh..wh..opq</c> entry.
    /// </summary>
    public bool OverlayUpper { get; init; }

    /// <summary>When set, no entry gets an mtime later than this (reproducible layers, SOURCE_DATE_EPOCH).</summary>
    public DateTimeOffset? ClampMtime { get; init; }

    /// <summary>A directory path inside the layer under which the directory's contents go (e.g. <c>usr/share</c>); its parents get entries too.</summary>
    public string? Prefix { get; init; }
}

/// <param name="DiffId">Digest of the uncompressed tar (goes into the image config's rootfs.diff_ids).</param>
/// <param name="Digest">Digest of the bytes written to the output (the layer blob's descriptor).</param>
public sealed record LayerWriteResult(Digest DiffId, long UncompressedSize, Digest Digest, long Size, LayerCompression Compression, int Entries)
{
    public string OciMediaType => MediaTypes.OciLayerFor(Compression);
}

/// <summary>Writes a directory (or an overlay upper dir, i.e. a diff) as a layer tar, in a stable order.</summary>
public static class LayerWriter
{
    public static Task<LayerWriteResult> WriteAsync(string directory, Stream output, LayerWriteOptions? options = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Write(directory, output, options, cancellationToken), cancellationToken);

    public static LayerWriteResult Write(string directory, Stream output, LayerWriteOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new LayerWriteOptions();
        var root = Path.GetFullPath(directory);
        if (!Directory.Exists(root))
        {
            throw BerthException.NotFound($"directory {root} not found; cannot make a layer from it");
        }
        using var compressed = new DigestingWriteStream(output, leaveOpen: true);
        int entries;
        long uncompressedSize;
        Digest diffId;
        using (var compressor = LayerStreams.Compress(compressed, options.Compression, leaveOpen: true))
        {
            using var uncompressed = new DigestingWriteStream(compressor, leaveOpen: true);
            using (var tar = new TarWriter(uncompressed, TarEntryFormat.Pax, leaveOpen: true))
            {
                var walker = new Walker(root, options, tar, cancellationToken);
                var prefix = LayerApplier.CleanPath(options.Prefix ?? "", "prefix");
                if (prefix.Length > 0)
                {
                    var parts = prefix.Split('/');
                    for (var i = 1; i <= parts.Length; i++)
                    {
                        tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, string.Join('/', parts[..i]) + "/") { Mode = (UnixFileMode)0x1ed, ModificationTime = DateTimeOffset.UnixEpoch });
                    }
                }
                walker.Prefix = prefix.Length > 0 ? prefix + "/" : "";
                walker.WalkDirectory("");
                entries = walker.Count;
            }
            uncompressed.Flush();
            diffId = uncompressed.GetDigest();
            uncompressedSize = uncompressed.BytesWritten;
        }
        compressed.Flush();
        return new LayerWriteResult(diffId, uncompressedSize, compressed.GetDigest(), compressed.BytesWritten, options.Compression, entries);
    }

    private sealed class Walker(string root, LayerWriteOptions options, TarWriter tar, CancellationToken cancellationToken)
    {
        private readonly Dictionary<(uint, uint, ulong), string> _links = [];

        public int Count { get; private set; }

        public string Prefix { get; set; } = "";

        public void WalkDirectory(string relative)
        {
            var full = relative.Length == 0 ? root : Path.Combine(root, relative);
            var names = Directory.EnumerateFileSystemEntries(full).Select(Path.GetFileName).ToList();
            names.Sort(StringComparer.Ordinal);
            foreach (var name in names)
            {
                cancellationToken.ThrowIfCancellationRequested();
                WriteEntry(relative.Length == 0 ? name! : relative + "/" + name);
            }
        }

        private void WriteEntry(string relative)
        {
            var full = Path.Combine(root, relative);
            if (!Fs.TryStat(Fs.AT_FDCWD, full, out var st))
            {
                throw Fs.Error("statx", full, Fs.Errno);
            }
            var xattrs = Fs.ListXattrs(full);
            if (options.OverlayUpper)
            {
                if (xattrs.Any(x => x.Name is "trusted.overlay.redirect" or "trusted.overlay.metacopy"))
                {
                    throw BerthException.Unsupported($"{full} uses overlayfs redirect_dir/metacopy; mount snapshots without those features to commit them");
                }
                if (st.Type == Fs.S_IFCHR && st.RdevMajor == 0 && st.RdevMinor == 0)
                {
                    var (parent, name) = LayerApplier.Split(relative);
                    Add(new PaxTarEntry(TarEntryType.RegularFile, LayerApplier.Join(parent, ".wh." + name)) { ModificationTime = Mtime(st), Mode = (UnixFileMode)0x1a4 });
                    return;
                }
            }
            var kept = xattrs.Where(x => !x.Name.StartsWith("trusted.overlay.", StringComparison.Ordinal)).ToList();
            var extended = new Dictionary<string, string>();
            foreach (var (name, value) in kept)
            {
                extended["SCHILY.xattr." + name] = System.Text.Encoding.UTF8.GetString(value);
            }
            PaxTarEntry entry;
            switch (st.Type)
            {
                case Fs.S_IFDIR:
                    entry = new PaxTarEntry(TarEntryType.Directory, relative + "/", extended);
                    break;
                case Fs.S_IFREG when st.Nlink > 1 && _links.TryGetValue((st.DevMajor, st.DevMinor, st.Ino), out var first):
                    entry = new PaxTarEntry(TarEntryType.HardLink, relative, extended) { LinkName = first };
                    break;
                case Fs.S_IFREG:
                    if (st.Nlink > 1)
                    {
                        _links[(st.DevMajor, st.DevMinor, st.Ino)] = relative;
                    }
                    entry = new PaxTarEntry(TarEntryType.RegularFile, relative, extended);
                    break;
                case Fs.S_IFLNK:
                    entry = new PaxTarEntry(TarEntryType.SymbolicLink, relative, extended)
                    {
                        LinkName = Fs.ReadLink(Fs.AT_FDCWD, full) ?? throw Fs.Error("readlink", full, Fs.Errno),
                    };
                    break;
                case Fs.S_IFCHR or Fs.S_IFBLK:
                    entry = new PaxTarEntry(st.Type == Fs.S_IFCHR ? TarEntryType.CharacterDevice : TarEntryType.BlockDevice, relative, extended)
                    {
                        DeviceMajor = (int)st.RdevMajor,
                        DeviceMinor = (int)st.RdevMinor,
                    };
                    break;
                case Fs.S_IFIFO:
                    entry = new PaxTarEntry(TarEntryType.Fifo, relative, extended);
                    break;
                default:
                    return; // sockets do not go into layers (as docker does)
            }
            entry.Uid = (int)st.Uid;
            entry.Gid = (int)st.Gid;
            entry.Mode = (UnixFileMode)(st.Mode & 0xfff);
            entry.ModificationTime = Mtime(st);
            if (entry.EntryType == TarEntryType.RegularFile && st.Size > 0)
            {
                using var data = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
                entry.DataStream = data;
                Add(entry);
            }
            else
            {
                Add(entry);
            }
            if (st.Type == Fs.S_IFDIR)
            {
                if (options.OverlayUpper && xattrs.Any(x => x.Name == "trusted.overlay.opaque" && x.Value.AsSpan().SequenceEqual("y"u8)))
                {
                    Add(new PaxTarEntry(TarEntryType.RegularFile, relative + "/.wh..wh..opq") { ModificationTime = Mtime(st), Mode = (UnixFileMode)0x1a4 });
                }
                WalkDirectory(relative);
            }
        }

        private void Add(TarEntry entry)
        {
            if (Prefix.Length > 0)
            {
                entry.Name = Prefix + entry.Name;
                if (entry.EntryType == TarEntryType.HardLink)
                {
                    entry.LinkName = Prefix + entry.LinkName;
                }
            }
            tar.WriteEntry(entry);
            Count++;
        }

        private DateTimeOffset Mtime(Fs.StatInfo st)
        {
            var t = DateTimeOffset.FromUnixTimeSeconds(st.MtimeSec).AddTicks(st.MtimeNsec / 100);
            return options.ClampMtime is { } clamp && t > clamp ? clamp : t;
        }
    }
}
