using Berth.Core;
using Berth.Images.BaseImages;
using Berth.Images.Content;
using Berth.Images.Formats;
using Berth.Images.Store;
using Berth.Oci.Image;
using Berth.Testing;

namespace Berth.Images.Tests;

public sealed class ImageStoreTests : IDisposable
{
    private readonly TempDirectory _temp = new("berth-images");
    private readonly LocalContentStore _content;
    private readonly ImageStore _images;

    public ImageStoreTests()
    {
        _content = new LocalContentStore(_temp.Combine("content"));
        _images = new ImageStore(_content, null, _temp.Combine("state"));
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Busybox_from_the_host_is_tagged_inspected_and_has_history()
    {
        var manifest = await BaseImageBuilder.BuildBusyboxAsync(_content);
        await _images.TagAsync("busybox", manifest);

        var image = await _images.InspectAsync("docker.io/library/busybox:latest");
        Assert.Equal(["busybox:latest"], image.RepoTags);
        Assert.Equal(["sh"], image.Config.Config!.Cmd);
        Assert.Single(image.ManifestDocument.Layers);
        Assert.Equal(image.Id, (await _images.InspectAsync(image.Id.Encoded[..12])).Id);
        var history = await _images.HistoryAsync("busybox");
        Assert.Contains("busybox from the host", history[0].CreatedBy, StringComparison.Ordinal);
        Assert.Equal(image.Id.ToString(), history[0].Id);

        // Same host busybox, same image: the build is reproducible.
        Assert.Equal(manifest.Digest, (await BaseImageBuilder.BuildBusyboxAsync(_content)).Digest);
    }

    [Fact]
    public async Task Tags_untag_and_remove()
    {
        var manifest = await ImageFixture.ImageFromTarsAsync(_content, [new TestTar().File("a", "a").ToArray()]);
        await _images.TagAsync("app:v1", manifest);
        await _images.TagAsync("localhost:5000/app:v1", manifest);
        Assert.Equal(2, (await _images.ListAsync()).Count);
        Assert.Equal(2, (await _images.InspectAsync("app:v1")).RepoTags.Count);

        await _images.UntagAsync("app:v1");
        var e = await Assert.ThrowsAsync<BerthException>(() => _images.InspectAsync("app:v1"));
        Assert.Equal(ErrorCode.NotFound, e.Code);
        Assert.Contains("no such image: app:v1", e.Message, StringComparison.Ordinal);

        var conflict = await Assert.ThrowsAsync<BerthException>(() => _images.RemoveAsync("localhost:5000/app:v1", inUse: _ => true));
        Assert.Equal(ErrorCode.Conflict, conflict.Code);
        Assert.Equal(["localhost:5000/app:v1"], await _images.RemoveAsync("localhost:5000/app:v1"));
        Assert.Empty(await _images.ListAsync());
        await Assert.ThrowsAsync<BerthException>(() => _images.TagAsync("Bad Name", manifest));
    }

    [Fact]
    public async Task Untagged_images_are_found_by_id_survive_gc_and_leave_when_tagged_or_removed()
    {
        var kept = await ImageFixture.ImageFromTarsAsync(_content, [new TestTar().File("kept", "k").ToArray()]);
        var dropped = await ImageFixture.ImageFromTarsAsync(_content, [new TestTar().File("dropped", "d").ToArray()]);
        await _images.KeepUntaggedAsync(kept);
        await _images.KeepUntaggedAsync(kept);
        Assert.Equal([kept.Digest], (await _images.ListUntaggedAsync()).Select(d => d.Digest));
        Assert.Empty(await _images.ListAsync());

        var image = await _images.InspectAsync(kept.Digest.Encoded[..12]);
        Assert.Empty(image.RepoTags);
        var id = image.Id;
        Assert.Equal(id, (await _images.InspectAsync(id.ToString())).Id);

        // GC keeps the untagged image's blobs and drops the other, unreferenced one.
        var gc = await _images.GarbageCollectAsync();
        Assert.Contains(dropped.Digest, gc.RemovedBlobs);
        Assert.DoesNotContain(kept.Digest, gc.RemovedBlobs);
        Assert.True(await _content.ExistsAsync(id));

        // Naming it ends its untagged life; removing the name then leaves nothing to find.
        await _images.TagAsync("named:1", kept);
        Assert.Empty(await _images.ListUntaggedAsync());
        await _images.RemoveAsync("named:1");

        // Removing an untagged image by ID.
        await _images.KeepUntaggedAsync(kept);
        Assert.Equal([id.ToString()], await _images.RemoveAsync(id.Encoded[..12]));
        Assert.Empty(await _images.ListUntaggedAsync());
        var e = await Assert.ThrowsAsync<BerthException>(() => _images.InspectAsync(id.ToString()));
        Assert.Equal(ErrorCode.NotFound, e.Code);
    }

    [Fact]
    public async Task Garbage_collection_keeps_named_and_leased_content_and_removes_the_rest()
    {
        var kept = await ImageFixture.ImageFromTarsAsync(_content, [new TestTar().File("kept", "k").ToArray()]);
        var dropped = await ImageFixture.ImageFromTarsAsync(_content, [new TestTar().File("dropped", "d").ToArray()]);
        var leased = await _content.WriteBytesAsync("leased blob"u8.ToArray());
        await _images.TagAsync("kept", kept);
        var keptBlobs = await ImageResolver.ReachableAsync(_content, kept.Digest);
        var droppedBlobs = await ImageResolver.ReachableAsync(_content, dropped.Digest);
        Assert.Equal(3, keptBlobs.Count);

        GcResult result;
        using (_images.Lease([leased.Digest]))
        {
            result = await _images.GarbageCollectAsync();
        }
        Assert.Equal(droppedBlobs.Order(), result.RemovedBlobs.Order());
        foreach (var d in keptBlobs)
        {
            Assert.True(await _content.ExistsAsync(d));
        }
        Assert.True(await _content.ExistsAsync(leased.Digest));

        result = await _images.GarbageCollectAsync();
        Assert.Equal([leased.Digest], result.RemovedBlobs);

        await _images.UntagAsync("kept");
        result = await _images.GarbageCollectAsync();
        Assert.Equal(3, result.RemovedBlobs.Count);
    }

    [Fact]
    public async Task Platform_selection_picks_linux_amd64_by_default_and_honours_an_override()
    {
        var amd64 = await ImageFixture.ImageFromTarsAsync(_content, [new TestTar().File("arch", "amd64").ToArray()], Platform.LinuxAmd64);
        var arm64 = await ImageFixture.ImageFromTarsAsync(_content, [new TestTar().File("arch", "arm64").ToArray()], Platform.Parse("linux/arm64/v8"));
        var index = await ImageWriter.WriteIndexAsync(_content, [arm64, amd64]);
        await _images.TagAsync("multi", index);

        Assert.Equal(amd64.Digest, (await _images.InspectAsync("multi")).Manifest.Digest);
        Assert.Equal(arm64.Digest, (await _images.InspectAsync("multi", Platform.Parse("linux/arm64"))).Manifest.Digest);
        Assert.Equal(arm64.Digest, (await _images.InspectAsync("multi", Platform.Parse("linux/aarch64"))).Manifest.Digest);
        var e = await Assert.ThrowsAsync<BerthException>(() => _images.InspectAsync("multi", Platform.Parse("linux/s390x")));
        Assert.Contains("no manifest for linux/s390x; it has: linux/arm64/v8, linux/amd64", e.Message, StringComparison.Ordinal);

        var list = await ImageWriter.WriteIndexAsync(_content, [await ImageWriter.ConvertAsync(_content, amd64, toDocker: true) with { Platform = Platform.LinuxAmd64 }], docker: true);
        await _images.TagAsync("dockerlist", list);
        var viaList = await _images.InspectAsync("dockerlist");
        Assert.Equal(MediaTypes.DockerManifest, viaList.ManifestDocument.MediaType);
        Assert.Equal(MediaTypes.DockerLayerGzip, viaList.ManifestDocument.Layers[0].MediaType);
        Assert.Equal(MediaTypes.DockerConfig, viaList.ManifestDocument.Config.MediaType);
    }

    [Fact]
    public async Task Oci_layout_round_trips_through_write_and_import()
    {
        var manifest = await ImageFixture.ImageFromTarsAsync(_content, ImageFixture.DifferentialLayers());
        var layout = _temp.Combine("layout");
        await OciLayout.WriteAsync(layout, _content, [(manifest, "v1")]);
        Assert.Equal("{\"imageLayoutVersion\":\"1.0.0\"}", File.ReadAllText(Path.Combine(layout, "oci-layout")));

        var other = new LocalContentStore(_temp.Combine("other"));
        var imported = await OciLayout.ImportAsync(layout, other);
        Assert.Equal("v1", Assert.Single(imported).RefName);
        Assert.Equal(manifest.Digest, imported[0].Target.Digest);
        Assert.Equal((await ImageResolver.ReachableAsync(_content, manifest.Digest)).Order(), (await ImageResolver.ReachableAsync(other, manifest.Digest)).Order());

        // A corrupted blob in a layout is refused and not stored.
        var store3 = new LocalContentStore(_temp.Combine("third"));
        var layer = (await _content.ReadJsonAsync(manifest.Digest, ImageJsonContext.Default.ImageManifest)).Layers[0].Digest;
        var blob = Path.Combine(layout, "blobs", "sha256", layer.Encoded);
        var bytes = File.ReadAllBytes(blob);
        bytes[^10] ^= 0xff;
        File.WriteAllBytes(blob, bytes);
        var e = await Assert.ThrowsAsync<BerthException>(() => OciLayout.ImportAsync(layout, store3));
        Assert.Contains(layer.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Null(await store3.InfoAsync(layer));
    }

    [Fact]
    public async Task Docker_archive_export_then_import_keeps_the_image_id_and_tags()
    {
        var manifest = await ImageFixture.ImageFromTarsAsync(_content, ImageFixture.DifferentialLayers());
        var archive = _temp.Combine("image.tar");
        await using (var file = File.Create(archive))
        {
            await DockerArchive.ExportAsync(file, _content, [(manifest, ["app:v1", "localhost:5000/app:v2"])]);
        }
        var other = new LocalContentStore(_temp.Combine("other"));
        IReadOnlyList<DockerArchive.ImportedImage> imported;
        await using (var file = File.OpenRead(archive))
        {
            imported = await DockerArchive.ImportAsync(file, other);
        }
        var image = Assert.Single(imported);
        Assert.Equal(["app:v1", "localhost:5000/app:v2"], image.RepoTags);
        var original = await _content.ReadJsonAsync(manifest.Digest, ImageJsonContext.Default.ImageManifest);
        var copy = await other.ReadJsonAsync(image.Manifest.Digest, ImageJsonContext.Default.ImageManifest);
        Assert.Equal(original.Config.Digest, copy.Config.Digest);
        Assert.Equal(3, copy.Layers.Count);
    }

    [Fact]
    public async Task A_docker_archive_without_manifest_json_is_refused()
    {
        var tar = new TestTar().File("abc.json", "{}").ToStream();
        var e = await Assert.ThrowsAsync<BerthException>(() => DockerArchive.ImportAsync(tar, _content));
        Assert.Contains("manifest.json is missing", e.Message, StringComparison.Ordinal);
    }
}
