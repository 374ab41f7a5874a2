using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using Berth.Core;
using Berth.Images.Layers;
using Berth.Oci.Image;
using Berth.Testing;

namespace Berth.Images.Tests;

[Trait(Traits.Category, Traits.Privileged)]
public sealed class LayerApplyTests : IDisposable
{
    private readonly TempDirectory _temp = new("berth-layer");

    public LayerApplyTests() => Privileged.Require();

    public void Dispose() => _temp.Dispose();

    private string Root => _temp.Combine("rootfs");

    private static byte[] Everything() => new TestTar()
        .Dir("bin/", 0x1ed)
        .File("bin/tool", "#!/bin/sh\necho tool\n", 0x9ed, uid: 0, gid: 0)          // 04755 setuid
        .File("bin/grouped", "g", 0x5ed, uid: 0, gid: 50)                             // 02755 setgid
        .Dir("tmp/", 0x3ff)                                                           // 01777 sticky
        .Dir("home/user/", 0x1c0, uid: 1000, gid: 1000)
        .File("home/user/notes", "private", 0x180, uid: 1000, gid: 1000, xattrs: new Dictionary<string, string> { ["user.origin"] = "layer-test" })
        .Symlink("bin/sh", "/bin/busybox")
        .Symlink("home/relative", "user/notes")
        .HardLink("bin/tool2", "bin/tool")
        .Device("dev/null", TarEntryType.CharacterDevice, 1, 3)
        .Device("dev/loop9", TarEntryType.BlockDevice, 7, 9, 0x1b0)
        .Fifo("run/fifo")
        .ToArray();

    [Fact]
    public void Applies_files_directories_links_devices_with_owners_modes_and_xattrs()
    {
        var tar = Everything();
        var result = LayerApplier.Apply(new MemoryStream(tar), Root);

        Assert.Equal(Digest.Compute(tar), result.DiffId);
        Assert.Equal(tar.Length, result.UncompressedSize);
        var tree = TreeSnapshot.Take(Root);
        Assert.StartsWith("f 04755 0:0 ", tree["bin/tool"], StringComparison.Ordinal);
        Assert.StartsWith("f 02755 0:50 ", tree["bin/grouped"], StringComparison.Ordinal);
        Assert.StartsWith("d 01777 ", tree["tmp"], StringComparison.Ordinal);
        Assert.StartsWith("d 0700 1000:1000", tree["home/user"], StringComparison.Ordinal);
        Assert.StartsWith("f 0600 1000:1000 7 ", tree["home/user/notes"], StringComparison.Ordinal);
        Assert.Contains(" /bin/busybox", tree["bin/sh"], StringComparison.Ordinal);
        Assert.StartsWith("l ", tree["home/relative"], StringComparison.Ordinal);
        Assert.StartsWith("c 0666 ", tree["dev/null"], StringComparison.Ordinal);
        Assert.EndsWith("dev=1:3", tree["dev/null"], StringComparison.Ordinal);
        Assert.StartsWith("b 0660 ", tree["dev/loop9"], StringComparison.Ordinal);
        Assert.StartsWith("p ", tree["run/fifo"], StringComparison.Ordinal);
        Assert.Equal(Inode(Path.Combine(Root, "bin/tool")), Inode(Path.Combine(Root, "bin/tool2")));
        Assert.Equal("layer-test", Run("getfattr", "--only-values", "-n", "user.origin", Path.Combine(Root, "home/user/notes")));
        Assert.Equal(TestTar.Time, new DateTimeOffset(File.GetLastWriteTimeUtc(Path.Combine(Root, "home/user/notes"))));
        Assert.Equal(TestTar.Time, new DateTimeOffset(Directory.GetLastWriteTimeUtc(Path.Combine(Root, "home/user"))));
    }

    [Theory]
    [InlineData(LayerCompression.Gzip)]
    [InlineData(LayerCompression.Zstd)]
    public void Compressed_layers_unpack_to_the_same_tree_and_diff_id(LayerCompression compression)
    {
        var tar = Everything();
        using var compressed = new MemoryStream();
        using (var c = LayerStreams.Compress(compressed, compression))
        {
            c.Write(tar);
        }
        Assert.NotEqual(tar.Length, compressed.Length);
        var plainRoot = _temp.Combine("plain");
        LayerApplier.Apply(new MemoryStream(tar), plainRoot);
        var result = LayerApplier.Apply(new MemoryStream(compressed.ToArray()), Root);
        Assert.Equal(Digest.Compute(tar), result.DiffId);
        Assert.Equal("", TreeSnapshot.Diff(TreeSnapshot.Take(plainRoot), TreeSnapshot.Take(Root)));
    }

