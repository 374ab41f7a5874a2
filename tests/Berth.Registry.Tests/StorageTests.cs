using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Berth.Testing;

namespace Berth.Registry.Tests;

/// <summary>Garbage collection and crash consistency of the filesystem store.</summary>
public sealed class StorageTests
{
    private const string OciManifest = "application/vnd.oci.image.manifest.v1+json";

    private static Task<RegistryHost> StartAsync(string root, ManualTime? time = null, TimeSpan? grace = null) =>
        RegistryHost.StartAsync(_ => new RegistryOptions
        {
            RootDirectory = root,
            TimeProvider = time ?? (TimeProvider)TimeProvider.System,
            GcGracePeriod = grace ?? TimeSpan.FromHours(1),
            UploadExpiry = TimeSpan.FromHours(24),
        }, root);

    [Fact]
    public async Task Gc_deletes_unreferenced_blobs_only_after_the_grace_period()
    {
        using var temp = new TempDirectory();
        var time = new ManualTime();
        await using var registry = await StartAsync(temp.Combine("root"), time);
        var client = registry.Client;

        var (keep, keepDigest) = await Http.PushImageBlobsAsync(client, "keep", layers: 2);
        await Http.PutManifestAsync(client, "keep", "v1", keep, OciManifest);
        var (drop, dropDigest) = await Http.PushImageBlobsAsync(client, "drop");
        await Http.PutManifestAsync(client, "drop", "v1", drop, OciManifest);
        Assert.Equal(HttpStatusCode.Accepted, (await client.DeleteAsync($"/v2/drop/manifests/{dropDigest}")).StatusCode);
        var orphan = await Http.PushBlobAsync(client, "orphan", RandomNumberGenerator.GetBytes(100));

        var early = registry.Server.Service.CollectGarbage();
        Assert.Equal(0, early.BlobsDeleted);
        Assert.Equal(4, early.BlobsKept); // keep's manifest, config and two layers
        Assert.Equal(4, early.BlobsInGracePeriod); // drop's manifest, config, layer and the orphan

        time.Advance(TimeSpan.FromHours(2));
        var dry = registry.Server.Service.CollectGarbage(dryRun: true);
        Assert.Equal(4, dry.BlobsDeleted);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v2/orphan/blobs/{orphan}")).StatusCode);

        var late = registry.Server.Service.CollectGarbage();
        Assert.Equal(4, late.BlobsDeleted);
        Assert.Equal(4, late.BlobsKept);
        Assert.True(late.BytesFreed > 100);

        await Http.AssertErrorAsync(await client.GetAsync($"/v2/orphan/blobs/{orphan}"), HttpStatusCode.NotFound, "BLOB_UNKNOWN");
        Assert.Equal(keep, await client.GetByteArrayAsync("/v2/keep/manifests/v1"));
        foreach (var layer in JsonNode.Parse(keep)!["layers"]!.AsArray())
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v2/keep/blobs/{layer!["digest"]}")).StatusCode);
        }
        Assert.Matches("berth_registry_gc_blobs_deleted_total 4\n", await client.GetStringAsync("/metrics"));
        Assert.Equal(keepDigest, (await client.GetAsync("/v2/keep/manifests/v1")).Headers.GetValues("Docker-Content-Digest").Single());
    }

    [Fact]
    public async Task A_blob_checked_with_head_survives_gc_until_its_manifest_arrives()
    {
        using var temp = new TempDirectory();
        var time = new ManualTime();
        await using var registry = await StartAsync(temp.Combine("root"), time);
        var client = registry.Client;
        var (manifest, _) = await Http.PushImageBlobsAsync(client, "late");

        // Hours later a client finds the blobs present (HEAD) and skips uploading them...
        time.Advance(TimeSpan.FromHours(3));
        foreach (var digest in JsonNode.Parse(manifest)!["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>())
            .Append(JsonNode.Parse(manifest)!["config"]!["digest"]!.GetValue<string>()))
        {
            using var head = new HttpRequestMessage(HttpMethod.Head, $"/v2/late/blobs/{digest}");
            Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(head)).StatusCode);
        }
        // ...a GC runs before its manifest PUT...
        Assert.Equal(0, registry.Server.Service.CollectGarbage().BlobsDeleted);
        // ...and the manifest still finds every blob.
        Assert.Equal(HttpStatusCode.Created, (await Http.PutManifestAsync(client, "late", "v1", manifest, OciManifest)).StatusCode);
    }

    [Fact]
    public async Task Uploads_in_progress_survive_gc_and_expired_ones_are_removed()
    {
        using var temp = new TempDirectory();
        var time = new ManualTime();
        await using var registry = await StartAsync(temp.Combine("root"), time, grace: TimeSpan.Zero);
        var client = registry.Client;
        var content = RandomNumberGenerator.GetBytes(4000);
        var location = (await client.PostAsync("/v2/up/blobs/uploads/", null)).Headers.Location!.OriginalString;
        await client.PatchAsync(location, Http.Bytes(content[..2000]));
        var stale = (await client.PostAsync("/v2/up/blobs/uploads/", null)).Headers.Location!.OriginalString;

        var result = registry.Server.Service.CollectGarbage();
        Assert.Equal(0, result.UploadsExpired);
        await client.PatchAsync(location, Http.Bytes(content[2000..]));
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync($"{location}?digest={TestImage.Sha256(content)}", null)).StatusCode);

        time.Advance(TimeSpan.FromHours(25));
        Assert.Equal(1, registry.Server.Service.CollectGarbage().UploadsExpired);
        await Http.AssertErrorAsync(await client.GetAsync(stale), HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
    }

    [Fact]
    public async Task Gc_running_in_a_loop_while_skopeo_pushes_never_breaks_an_image()
    {
        using var temp = new TempDirectory();
        await using var registry = await StartAsync(temp.Combine("root"), grace: TimeSpan.FromMinutes(1));
        var images = Enumerable.Range(0, 3).Select(i => TestImage.Create(temp.Combine("src" + i), layers: 3, layerSize: 200_000)).ToList();
        using var stop = new CancellationTokenSource();
        var deleted = 0;
        var runs = 0;
        var gc = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                deleted += registry.Server.Service.CollectGarbage().BlobsDeleted;
                runs++;
                await Task.Delay(20);
            }
        });
        await Task.WhenAll(images.Select((image, i) =>
            Tool.Skopeo("copy", "--dest-tls-verify=false", $"oci:{image.LayoutDir}:latest", $"docker://{registry.HostPort}/gc/app{i}:v1")
                .ContinueWith(t => t.Result.Check("push " + i))));
        await stop.CancelAsync();
        await gc;
        Assert.True(runs > 1);
        Assert.Equal(0, deleted);
        for (var i = 0; i < images.Count; i++)
        {
            var back = temp.Combine("back" + i);
            (await Tool.Skopeo("copy", "--src-tls-verify=false", $"docker://{registry.HostPort}/gc/app{i}:v1", $"oci:{back}:v1")).Check("pull " + i);
            Assert.Equal(images[i].ManifestDigest, TestImage.LayoutManifestDigest(back));
        }
    }

    [Fact]
    public async Task A_restart_after_a_crash_mid_upload_keeps_the_store_consistent()
    {
        using var temp = new TempDirectory();
        var root = temp.Combine("root");
        var content = RandomNumberGenerator.GetBytes(50_000);
        var digest = TestImage.Sha256(content);
        string location;
        await using (var registry = await StartAsync(root))
        {
            location = (await registry.Client.PostAsync("/v2/crash/blobs/uploads/", null)).Headers.Location!.OriginalString;
            using var request = new HttpRequestMessage(HttpMethod.Patch, location) { Content = Http.Bytes(content[..20_000]) };
            request.Content.Headers.TryAddWithoutValidation("Content-Range", "0-19999");
            Assert.Equal(HttpStatusCode.Accepted, (await registry.Client.SendAsync(request)).StatusCode);
        }
        // What a kill -9 between write and rename leaves behind: temp files next to the real names.
        var halfBlob = Path.Combine(root, "blobs", "sha256", digest[7..9], "." + digest[7..] + "." + Guid.NewGuid().ToString("N") + ".tmp");
        Directory.CreateDirectory(Path.GetDirectoryName(halfBlob)!);
        File.WriteAllBytes(halfBlob, content[..1000]);
        var halfTag = Path.Combine(root, "repositories", "crash", "_manifests", "tags", ".v1." + Guid.NewGuid().ToString("N") + ".tmp");
        Directory.CreateDirectory(Path.GetDirectoryName(halfTag)!);
        File.WriteAllText(halfTag, "sha256:");
        File.SetLastWriteTimeUtc(halfBlob, DateTime.UtcNow.AddHours(-2));
        File.SetLastWriteTimeUtc(halfTag, DateTime.UtcNow.AddHours(-2));

        await using (var registry = await StartAsync(root))
        {
            var client = registry.Client;
            using (var head = new HttpRequestMessage(HttpMethod.Head, $"/v2/crash/blobs/{digest}"))
            {
                Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(head)).StatusCode);
            }
            var tags = await client.GetAsync("/v2/crash/tags/list");
            Assert.DoesNotContain("v1", await tags.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            // The session resumes where the data on disk ends.
            var status = await client.GetAsync(location);
            Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
            Assert.Equal("0-19999", status.Headers.GetValues("Range").Single());
            using var request = new HttpRequestMessage(HttpMethod.Patch, location) { Content = Http.Bytes(content[20_000..]) };
            request.Content.Headers.TryAddWithoutValidation("Content-Range", "20000-49999");
            Assert.Equal(HttpStatusCode.Accepted, (await client.SendAsync(request)).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await client.PutAsync($"{location}?digest={digest}", null)).StatusCode);
            Assert.Equal(content, await client.GetByteArrayAsync($"/v2/crash/blobs/{digest}"));

            var gc = registry.Server.Service.CollectGarbage();
            Assert.Equal(2, gc.TempFilesRemoved);
            Assert.False(File.Exists(halfBlob));
            Assert.False(File.Exists(halfTag));
        }
    }
}
