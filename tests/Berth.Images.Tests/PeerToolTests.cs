using System.Diagnostics;
using Berth.Images.BaseImages;
using Berth.Images.Content;
using Berth.Images.Formats;
using Berth.Images.Store;
using Berth.Oci.Image;
using Berth.Testing;

namespace Berth.Images.Tests;

/// <summary>Differential and round-trip tests against the real peers: umoci, skopeo, podman.</summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class PeerToolTests : IDisposable
{
    private readonly TempDirectory _temp = new("berth-peers");
    private readonly LocalContentStore _content;
    private readonly ImageStore _images;

    public PeerToolTests()
    {
        Privileged.Require();
        _content = new LocalContentStore(_temp.Combine("content"));
        _images = new ImageStore(_content, null, _temp.Combine("state"));
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Umoci_and_berth_unpack_the_same_image_to_identical_trees()
    {
        var manifest = await ImageFixture.ImageFromTarsAsync(_content, ImageFixture.DifferentialLayers());
        var layout = _temp.Combine("layout");
        await OciLayout.WriteAsync(layout, _content, [(manifest, "diff")]);

        var bundle = _temp.Combine("bundle");
        Run("umoci", "unpack", "--image", layout + ":diff", bundle);
        var berth = _temp.Combine("berth-rootfs");
        await ImageUnpacker.UnpackAsync(_content, await _content.ReadJsonAsync(manifest.Digest, ImageJsonContext.Default.ImageManifest), berth);

        var expected = TreeSnapshot.Take(Path.Combine(bundle, "rootfs"));
        var actual = TreeSnapshot.Take(berth);
        Assert.True(expected.Count > 20, "the image should have a realistic number of entries");
        Assert.Equal("", TreeSnapshot.Diff(expected, actual));
        // Spot checks that the comparison covers what it claims to.
        Assert.StartsWith("f 04755 0:0", actual["usr/bin/su"], StringComparison.Ordinal);
        Assert.StartsWith("d 01777", actual["tmp"], StringComparison.Ordinal);
        Assert.DoesNotContain("old", actual.Keys);
        Assert.Equal(["var/cache", "var/cache/c"], actual.Keys.Where(k => k.StartsWith("var/cache", StringComparison.Ordinal)));
        Assert.Equal(Inode(Path.Combine(berth, "usr/bin/tool")), Inode(Path.Combine(berth, "usr/bin/tool-link")));
    }

    [Fact]
    public async Task Umoci_agrees_on_the_busybox_image_berth_builds()
    {
        var manifest = await BaseImageBuilder.BuildBusyboxAsync(_content);
        var layout = _temp.Combine("layout");
        await OciLayout.WriteAsync(layout, _content, [(manifest, "latest")]);
        var bundle = _temp.Combine("bundle");
        Run("umoci", "unpack", "--image", layout + ":latest", bundle);
        var berth = _temp.Combine("berth-rootfs");
        await ImageUnpacker.UnpackAsync(_content, await _content.ReadJsonAsync(manifest.Digest, ImageJsonContext.Default.ImageManifest), berth);
        Assert.Equal("", TreeSnapshot.Diff(TreeSnapshot.Take(Path.Combine(bundle, "rootfs")), TreeSnapshot.Take(berth)));
        Assert.Contains("BusyBox", Run(Path.Combine(berth, "bin/busybox"), "--help", allowFailure: true), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Skopeo_inspects_and_copies_a_layout_berth_wrote_and_berth_imports_the_copy()
    {
        var manifest = await BaseImageBuilder.BuildBusyboxAsync(_content);
        var layout = _temp.Combine("layout");
        await OciLayout.WriteAsync(layout, _content, [(manifest, "latest")]);

        var inspect = Run("skopeo", "inspect", "oci:" + layout + ":latest");
        Assert.Contains("\"Architecture\": \"amd64\"", inspect, StringComparison.Ordinal);
        Assert.Contains(manifest.Digest.ToString(), inspect, StringComparison.Ordinal);

        var archive = _temp.Combine("busybox.tar");
        Run("skopeo", "copy", "oci:" + layout + ":latest", "docker-archive:" + archive + ":busybox:latest");
        var other = new LocalContentStore(_temp.Combine("imported"));
        IReadOnlyList<DockerArchive.ImportedImage> imported;
        await using (var file = File.OpenRead(archive))
        {
            imported = await DockerArchive.ImportAsync(file, other);
        }
        var image = Assert.Single(imported);
        Assert.Equal("docker.io/library/busybox:latest", Berth.Core.ImageReference.Parse(Assert.Single(image.RepoTags)).ToString());
        var original = await _content.ReadJsonAsync(manifest.Digest, ImageJsonContext.Default.ImageManifest);
        var copy = await other.ReadJsonAsync(image.Manifest.Digest, ImageJsonContext.Default.ImageManifest);
        Assert.Equal(original.Config.Digest, copy.Config.Digest);

        var a = _temp.Combine("a");
        var b = _temp.Combine("b");
        await ImageUnpacker.UnpackAsync(_content, original, a);
        await ImageUnpacker.UnpackAsync(other, copy, b);
        Assert.Equal("", TreeSnapshot.Diff(TreeSnapshot.Take(a), TreeSnapshot.Take(b)));

        // And back: skopeo reads the docker-archive Berth writes.
        var ours = _temp.Combine("ours.tar");
        await using (var file = File.Create(ours))
        {
            await DockerArchive.ExportAsync(file, other, [(image.Manifest, ["busybox:latest"])]);
        }
        var back = _temp.Combine("back");
        Run("skopeo", "copy", "docker-archive:" + ours, "oci:" + back + ":latest");
        var reimported = await OciLayout.ImportAsync(back, new LocalContentStore(_temp.Combine("back-store")));
        Assert.Equal("latest", Assert.Single(reimported).RefName);
        Assert.Contains("\"Os\": \"linux\"", Run("skopeo", "inspect", "docker-archive:" + ours), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Podman_loads_the_archive_berth_saves_and_berth_imports_what_podman_saves()
    {
        var manifest = await BaseImageBuilder.BuildBusyboxAsync(_content);
        var saved = _temp.Combine("berth-save.tar");
        await using (var file = File.Create(saved))
        {
            await DockerArchive.ExportAsync(file, _content, [(manifest, ["localhost/bb:v1"])]);
        }
        var storage = new[] { "--root", _temp.Combine("podman-root"), "--runroot", _temp.Combine("podman-run"), "--storage-driver", "vfs" };
        Run("podman", [.. storage, "load", "-i", saved]);
        var podmanSaved = _temp.Combine("podman-save.tar");
        Run("podman", [.. storage, "save", "--format", "docker-archive", "-o", podmanSaved, "localhost/bb:v1"]);

        var other = new LocalContentStore(_temp.Combine("imported"));
        await using var input = File.OpenRead(podmanSaved);
        var image = Assert.Single(await DockerArchive.ImportAsync(input, other));
        Assert.Contains("localhost/bb:v1", image.RepoTags);
        var images = new ImageStore(other, null, _temp.Combine("state2"));
        await images.TagAsync(image.RepoTags[0], image.Manifest);
        var details = await images.InspectAsync("localhost/bb:v1");
        Assert.Equal((await _content.ReadJsonAsync(manifest.Digest, ImageJsonContext.Default.ImageManifest)).Config.Digest, details.Id);
        var rootfs = _temp.Combine("podman-rootfs");
        await ImageUnpacker.UnpackAsync(other, details.ManifestDocument, rootfs);
        Assert.Equal("hello from the imported image", Run("chroot", rootfs, "/bin/sh", "-c", "echo hello from the imported image"));
    }

    internal static string Run(string file, params string[] args) => Run(file, args, allowFailure: false);

    internal static string Run(string file, string[] args, bool allowFailure = false)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(allowFailure || p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}: {error}");
        return output.Result.Trim() + (allowFailure ? error : "");
    }

    private static string Run(string file, string arg, bool allowFailure) => Run(file, [arg], allowFailure);

    private static string Inode(string path) => Run("stat", "-c", "%i", path);
}
