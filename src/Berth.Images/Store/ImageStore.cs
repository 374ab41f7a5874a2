using System.Text.Json;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Layers;
using Berth.Images.Snapshots;
using Berth.Oci.Image;

namespace Berth.Images.Store;

/// <summary>Files a container's init layer holds (Docker's "-init" layer): per-container, below its writable layer.</summary>
public sealed record InitFiles(string Hostname, string Hosts, string ResolvConf);

/// <summary>
/// Names (normalized references) for images in a content store, their unpacked snapshots, and garbage collection.
/// State: <c>stateDir/images.json</c>, written temp+rename.
/// </summary>
public sealed class ImageStore
{
    private readonly string _statePath;
    private readonly string _untaggedPath;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly HashSet<Digest> _leasedContent = [];
    private readonly HashSet<string> _leasedSnapshots = new(StringComparer.Ordinal);

    public ImageStore(IContentStore content, ISnapshotter? snapshotter, string stateDirectory, TimeProvider? timeProvider = null)
    {
        Content = content;
        Snapshotter = snapshotter;
        Directory.CreateDirectory(stateDirectory);
        _statePath = Path.Combine(Path.GetFullPath(stateDirectory), "images.json");
        _untaggedPath = Path.Combine(Path.GetFullPath(stateDirectory), "untagged.json");
        _time = timeProvider ?? TimeProvider.System;
    }

    public IContentStore Content { get; }

    public ISnapshotter? Snapshotter { get; }

    public async Task<ImageRecord> TagAsync(string reference, Descriptor target, CancellationToken cancellationToken = default)
    {
        var name = ImageReference.Parse(reference);
        // A digest reference names exactly its own content: what a pull by digest records (docker's repo@digest).
        if (name.Digest is { } pinned && name.Tag is null && pinned != target.Digest)
        {
            throw BerthException.InvalidArgument($"cannot tag with a digest reference \"{reference}\"; give a tag such as {name.Repository}:latest");
        }
        if (!await Content.ExistsAsync(target.Digest, cancellationToken).ConfigureAwait(false))
        {
            throw BerthException.NotFound($"cannot tag {reference}: manifest {target.Digest} is not in the content store");
        }
        var record = new ImageRecord { Name = name.ToString(), Target = target, Created = _time.GetUtcNow() };
        await UpdateAsync(all => all[record.Name] = record, cancellationToken).ConfigureAwait(false);
        await UpdateUntaggedAsync(list => list.RemoveAll(d => d.Digest == target.Digest), cancellationToken).ConfigureAwait(false);
        return record;
    }

