using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Berth.Registry.Tests;

/// <summary>Manifests, tags, catalog, referrers and metrics of the distribution spec.</summary>
public sealed class ManifestConformanceTests : IAsyncLifetime
{
    private const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    private const string OciIndex = "application/vnd.oci.image.index.v1+json";
    private const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    private const string DockerList = "application/vnd.docker.distribution.manifest.list.v2+json";

    private RegistryHost _registry = null!;

    private HttpClient Client => _registry.Client;

    public async Task InitializeAsync() => _registry = await RegistryHost.StartAsync(root => new RegistryOptions { RootDirectory = root, MaxManifestBytes = 64 * 1024 });

    public async Task DisposeAsync() => await _registry.DisposeAsync();

    [Fact]
    public async Task Put_by_tag_then_get_and_head_by_tag_and_digest()
    {
        var (manifest, digest) = await Http.PushImageBlobsAsync(Client, "app");
        var put = await Http.PutManifestAsync(Client, "app", "v1", manifest, OciManifest);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(digest, put.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal($"/v2/app/manifests/{digest}", put.Headers.Location!.OriginalString);
        Assert.False(put.Headers.Contains("OCI-Subject"));

        foreach (var reference in new[] { "v1", digest })
        {
            var get = await Client.GetAsync($"/v2/app/manifests/{reference}");
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal(OciManifest, get.Content.Headers.ContentType!.MediaType);
            Assert.Equal(digest, get.Headers.GetValues("Docker-Content-Digest").Single());
            Assert.Equal(manifest, await get.Content.ReadAsByteArrayAsync());

            using var head = new HttpRequestMessage(HttpMethod.Head, $"/v2/app/manifests/{reference}");
            var headResponse = await Client.SendAsync(head);
            Assert.Equal(HttpStatusCode.OK, headResponse.StatusCode);
            Assert.Equal(manifest.Length, headResponse.Content.Headers.ContentLength);
            Assert.Equal(digest, headResponse.Headers.GetValues("Docker-Content-Digest").Single());
        }
    }

    [Fact]
    public async Task Put_by_digest_checks_the_digest()
    {
        var (manifest, digest) = await Http.PushImageBlobsAsync(Client, "bydigest");
        Assert.Equal(HttpStatusCode.Created, (await Http.PutManifestAsync(Client, "bydigest", digest, manifest, OciManifest)).StatusCode);
        var wrong = TestImage.Sha256([1]);
        await Http.AssertErrorAsync(await Http.PutManifestAsync(Client, "bydigest", wrong, manifest, OciManifest), HttpStatusCode.BadRequest, "DIGEST_INVALID");
        await Http.AssertErrorAsync(await Client.GetAsync($"/v2/bydigest/manifests/{wrong}"), HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
    }

    [Fact]
    public async Task Manifest_with_missing_blobs_is_refused_and_not_visible()
    {
        var (manifest, _) = await Http.PushImageBlobsAsync(Client, "missing");
        var node = JsonNode.Parse(manifest)!;
        node["layers"]!.AsArray().Add(new JsonObject
        {
            ["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip",
            ["digest"] = TestImage.Sha256(Encoding.UTF8.GetBytes("never pushed")),
            ["size"] = 12,
        });
        var response = await Http.PutManifestAsync(Client, "missing", "v1", Encoding.UTF8.GetBytes(node.ToJsonString()), OciManifest);
        await Http.AssertErrorAsync(response, HttpStatusCode.BadRequest, "MANIFEST_BLOB_UNKNOWN");
        Assert.NotEqual(HttpStatusCode.OK, (await Client.GetAsync("/v2/missing/manifests/v1")).StatusCode);

        // A blob of another repository does not count either.
        var foreign = await Http.PushBlobAsync(Client, "elsewhere", Encoding.UTF8.GetBytes("foreign"));
        node["layers"]![1]!["digest"] = foreign;
        node["layers"]![1]!["size"] = 7;
        response = await Http.PutManifestAsync(Client, "missing", "v1", Encoding.UTF8.GetBytes(node.ToJsonString()), OciManifest);
        await Http.AssertErrorAsync(response, HttpStatusCode.BadRequest, "MANIFEST_BLOB_UNKNOWN");
    }

    [Fact]
    public async Task Oversized_manifest_is_refused()
    {
        var (manifest, _) = await Http.PushImageBlobsAsync(Client, "big");
        var node = JsonNode.Parse(manifest)!;
        node["annotations"] = new JsonObject { ["padding"] = new string('x', 70 * 1024) };
        var response = await Http.PutManifestAsync(Client, "big", "v1", Encoding.UTF8.GetBytes(node.ToJsonString()), OciManifest);
        await Http.AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, "SIZE_INVALID");

        // Also when the client does not say the length up front.
        using var request = new HttpRequestMessage(HttpMethod.Put, "/v2/big/manifests/v1")
        {
            Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(node.ToJsonString()))),
        };
        request.Headers.TransferEncodingChunked = true;
        request.Content.Headers.ContentType = new(OciManifest);
        await Http.AssertErrorAsync(await Client.SendAsync(request), HttpStatusCode.RequestEntityTooLarge, "SIZE_INVALID");
    }

