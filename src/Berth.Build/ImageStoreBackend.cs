using System.Text.Json;
using System.Text.Json.Serialization;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Layers;
using Berth.Images.Snapshots;
using Berth.Images.Store;
using Berth.Oci.Image;

namespace Berth.Build;

/// <summary>
/// The real <see cref="IBuildBackend"/>: images come from an <see cref="ImageStore"/>, every step's filesystem is an
/// overlay snapshot of the image library's snapshotter, RUN executes in a container started by an OCI runtime
/// (<see cref="RuntimeRunner"/>), and a commit turns the snapshot's upper dir into a gzip layer blob in the content
/// store plus a committed snapshot named by the new chain ID — the same names <see cref="ImageStore.UnpackAsync"/>
/// gives image layers, so a built image and a pulled one share snapshots.
/// <para>
/// Layer ids are chain IDs. What the manifest needs for each (diff_id, blob descriptor, parent chain) is kept in
/// <c>stateDirectory/layers/&lt;hex&gt;.json</c> (temp+rename), so the final image can be written from the top id alone.
/// Working state: <c>mounts/</c> (mount points of steps), <c>tmp/</c> (layer tars being written), <c>runs/</c> (bundles),
/// <c>runtime/</c> (the runtime's --root). Each is emptied of its entries when the step ends, failed or not.
/// </para>
/// </summary>
public sealed class ImageStoreBackend : IBuildBackend, IDisposable
{
    private readonly ImageStore _images;
    private readonly ISnapshotter _snapshots;
    private readonly string _state;
    private readonly RuntimeRunner _runner;
    private readonly List<IDisposable> _leases = [];

    /// <param name="images">Where base images are found; its snapshotter holds every step's filesystem.</param>
    /// <param name="stateDirectory">The build backend's own state (layer records, mount points, bundles).</param>
    /// <param name="runtimePath">The OCI runtime executable RUN uses (berth-runtime, runc, crun).</param>
    public ImageStoreBackend(ImageStore images, string stateDirectory, string runtimePath)
    {
        _images = images;
        _snapshots = images.Snapshotter ?? throw BerthException.FailedPrecondition("the image store has no snapshotter; builds need overlay snapshots");
        _state = Path.GetFullPath(stateDirectory);
        foreach (var dir in (string[])["layers", "mounts", "tmp", "runs", "runtime"])
        {
            Directory.CreateDirectory(Path.Combine(_state, dir));
        }
        _runner = new RuntimeRunner(runtimePath, Path.Combine(_state, "runs"), Path.Combine(_state, "runtime"));
    }

    /// <summary>
    /// Removes what builds killed mid-step left behind under <paramref name="stateDirectory"/> (a crash, kill -9): step
    /// mounts, containers still known to the runtime, bundles, half-written layer tars and extracted contexts, and the
    /// active snapshots and views of steps (keys <c>build-…</c>). Call it only while no build uses the state
    /// directory (<see cref="ImageBuildService"/> ensures that with a lock file).
    /// </summary>
    public static async Task<int> RecoverAsync(ImageStore images, string stateDirectory, string runtimePath, CancellationToken cancellationToken)
    {
        var state = Path.GetFullPath(stateDirectory);
        var removed = 0;
        var mounts = Path.Combine(state, "mounts");
        if (Directory.Exists(mounts))
        {
            var mounted = Berth.Linux.MountInfo.MountPoints();
            foreach (var dir in Directory.EnumerateDirectories(mounts))
            {
                if (mounted.Contains(dir))
                {
                    SnapshotMounter.Unmount(dir, detach: true);
                }
                Directory.Delete(dir);
                removed++;
            }
        }
        var runtimeRoot = Path.Combine(state, "runtime");
        if (Directory.Exists(runtimeRoot) && Directory.EnumerateDirectories(runtimeRoot).Any())
        {
            var runner = new RuntimeRunner(runtimePath, Path.Combine(state, "runs"), runtimeRoot);
            foreach (var dir in Directory.EnumerateDirectories(runtimeRoot))
            {
                await runner.DeleteContainerAsync(Path.GetFileName(dir)).ConfigureAwait(false);
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
                removed++;
            }
        }
        foreach (var scratch in (string[])["runs", "tmp", "contexts"])
        {
            var dir = Path.Combine(state, scratch);
            if (!Directory.Exists(dir))
            {
                continue;
            }
            foreach (var entry in Directory.EnumerateFileSystemEntries(dir))
            {
                if (Directory.Exists(entry))
                {
                    Directory.Delete(entry, recursive: true);
                }
                else
                {
                    File.Delete(entry);
                }
                removed++;
            }
        }
        if (images.Snapshotter is { } snapshots)
        {
            var stale = new List<string>();
            await foreach (var info in snapshots.WalkAsync(cancellationToken).ConfigureAwait(false))
            {
                if (info.Kind != SnapshotKind.Committed && info.Key.StartsWith("build-", StringComparison.Ordinal))
                {
                    stale.Add(info.Key);
                }
            }
            foreach (var key in stale)
            {
                await snapshots.RemoveAsync(key, cancellationToken).ConfigureAwait(false);
                removed++;
            }
        }
        return removed;
    }