    /// <summary>
    /// Keeps an image that has no name (a build without <c>-t</c>, Docker's dangling <c>&lt;none&gt;</c> image): it is
    /// found by its image ID, survives garbage collection, and stops being untagged once <see cref="TagAsync"/> names it.
    /// State: <c>stateDir/untagged.json</c>.
    /// </summary>
    public async Task KeepUntaggedAsync(Descriptor target, CancellationToken cancellationToken = default)
    {
        if (!await Content.ExistsAsync(target.Digest, cancellationToken).ConfigureAwait(false))
        {
            throw BerthException.NotFound($"manifest {target.Digest} is not in the content store");
        }
        if ((await ListAsync(cancellationToken).ConfigureAwait(false)).Any(r => r.Target.Digest == target.Digest))
        {
            return;
        }
        await UpdateUntaggedAsync(list =>
        {
            if (!list.Any(d => d.Digest == target.Digest))
            {
                list.Add(target);
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Images kept without a name (<see cref="KeepUntaggedAsync"/>), oldest first.</summary>
    public async Task<IReadOnlyList<Descriptor>> ListUntaggedAsync(CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return LoadUntagged();
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Removes one name; the content stays until garbage collection. NotFound when the name is unknown.</summary>
    public async Task UntagAsync(string reference, CancellationToken cancellationToken = default)
    {
        var name = ImageReference.Parse(reference).ToString();
        await UpdateAsync(all =>
        {
            if (!all.Remove(name))
            {
                throw BerthException.NotFound($"no such image: {reference}");
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ImageRecord>> ListAsync(CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return Load().Values.OrderBy(r => r.Name, StringComparer.Ordinal).ToList();
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Finds an image by name (<c>busybox</c>), name@digest, or image ID (config digest, <c>sha256:</c> optional,
    /// a unique prefix of at least 4 hex digits as docker allows).
    /// </summary>
    public async Task<ImageDetails> InspectAsync(string reference, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        var records = await ListAsync(cancellationToken).ConfigureAwait(false);
        Descriptor? target = null;
        ImageReference? parsed = null;
        var idPrefix = reference.StartsWith("sha256:", StringComparison.Ordinal) ? reference[7..] : reference;
        if (idPrefix.Length >= 4 && idPrefix.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f')))
        {
            foreach (var candidate in records.Select(r => r.Target).Concat(await ListUntaggedAsync(cancellationToken).ConfigureAwait(false)))
            {
                var (_, m) = await ImageResolver.ResolveManifestAsync(Content, candidate, platform, cancellationToken).ConfigureAwait(false);
                if (m.Config.Digest.Encoded.StartsWith(idPrefix, StringComparison.Ordinal) || candidate.Digest.Encoded.StartsWith(idPrefix, StringComparison.Ordinal))
                {
                    target = candidate;
                    break;
                }
            }
        }
        if (target is null)
        {
            parsed = ImageReference.Parse(reference);
            var byName = records.FirstOrDefault(r => r.Name == parsed.ToString());
            if (byName is not null)
            {
                target = byName.Target;
            }
            else if (parsed.Digest is { } digest && records.Any(r => ImageReference.Parse(r.Name).Repository == parsed.Repository) && await Content.InfoAsync(digest, cancellationToken).ConfigureAwait(false) is { } info)
            {
                var probe = await Content.ReadJsonAsync(digest, ImageJsonContext.Default.ManifestProbe, cancellationToken).ConfigureAwait(false);
                target = new Descriptor { MediaType = probe.MediaType ?? MediaTypes.OciManifest, Digest = digest, Size = info.Size };
            }
        }
        if (target is null)
        {
            throw BerthException.NotFound($"no such image: {reference}; list images, or pull, import or build it first");
        }
        var (manifestDescriptor, manifest) = await ImageResolver.ResolveManifestAsync(Content, target, platform, cancellationToken).ConfigureAwait(false);
        var config = await Content.ReadJsonAsync(manifest.Config.Digest, ImageJsonContext.Default.ImageConfig, cancellationToken).ConfigureAwait(false);
        var tags = records.Where(r => r.Target.Digest == target.Digest).Select(r => ImageReference.Parse(r.Name).FamiliarString).ToList();
        return new ImageDetails(parsed, tags, target, manifestDescriptor, manifest, config, manifest.Layers.Sum(l => l.Size));
    }

    public async Task<IReadOnlyList<ImageHistoryItem>> HistoryAsync(string reference, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        var image = await InspectAsync(reference, platform, cancellationToken).ConfigureAwait(false);
        var history = image.Config.History ?? [];
        var items = new List<ImageHistoryItem>();
        var layer = 0;
        foreach (var h in history)
        {
            var empty = h.EmptyLayer == true;
            var size = !empty && layer < image.ManifestDocument.Layers.Count ? image.ManifestDocument.Layers[layer++].Size : 0;
            items.Add(new ImageHistoryItem("<missing>", h.Created, h.CreatedBy ?? "", size, h.Comment ?? "", empty));
        }
        if (items.Count > 0)
        {
            items[^1] = items[^1] with { Id = image.Id.ToString() };
        }
        items.Reverse();
        return items;
    }

    /// <summary>
    /// Removes a name, or with an image ID every name of that image. The blobs go at the next garbage collection.
    /// Refused while a container uses the image unless <paramref name="force"/>.
    /// </summary>
    public async Task<IReadOnlyList<string>> RemoveAsync(string reference, bool force = false, Func<Digest, bool>? inUse = null, CancellationToken cancellationToken = default)
    {
        var image = await InspectAsync(reference, null, cancellationToken).ConfigureAwait(false);
        if (!force && inUse?.Invoke(image.Id) == true)
        {
            throw new BerthException(ErrorCode.Conflict, $"image {reference} ({image.Id.Encoded[..12]}) is used by a container; remove the container first or use --force");
        }
        var removed = new List<string>();
        await UpdateAsync(all =>
        {
            var names = image.Reference is { } r && all.ContainsKey(r.ToString())
                ? [r.ToString()]
                : all.Values.Where(x => x.Target.Digest == image.Target.Digest).Select(x => x.Name).ToList();
            foreach (var n in names)
            {
                all.Remove(n);
                removed.Add(n);
            }
        }, cancellationToken).ConfigureAwait(false);
        if (image.Reference is null || removed.Count == 0)
        {
            // By image ID: an untagged image goes too ("Deleted: sha256:…" in docker's words).
            await UpdateUntaggedAsync(list =>
            {
                if (list.RemoveAll(d => d.Digest == image.Target.Digest) > 0)
                {
                    removed.Add(image.Id.ToString());
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        return removed;
    }

    /// <summary>Unpacks each layer into a committed snapshot named by its chain ID (skipping those already there); returns the top chain ID.</summary>
    public async Task<string> UnpackAsync(ImageDetails image, CancellationToken cancellationToken = default)
    {
        var snapshotter = Snapshotter ?? throw BerthException.FailedPrecondition("this image store has no snapshotter");
        var chainIds = image.ChainIds;
        if (chainIds.Count != image.ManifestDocument.Layers.Count)
        {
            throw BerthException.InvalidArgument($"image {image.Id}: the config lists {chainIds.Count} diff_ids but the manifest {image.ManifestDocument.Layers.Count} layers");
        }
        string? parent = null;
        for (var i = 0; i < chainIds.Count; i++)
        {
            var chain = chainIds[i].ToString();
            if (await snapshotter.StatAsync(chain, cancellationToken).ConfigureAwait(false) is null)
            {
                var key = $"extract-{Guid.NewGuid():N} {chain}";
                await snapshotter.PrepareAsync(key, parent, null, cancellationToken).ConfigureAwait(false);
                try
                {
                    var info = (await snapshotter.StatAsync(key, cancellationToken).ConfigureAwait(false))!;
                    var lowers = new List<string>();
                    for (var p = parent; p is not null;)
                    {
                        var ancestor = (await snapshotter.StatAsync(p, cancellationToken).ConfigureAwait(false))!;
                        lowers.Add(snapshotter.UpperDirectory(ancestor));
                        p = ancestor.Parent;
                    }
                    await using var blob = await Content.OpenReadAsync(image.ManifestDocument.Layers[i].Digest, cancellationToken).ConfigureAwait(false);
                    var result = await LayerApplier.ApplyAsync(blob, snapshotter.UpperDirectory(info), new LayerApplyOptions { Whiteouts = WhiteoutMode.OverlayFs, LowerDirectories = lowers }, cancellationToken).ConfigureAwait(false);
                    if (result.DiffId != image.Config.RootFs.DiffIds[i])
                    {
                        throw new BerthException(ErrorCode.FailedPrecondition, $"layer {image.ManifestDocument.Layers[i].Digest} uncompresses to {result.DiffId}, but the image config says {image.Config.RootFs.DiffIds[i]}; the image is corrupt");
                    }
                    var lostRace = false;
                    try
                    {
                        await snapshotter.CommitAsync(chain, key, cancellationToken).ConfigureAwait(false);
                    }
                    catch (BerthException e) when (e.Code == ErrorCode.AlreadyExists)
                    {
                        lostRace = true;
                    }
                    if (lostRace)
                    {
                        // Another unpack of the same layer (a second container or build starting at once) finished
                        // first: its snapshot has the same content (same chain ID), so ours is dropped.
                        if (await snapshotter.StatAsync(chain, cancellationToken).ConfigureAwait(false) is not { Kind: SnapshotKind.Committed })
                        {
                            throw new BerthException(ErrorCode.AlreadyExists, $"snapshot {chain} exists but is not committed; remove it and unpack again");
                        }
                        await snapshotter.RemoveAsync(key, CancellationToken.None).ConfigureAwait(false);
                    }
                }
                catch
                {
                    await snapshotter.RemoveAsync(key, CancellationToken.None).ConfigureAwait(false);
                    throw;
                }
            }
            parent = chain;
        }
        return parent ?? throw BerthException.InvalidArgument($"image {image.Id} has no layers");
    }

    /// <summary>
    /// A container's rootfs: the image's committed chain, a per-container init layer holding /etc/hostname,
    /// /etc/hosts and /etc/resolv.conf, and a writable snapshot keyed by the container ID. Returns its mounts.
    /// </summary>
    public async Task<IReadOnlyList<SnapshotMount>> PrepareContainerAsync(string containerId, string reference, InitFiles init, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        var snapshotter = Snapshotter ?? throw BerthException.FailedPrecondition("this image store has no snapshotter");
        var image = await InspectAsync(reference, platform, cancellationToken).ConfigureAwait(false);
        var top = await UnpackAsync(image, cancellationToken).ConfigureAwait(false);
        var initKey = containerId + "-init";
        var preparing = initKey + "-prepare";
        await snapshotter.PrepareAsync(preparing, top, null, cancellationToken).ConfigureAwait(false);
        try
        {
            var dir = snapshotter.UpperDirectory((await snapshotter.StatAsync(preparing, cancellationToken).ConfigureAwait(false))!);
            var etc = Directory.CreateDirectory(Path.Combine(dir, "etc")).FullName;
            await File.WriteAllTextAsync(Path.Combine(etc, "hostname"), init.Hostname.TrimEnd('\n') + "\n", cancellationToken).ConfigureAwait(false);
            await File.WriteAllTextAsync(Path.Combine(etc, "hosts"), init.Hosts, cancellationToken).ConfigureAwait(false);
            await File.WriteAllTextAsync(Path.Combine(etc, "resolv.conf"), init.ResolvConf, cancellationToken).ConfigureAwait(false);
            foreach (var f in new[] { "hostname", "hosts", "resolv.conf" })
            {
                Interop.Fs.fchmodat(Interop.Fs.AT_FDCWD, Path.Combine(etc, f), 0x1a4, 0);
            }
            await snapshotter.CommitAsync(initKey, preparing, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await snapshotter.RemoveAsync(preparing, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        return await snapshotter.PrepareAsync(containerId, initKey, new Dictionary<string, string> { ["berth.image"] = image.Id.ToString() }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes a container's writable and init snapshots.</summary>
    public async Task RemoveContainerAsync(string containerId, CancellationToken cancellationToken = default)
    {
        var snapshotter = Snapshotter ?? throw BerthException.FailedPrecondition("this image store has no snapshotter");
        if (await snapshotter.StatAsync(containerId, cancellationToken).ConfigureAwait(false) is not null)
        {
            await snapshotter.RemoveAsync(containerId, cancellationToken).ConfigureAwait(false);
        }
        if (await snapshotter.StatAsync(containerId + "-init", cancellationToken).ConfigureAwait(false) is not null)
        {
            await snapshotter.RemoveAsync(containerId + "-init", cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Keeps blobs and snapshots alive while a lease is held (a pull or build in progress) even though no name points at them yet.</summary>
    public IDisposable Lease(IEnumerable<Digest> content, IEnumerable<string>? snapshots = null)
    {
        var c = content.ToList();
        var s = snapshots?.ToList() ?? [];
        lock (_leasedContent)
        {
            c.ForEach(d => _leasedContent.Add(d));
            s.ForEach(k => _leasedSnapshots.Add(k));
        }
        return new LeaseHandle(() =>
        {
            lock (_leasedContent)
            {
                c.ForEach(d => _leasedContent.Remove(d));
                s.ForEach(k => _leasedSnapshots.Remove(k));
            }
        });
    }

    /// <summary>
    /// Removes blobs no name, lease or GC root label reaches, and committed snapshots that neither a named image's
    /// chain nor any active snapshot/view (a container) builds on. Active snapshots are never removed here.
    /// </summary>
    public async Task<GcResult> GarbageCollectAsync(CancellationToken cancellationToken = default)
    {
        var records = await ListAsync(cancellationToken).ConfigureAwait(false);
        HashSet<Digest> keepContent;
        HashSet<string> keepSnapshots;
        lock (_leasedContent)
        {
            keepContent = [.. _leasedContent];
            keepSnapshots = new HashSet<string>(_leasedSnapshots, StringComparer.Ordinal);
        }
        var untagged = await ListUntaggedAsync(cancellationToken).ConfigureAwait(false);
        var roots = new List<Digest>(records.Select(r => r.Target.Digest).Concat(untagged.Select(d => d.Digest)));
        await foreach (var info in Content.WalkAsync(cancellationToken).ConfigureAwait(false))
        {
            if (info.Labels.ContainsKey(ContentLabels.GcRoot))
            {
                roots.Add(info.Digest);
            }
        }
        foreach (var leased in keepContent.ToList())
        {
            roots.Add(leased);
        }
        foreach (var root in roots)
        {
            keepContent.UnionWith(await ImageResolver.ReachableAsync(Content, root, cancellationToken).ConfigureAwait(false));
        }
        foreach (var target in records.Select(r => r.Target).Concat(untagged))
        {
            foreach (var manifest in await ManifestsOfAsync(target, cancellationToken).ConfigureAwait(false))
            {
                var config = await Content.ReadJsonAsync(manifest.Config.Digest, ImageJsonContext.Default.ImageConfig, cancellationToken).ConfigureAwait(false);
                if (config.RootFs.DiffIds.Count > 0)
                {
                    keepSnapshots.UnionWith(LayerStreams.ChainIds(config.RootFs.DiffIds).Select(c => c.ToString()));
                }
            }
        }
        var removedBlobs = new List<Digest>();
        var candidates = new List<ContentInfo>();
        await foreach (var info in Content.WalkAsync(cancellationToken).ConfigureAwait(false))
        {
            candidates.Add(info);
        }
        foreach (var info in candidates.Where(i => !keepContent.Contains(i.Digest)))
        {
            if (await Content.DeleteAsync(info.Digest, cancellationToken).ConfigureAwait(false))
            {
                removedBlobs.Add(info.Digest);
            }
        }
        var removedSnapshots = new List<string>();
        if (Snapshotter is { } snapshotter)
        {
            var all = new Dictionary<string, SnapshotInfo>(StringComparer.Ordinal);
            await foreach (var s in snapshotter.WalkAsync(cancellationToken).ConfigureAwait(false))
            {
                all[s.Key] = s;
            }
            // Everything an active snapshot or view stands on stays, as does everything a kept snapshot stands on.
            var keep = new HashSet<string>(StringComparer.Ordinal);
            foreach (var s in all.Values.Where(s => s.Kind != SnapshotKind.Committed || keepSnapshots.Contains(s.Key)))
            {
                for (var k = s.Key; k is not null && keep.Add(k); k = all.GetValueOrDefault(k)?.Parent)
                {
                }
            }
            // Remove children before parents.
            bool progress;
            do
            {
                progress = false;
                foreach (var s in all.Values.Where(s => !keep.Contains(s.Key) && !all.Values.Any(c => c.Parent == s.Key)).ToList())
                {
                    await snapshotter.RemoveAsync(s.Key, cancellationToken).ConfigureAwait(false);
                    all.Remove(s.Key);
                    removedSnapshots.Add(s.Key);
                    progress = true;
                }
            }
            while (progress);
        }
        return new GcResult(removedBlobs, removedSnapshots);
    }

    private async Task<List<ImageManifest>> ManifestsOfAsync(Descriptor target, CancellationToken cancellationToken)
    {
        var result = new List<ImageManifest>();
        var probe = await Content.ReadJsonAsync(target.Digest, ImageJsonContext.Default.ManifestProbe, cancellationToken).ConfigureAwait(false);
        if (probe.Manifests is { } children)
        {
            foreach (var child in children)
            {
                if (await Content.ExistsAsync(child.Digest, cancellationToken).ConfigureAwait(false))
                {
                    result.AddRange(await ManifestsOfAsync(child, cancellationToken).ConfigureAwait(false));
                }
            }
        }
        else if (probe.Config is not null)
        {
            result.Add(await Content.ReadJsonAsync(target.Digest, ImageJsonContext.Default.ImageManifest, cancellationToken).ConfigureAwait(false));
        }
        return result;
    }

    private async Task UpdateAsync(Action<Dictionary<string, ImageRecord>> change, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var all = Load();
            change(all);
            AtomicFile.WriteAllBytes(_statePath, JsonSerializer.SerializeToUtf8Bytes(all, ImagesJsonContext.Default.DictionaryStringImageRecord));
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task UpdateUntaggedAsync(Action<List<Descriptor>> change, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var list = LoadUntagged();
            var before = JsonSerializer.SerializeToUtf8Bytes(list, ImagesJsonContext.Default.ListDescriptor);
            change(list);
            var after = JsonSerializer.SerializeToUtf8Bytes(list, ImagesJsonContext.Default.ListDescriptor);
            if (!before.AsSpan().SequenceEqual(after))
            {
                AtomicFile.WriteAllBytes(_untaggedPath, after);
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    private List<Descriptor> LoadUntagged() =>
        File.Exists(_untaggedPath) ? JsonSerializer.Deserialize(File.ReadAllBytes(_untaggedPath), ImagesJsonContext.Default.ListDescriptor) ?? [] : [];

    private Dictionary<string, ImageRecord> Load()
    {
        if (!File.Exists(_statePath))
        {
            return new Dictionary<string, ImageRecord>(StringComparer.Ordinal);
        }
        var loaded = JsonSerializer.Deserialize(File.ReadAllBytes(_statePath), ImagesJsonContext.Default.DictionaryStringImageRecord);
        return loaded is null ? new(StringComparer.Ordinal) : new(loaded, StringComparer.Ordinal);
    }

    private sealed class LeaseHandle(Action release) : IDisposable
    {
        private Action? _release = release;

        public void Dispose() => Interlocked.Exchange(ref _release, null)?.Invoke();
    }
}
