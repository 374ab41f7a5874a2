using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Formats;
using Berth.Images.Layers;
using Berth.Oci.Image;

namespace Berth.Images.Tests;

internal static class ImageFixture
{
    /// <summary>Stores each tar as a gzip layer and writes config + manifest for them.</summary>
    public static async Task<Descriptor> ImageFromTarsAsync(IContentStore store, IReadOnlyList<byte[]> tars, Platform? platform = null, bool docker = false, LayerCompression compression = LayerCompression.Gzip)
    {
        var layers = new List<Descriptor>();
        var diffIds = new List<Digest>();
        foreach (var tar in tars)
        {
            using var compressed = new MemoryStream();
            using (var c = LayerStreams.Compress(compressed, compression))
            {
                c.Write(tar);
            }
            var info = await store.WriteBytesAsync(compressed.ToArray());
            layers.Add(new Descriptor { MediaType = docker ? MediaTypes.DockerLayerFor(compression) : MediaTypes.OciLayerFor(compression), Digest = info.Digest, Size = info.Size });
            diffIds.Add(Digest.Compute(tar));
        }
        platform ??= Platform.LinuxAmd64;
        var config = new ImageConfig
        {
            Architecture = platform.Architecture,
            Os = platform.Os,
            Variant = platform.Variant,
            Created = TestTar.Time,
            Config = new ContainerConfig { Cmd = ["sh"], Env = ["PATH=/bin"] },
            RootFs = new RootFs { DiffIds = diffIds },
            History = tars.Select((_, i) => new HistoryEntry { Created = TestTar.Time, CreatedBy = "layer " + i }).Append(new HistoryEntry { CreatedBy = "CMD [\"sh\"]", EmptyLayer = true }).ToList(),
        };
        return await ImageWriter.WriteImageAsync(store, config, layers, docker);
    }

    /// <summary>Several layers exercising whiteouts, opaque dirs, hardlinks, symlinks, special modes and owners.</summary>
    public static IReadOnlyList<byte[]> DifferentialLayers() =>
    [
        new TestTar()
            .Dir("etc/", 0x1ed).File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").File("etc/shadow", "root:*::\n", 0x1a0, 0, 42)
            .Dir("usr/", 0x1ed).Dir("usr/bin/", 0x1ed).File("usr/bin/su", "suid binary", 0x9ed).File("usr/bin/wall", "sgid", 0x5ed, 0, 5)
            .Dir("tmp/", 0x3ff).Dir("var/", 0x1ed).Dir("var/cache/", 0x1ed).File("var/cache/a", "a").File("var/cache/b", "b")
            .Dir("home/", 0x1ed).Dir("home/u/", 0x1c0, 1000, 1000).File("home/u/.profile", "export X=1\n", 0x1a4, 1000, 1000)
            .Symlink("bin", "usr/bin").Symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
            .HardLink("usr/bin/su2", "usr/bin/su")
            .File("old", "to be whited out").Dir("gone/").File("gone/x", "x")
            .ToArray(),
        new TestTar()
            .File(".wh.old", "").File(".wh.gone", "")
            .Dir("var/cache/", 0x1ed).File("var/cache/.wh..wh..opq", "").File("var/cache/c", "fresh")
            .File("etc/passwd", "root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n")
            .File("usr/bin/tool", "tool v2", 0x1ed, 0, 0).HardLink("usr/bin/tool-link", "usr/bin/tool")
            .Dir("opt/", 0x1ed, 1000, 1000).File("opt/data", "d", 0x1b4, 1000, 100)
            .ToArray(),
        new TestTar()
            .File("home/u/.wh..profile", "").File("home/u/new", "n", 0x180, 1000, 1000)
            .Symlink("opt/link", "../etc/passwd").Dir("srv/", 0x3ed)
            .ToArray(),
    ];
}
