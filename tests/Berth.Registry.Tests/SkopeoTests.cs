using System.Text.Json.Nodes;
using Berth.Testing;

namespace Berth.Registry.Tests;

/// <summary>skopeo (containers/image) against the registry: copy in and out, inspect, list-tags, delete.</summary>
public sealed class SkopeoTests
{
    [Fact]
    public async Task Copy_push_then_pull_round_trips_every_digest()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var image = TestImage.Create(temp.Combine("src"), layers: 3, layerSize: 300 * 1024);
        var remote = $"docker://{registry.HostPort}/team/app:v1";

        await Tool.Skopeo("copy", "--dest-tls-verify=false", $"oci:{image.LayoutDir}:latest", remote).ContinueWith(t => t.Result.Check("skopeo copy push"));
        await Tool.Skopeo("copy", "--src-tls-verify=false", remote, $"oci:{temp.Combine("back")}:v1").ContinueWith(t => t.Result.Check("skopeo copy pull"));

        Assert.Equal(image.ManifestDigest, TestImage.LayoutManifestDigest(temp.Combine("back"), "v1"));
        foreach (var (digest, content) in image.Layers)
        {
            var pulled = File.ReadAllBytes(Path.Combine(temp.Combine("back"), "blobs", "sha256", digest["sha256:".Length..]));
            Assert.Equal(content, pulled);
        }
    }

    [Fact]
    public async Task Inspect_list_tags_and_delete()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var image = TestImage.Create(temp.Combine("src"));
        foreach (var tag in new[] { "a", "b", "c" })
        {
            (await Tool.Skopeo("copy", "--dest-tls-verify=false", $"oci:{image.LayoutDir}:latest", $"docker://{registry.HostPort}/lib/x:{tag}")).Check("push " + tag);
        }

        var inspect = (await Tool.Skopeo("inspect", "--tls-verify=false", $"docker://{registry.HostPort}/lib/x:b")).Check("inspect");
        var json = JsonNode.Parse(inspect.Stdout)!;
        Assert.Equal(image.ManifestDigest, json["Digest"]!.GetValue<string>());
        Assert.Equal(image.Layers.Select(l => l.Digest), json["Layers"]!.AsArray().Select(l => l!.GetValue<string>()));

        var raw = (await Tool.Skopeo("inspect", "--raw", "--tls-verify=false", $"docker://{registry.HostPort}/lib/x:a")).Check("inspect --raw");
        Assert.Equal(image.Manifest, System.Text.Encoding.UTF8.GetBytes(raw.Stdout));

        var tags = (await Tool.Skopeo("list-tags", "--tls-verify=false", $"docker://{registry.HostPort}/lib/x")).Check("list-tags");
        Assert.Equal(["a", "b", "c"], JsonNode.Parse(tags.Stdout)!["Tags"]!.AsArray().Select(t => t!.GetValue<string>()));

        (await Tool.Skopeo("delete", "--tls-verify=false", $"docker://{registry.HostPort}/lib/x:a")).Check("delete");
        // Deleting by digest removes the manifest and every tag that pointed at it.
        var after = await Tool.Skopeo("inspect", "--tls-verify=false", $"docker://{registry.HostPort}/lib/x:b");
        Assert.NotEqual(0, after.ExitCode);
        var tagsAfter = (await Tool.Skopeo("list-tags", "--tls-verify=false", $"docker://{registry.HostPort}/lib/x")).Check("list-tags after delete");
        Assert.Empty(JsonNode.Parse(tagsAfter.Stdout)!["Tags"]!.AsArray());
    }

    [Fact]
    public async Task Identical_layers_in_two_repositories_are_stored_once()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var image = TestImage.Create(temp.Combine("src"), layers: 2);
        (await Tool.Skopeo("copy", "--dest-tls-verify=false", $"oci:{image.LayoutDir}:latest", $"docker://{registry.HostPort}/one:v1")).Check("push one");
        (await Tool.Skopeo("copy", "--dest-tls-verify=false", $"oci:{image.LayoutDir}:latest", $"docker://{registry.HostPort}/two:v1")).Check("push two");

        var blobFiles = Directory.GetFiles(Path.Combine(registry.Root, "blobs"), "*", SearchOption.AllDirectories);
        // Two layers, a config and a manifest: four blobs in total, not eight.
        Assert.Equal(4, blobFiles.Length);
        (await Tool.Skopeo("copy", "--src-tls-verify=false", $"docker://{registry.HostPort}/two:v1", $"oci:{temp.Combine("back")}:v1")).Check("pull two");
        Assert.Equal(image.ManifestDigest, TestImage.LayoutManifestDigest(temp.Combine("back")));
    }

    [Fact]
    public async Task Copy_between_repositories_of_the_same_registry_mounts_blobs()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var image = TestImage.Create(temp.Combine("src"));
        (await Tool.Skopeo("copy", "--dest-tls-verify=false", $"oci:{image.LayoutDir}:latest", $"docker://{registry.HostPort}/src/app:v1")).Check("push");
        (await Tool.Skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
            $"docker://{registry.HostPort}/src/app:v1", $"docker://{registry.HostPort}/dst/app:v1")).Check("copy registry to registry");

        var metrics = await registry.Client.GetStringAsync("/metrics");
        Assert.Matches(@"berth_registry_blob_mounts_total [1-9]", metrics);
        var inspect = (await Tool.Skopeo("inspect", "--tls-verify=false", $"docker://{registry.HostPort}/dst/app:v1")).Check("inspect");
        Assert.Equal(image.ManifestDigest, JsonNode.Parse(inspect.Stdout)!["Digest"]!.GetValue<string>());
    }
}
