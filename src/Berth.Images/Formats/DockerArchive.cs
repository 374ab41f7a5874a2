using System.Formats.Tar;
using System.Text.Json;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Layers;
using Berth.Images.Store;
using Berth.Oci.Image;

namespace Berth.Images.Formats;

/// <summary>The <c>docker save</c> / <c>docker load</c> archive: manifest.json, repositories, &lt;id&gt;.json, &lt;layer&gt;/layer.tar.</summary>
public static class DockerArchive
{
    public sealed record ImportedImage(Descriptor Manifest, IReadOnlyList<string> RepoTags);

    /// <summary>
    /// Writes the images (each: the manifest to save and its names) as a docker-archive tar. Layers are written
    /// uncompressed, as docker does; identical layers are written once.
    /// </summary>
    public static async Task ExportAsync(Stream output, IContentStore store, IReadOnlyList<(Descriptor Target, IReadOnlyList<string> RepoTags)> images, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        var entries = new List<DockerArchiveManifestEntry>();
        var repositories = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        var written = new HashSet<string>(StringComparer.Ordinal);
        await using var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        foreach (var (target, tags) in images)
        {
            var (_, manifest) = await ImageResolver.ResolveManifestAsync(store, target, platform, cancellationToken).ConfigureAwait(false);
            var configBytes = await store.ReadBytesAsync(manifest.Config.Digest, cancellationToken).ConfigureAwait(false);
            var config = JsonSerializer.Deserialize(configBytes, ImageJsonContext.Default.ImageConfig)!;
            var configName = manifest.Config.Digest.Encoded + ".json";
            if (written.Add(configName))
            {
                await AddAsync(tar, configName, new MemoryStream(configBytes), cancellationToken).ConfigureAwait(false);
            }
            var layerPaths = new List<string>();
            for (var i = 0; i < manifest.Layers.Count; i++)
            {
                var diffId = config.RootFs.DiffIds[i];
                var dir = diffId.Encoded;
                var layerPath = dir + "/layer.tar";
                layerPaths.Add(layerPath);
                if (!written.Add(layerPath))
                {
                    continue;
                }
                await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, dir + "/") { Mode = (UnixFileMode)0x1ed, ModificationTime = DateTimeOffset.UnixEpoch }, cancellationToken).ConfigureAwait(false);
                await AddAsync(tar, dir + "/VERSION", new MemoryStream("1.0"u8.ToArray()), cancellationToken).ConfigureAwait(false);
                var legacy = new DockerLegacyLayerJson { Id = dir, Parent = i == 0 ? null : config.RootFs.DiffIds[i - 1].Encoded, Created = DateTimeOffset.UnixEpoch, Os = config.Os };
                await AddAsync(tar, dir + "/json", new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(legacy, ImageJsonContext.Default.DockerLegacyLayerJson)), cancellationToken).ConfigureAwait(false);
                // The layer must go in uncompressed: decompress into a temp file first to know its size for the header.
                var temp = Path.GetTempFileName();
                try
                {
                    await using (var blob = await store.OpenReadAsync(manifest.Layers[i].Digest, cancellationToken).ConfigureAwait(false))
                    await using (var plain = LayerStreams.OpenDecompressed(blob, out _))
                    await using (var file = File.Create(temp))
                    {
                        await plain.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                    }
                    await using var data = File.OpenRead(temp);
                    await AddAsync(tar, layerPath, data, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    File.Delete(temp);
                }
            }
            var repoTags = new List<string>();
            foreach (var tag in tags)
            {
                var reference = ImageReference.Parse(tag);
                repoTags.Add(reference.FamiliarString);
                if (reference.Tag is { } t)
                {
                    if (!repositories.TryGetValue(reference.FamiliarRepository, out var byTag))
                    {
                        repositories[reference.FamiliarRepository] = byTag = [];
                    }
                    byTag[t] = layerPaths.Count > 0 ? config.RootFs.DiffIds[^1].Encoded : manifest.Config.Digest.Encoded;
                }
            }
            entries.Add(new DockerArchiveManifestEntry { Config = configName, RepoTags = repoTags, Layers = layerPaths });
        }
        await AddAsync(tar, "manifest.json", new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(entries, ImageJsonContext.Default.ListDockerArchiveManifestEntry)), cancellationToken).ConfigureAwait(false);
        await AddAsync(tar, "repositories", new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(repositories, ImageJsonContext.Default.DictionaryStringDictionaryStringString)), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads a docker-archive (from docker save, podman save, skopeo copy docker-archive:). Configs and layers go
    /// into the content store (layers as they are in the archive); an OCI manifest is made for each image.
    /// </summary>
    public static async Task<IReadOnlyList<ImportedImage>> ImportAsync(Stream input, IContentStore store, CancellationToken cancellationToken = default)
    {
        var files = new Dictionary<string, (Digest Digest, long Size)>(StringComparer.Ordinal);
        var links = new Dictionary<string, string>(StringComparer.Ordinal);
        byte[]? manifestJson = null;
        try
        {
            await using var reader = new TarReader(new TarHeaderGuard(input), leaveOpen: true);
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                var name = LayerApplier.CleanPath(entry.Name, "archive entry");
                if (entry.EntryType is TarEntryType.SymbolicLink)
                {
                    var (parent, _) = LayerApplier.Split(name);
                    links[name] = LayerApplier.CleanPath(LayerApplier.Join(parent, entry.LinkName), "archive symlink target");
                    continue;
                }
                if (entry.EntryType is TarEntryType.HardLink)
                {
                    links[name] = LayerApplier.CleanPath(entry.LinkName, "archive hardlink target");
                    continue;
                }
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null)
                {
                    continue;
                }
                if (name == "manifest.json")
                {
                    using var memory = new MemoryStream();
                    await entry.DataStream.CopyToAsync(memory, cancellationToken).ConfigureAwait(false);
                    manifestJson = memory.ToArray();
                    continue;
                }
                if (name.EndsWith(".json", StringComparison.Ordinal) || name.EndsWith(".tar", StringComparison.Ordinal) || name.StartsWith("blobs/", StringComparison.Ordinal))
                {
                    var info = await store.WriteAsync(entry.DataStream, entry.Length, cancellationToken: cancellationToken).ConfigureAwait(false);
                    files[name] = (info.Digest, info.Size);
                }
            }
        }
        catch (InvalidDataException e)
        {
            throw BerthException.InvalidArgument($"not a valid docker archive: {e.Message}");
        }
        if (manifestJson is null)
        {
            throw BerthException.InvalidArgument("not a docker archive: manifest.json is missing (OCI layouts are imported from a directory)");
        }
        List<DockerArchiveManifestEntry> entries;
        try
        {
            entries = JsonSerializer.Deserialize(manifestJson, ImageJsonContext.Default.ListDockerArchiveManifestEntry) ?? [];
        }
        catch (JsonException e)
        {
            throw BerthException.InvalidArgument($"docker archive manifest.json is invalid: {e.Message}");
        }
        (Digest Digest, long Size) Find(string path)
        {
            for (var depth = 0; depth < 16; depth++)
            {
                if (files.TryGetValue(path, out var found))
                {
                    return found;
                }
                if (!links.TryGetValue(path, out var next))
                {
                    break;
                }
                path = next;
            }
            throw BerthException.InvalidArgument($"docker archive manifest.json names {path}, which the archive does not contain");
        }
        var result = new List<ImportedImage>();
        foreach (var entry in entries)
        {
            var configFile = Find(LayerApplier.CleanPath(entry.Config, "config path"));
            var config = await store.ReadJsonAsync(configFile.Digest, ImageJsonContext.Default.ImageConfig, cancellationToken).ConfigureAwait(false);
            var layers = new List<Descriptor>();
            for (var i = 0; i < entry.Layers.Count; i++)
            {
                var layerFile = Find(LayerApplier.CleanPath(entry.Layers[i], "layer path"));
                var compression = await SniffAsync(store, layerFile.Digest, cancellationToken).ConfigureAwait(false);
                if (compression == LayerCompression.None && i < config.RootFs.DiffIds.Count && layerFile.Digest != config.RootFs.DiffIds[i])
                {
                    throw new BerthException(ErrorCode.FailedPrecondition, $"docker archive layer {entry.Layers[i]} hashes to {layerFile.Digest}, but the image config says {config.RootFs.DiffIds[i]}; the archive is corrupt");
                }
                layers.Add(new Descriptor { MediaType = MediaTypes.OciLayerFor(compression), Digest = layerFile.Digest, Size = layerFile.Size });
            }
            if (layers.Count != config.RootFs.DiffIds.Count)
            {
                throw BerthException.InvalidArgument($"docker archive image {entry.Config} lists {layers.Count} layers but its config {config.RootFs.DiffIds.Count} diff_ids");
            }
            var configDescriptor = new Descriptor { MediaType = MediaTypes.OciConfig, Digest = configFile.Digest, Size = configFile.Size };
            var manifest = new ImageManifest { MediaType = MediaTypes.OciManifest, Config = configDescriptor, Layers = layers };
            var descriptor = await ImageWriter.WriteJsonAsync(store, manifest, ImageJsonContext.Default.ImageManifest, MediaTypes.OciManifest, cancellationToken).ConfigureAwait(false);
            result.Add(new ImportedImage(descriptor with { Platform = config.Platform }, entry.RepoTags ?? []));
        }
        return result;
    }

    private static async Task<LayerCompression> SniffAsync(IContentStore store, Digest digest, CancellationToken cancellationToken)
    {
        await using var stream = await store.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false);
        await using var _ = LayerStreams.OpenDecompressed(stream, out var compression);
        return compression;
    }

    private static async Task AddAsync(TarWriter tar, string name, Stream data, CancellationToken cancellationToken)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0x1a4, ModificationTime = DateTimeOffset.UnixEpoch, DataStream = data };
        await tar.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
    }
}