    /// <summary>Snapshots and blobs made by this backend stay leased (safe from the image store's GC) until disposal.</summary>
    public void Dispose()
    {
        lock (_leases)
        {
            _leases.ForEach(l => l.Dispose());
            _leases.Clear();
        }
    }

    public async Task<BaseImage> ResolveImageAsync(string reference, string platform, CancellationToken cancellationToken)
    {
        ImageDetails image;
        try
        {
            image = await _images.InspectAsync(reference, Platform.Parse(platform), cancellationToken).ConfigureAwait(false);
        }
        catch (BerthException e) when (e.Code == ErrorCode.NotFound)
        {
            throw BerthException.NotFound($"no such image: {reference}; pull, import or build it first (berth images-dev busybox makes busybox)");
        }
        string? top = null;
        if (image.ManifestDocument.Layers.Count > 0)
        {
            top = await _images.UnpackAsync(image, cancellationToken).ConfigureAwait(false);
            var chains = image.ChainIds;
            for (var i = 0; i < chains.Count; i++)
            {
                var record = new LayerRecord
                {
                    ChainId = chains[i].ToString(),
                    Parent = i == 0 ? null : chains[i - 1].ToString(),
                    DiffId = image.Config.RootFs.DiffIds[i].ToString(),
                    Blob = image.ManifestDocument.Layers[i],
                };
                if (ReadRecord(record.ChainId) is null)
                {
                    WriteRecord(record);
                }
            }
        }
        var json = JsonSerializer.Serialize(image.Config, ImageJsonContext.Default.ImageConfig);
        return new BaseImage(image.Id.ToString(), ImageConfigDraft.FromJson(json), top);
    }

