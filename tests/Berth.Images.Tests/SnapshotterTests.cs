using System.Formats.Tar;
using Berth.Core;
using Berth.Images.BaseImages;
using Berth.Images.Content;
using Berth.Images.Layers;
using Berth.Images.Snapshots;
using Berth.Images.Store;
using Berth.Testing;

namespace Berth.Images.Tests;

[Trait(Traits.Category, Traits.Privileged)]
public sealed class SnapshotterTests : IDisposable
{
    private readonly TempDirectory _temp = new("berth-snap");
    private readonly LocalContentStore _content;
    private readonly OverlaySnapshotter _snapshots;
    private readonly ImageStore _images;
    private readonly List<string> _mounted = [];

    public SnapshotterTests()
    {
        Privileged.Require();
        _content = new LocalContentStore(_temp.Combine("content"));
        _snapshots = new OverlaySnapshotter(_temp.Combine("overlay"));
        _images = new ImageStore(_content, _snapshots, _temp.Combine("state"));
    }

    public void Dispose()
    {
        foreach (var m in _mounted)
        {
            Interop.MountCalls.umount2(m, Interop.MountCalls.MNT_DETACH);
        }
        _temp.Dispose();
    }

    private string MountAt(IReadOnlyList<SnapshotMount> mounts, string name)
    {
        var target = Directory.CreateDirectory(_temp.Combine(name)).FullName;
        SnapshotMounter.Mount(mounts, target);
        _mounted.Add(target);
        return target;
    }

    private void Unmount(string target)
    {
        SnapshotMounter.Unmount(target);
        _mounted.Remove(target);
        Assert.DoesNotContain(target, File.ReadAllText("/proc/self/mountinfo"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_container_rootfs_is_the_image_an_init_layer_and_a_writable_layer()
    {
        await _images.TagAsync("busybox", await BaseImageBuilder.BuildBusyboxAsync(_content));
        var mounts = await _images.PrepareContainerAsync("c1", "busybox", new InitFiles("web", "127.0.0.1 localhost web\n", "nameserver 10.0.0.53\n"));
        var overlay = Assert.Single(mounts);
        Assert.Equal("overlay", overlay.Type);
        Assert.Contains(overlay.Options, o => o.StartsWith("upperdir=", StringComparison.Ordinal));
        Assert.Contains(overlay.Options, o => o.StartsWith("workdir=", StringComparison.Ordinal));
        Assert.Contains(overlay.Options, o => o.StartsWith("lowerdir=" + _snapshots.Root + "/l/", StringComparison.Ordinal));

        var rootfs = MountAt(mounts, "rootfs");
        Assert.True(File.Exists(Path.Combine(rootfs, "bin/busybox")));
        Assert.Equal("/bin/busybox", new FileInfo(Path.Combine(rootfs, "bin/sh")).LinkTarget);
        Assert.Equal("web\n", File.ReadAllText(Path.Combine(rootfs, "etc/hostname")));
        Assert.Equal("nameserver 10.0.0.53\n", File.ReadAllText(Path.Combine(rootfs, "etc/resolv.conf")));
        Assert.StartsWith("root:x:0:0", File.ReadAllText(Path.Combine(rootfs, "etc/passwd")), StringComparison.Ordinal);

        // Writes land in the container's own layer; the shared image snapshot is untouched.
        File.WriteAllText(Path.Combine(rootfs, "tmp/written"), "by the container");
        File.Delete(Path.Combine(rootfs, "etc/group"));
        Unmount(rootfs);

        var image = await _images.InspectAsync("busybox");
        var imageSnapshot = (await _snapshots.StatAsync(image.ChainIds[^1].ToString()))!;
        Assert.Equal(SnapshotKind.Committed, imageSnapshot.Kind);
        Assert.True(File.Exists(Path.Combine(_snapshots.UpperDirectory(imageSnapshot), "etc/group")));
        var upper = _snapshots.UpperDirectory((await _snapshots.StatAsync("c1"))!);
        Assert.Equal("by the container", File.ReadAllText(Path.Combine(upper, "tmp/written")));

        // Committing the container's diff gives a layer with the write and a whiteout for the delete.
        using var layer = new MemoryStream();
        LayerWriter.Write(upper, layer, new LayerWriteOptions { OverlayUpper = true, Compression = Oci.Image.LayerCompression.None });
        layer.Position = 0;
        var names = new List<string>();
        using (var reader = new TarReader(layer))
        {
            while (reader.GetNextEntry() is { } e)
            {
                names.Add(e.Name);
            }
        }
        Assert.Contains("tmp/written", names);
        Assert.Contains("etc/.wh.group", names);

        // A second container shares the image snapshot: no new committed layer for it.
        var before = await CountAsync(SnapshotKind.Committed);
        await _images.PrepareContainerAsync("c2", "busybox", new InitFiles("c2", "", ""));
        Assert.Equal(before + 1, await CountAsync(SnapshotKind.Committed)); // only c2's init layer

        // GC keeps everything in use; removing the containers and the name frees it all.
        Assert.Empty((await _images.GarbageCollectAsync()).RemovedSnapshots);
        await _images.RemoveContainerAsync("c1");
        await _images.RemoveContainerAsync("c2");
        Assert.Empty((await _images.GarbageCollectAsync()).RemovedSnapshots);
        await _images.UntagAsync("busybox");
        var gc = await _images.GarbageCollectAsync();
        Assert.Equal([image.ChainIds[^1].ToString()], gc.RemovedSnapshots);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_snapshots.Root, "l")));
    }

