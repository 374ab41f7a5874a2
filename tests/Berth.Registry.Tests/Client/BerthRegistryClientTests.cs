using System.Net;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Distribution;
using Berth.Images.Formats;
using Berth.Images.Store;
using Berth.Oci.Image;
using Berth.Testing;
using CoreDigest = Berth.Core.Digest;

namespace Berth.Registry.Tests.Client;

/// <summary>The registry client (Berth.Images.Distribution) against Berth's own registry, hosted in-process on loopback.</summary>
public sealed class BerthRegistryClientTests
{
    [Fact]
    [Trait(Traits.Category, Traits.Privileged)]
    public async Task Busybox_pushed_then_pulled_into_a_fresh_store_has_the_same_digests_and_unpacks()
    {
        Privileged.Require();
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var source = ClientKit.Store(temp, "a");
        var pushed = await ClientKit.BusyboxAsync(source);
        var pushLog = new ProgressLog();
        using (var client = ClientKit.Client(source))
        {
            var result = await client.PushAsync("busybox:latest", $"{registry.HostPort}/library/busybox:1", progress: pushLog);
            Assert.Equal(pushed.Digest, result.Target.Digest);
            Assert.True(result.BytesUploaded > 0);
        }
        Assert.True(pushLog.Any(TransferStatus.Pushed));

        var target = ClientKit.Store(temp, "b");
        var pullLog = new ProgressLog();
        using var puller = ClientKit.Client(target);
        var pulled = await puller.PullAsync($"{registry.HostPort}/library/busybox:1", progress: pullLog);
        Assert.Equal(pushed.Digest, pulled.Target.Digest);
        Assert.True(pulled.Downloaded);
        var image = await target.InspectAsync($"{registry.HostPort}/library/busybox:1");
        var original = await source.InspectAsync("busybox:latest");
        Assert.Equal(original.Id, image.Id);
        Assert.Equal(original.Config.RootFs.DiffIds, image.Config.RootFs.DiffIds);
        foreach (var layer in image.ManifestDocument.Layers)
        {
            Assert.Equal([TransferStatus.Waiting, TransferStatus.Downloading, TransferStatus.Verifying, TransferStatus.Done],
                pullLog.StatusesOf(layer.Digest).Distinct().ToList());
            Assert.Equal(layer.Size, pullLog.Events.Last(e => e.Digest == layer.Digest).Current);
        }

        // The pulled image unpacks to a working busybox tree.
        var rootfs = temp.Combine("rootfs");
        await ImageUnpacker.UnpackAsync(target.Content, image.ManifestDocument, rootfs);
        Assert.True(File.Exists(Path.Combine(rootfs, "bin", "busybox")));

        // A second pull downloads nothing.
        var again = new ProgressLog();
        var second = await puller.PullAsync($"{registry.HostPort}/library/busybox:1", progress: again);
        Assert.False(second.Downloaded);
        Assert.All(image.ManifestDocument.Layers, l => Assert.Contains(TransferStatus.AlreadyExists, again.StatusesOf(l.Digest)));
        Assert.DoesNotContain(TransferStatus.Downloading, again.Events.Select(e => e.Status));

        // By digest: recorded as repo@digest.
        var byDigest = await puller.PullAsync($"{registry.HostPort}/library/busybox@{pushed.Digest}");
        Assert.Equal(pushed.Digest, byDigest.Target.Digest);
        Assert.Contains((await target.ListAsync()).Select(r => r.Name), n => n == $"{registry.HostPort}/library/busybox@{pushed.Digest}");
    }

    [Fact]
    public async Task A_second_push_to_another_repository_mounts_every_blob_and_pushing_again_skips_them()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var store = ClientKit.Store(temp, "a");
        var image = await ClientKit.RandomImageAsync(store, "app:v1", layers: 3);
        using var client = ClientKit.Client(store);
        await client.PushAsync("app:v1", $"{registry.HostPort}/team/app:v1");

        var log = new ProgressLog();
        var second = await client.PushAsync("app:v1", $"{registry.HostPort}/other/app:v1", progress: log);
        Assert.Equal(0, second.BytesUploaded);
        var manifest = await store.Content.ReadJsonAsync(image.Digest, ImageJsonContext.Default.ImageManifest);
        foreach (var blob in manifest.Layers.Prepend(manifest.Config))
        {
            Assert.Contains(TransferStatus.Mounted, log.StatusesOf(blob.Digest));
            using var head = await registry.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/other/app/blobs/{blob.Digest}"));
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        }

