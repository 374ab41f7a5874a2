using System.Net;
using System.Text.Json.Nodes;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Distribution;
using Berth.Images.Formats;
using Berth.Oci.Image;
using Berth.Testing;

namespace Berth.Registry.Tests.Client;

/// <summary>
/// The client against a real peer server, Debian's docker-registry (distribution 2.8), and interop with skopeo:
/// images the client pushes are read by skopeo, and images skopeo pushes are pulled by the client.
/// </summary>
public sealed class PeerInteropTests
{
    [Fact]
    [Trait(Traits.Category, Traits.Privileged)]
    public async Task Distribution_push_pull_mount_tags_and_platforms()
    {
        Privileged.Require();
        using var temp = new TempDirectory();
        await using var distribution = await DistributionHost.StartAsync(temp);
        var store = ClientKit.Store(temp, "a");
        var busybox = await ClientKit.BusyboxAsync(store);
        using var client = ClientKit.Client(store);
        var pushLog = new ProgressLog();
        await client.PushAsync("busybox:latest", $"{distribution.HostPort}/library/busybox:1", progress: pushLog);
        Assert.True(pushLog.Any(TransferStatus.Pushed));

        var fresh = ClientKit.Store(temp, "b");
        using var puller = ClientKit.Client(fresh);
        var pulled = await puller.PullAsync($"{distribution.HostPort}/library/busybox:1");
        Assert.Equal(busybox.Digest, pulled.Target.Digest);
        Assert.Equal((await store.InspectAsync("busybox")).Id, (await fresh.InspectAsync($"{distribution.HostPort}/library/busybox:1")).Id);
        var rootfs = temp.Combine("rootfs");
        await ImageUnpacker.UnpackAsync(fresh.Content, (await fresh.InspectAsync($"{distribution.HostPort}/library/busybox:1")).ManifestDocument, rootfs);
        Assert.True(File.Exists(Path.Combine(rootfs, "bin", "busybox")));

        // Cross-repository mount: distribution answers 201 to ?mount=&from=.
        var mountLog = new ProgressLog();
        var mounted = await puller.PushAsync($"{distribution.HostPort}/library/busybox:1", $"{distribution.HostPort}/other/busybox:1", progress: mountLog);
        Assert.Equal(0, mounted.BytesUploaded);
        Assert.True(mountLog.Any(TransferStatus.Mounted));

        // Chunked upload and tags.
        var random = await ClientKit.RandomImageAsync(store, "app:v1", layers: 2, layerSize: 400 * 1024);
        using (var chunked = ClientKit.Client(store, chunk: 100 * 1024))
        {
            await chunked.PushAsync("app:v1", $"{distribution.HostPort}/team/app:v1");
        }
        await client.TagRemoteAsync($"{distribution.HostPort}/team/app:v1", "v2");
        Assert.Equal(["v1", "v2"], (await client.ListTagsAsync($"{distribution.HostPort}/team/app")).Order(StringComparer.Ordinal));
        Assert.Equal(random.Digest, (await puller.PullAsync($"{distribution.HostPort}/team/app:v2")).Target.Digest);

        // An index with two platforms.
        var arm = await ClientKit.RandomImageAsync(store, "app:arm64", architecture: "arm64");
        var index = await ImageWriter.WriteIndexAsync(store.Content,
        [
            random with { Platform = Platform.LinuxAmd64 },
            arm with { Platform = new Platform { Os = "linux", Architecture = "arm64", Variant = "v8" } },
        ]);
        await store.TagAsync("app:multi", index);
        await client.PushAsync("app:multi", $"{distribution.HostPort}/team/app:multi");
        var armStore = ClientKit.Store(temp, "c");
        using var armClient = ClientKit.Client(armStore);
        var armPulled = await armClient.PullAsync($"{distribution.HostPort}/team/app:multi", new PullOptions { Platform = Platform.Parse("linux/arm64") });
        Assert.Equal(arm.Digest, armPulled.Manifest.Digest);
        var amdPulled = await armClient.PullAsync($"{distribution.HostPort}/team/app:multi");
        Assert.Equal(index.Digest, amdPulled.Target.Digest);
        Assert.Equal(random.Digest, amdPulled.Manifest.Digest);

        var unknown = await Assert.ThrowsAsync<BerthException>(() => puller.PullAsync($"{distribution.HostPort}/team/app:nope"));
        Assert.StartsWith($"manifest unknown: {distribution.HostPort}/team/app:nope", unknown.Message);
    }