    [Fact]
    public async Task An_image_of_130_layers_mounts_despite_the_page_sized_mount_data_limit()
    {
        var tars = Enumerable.Range(0, 130).Select(i => new TestTar().Dir("layers/").File($"layers/{i:D3}", $"layer {i}").File("top", $"from {i}").ToArray()).ToList();
        var manifest = await ImageFixture.ImageFromTarsAsync(_content, tars);
        await _images.TagAsync("tall", manifest);
        var mounts = await _images.PrepareContainerAsync("tall-1", "tall", new InitFiles("tall", "", ""));
        var options = string.Join(',', Assert.Single(mounts).Options);
        Assert.True(options.Length > 4096, $"the mount data is {options.Length} bytes; the test needs more than a page");

        var rootfs = MountAt(mounts, "tall-rootfs");
        Assert.Equal(130, Directory.GetFiles(Path.Combine(rootfs, "layers")).Length);
        Assert.Equal("from 129", File.ReadAllText(Path.Combine(rootfs, "top")));
        Unmount(rootfs);
    }

    [Fact]
    public async Task Whiteouts_and_opaque_directories_hide_lower_layers_in_the_mounted_view()
    {
        var manifest = await ImageFixture.ImageFromTarsAsync(_content, ImageFixture.DifferentialLayers());
        await _images.TagAsync("diff", manifest);
        var mounts = await _images.PrepareContainerAsync("d1", "diff", new InitFiles("d1", "", ""));
        var rootfs = MountAt(mounts, "diff-rootfs");
        Assert.False(File.Exists(Path.Combine(rootfs, "old")));
        Assert.False(Directory.Exists(Path.Combine(rootfs, "gone")));
        Assert.Equal(["c"], Directory.GetFiles(Path.Combine(rootfs, "var/cache")).Select(Path.GetFileName));
        Assert.False(File.Exists(Path.Combine(rootfs, "home/u/.profile")));

        var flat = _temp.Combine("flat");
        await Formats.ImageUnpacker.UnpackAsync(_content, (await _images.InspectAsync("diff")).ManifestDocument, flat);
        var mounted = TreeSnapshot.Take(rootfs);
        mounted.Remove("etc/hostname");
        mounted.Remove("etc/hosts");
        mounted.Remove("etc/resolv.conf");
        var expected = TreeSnapshot.Take(flat);
        // The init layer's /etc copy-up is the only difference allowed (etc's own mtime/mode are kept by overlay).
        Assert.Equal("", TreeSnapshot.Diff(expected, mounted));
        Unmount(rootfs);
    }

    [Fact]
    public async Task Snapshot_rules_are_enforced_with_clear_errors()
    {
        await _snapshots.PrepareAsync("a", null);
        var e = await Assert.ThrowsAsync<BerthException>(() => _snapshots.PrepareAsync("b", "a"));
        Assert.Contains("only committed snapshots can be parents", e.Message, StringComparison.Ordinal);
        await _snapshots.CommitAsync("base", "a");
        await _snapshots.PrepareAsync("b", "base");
        var busy = await Assert.ThrowsAsync<BerthException>(() => _snapshots.RemoveAsync("base"));
        Assert.Equal(ErrorCode.FailedPrecondition, busy.Code);
        Assert.Contains("parent of b", busy.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<BerthException>(() => _snapshots.PrepareAsync("b", "base"));
        await _snapshots.RemoveAsync("b");
        await _snapshots.RemoveAsync("base");
    }

    private async Task<int> CountAsync(SnapshotKind kind)
    {
        var n = 0;
        await foreach (var s in _snapshots.WalkAsync())
        {
            if (s.Kind == kind)
            {
                n++;
            }
        }
        return n;
    }
}
