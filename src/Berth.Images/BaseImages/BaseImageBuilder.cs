using System.Diagnostics;
using System.Formats.Tar;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Formats;
using Berth.Images.Layers;
using Berth.Oci.Image;

namespace Berth.Images.BaseImages;

/// <summary>
/// Base images made on this machine, without a registry: <c>busybox</c> from the host's static busybox, and
/// Debian with debootstrap (from the Debian mirror apt uses).
/// </summary>
public static class BaseImageBuilder
{
    private const string DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>
    /// One layer: /bin/busybox (the host's, must be static), a symlink per applet (<c>busybox --list-full</c>),
    /// minimal /etc/passwd and /etc/group, and the usual empty directories. Reproducible: the same busybox gives
    /// the same image ID. Returns the manifest descriptor (platform set).
    /// </summary>
    public static async Task<Descriptor> BuildBusyboxAsync(IContentStore store, string busybox = "/bin/busybox", CancellationToken cancellationToken = default)
    {
        if (!File.Exists(busybox))
        {
            throw BerthException.NotFound($"{busybox} not found; install the busybox-static package (apt-get install busybox-static)");
        }
        var applets = (await RunAsync(busybox, ["--list-full"], cancellationToken).ConfigureAwait(false))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(a => a != "bin/busybox" && !a.Contains("..", StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        if (applets.Count == 0)
        {
            throw BerthException.FailedPrecondition($"{busybox} --list-full listed no applets; is it busybox?");
        }
        var time = new DateTimeOffset(File.GetLastWriteTimeUtc(busybox));
        var temp = Path.Combine(Path.GetTempPath(), "berth-busybox-" + Guid.NewGuid().ToString("N") + ".tar.gz");
        try
        {
            LayerWriteResult layer;
            await using (var file = File.Create(temp))
            {
                layer = WriteBusyboxLayer(file, busybox, applets, time);
            }
            ContentInfo blob;
            await using (var file = File.OpenRead(temp))
            {
                blob = await store.WriteAsync(file, layer.Size, layer.Digest, new Dictionary<string, string> { [ContentLabels.UncompressedDigest] = layer.DiffId.ToString() }, cancellationToken).ConfigureAwait(false);
            }
            var version = (await RunAsync(busybox, [], cancellationToken, allowFailure: true).ConfigureAwait(false)).Split('\n').FirstOrDefault() ?? "busybox";
            var config = new ImageConfig
            {
                Created = time,
                Architecture = Platform.Host.Architecture,
                Os = "linux",
                Config = new ContainerConfig { Env = [DefaultPath], Cmd = ["sh"] },
                RootFs = new RootFs { DiffIds = [layer.DiffId] },
                History = [new HistoryEntry { Created = time, CreatedBy = $"berth: busybox from the host ({version.Trim()})", Comment = "built without a registry" }],
            };
            return await ImageWriter.WriteImageAsync(store, config, [new Descriptor { MediaType = MediaTypes.OciLayerGzip, Digest = blob.Digest, Size = blob.Size }], cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private static LayerWriteResult WriteBusyboxLayer(Stream output, string busybox, IReadOnlyList<string> applets, DateTimeOffset time)
    {
        using var compressed = new DigestingWriteStream(output);
        Digest diffId;
        long size;
        using (var gzip = LayerStreams.Compress(compressed, LayerCompression.Gzip))
        {
            using var plain = new DigestingWriteStream(gzip);
            using (var tar = new TarWriter(plain, TarEntryFormat.Pax, leaveOpen: true))
            {
                var dirs = new SortedSet<string>(StringComparer.Ordinal) { "bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr", "var", "var/spool", "var/spool/mail", "var/www" };
                foreach (var applet in applets)
                {
                    for (var parent = Path.GetDirectoryName(applet); !string.IsNullOrEmpty(parent); parent = Path.GetDirectoryName(parent))
                    {
                        dirs.Add(parent);
                    }
                }
                foreach (var dir in dirs)
                {
                    var mode = dir switch { "tmp" => 0x3ff, "root" => 0x1c0, _ => 0x1ed };
                    tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, dir + "/") { Mode = (UnixFileMode)mode, ModificationTime = time });
                }
                using (var data = File.OpenRead(busybox))
                {
                    tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "bin/busybox") { Mode = (UnixFileMode)0x1ed, ModificationTime = time, DataStream = data });
                }
                foreach (var applet in applets)
                {
                    tar.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, applet) { LinkName = "/bin/busybox", Mode = (UnixFileMode)0x1ff, ModificationTime = time });
                }
                void Text(string name, string text) => tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name)
                {
                    Mode = (UnixFileMode)0x1a4,
                    ModificationTime = time,
                    DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)),
                });
                Text("etc/passwd", "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n");
                Text("etc/group", "root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n");
                Text("etc/shadow", "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n");
            }
            plain.Flush();
            diffId = plain.GetDigest();
            size = plain.BytesWritten;
        }
        compressed.Flush();
        return new LayerWriteResult(diffId, size, compressed.GetDigest(), compressed.BytesWritten, LayerCompression.Gzip, 0);
    }

    /// <summary>
    /// A Debian rootfs from debootstrap (variant minbase) as a one-layer image. Needs root, the debootstrap package
    /// and the Debian mirror; takes minutes.
    /// </summary>
    public static async Task<Descriptor> BuildDebianAsync(IContentStore store, string suite = "bookworm", string mirror = "http://deb.debian.org/debian", string? workDirectory = null, CancellationToken cancellationToken = default)
    {
        if (!File.Exists("/usr/sbin/debootstrap"))
        {
            throw BerthException.NotFound("debootstrap not found; apt-get install debootstrap");
        }
        var work = workDirectory ?? Path.Combine(Path.GetTempPath(), "berth-debootstrap-" + Guid.NewGuid().ToString("N"));
        var rootfs = Path.Combine(work, "rootfs");
        try
        {
            await RunAsync("/usr/sbin/debootstrap", ["--variant=minbase", suite, rootfs, mirror], cancellationToken).ConfigureAwait(false);
            // Caches and logs are not part of a base image.
            foreach (var dir in new[] { "var/cache/apt/archives", "var/lib/apt/lists", "var/log" })
            {
                var full = Path.Combine(rootfs, dir);
                if (Directory.Exists(full))
                {
                    foreach (var f in Directory.EnumerateFiles(full, "*", SearchOption.AllDirectories))
                    {
                        File.Delete(f);
                    }
                }
            }
            var blobPath = Path.Combine(work, "layer.tar.gz");
            LayerWriteResult layer;
            await using (var file = File.Create(blobPath))
            {
                layer = await LayerWriter.WriteAsync(rootfs, file, new LayerWriteOptions(), cancellationToken).ConfigureAwait(false);
            }
            ContentInfo blob;
            await using (var file = File.OpenRead(blobPath))
            {
                blob = await store.WriteAsync(file, layer.Size, layer.Digest, new Dictionary<string, string> { [ContentLabels.UncompressedDigest] = layer.DiffId.ToString() }, cancellationToken).ConfigureAwait(false);
            }
            var now = DateTimeOffset.UtcNow;
            var config = new ImageConfig
            {
                Created = now,
                Architecture = Platform.Host.Architecture,
                Os = "linux",
                Config = new ContainerConfig { Env = [DefaultPath], Cmd = ["bash"] },
                RootFs = new RootFs { DiffIds = [layer.DiffId] },
                History = [new HistoryEntry { Created = now, CreatedBy = $"berth: debootstrap --variant=minbase {suite}" }],
            };
            return await ImageWriter.WriteImageAsync(store, config, [new Descriptor { MediaType = MediaTypes.OciLayerGzip, Digest = blob.Digest, Size = blob.Size }], cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (workDirectory is null && Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    private static async Task<string> RunAsync(string file, IReadOnlyList<string> args, CancellationToken cancellationToken, bool allowFailure = false)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi) ?? throw BerthException.FailedPrecondition($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = p.StandardError.ReadToEndAsync(cancellationToken);
        await p.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (p.ExitCode != 0 && !allowFailure)
        {
            throw new BerthException(ErrorCode.Internal, $"{file} {string.Join(' ', args)} exited with {p.ExitCode}: {(await stderr.ConfigureAwait(false)).Trim()}");
        }
        return await stdout.ConfigureAwait(false);
    }
}