    [Fact]
    public async Task Distribution_with_htpasswd_refuses_anonymous_pushes_and_accepts_a_login()
    {
        using var temp = new TempDirectory();
        var htpasswd = temp.Combine("htpasswd");
        (await Tool.RunAsync("htpasswd", ["-B", "-b", "-c", htpasswd, "alice", "wonderland"])).Check("htpasswd");
        await using var distribution = await DistributionHost.StartAsync(temp, htpasswd);
        var store = ClientKit.Store(temp, "a");
        await ClientKit.RandomImageAsync(store, "app:v1");
        var credentials = new CredentialStore(temp.Combine("config.json"));
        using var client = ClientKit.Client(store, credentials);
        var anonymous = await Assert.ThrowsAsync<BerthException>(() => client.PushAsync("app:v1", $"{distribution.HostPort}/team/app:v1"));
        Assert.Equal(ErrorCode.PermissionDenied, anonymous.Code);
        Assert.Contains("berth login", anonymous.Message);
        await Assert.ThrowsAsync<BerthException>(() => client.LoginAsync(distribution.HostPort, new RegistryCredentials("alice", "nope")));
        await client.LoginAsync(distribution.HostPort, new RegistryCredentials("alice", "wonderland"));
        await client.PushAsync("app:v1", $"{distribution.HostPort}/team/app:v1");
        using var puller = ClientKit.Client(ClientKit.Store(temp, "b"), credentials);
        await puller.PullAsync($"{distribution.HostPort}/team/app:v1");
    }

    [Fact]
    public async Task Skopeo_reads_what_the_client_pushed_and_the_client_pulls_what_skopeo_pushed()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        await using var distribution = await DistributionHost.StartAsync(temp);
        var store = ClientKit.Store(temp, "a");
        var image = await ClientKit.RandomImageAsync(store, "app:v1", layers: 3);
        using var client = ClientKit.Client(store);
        foreach (var host in new[] { registry.HostPort, distribution.HostPort })
        {
            await client.PushAsync("app:v1", $"{host}/team/app:v1");
            var inspect = (await Tool.Skopeo("inspect", "--tls-verify=false", $"docker://{host}/team/app:v1")).Check("skopeo inspect");
            var json = JsonNode.Parse(inspect.Stdout)!;
            Assert.Equal(image.Digest.ToString(), json["Digest"]!.GetValue<string>());
            Assert.Equal(3, json["Layers"]!.AsArray().Count);
            var raw = (await Tool.Skopeo("inspect", "--raw", "--tls-verify=false", $"docker://{host}/team/app:v1")).Check("skopeo inspect --raw");
            Assert.Equal(await store.Content.ReadBytesAsync(image.Digest), System.Text.Encoding.UTF8.GetBytes(raw.Stdout.TrimEnd('\n')));
            (await Tool.Skopeo("copy", "--src-tls-verify=false", $"docker://{host}/team/app:v1", $"oci:{temp.Combine("copy-" + host.Replace(':', '_'))}:v1")).Check("skopeo copy");

            // skopeo pushes (as Docker schema 2) and the client pulls it back into a fresh store.
            var layout = TestImage.Create(temp.Combine("layout-" + host.Replace(':', '_')), layers: 2);
            (await Tool.Skopeo("copy", "--dest-tls-verify=false", "--format", "v2s2", $"oci:{layout.LayoutDir}:latest", $"docker://{host}/skopeo/app:v1")).Check("skopeo push");
            var fresh = ClientKit.Store(temp, "fresh-" + host.Replace(':', '_'));
            using var puller = ClientKit.Client(fresh);
            var pulled = await puller.PullAsync($"{host}/skopeo/app:v1");
            Assert.Equal(MediaTypes.DockerManifest, pulled.Target.MediaType);
            var manifest = await fresh.Content.ReadJsonAsync(pulled.Manifest.Digest, ImageJsonContext.Default.ImageManifest);
            Assert.Equal(layout.Layers.Select(l => l.Digest), manifest.Layers.Select(l => l.Digest.ToString()));
            foreach (var (digest, bytes) in layout.Layers)
            {
                Assert.Equal(bytes, await fresh.Content.ReadBytesAsync(Berth.Core.Digest.Parse(digest)));
            }
        }
    }
}
