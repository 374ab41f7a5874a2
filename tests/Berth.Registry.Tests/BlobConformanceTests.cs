using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace Berth.Registry.Tests;

/// <summary>The distribution spec's blob and upload endpoints, each success and each error case.</summary>
public sealed class BlobConformanceTests : IAsyncLifetime
{
    private RegistryHost _registry = null!;

    private HttpClient Client => _registry.Client;

    public async Task InitializeAsync() => _registry = await RegistryHost.StartAsync();

    public async Task DisposeAsync() => await _registry.DisposeAsync();

    private string[] VisibleBlobFiles() =>
        Directory.GetFiles(Path.Combine(_registry.Root, "blobs"), "*", SearchOption.AllDirectories).Where(f => !Path.GetFileName(f).StartsWith('.')).ToArray();

    [Fact]
    public async Task Base_endpoint_answers_with_the_api_version_header()
    {
        var response = await Client.GetAsync("/v2/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("registry/2.0", response.Headers.GetValues("Docker-Distribution-API-Version").Single());
    }

    [Fact]
    public async Task Monolithic_upload_then_head_and_get()
    {
        var content = RandomNumberGenerator.GetBytes(5000);
        var digest = TestImage.Sha256(content);
        var post = await Client.PostAsync($"/v2/mono/blobs/uploads/?digest={digest}", Http.Bytes(content));
        Assert.Equal(HttpStatusCode.Created, post.StatusCode);
        Assert.Equal($"/v2/mono/blobs/{digest}", post.Headers.Location!.OriginalString);
        Assert.Equal(digest, post.Headers.GetValues("Docker-Content-Digest").Single());

        using var head = new HttpRequestMessage(HttpMethod.Head, $"/v2/mono/blobs/{digest}");
        var headResponse = await Client.SendAsync(head);
        Assert.Equal(HttpStatusCode.OK, headResponse.StatusCode);
        Assert.Equal(5000, headResponse.Content.Headers.ContentLength);
        Assert.Equal(digest, headResponse.Headers.GetValues("Docker-Content-Digest").Single());

        Assert.Equal(content, await Client.GetByteArrayAsync($"/v2/mono/blobs/{digest}"));
        // Another repository does not see it without a mount.
        using var other = new HttpRequestMessage(HttpMethod.Head, $"/v2/other/blobs/{digest}");
        Assert.Equal(HttpStatusCode.NotFound, (await Client.SendAsync(other)).StatusCode);
    }

    [Fact]
    public async Task Monolithic_upload_with_a_wrong_digest_is_refused_and_leaves_nothing()
    {
        var content = RandomNumberGenerator.GetBytes(100);
        var wrong = TestImage.Sha256([1, 2, 3]);
        var response = await Client.PostAsync($"/v2/mono/blobs/uploads/?digest={wrong}", Http.Bytes(content));
        await Http.AssertErrorAsync(response, HttpStatusCode.BadRequest, "DIGEST_INVALID");
        Assert.Empty(VisibleBlobFiles());
        Assert.Empty(Directory.GetDirectories(Path.Combine(_registry.Root, "uploads")));
        using var head = new HttpRequestMessage(HttpMethod.Head, $"/v2/mono/blobs/{TestImage.Sha256(content)}");
        Assert.Equal(HttpStatusCode.NotFound, (await Client.SendAsync(head)).StatusCode);
    }

    [Theory]
    [InlineData("sha256:abc")]
    [InlineData("md5:d41d8cd98f00b204e9800998ecf8427e")]
    [InlineData("sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("nodigest")]
    public async Task Malformed_digests_are_digest_invalid(string digest)
    {
        await Http.AssertErrorAsync(await Client.GetAsync($"/v2/repo/blobs/{digest}"), HttpStatusCode.BadRequest, "DIGEST_INVALID");
        await Http.AssertErrorAsync(await Client.PostAsync($"/v2/repo/blobs/uploads/?digest={digest}", Http.Bytes([1])), HttpStatusCode.BadRequest, "DIGEST_INVALID");
    }

    [Fact]
    public async Task Unknown_blob_is_blob_unknown()
    {
        var response = await Client.GetAsync($"/v2/repo/blobs/{TestImage.Sha256([9])}");
        await Http.AssertErrorAsync(response, HttpStatusCode.NotFound, "BLOB_UNKNOWN");
    }

    [Fact]
    public async Task Range_requests_give_206_and_bad_ranges_416()
    {
        var content = RandomNumberGenerator.GetBytes(1000);
        var digest = await Http.PushBlobAsync(Client, "ranges", content);

        async Task<HttpResponseMessage> Get(string range)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/ranges/blobs/{digest}");
            request.Headers.TryAddWithoutValidation("Range", range);
            return await Client.SendAsync(request);
        }

        var partial = await Get("bytes=10-19");
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal("bytes 10-19/1000", partial.Content.Headers.ContentRange!.ToString());
        Assert.Equal(content[10..20], await partial.Content.ReadAsByteArrayAsync());

        var open = await Get("bytes=990-");
        Assert.Equal(content[990..], await open.Content.ReadAsByteArrayAsync());
        var suffix = await Get("bytes=-5");
        Assert.Equal(content[995..], await suffix.Content.ReadAsByteArrayAsync());

        foreach (var bad in new[] { "bytes=1000-1001", "bytes=50-10", "bytes=abc", "items=0-1", "bytes=0-1,5-6" })
        {
            var response = await Get(bad);
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, response.StatusCode);
            Assert.Equal("bytes */1000", response.Content.Headers.ContentRange!.ToString());
        }
    }

    [Fact]
    public async Task Chunked_upload_with_status_out_of_order_chunk_and_final_put()
    {
        var content = RandomNumberGenerator.GetBytes(30_000);
        var digest = TestImage.Sha256(content);
        var start = await Client.PostAsync("/v2/chunks/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var location = start.Headers.Location!.OriginalString;
        Assert.Equal("0-0", start.Headers.GetValues("Range").Single());
        Assert.NotEmpty(start.Headers.GetValues("Docker-Upload-UUID").Single());

        async Task<HttpResponseMessage> Patch(string url, int from, int to)
        {
            using var request = new HttpRequestMessage(HttpMethod.Patch, url) { Content = Http.Bytes(content[from..to]) };
            request.Content.Headers.TryAddWithoutValidation("Content-Range", $"{from}-{to - 1}");
            return await Client.SendAsync(request);
        }

        var first = await Patch(location, 0, 10_000);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal("0-9999", first.Headers.GetValues("Range").Single());
        location = first.Headers.Location!.OriginalString;

        // A chunk that does not start where the upload ends: 416, and the upload is unchanged.
        var outOfOrder = await Patch(location, 15_000, 20_000);
        await Http.AssertErrorAsync(outOfOrder, HttpStatusCode.RequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID");

        var status = await Client.GetAsync(location);
        Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
        Assert.Equal("0-9999", status.Headers.GetValues("Range").Single());

        var second = await Patch(location, 10_000, 20_000);
        Assert.Equal("0-19999", second.Headers.GetValues("Range").Single());

        // The last chunk travels with the closing PUT.
        using var put = new HttpRequestMessage(HttpMethod.Put, $"{location}?digest={digest}") { Content = Http.Bytes(content[20_000..]) };
        put.Content.Headers.TryAddWithoutValidation("Content-Range", "20000-29999");
        var done = await Client.SendAsync(put);
        Assert.Equal(HttpStatusCode.Created, done.StatusCode);
        Assert.Equal(content, await Client.GetByteArrayAsync($"/v2/chunks/blobs/{digest}"));
        await Http.AssertErrorAsync(await Client.GetAsync(location), HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
    }

    [Fact]
    public async Task Streamed_patch_without_content_range_then_empty_put()
    {
        var content = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
        var digest = TestImage.Sha256(content);
        var location = (await Client.PostAsync("/v2/stream/blobs/uploads/", null)).Headers.Location!.OriginalString;
        var patch = await Client.PatchAsync(location, new StreamContent(new MemoryStream(content)));
        Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
        Assert.Equal($"0-{content.Length - 1}", patch.Headers.GetValues("Range").Single());
        var put = await Client.PutAsync($"{patch.Headers.Location!.OriginalString}?digest={digest}", null);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(digest, put.Headers.GetValues("Docker-Content-Digest").Single());
    }

    [Fact]
    public async Task Chunked_upload_with_a_wrong_digest_is_refused_and_never_visible()
    {
        var content = RandomNumberGenerator.GetBytes(2000);
        var location = (await Client.PostAsync("/v2/bad/blobs/uploads/", null)).Headers.Location!.OriginalString;
        await Client.PatchAsync(location, Http.Bytes(content));
        var claimed = TestImage.Sha256(RandomNumberGenerator.GetBytes(2000));
        var put = await Client.PutAsync($"{location}?digest={claimed}", null);
        await Http.AssertErrorAsync(put, HttpStatusCode.BadRequest, "DIGEST_INVALID");
        Assert.Empty(VisibleBlobFiles());
        using var head1 = new HttpRequestMessage(HttpMethod.Head, $"/v2/bad/blobs/{claimed}");
        Assert.Equal(HttpStatusCode.NotFound, (await Client.SendAsync(head1)).StatusCode);
        using var head2 = new HttpRequestMessage(HttpMethod.Head, $"/v2/bad/blobs/{TestImage.Sha256(content)}");
        Assert.Equal(HttpStatusCode.NotFound, (await Client.SendAsync(head2)).StatusCode);
    }

    [Fact]
    public async Task Put_without_digest_is_digest_invalid()
    {
        var location = (await Client.PostAsync("/v2/nodigest/blobs/uploads/", null)).Headers.Location!.OriginalString;
        await Http.AssertErrorAsync(await Client.PutAsync(location, null), HttpStatusCode.BadRequest, "DIGEST_INVALID");
    }

    [Theory]
    [InlineData("PATCH")]
    [InlineData("PUT")]
    [InlineData("GET")]
    [InlineData("DELETE")]
    public async Task Unknown_upload_sessions_are_blob_upload_unknown(string method)
    {
        foreach (var id in new[] { "0123456789abcdef0123456789abcdef", "not-a-session", "..%2F..%2Fetc" })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), $"/v2/repo/blobs/uploads/{id}?digest={TestImage.Sha256([1])}");
            if (method is "PATCH" or "PUT")
            {
                request.Content = Http.Bytes([1]);
            }
            await Http.AssertErrorAsync(await Client.SendAsync(request), HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }
    }

    [Fact]
    public async Task A_session_belongs_to_its_repository()
    {
        var location = (await Client.PostAsync("/v2/owner/blobs/uploads/", null)).Headers.Location!.OriginalString;
        var id = location[(location.LastIndexOf('/') + 1)..];
        await Http.AssertErrorAsync(await Client.GetAsync($"/v2/thief/blobs/uploads/{id}"), HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
    }

    [Fact]
    public async Task Cancel_removes_the_session_and_its_data()
    {
        var location = (await Client.PostAsync("/v2/cancel/blobs/uploads/", null)).Headers.Location!.OriginalString;
        await Client.PatchAsync(location, Http.Bytes(RandomNumberGenerator.GetBytes(500)));
        var delete = await Client.DeleteAsync(location);
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        await Http.AssertErrorAsync(await Client.GetAsync(location), HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        Assert.Empty(Directory.GetDirectories(Path.Combine(_registry.Root, "uploads")));
    }

    [Fact]
    public async Task Cross_repository_mount_links_an_existing_blob_or_falls_back_to_an_upload()
    {
        var content = RandomNumberGenerator.GetBytes(700);
        var digest = await Http.PushBlobAsync(Client, "source", content);
        var mount = await Client.PostAsync($"/v2/target/blobs/uploads/?mount={digest}&from=source", null);
        Assert.Equal(HttpStatusCode.Created, mount.StatusCode);
        Assert.Equal($"/v2/target/blobs/{digest}", mount.Headers.Location!.OriginalString);
        Assert.Equal(content, await Client.GetByteArrayAsync($"/v2/target/blobs/{digest}"));

        var missing = TestImage.Sha256(RandomNumberGenerator.GetBytes(10));
        var fallback = await Client.PostAsync($"/v2/target/blobs/uploads/?mount={missing}&from=source", null);
        Assert.Equal(HttpStatusCode.Accepted, fallback.StatusCode);
        Assert.Contains("/v2/target/blobs/uploads/", fallback.Headers.Location!.OriginalString, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_blob_unlinks_it_from_the_repository()
    {
        var digest = await Http.PushBlobAsync(Client, "del", RandomNumberGenerator.GetBytes(10));
        Assert.Equal(HttpStatusCode.Accepted, (await Client.DeleteAsync($"/v2/del/blobs/{digest}")).StatusCode);
        await Http.AssertErrorAsync(await Client.GetAsync($"/v2/del/blobs/{digest}"), HttpStatusCode.NotFound, "BLOB_UNKNOWN");
        await Http.AssertErrorAsync(await Client.DeleteAsync($"/v2/del/blobs/{digest}"), HttpStatusCode.NotFound, "BLOB_UNKNOWN");
    }

    [Theory]
    [InlineData("UPPER/case")]
    [InlineData("a..b")]
    [InlineData("a/..%2F..%2Fetc")]
    [InlineData("-lead")]
    [InlineData("trail-")]
    [InlineData("_under")]
    [InlineData("sp%20ace")]
    public async Task Hostile_or_invalid_repository_names_are_name_invalid(string name)
    {
        var before = Directory.GetFileSystemEntries(Path.GetDirectoryName(_registry.Root)!, "*", SearchOption.AllDirectories).Length;
        foreach (var path in new[] { $"/v2/{name}/blobs/uploads/", $"/v2/{name}/manifests/latest", $"/v2/{name}/tags/list" })
        {
            using var request = new HttpRequestMessage(path.EndsWith('/') ? HttpMethod.Post : HttpMethod.Get, path);
            var response = await Client.SendAsync(request);
            await Http.AssertErrorAsync(response, HttpStatusCode.BadRequest, "NAME_INVALID");
        }
        // Nothing was created anywhere near the root.
        Assert.Equal(before, Directory.GetFileSystemEntries(Path.GetDirectoryName(_registry.Root)!, "*", SearchOption.AllDirectories).Length);
    }

    [Fact]
    public async Task Dot_segments_are_resolved_before_routing_and_cannot_leave_the_root()
    {
        // Kestrel removes ../ before the registry sees the path; whatever remains must be a valid name or refused.
        foreach (var path in new[] { "/v2/a/../../../../tmp/x/blobs/uploads/", "/v2/%2E%2E/%2E%2E/tmp/x/blobs/uploads/", "/v2/a%00b/blobs/uploads/" })
        {
            var response = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Post, path));
            Assert.True(response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.BadRequest, $"{path}: {response.StatusCode}");
        }
        Assert.False(Directory.Exists("/tmp/x/_layers"));
        Assert.False(Directory.Exists(Path.Combine(_registry.Root, "..", "tmp")));
    }
}
