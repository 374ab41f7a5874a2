using Berth.Core;
using Berth.Images.Content;
using Berth.Oci.Image;

namespace Berth.Images.Store;

/// <summary>Walks manifests and indexes in a content store.</summary>
public static class ImageResolver
{
    /// <summary>The platform used when none is named: linux/amd64, as the issue asks (override per call).</summary>
    public static Platform DefaultPlatform { get; } = Platform.LinuxAmd64;

    /// <summary>
    /// Resolves a manifest or index to the manifest for <paramref name="platform"/> (default linux/amd64).
    /// NotFound lists the platforms the index has.
    /// </summary>
    public static async Task<(Descriptor Descriptor, ImageManifest Manifest)> ResolveManifestAsync(IContentStore store, Descriptor target, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        platform ??= DefaultPlatform;
        var current = target;
        for (var depth = 0; depth < 8; depth++)
        {
            var probe = await store.ReadJsonAsync(current.Digest, ImageJsonContext.Default.ManifestProbe, cancellationToken).ConfigureAwait(false);
            var mediaType = probe.MediaType ?? current.MediaType;
            if (probe.Manifests is not null || MediaTypes.IsIndex(mediaType))
            {
                var index = await store.ReadJsonAsync(current.Digest, ImageJsonContext.Default.ImageIndex, cancellationToken).ConfigureAwait(false);
                var match = index.Manifests.FirstOrDefault(m => platform.Matches(m.Platform))
                    ?? (index.Manifests.Count == 1 && index.Manifests[0].Platform is null ? index.Manifests[0] : null);
                if (match is null)
                {
                    var available = string.Join(", ", index.Manifests.Select(m => m.Platform?.ToString() ?? "(unspecified)"));
                    throw BerthException.NotFound($"image index {current.Digest} has no manifest for {platform}; it has: {available}. Choose one with --platform");
                }
                current = match;
                continue;
            }
            if (probe.Config is null || probe.Layers is null)
            {
                throw BerthException.InvalidArgument($"blob {current.Digest} ({mediaType}) is neither an image manifest nor an index");
            }
            var manifest = await store.ReadJsonAsync(current.Digest, ImageJsonContext.Default.ImageManifest, cancellationToken).ConfigureAwait(false);
            return (current, manifest);
        }
        throw BerthException.InvalidArgument($"image {target.Digest} nests indexes deeper than 8 levels");
    }

    /// <summary>Every blob a manifest or index reaches (itself included), for export and garbage collection.</summary>
    public static async Task<HashSet<Digest>> ReachableAsync(IContentStore store, Digest root, CancellationToken cancellationToken = default)
    {
        var seen = new HashSet<Digest>();
        var queue = new Queue<Digest>([root]);
        while (queue.TryDequeue(out var digest))
        {
            if (!seen.Add(digest))
            {
                continue;
            }
            var info = await store.InfoAsync(digest, cancellationToken).ConfigureAwait(false);
            if (info is null)
            {
                continue;
            }
            foreach (var (key, value) in info.Labels)
            {
                if (key.StartsWith(ContentLabels.GcRefContentPrefix, StringComparison.Ordinal) && Digest.TryParse(value, out var referenced))
                {
                    queue.Enqueue(referenced);
                }
            }
            if (info.Size > 4 << 20)
            {
                continue; // layers, not JSON documents
            }
            ManifestProbe? probe;
            try
            {
                probe = System.Text.Json.JsonSerializer.Deserialize(await store.ReadBytesAsync(digest, cancellationToken).ConfigureAwait(false), ImageJsonContext.Default.ManifestProbe);
            }
            catch (System.Text.Json.JsonException)
            {
                continue;
            }
            if (probe is null)
            {
                continue;
            }
            if (probe.Config is { } config)
            {
                queue.Enqueue(config.Digest);
            }
            foreach (var d in probe.Layers ?? [])
            {
                queue.Enqueue(d.Digest);
            }
            foreach (var d in probe.Manifests ?? [])
            {
                queue.Enqueue(d.Digest);
            }
        }
        return seen;
    }
}