        var third = new ProgressLog();
        var again = await client.PushAsync("app:v1", $"{registry.HostPort}/other/app:v1", progress: third);
        Assert.Equal(0, again.BytesUploaded);
        Assert.All(manifest.Layers, l => Assert.Contains(TransferStatus.AlreadyExists, third.StatusesOf(l.Digest)));
    }

    [Fact]
    public async Task Tags_are_pushed_listed_and_copied_remotely()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var store = ClientKit.Store(temp, "a");
        var image = await ClientKit.RandomImageAsync(store, "app:v1");
        using var client = ClientKit.Client(store);
        await client.PushAsync("app:v1", $"{registry.HostPort}/team/app:v1");
        var copied = await client.TagRemoteAsync($"{registry.HostPort}/team/app:v1", "stable");
        Assert.Equal(image.Digest, copied.Digest);
        Assert.Equal(["stable", "v1"], (await client.ListTagsAsync($"{registry.HostPort}/team/app")).Order(StringComparer.Ordinal));

        using var other = ClientKit.Client(ClientKit.Store(temp, "b"));
        var pulled = await other.PullAsync($"{registry.HostPort}/team/app:stable");
        Assert.Equal(image.Digest, pulled.Target.Digest);
    }

    [Fact]
    public async Task An_index_with_two_platforms_pulls_the_default_or_the_asked_platform()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var store = ClientKit.Store(temp, "a");
        var amd64 = await ClientKit.RandomImageAsync(store, "app:amd64", architecture: "amd64");
        var arm64 = await ClientKit.RandomImageAsync(store, "app:arm64", architecture: "arm64");
        var index = await ImageWriter.WriteIndexAsync(store.Content,
        [
            amd64 with { Platform = new Platform { Os = "linux", Architecture = "amd64" } },
            arm64 with { Platform = new Platform { Os = "linux", Architecture = "arm64", Variant = "v8" } },
        ]);
        await store.TagAsync("app:multi", index);
        using var client = ClientKit.Client(store);
        var pushed = await client.PushAsync("app:multi", $"{registry.HostPort}/team/multi:v1");
        Assert.Equal(index.Digest, pushed.Target.Digest);

        var defaultStore = ClientKit.Store(temp, "b");
        using var defaultClient = ClientKit.Client(defaultStore);
        var pulled = await defaultClient.PullAsync($"{registry.HostPort}/team/multi:v1");
        Assert.Equal(index.Digest, pulled.Target.Digest);
        Assert.Equal(amd64.Digest, pulled.Manifest.Digest);
        Assert.False(await defaultStore.Content.ExistsAsync(arm64.Digest));
        Assert.Equal(amd64.Digest, (await defaultStore.InspectAsync($"{registry.HostPort}/team/multi:v1")).Manifest.Digest);

        var armStore = ClientKit.Store(temp, "c");
        using var armClient = ClientKit.Client(armStore);
        var arm = await armClient.PullAsync($"{registry.HostPort}/team/multi:v1", new PullOptions { Platform = Platform.Parse("linux/arm64") });
        Assert.Equal(arm64.Digest, arm.Manifest.Digest);
        var details = await armStore.InspectAsync($"{registry.HostPort}/team/multi:v1");
        Assert.Equal("arm64", details.Config.Architecture);

        var missing = await Assert.ThrowsAsync<BerthException>(() => armClient.PullAsync($"{registry.HostPort}/team/multi:v1", new PullOptions { Platform = Platform.Parse("linux/s390x") }));
        Assert.Equal(ErrorCode.NotFound, missing.Code);
        Assert.Contains("linux/arm64/v8", missing.Message);

        // Pushing the partly-pulled index back is refused with the fix; one platform can be pushed.
        var partial = await Assert.ThrowsAsync<BerthException>(() => defaultClient.PushAsync($"{registry.HostPort}/team/multi:v1", $"{registry.HostPort}/team/copy:v1"));
        Assert.Contains("--platform", partial.Message);
        var one = await defaultClient.PushAsync($"{registry.HostPort}/team/multi:v1", $"{registry.HostPort}/team/copy:v1", new PushOptions { Platform = Platform.LinuxAmd64 });
        Assert.Equal(amd64.Digest, one.Target.Digest);
    }

    [Fact]
    public async Task Docker_schema2_images_and_chunked_uploads_round_trip()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var store = ClientKit.Store(temp, "a");
        var image = await ClientKit.RandomImageAsync(store, "legacy:v1", layers: 2, layerSize: 600 * 1024, docker: true);
        using var client = ClientKit.Client(store, chunk: 128 * 1024);
        var log = new ProgressLog();
        await client.PushAsync("legacy:v1", $"{registry.HostPort}/team/legacy:v1", progress: log);
        Assert.True(log.Events.Count(e => e.Status == TransferStatus.Pushing) > 4, "chunked uploads report each chunk");

        var target = ClientKit.Store(temp, "b");
        using var puller = ClientKit.Client(target);
        var pulled = await puller.PullAsync($"{registry.HostPort}/team/legacy:v1");
        Assert.Equal(image.Digest, pulled.Target.Digest);
        Assert.Equal(MediaTypes.DockerManifest, pulled.Target.MediaType);
        var manifest = await target.Content.ReadJsonAsync(pulled.Manifest.Digest, ImageJsonContext.Default.ImageManifest);
        Assert.All(manifest.Layers, l => Assert.Equal(MediaTypes.DockerLayerGzip, l.MediaType));
        foreach (var layer in manifest.Layers)
        {
            Assert.Equal(await store.Content.ReadBytesAsync(layer.Digest), await target.Content.ReadBytesAsync(layer.Digest));
        }
    }

    [Fact]
    public async Task Bad_references_and_unknown_manifests_get_clear_errors()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var store = ClientKit.Store(temp, "a");
        await ClientKit.RandomImageAsync(store, "app:v1");
        using var client = ClientKit.Client(store);
        await client.PushAsync("app:v1", $"{registry.HostPort}/team/app:v1");

        var invalid = await Assert.ThrowsAsync<BerthException>(() => client.PullAsync($"{registry.HostPort}/Team/App:v1"));
        Assert.Equal(ErrorCode.InvalidArgument, invalid.Code);
        Assert.Contains("invalid reference format", invalid.Message);
        var badDigest = await Assert.ThrowsAsync<BerthException>(() => client.PullAsync($"{registry.HostPort}/team/app@sha256:abc"));
        Assert.Equal(ErrorCode.InvalidArgument, badDigest.Code);

        var unknownTag = await Assert.ThrowsAsync<BerthException>(() => client.PullAsync($"{registry.HostPort}/team/app:nope"));
        Assert.Equal(ErrorCode.NotFound, unknownTag.Code);
        Assert.StartsWith($"manifest unknown: {registry.HostPort}/team/app:nope", unknownTag.Message);
        var unknownRepo = await Assert.ThrowsAsync<BerthException>(() => client.PullAsync($"{registry.HostPort}/team/none:v1"));
        Assert.StartsWith($"manifest unknown: {registry.HostPort}/team/none:v1", unknownRepo.Message);
        var unknownDigest = CoreDigest.Compute("nothing"u8);
        var byDigest = await Assert.ThrowsAsync<BerthException>(() => client.PullAsync($"{registry.HostPort}/team/app@{unknownDigest}"));
        Assert.Contains(unknownDigest.ToString(), byDigest.Message);
        Assert.Equal(["docker.io/library/app:v1"], (await store.ListAsync()).Select(r => r.Name));

        var missingLocal = await Assert.ThrowsAsync<BerthException>(() => client.PushAsync("nothere:v1", $"{registry.HostPort}/team/x:v1"));
        Assert.Equal(ErrorCode.NotFound, missingLocal.Code);
    }

    [Fact]
    public async Task A_blob_whose_content_does_not_match_its_digest_is_not_stored()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var store = ClientKit.Store(temp, "a");
        var image = await ClientKit.RandomImageAsync(store, "app:v1", layers: 1, layerSize: 200 * 1024);
        using var client = ClientKit.Client(store);
        await client.PushAsync("app:v1", $"{registry.HostPort}/team/app:v1");
        var layer = (await store.Content.ReadJsonAsync(image.Digest, ImageJsonContext.Default.ImageManifest)).Layers[0];

        // Rot one byte of the layer in the registry's storage (same size): the server serves it as it is.
        var blobFile = Directory.EnumerateFiles(registry.Root, "*", SearchOption.AllDirectories)
            .Single(f => f.Contains(layer.Digest.Encoded, StringComparison.Ordinal) && new FileInfo(f).Length == layer.Size);
        await using (var file = new FileStream(blobFile, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = layer.Size / 2;
            var b = file.ReadByte();
            file.Position = layer.Size / 2;
            file.WriteByte((byte)(b ^ 0xff));
        }

        var target = ClientKit.Store(temp, "b");
        using var puller = ClientKit.Client(target);
        var error = await Assert.ThrowsAsync<BerthException>(() => puller.PullAsync($"{registry.HostPort}/team/app:v1"));
        Assert.Equal(ErrorCode.FailedPrecondition, error.Code);
        Assert.Contains(layer.Digest.ToString(), error.Message);
        Assert.Contains("not stored", error.Message);
        Assert.False(await target.Content.ExistsAsync(layer.Digest));
        Assert.False(await target.Content.ExistsAsync(image.Digest));
        Assert.Empty(await target.ListAsync());
        Assert.Empty(Directory.EnumerateFiles(temp.Combine("b", "content", "ingest")));
    }
}