    [Fact]
    public void Whiteouts_remove_lower_files_and_opaque_dirs_hide_lower_contents()
    {
        LayerApplier.Apply(new TestTar().Dir("a/").File("a/x", "x").File("a/y", "y").Dir("a/sub/").File("a/sub/z", "z").File("b", "b").Dir("c/").File("c/keep", "k").ToStream(), Root);
        LayerApplier.Apply(new TestTar().File("a/.wh..wh..opq", "").File("a/new", "n").File(".wh.b", "").File("c/.wh.keep", "").File("c/added", "a").ToStream(), Root);

        Assert.Equal(["a", "a/new", "c", "c/added"], TreeSnapshot.Take(Root).Keys);
    }

    [Fact]
    public void Overlay_mode_turns_whiteouts_into_overlayfs_whiteouts()
    {
        LayerApplier.Apply(new TestTar().Dir("a/").File("a/.wh..wh..opq", "").File("a/new", "n").File(".wh.b", "").ToStream(), Root, new LayerApplyOptions { Whiteouts = WhiteoutMode.OverlayFs });

        var tree = TreeSnapshot.Take(Root);
        Assert.StartsWith("c 0", tree["b"], StringComparison.Ordinal);
        Assert.EndsWith("dev=0:0", tree["b"], StringComparison.Ordinal);
        Assert.Equal("y", Run("getfattr", "--only-values", "-n", "trusted.overlay.opaque", Path.Combine(Root, "a")));
    }

    [Fact]
    public void An_archive_cannot_forge_overlayfs_xattrs()
    {
        LayerApplier.Apply(new TestTar().File("f", "x", xattrs: new Dictionary<string, string> { ["trusted.overlay.opaque"] = "y", ["user.ok"] = "1" }).ToStream(), Root, new LayerApplyOptions { Whiteouts = WhiteoutMode.OverlayFs });
        Assert.DoesNotContain("trusted.overlay", Run("getfattr", "-d", "-m", "-", Path.Combine(Root, "f")), StringComparison.Ordinal);
    }

    [Fact]
    public void A_later_layer_replaces_a_directory_with_a_file_and_back()
    {
        LayerApplier.Apply(new TestTar().Dir("x/").File("x/inner", "1").File("y", "file").ToStream(), Root);
        LayerApplier.Apply(new TestTar().File("x", "now a file").Dir("y/").File("y/inner", "2").ToStream(), Root);
        var tree = TreeSnapshot.Take(Root);
        Assert.StartsWith("f ", tree["x"], StringComparison.Ordinal);
        Assert.StartsWith("d ", tree["y"], StringComparison.Ordinal);
        Assert.Equal("2", File.ReadAllText(Path.Combine(Root, "y/inner")));
    }

    // ---- hostile archives: each case rejected or contained ----

    [Fact]
    public void Dot_dot_climbing_out_of_the_root_is_rejected()
    {
        var outside = _temp.Combine("escaped");
        var e = Assert.Throws<BerthException>(() => LayerApplier.Apply(new TestTar().File("../escaped", "pwned").ToStream(), Root));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Contains("outside the root", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(outside));
    }

    [Fact]
    public void Absolute_paths_are_contained_in_the_root()
    {
        var outside = _temp.Combine("abs-target");
        LayerApplier.Apply(new TestTar().File(outside, "contained").ToStream(), Root);
        Assert.False(File.Exists(outside));
        Assert.Equal("contained", File.ReadAllText(Root + outside));
    }

    [Fact]
    public void Writes_through_a_symlink_pointing_outside_stay_inside_the_root()
    {
        var outside = Directory.CreateDirectory(_temp.Combine("outside")).FullName;
        LayerApplier.Apply(new TestTar().Symlink("escape", outside).File("escape/file", "contained").Symlink("rel", "../../../../..").File("rel/tmp-file", "also contained").ToStream(), Root);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        Assert.Equal("contained", File.ReadAllText(Root + outside + "/file"));
        Assert.Equal("also contained", File.ReadAllText(Path.Combine(Root, "tmp-file")));
    }

