using System.Net;
using System.Text.Json;

namespace Berth.Registry.Storage;

/// <summary>What the registry needs to know about a manifest: what it references and how it describes itself.</summary>
internal sealed class ManifestInfo
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

    public static readonly string[] SupportedMediaTypes = [OciManifest, OciIndex, DockerManifest, DockerManifestList];

    private static readonly HashSet<string> NonDistributable =
    [
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    ];

    public required string MediaType { get; init; }

    /// <summary>Config and layers: must be blobs of the repository.</summary>
    public List<Digest> Blobs { get; } = [];

    /// <summary>Entries of an index: must be manifests of the repository.</summary>
    public List<Digest> Manifests { get; } = [];

    public Digest? Subject { get; set; }

    public string? ArtifactType { get; set; }

    public string? ConfigMediaType { get; set; }

    public JsonElement? Annotations { get; set; }

    public bool IsIndex => MediaType is OciIndex or DockerManifestList;

    /// <summary>Parses and checks a manifest; <paramref name="contentType"/> is the media type the client declared (may be null).</summary>
    public static ManifestInfo Parse(ReadOnlySpan<byte> content, string? contentType)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(content.ToArray());
        }
        catch (JsonException e)
        {
            throw RegistryException.ManifestInvalid("manifest is not valid JSON: " + e.Message);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw RegistryException.ManifestInvalid("manifest must be a JSON object");
            }
            var declared = root.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
            if (root.TryGetProperty("schemaVersion", out var sv) && sv.ValueKind == JsonValueKind.Number && sv.GetInt32() == 1)
            {
                throw RegistryException.ManifestInvalid("not supported: Docker image manifest schema 1; push schema 2 or OCI manifests");
            }
            if (contentType is not null && declared is not null && contentType != declared)
            {
                throw RegistryException.ManifestInvalid(
                    $"Content-Type '{contentType}' does not match the manifest's mediaType '{declared}'; send the manifest with Content-Type: {declared}");
            }
            var mediaType = contentType ?? declared;
            if (mediaType is null)
            {
                // An OCI manifest may omit mediaType; tell manifest and index apart by shape.
                mediaType = root.TryGetProperty("manifests", out _) ? OciIndex : root.TryGetProperty("config", out _) ? OciManifest : null;
            }
            if (mediaType is null || Array.IndexOf(SupportedMediaTypes, mediaType) < 0)
            {
                throw RegistryException.ManifestInvalid(
                    $"manifest media type '{mediaType ?? "(none)"}' is not supported; use one of {string.Join(", ", SupportedMediaTypes)}");
            }
            var info = new ManifestInfo { MediaType = mediaType };
            if (root.TryGetProperty("artifactType", out var at) && at.ValueKind == JsonValueKind.String)
            {
                info.ArtifactType = at.GetString();
            }
            if (root.TryGetProperty("annotations", out var ann) && ann.ValueKind == JsonValueKind.Object)
            {
                info.Annotations = ann.Clone();
            }
            if (root.TryGetProperty("subject", out var subject) && subject.ValueKind == JsonValueKind.Object)
            {
                info.Subject = ParseDescriptor(subject, "subject").Digest;
            }
            if (info.IsIndex)
            {
                if (!root.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array)
                {
                    throw RegistryException.ManifestInvalid("index has no 'manifests' array");
                }
                var i = 0;
                foreach (var entry in manifests.EnumerateArray())
                {
                    info.Manifests.Add(ParseDescriptor(entry, $"manifests[{i++}]").Digest);
                }
            }
            else
            {
                if (!root.TryGetProperty("config", out var config) || config.ValueKind != JsonValueKind.Object)
                {
                    throw RegistryException.ManifestInvalid("image manifest has no 'config' descriptor");
                }
                var (configDigest, configType) = ParseDescriptor(config, "config");
                info.Blobs.Add(configDigest);
                info.ConfigMediaType = configType;
                if (root.TryGetProperty("layers", out var layers))
                {
                    if (layers.ValueKind != JsonValueKind.Array)
                    {
                        throw RegistryException.ManifestInvalid("'layers' must be an array");
                    }
                    var i = 0;
                    foreach (var layer in layers.EnumerateArray())
                    {
                        var (digest, type) = ParseDescriptor(layer, $"layers[{i++}]");
                        // Foreign layers live elsewhere (their URLs); the registry does not hold them.
                        if (type is null || !NonDistributable.Contains(type))
                        {
                            info.Blobs.Add(digest);
                        }
                    }
                }
                else if (mediaType == DockerManifest)
                {
                    throw RegistryException.ManifestInvalid("Docker schema 2 manifest has no 'layers' array");
                }
            }
            return info;
        }
    }

    private static (Digest Digest, string? MediaType) ParseDescriptor(JsonElement element, string where)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw RegistryException.ManifestInvalid($"{where} must be a descriptor object");
        }
        var digestText = element.TryGetProperty("digest", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
        if (!Digest.TryParse(digestText, out var digest))
        {
            throw new RegistryException(HttpStatusCode.BadRequest, RegistryErrorCode.MANIFEST_INVALID,
                $"{where} has an invalid digest '{digestText}'; expected sha256:<64 hex> or sha512:<128 hex>");
        }
        if (!element.TryGetProperty("size", out var size) || size.ValueKind != JsonValueKind.Number || !size.TryGetInt64(out var n) || n < 0)
        {
            throw RegistryException.ManifestInvalid($"{where} ({digest}) has no valid 'size'");
        }
        var type = element.TryGetProperty("mediaType", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        return (digest, type);
    }
}
