using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;

namespace Berth.Registry.Tests;

/// <summary>Small HTTP helpers for the conformance tests.</summary>
internal static class Http
{
    public static async Task<string> ErrorCodeAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        return JsonNode.Parse(body)!["errors"]![0]!["code"]!.GetValue<string>();
    }

    public static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(code, await ErrorCodeAsync(response));
    }

    public static ByteArrayContent Bytes(byte[] content, string contentType = "application/octet-stream")
    {
        var c = new ByteArrayContent(content);
        c.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return c;
    }

    /// <summary>Monolithic upload of one blob.</summary>
    public static async Task<string> PushBlobAsync(HttpClient client, string repo, byte[] content)
    {
        var digest = TestImage.Sha256(content);
        var response = await client.PostAsync($"/v2/{repo}/blobs/uploads/?digest={digest}", Bytes(content));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return digest;
    }

    public static async Task<HttpResponseMessage> PutManifestAsync(HttpClient client, string repo, string reference, byte[] manifest, string mediaType) =>
        await client.PutAsync($"/v2/{repo}/manifests/{reference}", Bytes(manifest, mediaType));

    /// <summary>Pushes a config and layers and returns an OCI manifest (not yet pushed) referencing them.</summary>
    public static async Task<(byte[] Manifest, string Digest)> PushImageBlobsAsync(HttpClient client, string repo, string? subject = null, string? artifactType = null, int layers = 1)
    {
        var config = System.Text.Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"n\":\"" + Guid.NewGuid() + "\"}");
        var configDigest = await PushBlobAsync(client, repo, config);
        var layerArray = new JsonArray();
        for (var i = 0; i < layers; i++)
        {
            var layer = System.Security.Cryptography.RandomNumberGenerator.GetBytes(1000 + i);
            layerArray.Add(new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip",
                ["digest"] = await PushBlobAsync(client, repo, layer),
                ["size"] = layer.Length,
            });
        }
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = new JsonObject { ["mediaType"] = "application/vnd.oci.image.config.v1+json", ["digest"] = configDigest, ["size"] = config.Length },
            ["layers"] = layerArray,
        };
        if (artifactType is not null)
        {
            manifest["artifactType"] = artifactType;
            manifest["annotations"] = new JsonObject { ["org.example.kind"] = artifactType };
        }
        if (subject is not null)
        {
            manifest["subject"] = new JsonObject { ["mediaType"] = "application/vnd.oci.image.manifest.v1+json", ["digest"] = subject, ["size"] = 123 };
        }
        var bytes = System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString());
        return (bytes, TestImage.Sha256(bytes));
    }
}