    [Fact]
    public void A_symlink_planted_in_an_earlier_layer_cannot_redirect_a_later_layer()
    {
        var outside = Directory.CreateDirectory(_temp.Combine("outside2")).FullName;
        LayerApplier.Apply(new TestTar().Symlink("etc", outside).ToStream(), Root);
        LayerApplier.Apply(new TestTar().File("etc/passwd", "root:x:0:0").ToStream(), Root);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        Assert.True(File.Exists(Root + outside + "/passwd"));
    }

    [Fact]
    public void Whiteouts_cannot_delete_through_a_symlink_to_outside()
    {
        var outside = Directory.CreateDirectory(_temp.Combine("outside4")).FullName;
        File.WriteAllText(Path.Combine(outside, "precious"), "keep");
        Directory.CreateDirectory(Path.Combine(outside, "dir"));
        File.WriteAllText(Path.Combine(outside, "dir", "inner"), "keep");
        LayerApplier.Apply(new TestTar().Symlink("out", outside).Symlink("rel", "../../../../../../../" + outside.TrimStart('/')).ToStream(), Root);
        LayerApplier.Apply(new TestTar().File("out/.wh.precious", "").File("rel/.wh.precious", "").File("out/dir/.wh..wh..opq", "").ToStream(), Root);
        Assert.Equal("keep", File.ReadAllText(Path.Combine(outside, "precious")));
        Assert.Equal("keep", File.ReadAllText(Path.Combine(outside, "dir", "inner")));
    }

    [Fact]
    public void Hardlinks_to_outside_the_root_are_rejected()
    {
        var secret = _temp.Combine("secret");
        File.WriteAllText(secret, "host secret");
        var up = Assert.Throws<BerthException>(() => LayerApplier.Apply(new TestTar().HardLink("steal", "../secret").ToStream(), Root));
        Assert.Contains("outside the root", up.Message, StringComparison.Ordinal);
        var abs = Assert.Throws<BerthException>(() => LayerApplier.Apply(new TestTar().HardLink("steal", secret).ToStream(), Root));
        Assert.Contains("does not contain", abs.Message, StringComparison.Ordinal);
        var viaLink = Assert.Throws<BerthException>(() => LayerApplier.Apply(new TestTar().Symlink("out", _temp.Path).HardLink("steal", "out/secret").ToStream(), Root));
        Assert.Contains("does not contain", viaLink.Message, StringComparison.Ordinal);
        Assert.Equal(1, LinkCount(secret));
    }

    [Fact]
    public void A_hardlink_to_a_symlink_links_the_symlink_itself()
    {
        LayerApplier.Apply(new TestTar().Symlink("ln", "/etc/shadow").HardLink("ln2", "ln").ToStream(), Root);
        Assert.Equal("/etc/shadow", new FileInfo(Path.Combine(Root, "ln2")).LinkTarget);
    }

    [Fact]
    public void A_directory_swapped_for_a_symlink_mid_archive_is_contained()
    {
        var outside = Directory.CreateDirectory(_temp.Combine("outside3")).FullName;
        var tar = new TestTar().Dir("d/").File("d/first", "1").Symlink("d", outside).File("d/second", "2").ToStream();
        LayerApplier.Apply(tar, Root);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        Assert.Equal("2", File.ReadAllText(Root + outside + "/second"));
        Assert.Equal(outside, new FileInfo(Path.Combine(Root, "d")).LinkTarget);
    }

