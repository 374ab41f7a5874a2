using System.Text.Json;
using Berth.Core;
using Berth.Images.Content;
using Berth.Oci.Image;

namespace Berth.Images.Formats;

/// <summary>Writes image configs and manifests (OCI or Docker schema 2) into a content store.</summary>
public static class ImageWriter
{
    public static async Task<Descriptor> WriteJsonAsync<T>(IContentStore store, T document, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo, string mediaType, CancellationToken cancellationToken = default)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(document, typeInfo);
        var info = await store.WriteBytesAsync(bytes, cancellationToken: cancellationToken).ConfigureAwait(false);
        return new Descriptor { MediaType = mediaType, Digest = info.Digest, Size = info.Size };
    }

    /// <summary>Stores the config, then a manifest naming it and the layers; returns the manifest's descriptor.</summary>
    public static async Task<Descriptor> WriteImageAsync(IContentStore store, ImageConfig config, IReadOnlyList<Descriptor> layers, bool docker = false,
        IReadOnlyDictionary<string, string>? annotations = null, CancellationToken cancellationToken = default)
    {
        if (config.RootFs.DiffIds.Count != layers.Count)
        {
            throw BerthException.InvalidArgument($"an image config lists {config.RootFs.DiffIds.Count} diff_ids for {layers.Count} layers");
        }
        var configDescriptor = await WriteJsonAsync(store, config, ImageJsonContext.Default.ImageConfig, docker ? MediaTypes.DockerConfig : MediaTypes.OciConfig, cancellationToken).ConfigureAwait(false);
        var manifest = new ImageManifest
        {
            MediaType = docker ? MediaTypes.DockerManifest : MediaTypes.OciManifest,
            Config = configDescriptor,
            Layers = layers,
            Annotations = annotations,
        };
        var descriptor = await WriteJsonAsync(store, manifest, ImageJsonContext.Default.ImageManifest, manifest.MediaType, cancellationToken).ConfigureAwait(false);
        var labels = new Dictionary<string, string?> { [ContentLabels.GcRefContentPrefix + "config"] = configDescriptor.Digest.ToString() };
        for (var i = 0; i < layers.Count; i++)
        {
            labels[ContentLabels.GcRefContentPrefix + "l." + i] = layers[i].Digest.ToString();
        }
        await store.UpdateLabelsAsync(descriptor.Digest, labels, cancellationToken).ConfigureAwait(false);
        return descriptor with { Platform = config.Platform };
    }

    /// <summary>Stores an index (OCI) or manifest list (Docker) over per-platform manifests.</summary>
    public static Task<Descriptor> WriteIndexAsync(IContentStore store, IReadOnlyList<Descriptor> manifests, bool docker = false, CancellationToken cancellationToken = default)
    {
        var index = new ImageIndex { MediaType = docker ? MediaTypes.DockerManifestList : MediaTypes.OciIndex, Manifests = manifests };
        return WriteJsonAsync(store, index, ImageJsonContext.Default.ImageIndex, index.MediaType, cancellationToken);
    }

    /// <summary>Converts an OCI manifest to Docker schema 2 (or back): same blobs, Docker media types.</summary>
    public static async Task<Descriptor> ConvertAsync(IContentStore store, Descriptor manifestDescriptor, bool toDocker, CancellationToken cancellationToken = default)
    {
        var manifest = await store.ReadJsonAsync(manifestDescriptor.Digest, ImageJsonContext.Default.ImageManifest, cancellationToken).ConfigureAwait(false);
        string LayerType(Descriptor l)
        {
            var compression = MediaTypes.LayerCompressionOf(l.MediaType) ?? throw BerthException.Unsupported($"layer media type {l.MediaType} in a {(toDocker ? "Docker" : "OCI")} manifest");
            return toDocker ? MediaTypes.DockerLayerFor(compression) : MediaTypes.OciLayerFor(compression);
        }
        var converted = manifest with
        {
            MediaType = toDocker ? MediaTypes.DockerManifest : MediaTypes.OciManifest,
            Config = manifest.Config with { MediaType = toDocker ? MediaTypes.DockerConfig : MediaTypes.OciConfig },
            Layers = manifest.Layers.Select(l => l with { MediaType = LayerType(l) }).ToList(),
        };
        return await WriteJsonAsync(store, converted, ImageJsonContext.Default.ImageManifest, converted.MediaType!, cancellationToken).ConfigureAwait(false);
    }
}
