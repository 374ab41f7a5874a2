using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Berth.Registry.Tests;

/// <summary>An OCI image layout written by test code: random-content gzip layers, a config and a manifest.</summary>
internal sealed class TestImage
{
    public required string LayoutDir { get; init; }

    public required string ManifestDigest { get; init; }

    public required byte[] Manifest { get; init; }

    public required byte[] Config { get; init; }

    public required string ConfigDigest { get; init; }

    public required List<(string Digest, byte[] Content)> Layers { get; init; }

    public static string Sha256(byte[] content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>A gzip'd tar with one file of random bytes; returns the compressed layer and its diff_id.</summary>
    public static (byte[] Compressed, string DiffId) RandomLayer(int size, string fileName, Random? random = null)
    {
        var data = new byte[size];
        if (random is null)
        {
            RandomNumberGenerator.Fill(data);
        }
        else
        {
            random.NextBytes(data);
        }
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, fileName)
            {
                DataStream = new MemoryStream(data),
                Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                ModificationTime = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero),
            };
            writer.WriteEntry(entry);
        }
        var tarBytes = tar.ToArray();
        using var gz = new MemoryStream();
        using (var gzip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(tarBytes);
        }
        return (gz.ToArray(), Sha256(tarBytes));
    }

    public static TestImage Create(string layoutDir, int layers = 2, int layerSize = 64 * 1024, string tag = "latest")
    {
        Directory.CreateDirectory(Path.Combine(layoutDir, "blobs", "sha256"));
        var layerList = new List<(string, byte[])>();
        var diffIds = new JsonArray();
        var layerDescriptors = new JsonArray();
        for (var i = 0; i < layers; i++)
        {
            var (compressed, diffId) = RandomLayer(layerSize, $"file{i}.bin");
            var digest = Sha256(compressed);
            WriteBlob(layoutDir, digest, compressed);
            layerList.Add((digest, compressed));
            diffIds.Add(diffId);
            layerDescriptors.Add(new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip",
                ["digest"] = digest,
                ["size"] = compressed.Length,
            });
        }
        var config = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["created"] = "2024-01-01T00:00:00Z",
            ["config"] = new JsonObject { ["Cmd"] = new JsonArray("/bin/sh") },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = diffIds },
            ["history"] = new JsonArray(),
        }.ToJsonString());
        var configDigest = Sha256(config);
        WriteBlob(layoutDir, configDigest, config);
        var manifest = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.config.v1+json",
                ["digest"] = configDigest,
                ["size"] = config.Length,
            },
            ["layers"] = layerDescriptors,
        }.ToJsonString());
        var manifestDigest = Sha256(manifest);
        WriteBlob(layoutDir, manifestDigest, manifest);
        File.WriteAllText(Path.Combine(layoutDir, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        File.WriteAllText(Path.Combine(layoutDir, "index.json"), new JsonObject
        {
            ["schemaVersion"] = 2,
            ["manifests"] = new JsonArray(new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
                ["digest"] = manifestDigest,
                ["size"] = manifest.Length,
                ["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = tag },
            }),
        }.ToJsonString());
        return new TestImage
        {
            LayoutDir = layoutDir,
            ManifestDigest = manifestDigest,
            Manifest = manifest,
            Config = config,
            ConfigDigest = configDigest,
            Layers = layerList,
        };
    }

    private static void WriteBlob(string layoutDir, string digest, byte[] content) =>
        File.WriteAllBytes(Path.Combine(layoutDir, "blobs", "sha256", digest["sha256:".Length..]), content);

    /// <summary>The manifest digest an OCI layout's index.json names for <paramref name="tag"/>.</summary>
    public static string LayoutManifestDigest(string layoutDir, string? tag = null)
    {
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(layoutDir, "index.json")))!;
        foreach (var m in index["manifests"]!.AsArray())
        {
            var name = m!["annotations"]?["org.opencontainers.image.ref.name"]?.GetValue<string>();
            if (tag is null || name == tag)
            {
                return m["digest"]!.GetValue<string>();
            }
        }
        throw new InvalidOperationException($"no manifest for tag {tag} in {layoutDir}/index.json");
    }
}