    [Fact]
    public void A_huge_pax_header_is_rejected_without_exhausting_memory()
    {
        // A PAX extended header claiming 1 GiB of records, followed by a little data.
        var header = UstarHeader("PaxHeaders/evil", 'x', 1L << 30);
        var before = GC.GetTotalMemory(false);
        var e = Assert.Throws<BerthException>(() => LayerApplier.Apply(new MemoryStream([.. header, .. new byte[1 << 20]]), Root));
        Assert.Contains("claims", e.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.True(GC.GetTotalMemory(false) - before < (256L << 20));
    }

    [Fact]
    public void An_overlong_entry_name_is_rejected()
    {
        var name = string.Join('/', Enumerable.Repeat(new string('n', 200), 30));
        var e = Assert.Throws<BerthException>(() => LayerApplier.Apply(new TestTar().File(name, "x").ToStream(), Root));
        Assert.Contains("longer than 4096", e.Message, StringComparison.Ordinal);
        var gnuLongName = UstarHeader("././@LongLink", 'L', 64L << 20);
        var g = Assert.Throws<BerthException>(() => LayerApplier.Apply(new MemoryStream([.. gnuLongName, .. new byte[4096]]), Root));
        Assert.Contains("claims", g.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_layer_is_rejected()
    {
        var tar = Everything();
        using var gz = new MemoryStream();
        using (var c = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            c.Write(tar);
        }
        var cut = gz.ToArray()[..(int)(gz.Length / 2)];
        Assert.ThrowsAny<Exception>(() => LayerApplier.Apply(new MemoryStream(cut), Root));
    }

    [Fact]
    public void A_directory_written_as_a_layer_unpacks_to_the_same_tree()
    {
        LayerApplier.Apply(new MemoryStream(Everything()), Root);
        using var layer = new MemoryStream();
        var written = LayerWriter.Write(Root, layer, new LayerWriteOptions { Compression = LayerCompression.Zstd });
        Assert.Equal(layer.Length, written.Size);
        Assert.Equal(Digest.Compute(layer.ToArray()), written.Digest);

        var copy = _temp.Combine("copy");
        layer.Position = 0;
        var applied = LayerApplier.Apply(layer, copy);
        Assert.Equal(written.DiffId, applied.DiffId);
        Assert.Equal("", TreeSnapshot.Diff(TreeSnapshot.Take(Root), TreeSnapshot.Take(copy)));
        Assert.Equal(Inode(Path.Combine(copy, "bin/tool")), Inode(Path.Combine(copy, "bin/tool2")));
        Assert.Equal("layer-test", Run("getfattr", "--only-values", "-n", "user.origin", Path.Combine(copy, "home/user/notes")));

        // The same tree gives the same layer (stable order, no timestamps of its own).
        using var again = new MemoryStream();
        Assert.Equal(written.DiffId, LayerWriter.Write(Root, again, new LayerWriteOptions { Compression = LayerCompression.None }).DiffId);
    }

    [Fact]
    public void Chain_ids_follow_the_image_spec_formula()
    {
        var a = Digest.Compute("a"u8);
        var b = Digest.Compute("b"u8);
        var c = Digest.Compute("c"u8);
        var ab = Digest.Compute(System.Text.Encoding.UTF8.GetBytes($"{a} {b}"));
        var abc = Digest.Compute(System.Text.Encoding.UTF8.GetBytes($"{ab} {c}"));
        Assert.Equal(a, LayerStreams.ChainId([a]));
        Assert.Equal(abc, LayerStreams.ChainId([a, b, c]));
        Assert.Equal([a, ab, abc], LayerStreams.ChainIds([a, b, c]));
    }

    internal static byte[] UstarHeader(string name, char type, long size)
    {
        var h = new byte[512];
        System.Text.Encoding.ASCII.GetBytes(name).CopyTo(h, 0);
        System.Text.Encoding.ASCII.GetBytes("0000644\0").CopyTo(h, 100);
        System.Text.Encoding.ASCII.GetBytes("0000000\0").CopyTo(h, 108);
        System.Text.Encoding.ASCII.GetBytes("0000000\0").CopyTo(h, 116);
        System.Text.Encoding.ASCII.GetBytes(Convert.ToString(size, 8).PadLeft(11, '0') + "\0").CopyTo(h, 124);
        System.Text.Encoding.ASCII.GetBytes("00000000000\0").CopyTo(h, 136);
        h[156] = (byte)type;
        System.Text.Encoding.ASCII.GetBytes("ustar\0").CopyTo(h, 257);
        System.Text.Encoding.ASCII.GetBytes("00").CopyTo(h, 263);
        for (var i = 148; i < 156; i++)
        {
            h[i] = (byte)' ';
        }
        var sum = h.Sum(b => (int)b);
        System.Text.Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(h, 148);
        return h;
    }

    internal static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}: {error}");
        return output.Trim();
    }

    private static string Inode(string path) => Run("stat", "-c", "%i", path);

    private static int LinkCount(string path) => int.Parse(Run("stat", "-c", "%h", path), System.Globalization.CultureInfo.InvariantCulture);
}