    [Theory]
    [InlineData("not json", OciManifest)]
    [InlineData("[1,2]", OciManifest)]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}", OciManifest)]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}", OciManifest)]
    [InlineData("{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"y\",\"fsLayers\":[]}", "application/vnd.docker.distribution.manifest.v1+prettyjws")]
    [InlineData("{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:zz\",\"size\":1},\"layers\":[]}", OciManifest)]
    [InlineData("{\"schemaVersion\":2,\"config\":{}}", "text/plain")]
    public async Task Invalid_manifests_are_manifest_invalid(string body, string contentType)
    {
        var response = await Http.PutManifestAsync(Client, "invalid", "v1", Encoding.UTF8.GetBytes(body), contentType);
        await Http.AssertErrorAsync(response, HttpStatusCode.BadRequest, "MANIFEST_INVALID");
    }

    [Fact]
    public async Task Invalid_tags_are_refused()
    {
        var (manifest, _) = await Http.PushImageBlobsAsync(Client, "tags");
        var response = await Http.PutManifestAsync(Client, "tags", ".hidden", manifest, OciManifest);
        await Http.AssertErrorAsync(response, HttpStatusCode.BadRequest, "MANIFEST_INVALID");
        response = await Http.PutManifestAsync(Client, "tags", new string('a', 129), manifest, OciManifest);
        await Http.AssertErrorAsync(response, HttpStatusCode.BadRequest, "MANIFEST_INVALID");
    }

    [Fact]
    public async Task Docker_schema2_manifest_list_and_oci_index()
    {
        var (oci, ociDigest) = await Http.PushImageBlobsAsync(Client, "multi");
        Assert.Equal(HttpStatusCode.Created, (await Http.PutManifestAsync(Client, "multi", ociDigest, oci, OciManifest)).StatusCode);
        var node = JsonNode.Parse(oci)!;
        node["mediaType"] = DockerManifest;
        node["config"]!["mediaType"] = "application/vnd.docker.container.image.v1+json";
        foreach (var layer in node["layers"]!.AsArray())
        {
            layer!["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip";
        }
        var docker = Encoding.UTF8.GetBytes(node.ToJsonString());
        var dockerDigest = TestImage.Sha256(docker);
        Assert.Equal(HttpStatusCode.Created, (await Http.PutManifestAsync(Client, "multi", "docker", docker, DockerManifest)).StatusCode);
        Assert.Equal(DockerManifest, (await Client.GetAsync("/v2/multi/manifests/docker")).Content.Headers.ContentType!.MediaType);

        byte[] Index(string mediaType, string childType, params string[] digests) => Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = mediaType,
            ["manifests"] = new JsonArray(digests.Select(d => (JsonNode)new JsonObject
            {
                ["mediaType"] = childType, ["digest"] = d, ["size"] = 100,
                ["platform"] = new JsonObject { ["architecture"] = "amd64", ["os"] = "linux" },
            }).ToArray()),
        }.ToJsonString());

        var list = Index(DockerList, DockerManifest, dockerDigest);
        Assert.Equal(HttpStatusCode.Created, (await Http.PutManifestAsync(Client, "multi", "list", list, DockerList)).StatusCode);
        var index = Index(OciIndex, OciManifest, ociDigest);
        Assert.Equal(HttpStatusCode.Created, (await Http.PutManifestAsync(Client, "multi", "index", index, OciIndex)).StatusCode);
        var got = await Client.GetAsync("/v2/multi/manifests/index");
        Assert.Equal(OciIndex, got.Content.Headers.ContentType!.MediaType);
        Assert.Equal(index, await got.Content.ReadAsByteArrayAsync());

        var dangling = Index(OciIndex, OciManifest, TestImage.Sha256([7]));
        await Http.AssertErrorAsync(await Http.PutManifestAsync(Client, "multi", "dangling", dangling, OciIndex), HttpStatusCode.BadRequest, "MANIFEST_BLOB_UNKNOWN");
    }

    [Fact]
    public async Task Unknown_manifest_and_unknown_repository()
    {
        await Http.AssertErrorAsync(await Client.GetAsync("/v2/nowhere/manifests/latest"), HttpStatusCode.NotFound, "NAME_UNKNOWN");
        var (manifest, _) = await Http.PushImageBlobsAsync(Client, "known");
        await Http.PutManifestAsync(Client, "known", "v1", manifest, OciManifest);
        await Http.AssertErrorAsync(await Client.GetAsync("/v2/known/manifests/v2"), HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        await Http.AssertErrorAsync(await Client.GetAsync($"/v2/known/manifests/{TestImage.Sha256([1])}"), HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        await Http.AssertErrorAsync(await Client.GetAsync("/v2/nowhere/tags/list"), HttpStatusCode.NotFound, "NAME_UNKNOWN");
    }

    [Fact]
    public async Task Delete_by_tag_and_by_digest()
    {
        var (manifest, digest) = await Http.PushImageBlobsAsync(Client, "deletes");
        await Http.PutManifestAsync(Client, "deletes", "a", manifest, OciManifest);
        await Http.PutManifestAsync(Client, "deletes", "b", manifest, OciManifest);
        Assert.Equal(HttpStatusCode.Accepted, (await Client.DeleteAsync("/v2/deletes/manifests/a")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync("/v2/deletes/manifests/a")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync("/v2/deletes/manifests/b")).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await Client.DeleteAsync($"/v2/deletes/manifests/{digest}")).StatusCode);
        await Http.AssertErrorAsync(await Client.GetAsync("/v2/deletes/manifests/b"), HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        await Http.AssertErrorAsync(await Client.GetAsync($"/v2/deletes/manifests/{digest}"), HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        await Http.AssertErrorAsync(await Client.DeleteAsync($"/v2/deletes/manifests/{digest}"), HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
    }

    [Fact]
    public async Task Tags_list_paginates_with_n_last_and_link()
    {
        var (manifest, _) = await Http.PushImageBlobsAsync(Client, "paged");
        var tags = new[] { "v5", "v1", "v3", "v2", "v4" };
        foreach (var tag in tags)
        {
            await Http.PutManifestAsync(Client, "paged", tag, manifest, OciManifest);
        }
        var all = JsonNode.Parse(await Client.GetStringAsync("/v2/paged/tags/list"))!;
        Assert.Equal("paged", all["name"]!.GetValue<string>());
        Assert.Equal(["v1", "v2", "v3", "v4", "v5"], all["tags"]!.AsArray().Select(t => t!.GetValue<string>()));

        var collected = new List<string>();
        var url = "/v2/paged/tags/list?n=2";
        var pages = 0;
        while (url is not null)
        {
            var response = await Client.GetAsync(url);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var page = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["tags"]!.AsArray().Select(t => t!.GetValue<string>()).ToList();
            Assert.True(page.Count <= 2);
            collected.AddRange(page);
            pages++;
            url = response.Headers.TryGetValues("Link", out var links)
                ? links.Single().Split(';')[0].Trim('<', '>', ' ')
                : null;
        }
        Assert.Equal(["v1", "v2", "v3", "v4", "v5"], collected);
        Assert.Equal(3, pages);

        var afterV3 = JsonNode.Parse(await Client.GetStringAsync("/v2/paged/tags/list?last=v3"))!;
        Assert.Equal(["v4", "v5"], afterV3["tags"]!.AsArray().Select(t => t!.GetValue<string>()));
        var none = JsonNode.Parse(await Client.GetStringAsync("/v2/paged/tags/list?n=0"))!;
        Assert.Empty(none["tags"]!.AsArray());
        await Http.AssertErrorAsync(await Client.GetAsync("/v2/paged/tags/list?n=-1"), HttpStatusCode.BadRequest, "PAGINATION_NUMBER_INVALID");
    }

    [Fact]
    public async Task Catalog_lists_repositories_with_pagination()
    {
        foreach (var repo in new[] { "c/three", "a/one", "b/two" })
        {
            var (manifest, _) = await Http.PushImageBlobsAsync(Client, repo);
            await Http.PutManifestAsync(Client, repo, "v1", manifest, OciManifest);
        }
        var all = JsonNode.Parse(await Client.GetStringAsync("/v2/_catalog"))!;
        Assert.Equal(["a/one", "b/two", "c/three"], all["repositories"]!.AsArray().Select(t => t!.GetValue<string>()));
        var first = await Client.GetAsync("/v2/_catalog?n=2");
        Assert.Equal(["a/one", "b/two"], JsonNode.Parse(await first.Content.ReadAsStringAsync())!["repositories"]!.AsArray().Select(t => t!.GetValue<string>()));
        Assert.Equal("</v2/_catalog?n=2&last=b%2Ftwo>; rel=\"next\"", first.Headers.GetValues("Link").Single());
        var second = JsonNode.Parse(await Client.GetStringAsync("/v2/_catalog?n=2&last=b/two"))!;
        Assert.Equal(["c/three"], second["repositories"]!.AsArray().Select(t => t!.GetValue<string>()));
    }

    [Fact]
    public async Task Referrers_are_listed_by_subject_and_filtered_by_artifact_type()
    {
        var (subject, subjectDigest) = await Http.PushImageBlobsAsync(Client, "refs");
        await Http.PutManifestAsync(Client, "refs", "v1", subject, OciManifest);
        var (sbom, sbomDigest) = await Http.PushImageBlobsAsync(Client, "refs", subjectDigest, "application/vnd.example.sbom");
        var put = await Http.PutManifestAsync(Client, "refs", sbomDigest, sbom, OciManifest);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(subjectDigest, put.Headers.GetValues("OCI-Subject").Single());
        var (sig, sigDigest) = await Http.PushImageBlobsAsync(Client, "refs", subjectDigest, "application/vnd.example.signature");
        await Http.PutManifestAsync(Client, "refs", sigDigest, sig, OciManifest);

        var response = await Client.GetAsync($"/v2/refs/referrers/{subjectDigest}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(OciIndex, response.Content.Headers.ContentType!.MediaType);
        Assert.False(response.Headers.Contains("OCI-Filters-Applied"));
        var index = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        var entries = index["manifests"]!.AsArray();
        Assert.Equal(2, entries.Count);
        var sbomEntry = entries.Single(e => e!["digest"]!.GetValue<string>() == sbomDigest)!;
        Assert.Equal("application/vnd.example.sbom", sbomEntry["artifactType"]!.GetValue<string>());
        Assert.Equal(sbom.Length, sbomEntry["size"]!.GetValue<long>());
        Assert.Equal("application/vnd.example.sbom", sbomEntry["annotations"]!["org.example.kind"]!.GetValue<string>());

        var filtered = await Client.GetAsync($"/v2/refs/referrers/{subjectDigest}?artifactType=application/vnd.example.signature");
        Assert.Equal("artifactType", filtered.Headers.GetValues("OCI-Filters-Applied").Single());
        var only = JsonNode.Parse(await filtered.Content.ReadAsStringAsync())!["manifests"]!.AsArray();
        Assert.Equal(sigDigest, Assert.Single(only)!["digest"]!.GetValue<string>());

        var nothing = JsonNode.Parse(await Client.GetStringAsync($"/v2/refs/referrers/{TestImage.Sha256([5])}"))!;
        Assert.Empty(nothing["manifests"]!.AsArray());
        await Http.AssertErrorAsync(await Client.GetAsync("/v2/refs/referrers/sha256:nope"), HttpStatusCode.BadRequest, "DIGEST_INVALID");

        Assert.Equal(HttpStatusCode.Accepted, (await Client.DeleteAsync($"/v2/refs/manifests/{sbomDigest}")).StatusCode);
        var after = JsonNode.Parse(await Client.GetStringAsync($"/v2/refs/referrers/{subjectDigest}"))!["manifests"]!.AsArray();
        Assert.Equal(sigDigest, Assert.Single(after)!["digest"]!.GetValue<string>());
    }

    [Fact]
    public async Task Metrics_count_requests_bytes_and_uploads()
    {
        var (manifest, _) = await Http.PushImageBlobsAsync(Client, "metrics");
        await Http.PutManifestAsync(Client, "metrics", "v1", manifest, OciManifest);
        await Client.GetByteArrayAsync("/v2/metrics/manifests/v1");
        await Client.GetAsync("/v2/metrics/manifests/nope");
        var text = await Client.GetStringAsync("/metrics");
        Assert.Contains("# TYPE berth_registry_http_requests_total counter", text, StringComparison.Ordinal);
        Assert.Matches("berth_registry_http_requests_total\\{method=\"GET\",code=\"200\"\\} [1-9]", text);
        Assert.Matches("berth_registry_http_requests_total\\{method=\"GET\",code=\"404\"\\} 1\n", text);
        Assert.Matches("berth_registry_http_requests_total\\{method=\"PUT\",code=\"201\"\\} 1\n", text);
        Assert.Matches($"berth_registry_bytes_served_total {manifest.Length}\n", text);
        Assert.Matches("berth_registry_uploads_total\\{result=\"completed\"\\} 2\n", text);
        Assert.Matches("berth_registry_manifests_pushed_total 1\n", text);
    }
}