    public async Task<IBuildMount> MountAsync(string? layer, bool readOnly, CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid().ToString("N")[..16];
        var key = "build-" + id;
        IReadOnlyList<SnapshotMount> plan = readOnly && layer is not null
            ? await _snapshots.ViewAsync(key, layer, cancellationToken).ConfigureAwait(false)
            : await _snapshots.PrepareAsync(key, layer, new Dictionary<string, string> { ["berth.build"] = "step" }, cancellationToken).ConfigureAwait(false);
        var mount = new SnapshotBuildMount(this, key, layer, readOnly);
        try
        {
            var info = await _snapshots.StatAsync(key, cancellationToken).ConfigureAwait(false)
                ?? throw BerthException.NotFound($"snapshot {key} vanished right after it was made");
            mount.UpperDirectory = _snapshots.UpperDirectory(info);
            if (layer is null)
            {
                // No lower layers: the upper dir itself is the whole filesystem; nothing to mount.
                mount.RootPath = mount.UpperDirectory;
            }
            else
            {
                var target = Path.Combine(_state, "mounts", id);
                Directory.CreateDirectory(target);
                mount.MountPoint = target;
                SnapshotMounter.Mount(plan.Select(NoRedirects).ToList(), target);
                mount.Mounted = true;
                mount.RootPath = target;
            }
            return mount;
        }
        catch
        {
            await mount.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Layers are made from upper dirs, which must not hold overlayfs redirects (renamed lower directories).</summary>
    private static SnapshotMount NoRedirects(SnapshotMount m) =>
        m.Type == "overlay" && m.Options.Any(o => o.StartsWith("upperdir=", StringComparison.Ordinal))
            ? m with { Options = [.. m.Options, "redirect_dir=off"] }
            : m;

    public Task<int> RunAsync(IBuildMount mount, RunSpec spec, Action<string> output, CancellationToken cancellationToken)
    {
        var m = Own(mount);
        if (m.ReadOnly)
        {
            throw BerthException.FailedPrecondition("RUN needs a writable mount");
        }
        return _runner.RunAsync(m.RootPath, spec, output, cancellationToken);
    }

    public async Task<string> CommitAsync(IBuildMount mount, CancellationToken cancellationToken)
    {
        var m = Own(mount);
        if (m.ReadOnly || m.Committed)
        {
            throw BerthException.FailedPrecondition($"snapshot {m.Key} is {(m.ReadOnly ? "read-only" : "already committed")}; it cannot be committed");
        }
        // Unmount first: the upper dir is read with nothing writing through the overlay.
        m.Unmount();
        var temp = Path.Combine(_state, "tmp", m.Key + ".tar.gz");
        try
        {
            LayerWriteResult layer;
            await using (var file = File.Create(temp))
            {
                layer = await LayerWriter.WriteAsync(m.UpperDirectory, file, new LayerWriteOptions { OverlayUpper = true, Compression = LayerCompression.Gzip }, cancellationToken).ConfigureAwait(false);
            }
            ContentInfo blob;
            await using (var file = File.OpenRead(temp))
            {
                blob = await _images.Content.WriteAsync(file, layer.Size, layer.Digest,
                    new Dictionary<string, string> { [ContentLabels.UncompressedDigest] = layer.DiffId.ToString() }, cancellationToken).ConfigureAwait(false);
            }
            var chain = m.BaseLayer is null ? layer.DiffId : LayerStreams.ChainId([Digest.Parse(m.BaseLayer), layer.DiffId]);
            var chainKey = chain.ToString();
            lock (_leases)
            {
                _leases.Add(_images.Lease([blob.Digest], [chainKey]));
            }
            if (await _snapshots.StatAsync(chainKey, cancellationToken).ConfigureAwait(false) is null)
            {
                try
                {
                    await _snapshots.CommitAsync(chainKey, m.Key, cancellationToken).ConfigureAwait(false);
                    m.Committed = true;
                }
                catch (BerthException e) when (e.Code == ErrorCode.AlreadyExists)
                {
                    // A build running alongside committed the identical layer first; theirs serves, ours goes on dispose.
                }
            }
            // else: the same change was committed before (same diff_id on the same parent); the existing one serves.
            WriteRecord(new LayerRecord
            {
                ChainId = chainKey,
                Parent = m.BaseLayer,
                DiffId = layer.DiffId.ToString(),
                Blob = new Descriptor { MediaType = layer.OciMediaType, Digest = blob.Digest, Size = blob.Size },
            });
            return chainKey;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public async Task<bool> LayerExistsAsync(string layer, CancellationToken cancellationToken)
    {
        if (ReadRecord(layer) is not { } record)
        {
            return false;
        }
        if (await _snapshots.StatAsync(layer, cancellationToken).ConfigureAwait(false) is not { Kind: SnapshotKind.Committed })
        {
            return false;
        }
        if (!await _images.Content.ExistsAsync(record.Blob.Digest, cancellationToken).ConfigureAwait(false)
            || (record.Parent is not null && !await LayerExistsAsync(record.Parent, cancellationToken).ConfigureAwait(false)))
        {
            return false;
        }
        // A cache hit: keep the layer safe from a concurrent GC until the image that uses it is written.
        lock (_leases)
        {
            _leases.Add(_images.Lease([record.Blob.Digest], [layer]));
        }
        return true;
    }

    /// <summary>The stack under <paramref name="layer"/>, bottom first: what the image's manifest and rootfs list.</summary>
    public IReadOnlyList<LayerRecord> Stack(string? layer)
    {
        var stack = new List<LayerRecord>();
        for (var id = layer; id is not null;)
        {
            var record = ReadRecord(id) ?? throw BerthException.NotFound($"build layer {id} has no record; rebuild with --no-cache");
            stack.Add(record);
            id = record.Parent;
        }
        stack.Reverse();
        return stack;
    }

    private string RecordPath(string chainId)
    {
        var digest = Digest.Parse(chainId);
        return Path.Combine(_state, "layers", digest.Algorithm + "-" + digest.Encoded + ".json");
    }

    private LayerRecord? ReadRecord(string chainId)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(RecordPath(chainId)), BackendJsonContext.Default.LayerRecord);
        }
        catch (Exception e) when (e is FileNotFoundException or JsonException or FormatException or BerthException)
        {
            return null;
        }
    }

    private void WriteRecord(LayerRecord record) =>
        AtomicFile.WriteAllBytes(RecordPath(record.ChainId), JsonSerializer.SerializeToUtf8Bytes(record, BackendJsonContext.Default.LayerRecord));

    private SnapshotBuildMount Own(IBuildMount mount) =>
        mount as SnapshotBuildMount is { } m && ReferenceEquals(m.Backend, this)
            ? m
            : throw BerthException.InvalidArgument("the mount was not made by this build backend");

    /// <summary>One step's filesystem: an active snapshot (or a view) mounted under mounts/.</summary>
    private sealed class SnapshotBuildMount(ImageStoreBackend backend, string key, string? baseLayer, bool readOnly) : IBuildMount
    {
        public ImageStoreBackend Backend { get; } = backend;

        public string Key { get; } = key;

        public string? BaseLayer { get; } = baseLayer;

        public bool ReadOnly { get; } = readOnly;

        public string RootPath { get; set; } = "";

        public string UpperDirectory { get; set; } = "";

        public string? MountPoint { get; set; }

        public bool Mounted { get; set; }

        public bool Committed { get; set; }

        private bool _disposed;

        public void Unmount()
        {
            if (Mounted)
            {
                try
                {
                    SnapshotMounter.Unmount(MountPoint!);
                }
                catch (IOException)
                {
                    // Something still holds it (a process that outlived its container): detach it lazily.
                    SnapshotMounter.Unmount(MountPoint!, detach: true);
                }
                Mounted = false;
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            Unmount();
            if (MountPoint is not null && Directory.Exists(MountPoint))
            {
                Directory.Delete(MountPoint);
            }
            if (!Committed && await Backend._snapshots.StatAsync(Key, CancellationToken.None).ConfigureAwait(false) is not null)
            {
                // Never committed (a failed RUN, a read-only view, or a duplicate of an existing layer): nothing stays.
                await Backend._snapshots.RemoveAsync(Key, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>What the build backend knows about one layer: where it sits in its stack and its blob.</summary>
public sealed record LayerRecord
{
    [JsonPropertyName("chainId")]
    public required string ChainId { get; init; }

    [JsonPropertyName("parent")]
    public string? Parent { get; init; }

    [JsonPropertyName("diffId")]
    public required string DiffId { get; init; }

    [JsonPropertyName("blob")]
    public required Descriptor Blob { get; init; }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LayerRecord))]
internal sealed partial class BackendJsonContext : JsonSerializerContext
{
}
