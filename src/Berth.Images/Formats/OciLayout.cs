using System.Text.Json;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Store;
using Berth.Oci.Image;

namespace Berth.Images.Formats;

/// <summary>OCI image layout directories: <c>oci-layout</c>, <c>index.json</c>, <c>blobs/&lt;alg&gt;/&lt;hex&gt;</c>.</summary>
public static class OciLayout
{
    /// <summary>
    /// Writes (or adds to) a layout: every blob each image reaches, then index.json naming each image by
    /// <c>org.opencontainers.image.ref.name</c>. Blobs and index.json are written temp+rename.
    /// </summary>
    public static async Task WriteAsync(string directory, IContentStore store, IReadOnlyList<(Descriptor Target, string? RefName)> images, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllBytes(Path.Combine(directory, "oci-layout"), JsonSerializer.SerializeToUtf8Bytes(new ImageLayoutHeader { ImageLayoutVersion = ImageLayoutHeader.CurrentVersion }, ImageJsonContext.Default.ImageLayoutHeader));
        foreach (var (target, _) in images)
        {
            foreach (var digest in await ImageResolver.ReachableAsync(store, target.Digest, cancellationToken).ConfigureAwait(false))
            {
                if (await store.InfoAsync(digest, cancellationToken).ConfigureAwait(false) is null)
                {
                    continue; // e.g. other platforms of an index that were never pulled
                }
                var path = BlobPath(directory, digest);
                if (File.Exists(path))
                {
                    continue;
                }
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                var temp = path + ".tmp-" + Environment.ProcessId;
                await using (var source = await store.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false))
                await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
                {
                    await source.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                }
                File.Move(temp, path, overwrite: true);
            }
        }
        var indexPath = Path.Combine(directory, "index.json");
        var existing = File.Exists(indexPath) ? ReadIndex(indexPath).Manifests : [];
        var names = images.Where(i => i.RefName is not null).Select(i => i.RefName).ToHashSet();
        var manifests = existing.Where(m => m.Annotations?.GetValueOrDefault(Annotations.RefName) is not { } n || !names.Contains(n)).ToList();
        foreach (var (target, refName) in images)
        {
            manifests.Add(target with
            {
                Annotations = refName is null ? target.Annotations : new Dictionary<string, string>(target.Annotations ?? new Dictionary<string, string>()) { [Annotations.RefName] = refName },
            });
        }
        var index = new ImageIndex { MediaType = MediaTypes.OciIndex, Manifests = manifests };
        AtomicFile.WriteAllBytes(indexPath, JsonSerializer.SerializeToUtf8Bytes(index, ImageJsonContext.Default.ImageIndex));
    }

    /// <summary>
    /// Imports a layout into the content store (every blob verified against its digest) and returns the
    /// index.json entries with their ref names.
    /// </summary>
    public static async Task<IReadOnlyList<(Descriptor Target, string? RefName)>> ImportAsync(string directory, IContentStore store, CancellationToken cancellationToken = default)
    {
        var layoutFile = Path.Combine(directory, "oci-layout");
        if (!File.Exists(layoutFile))
        {
            throw BerthException.InvalidArgument($"{directory} is not an OCI image layout: oci-layout is missing");
        }
        var header = JsonSerializer.Deserialize(File.ReadAllBytes(layoutFile), ImageJsonContext.Default.ImageLayoutHeader);
        if (header?.ImageLayoutVersion is not { } version || !version.StartsWith("1.", StringComparison.Ordinal))
        {
            throw BerthException.Unsupported($"OCI layout version {header?.ImageLayoutVersion ?? "(none)"} in {directory}; 1.x is supported");
        }
        var index = ReadIndex(Path.Combine(directory, "index.json"));
        var result = new List<(Descriptor, string?)>();
        var done = new HashSet<Digest>();
        foreach (var entry in index.Manifests)
        {
            await ImportTreeAsync(directory, store, entry, done, cancellationToken).ConfigureAwait(false);
            result.Add((entry, entry.Annotations?.GetValueOrDefault(Annotations.RefName)));
        }
        return result;
    }

    private static async Task ImportTreeAsync(string directory, IContentStore store, Descriptor descriptor, HashSet<Digest> done, CancellationToken cancellationToken)
    {
        if (!done.Add(descriptor.Digest))
        {
            return;
        }
        var path = BlobPath(directory, descriptor.Digest);
        if (!File.Exists(path))
        {
            if (MediaTypes.IsIndex(descriptor.MediaType))
            {
                throw BerthException.InvalidArgument($"OCI layout {directory} lacks blob {descriptor.Digest} ({descriptor.MediaType})");
            }
            if (MediaTypes.IsManifest(descriptor.MediaType) && descriptor.Platform is not null)
            {
                return; // a platform the layout does not carry
            }
            throw BerthException.InvalidArgument($"OCI layout {directory} lacks blob {descriptor.Digest} ({descriptor.MediaType})");
        }
        await using (var file = File.OpenRead(path))
        {
            await store.WriteAsync(file, descriptor.Size, descriptor.Digest, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        if (MediaTypes.IsIndex(descriptor.MediaType) || MediaTypes.IsManifest(descriptor.MediaType))
        {
            var probe = await store.ReadJsonAsync(descriptor.Digest, ImageJsonContext.Default.ManifestProbe, cancellationToken).ConfigureAwait(false);
            var children = new List<Descriptor>();
            if (probe.Config is { } config)
            {
                children.Add(config);
            }
            children.AddRange(probe.Layers ?? []);
            children.AddRange(probe.Manifests ?? []);
            foreach (var child in children)
            {
                await ImportTreeAsync(directory, store, child, done, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static ImageIndex ReadIndex(string path)
    {
        if (!File.Exists(path))
        {
            throw BerthException.InvalidArgument($"{path} is missing; not an OCI image layout");
        }
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), ImageJsonContext.Default.ImageIndex) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw BerthException.InvalidArgument($"{path} is not a valid image index: {e.Message}");
        }
    }

    private static string BlobPath(string directory, Digest digest) => Path.Combine(directory, "blobs", digest.Algorithm, digest.Encoded);
}
