using System.IO.Pipelines;
using Berth.Core;
using Berth.Engine.Containers;
using Berth.Engine.Volumes;
using Berth.Images.Layers;
using Berth.Linux;

namespace Berth.Engine;

public sealed partial class ContainerEngine
{
    private VolumeStore? _volumeStore;

    /// <summary>The local volume driver's store under <c>&lt;data-root&gt;/volumes</c>, opened on first use.</summary>
    public VolumeStore Volumes => LazyInitializer.EnsureInitialized(ref _volumeStore, () => VolumeStore.Open(Path.Combine(Options.DataRoot, "volumes"), Time));

    /// <summary>IDs of the containers (any state) whose mounts include the volume.</summary>
    public IReadOnlyList<string> VolumeUsers(string name)
    {
        lock (_lock)
        {
            return _containers.Values.Where(c => c.Record.Volumes?.Any(m => m.Name == name) == true).Select(c => c.Id).ToList();
        }
    }

    public VolumeRecord CreateVolume(string? name, string? driver, IReadOnlyDictionary<string, string>? labels, IReadOnlyDictionary<string, string>? options)
    {
        var v = Volumes.Create(name, driver, labels, options, out var created);
        if (created)
        {
            PublishVolume("create", v);
        }
        return v;
    }

    /// <summary>docker volume rm: a volume any container uses is a 409 naming them (also with force, as dockerd).</summary>
    public void RemoveVolume(string name, bool force)
    {
        var removed = TryRemoveUnusedVolume(name, out var users);
        if (users.Count > 0)
        {
            throw new BerthException(ErrorCode.Conflict, $"remove {name}: volume is in use - [{string.Join(", ", users)}]");
        }
        if (removed is null)
        {
            if (force)
            {
                return;
            }
            throw BerthException.NotFound($"get {name}: no such volume");
        }
        FinishRemoval(removed.Value);
    }

    /// <summary>docker volume prune: unused volumes; only anonymous ones unless <paramref name="all"/> (API 1.42+).</summary>
    public (List<string> Deleted, long Reclaimed) PruneVolumes(bool all, Func<VolumeRecord, bool> matches)
    {
        var deleted = new List<string>();
        long reclaimed = 0;
        foreach (var v in Volumes.List())
        {
            if ((!all && !v.Anonymous) || !matches(v) || TryRemoveUnusedVolume(v.Name, out _) is not { } removed)
            {
                continue;
            }
            // Measured in the trash directory, after the locks are released: a big volume blocks no other operation.
            reclaimed += VolumeStore.DirectorySize(Path.Combine(removed.Trash, "_data"));
            deleted.Add(v.Name);
            FinishRemoval(removed);
        }
        return (deleted, reclaimed);
    }

    /// <summary>A volume taken out of the store (record gone, directory renamed to a trash name) but not yet deleted.</summary>
    private readonly record struct RemovedVolume(VolumeRecord Volume, string Trash);

    /// <summary>
    /// The one place a volume is removed: under the engine lock (so no container create can start using it in between)
    /// it is checked for users and unregistered, its directory renamed to a trash name. Null when it does not exist
    /// or is in use (<paramref name="users"/> then names the containers). The caller deletes the trash through
    /// <see cref="FinishRemoval"/> after the locks are released; a crash before that leaves a trash directory, which
    /// <see cref="VolumeStore.Open"/> deletes.
    /// </summary>
    private RemovedVolume? TryRemoveUnusedVolume(string name, out IReadOnlyList<string> users)
    {
        lock (_lock)
        {
            users = [];
            if (Volumes.TryGet(name) is not { } v)
            {
                return null;
            }
            users = VolumeUsers(name);
            if (users.Count > 0)
            {
                return null;
            }
            return new RemovedVolume(v, Volumes.Remove(name));
        }
    }

    private void FinishRemoval(RemovedVolume removed)
    {
        PublishVolume("destroy", removed.Volume);
        TryDeleteDirectory(removed.Trash);
    }

    private void PublishVolume(string action, VolumeRecord v) =>
        Events.Publish("volume", action, v.Name, new Dictionary<string, string>(StringComparer.Ordinal) { ["driver"] = v.Driver });

    /// <summary>
    /// Resolves the container's volume mounts (Binds/Mounts with volume sources, Config.Volumes, the image's VOLUMEs,
    /// --volumes-from), creating named volumes on demand and anonymous ones. Returns the volumes this call created, so a
    /// create that fails afterwards removes them again.
    /// </summary>
    internal List<string> CreateContainerVolumes(ContainerRecord record, IEnumerable<string>? imageVolumes)
    {
        var configVolumes = new List<string>(record.Config.Volumes?.Keys ?? (IEnumerable<string>)[]);
        foreach (var v in imageVolumes ?? [])
        {
            if (!configVolumes.Contains(v))
            {
                configVolumes.Add(v);
            }
        }
        var inherited = VolumesFrom(record).Select(x => new VolumeMountPoint
        {
            Name = x.Mount.Name,
            Destination = x.Mount.Destination,
            Source = x.Mount.Source,
            Driver = x.Mount.Driver,
            RW = x.ReadOnly is null ? x.Mount.RW : !x.ReadOnly.Value,
            Mode = x.Mount.Mode,
            CopyData = false,
        }).ToList();
        var requests = VolumeSpec.Plan(record.HostConfig, configVolumes, inherited, out var mounts);
        if (configVolumes.Count > 0)
        {
            var all = new Dictionary<string, System.Text.Json.Nodes.JsonObject>(StringComparer.Ordinal);
            foreach (var v in configVolumes)
            {
                all[v] = [];
            }
            record.Config.Volumes = all;
        }
        var created = new List<string>();
        try
        {
            foreach (var r in requests)
            {
                // Created and recorded under the engine lock: a `volume rm` in between would find no user and delete it.
                lock (_lock)
                {
                    var v = Volumes.Create(r.Name, r.Driver, r.Labels, r.Options, out var isNew);
                    if (isNew)
                    {
                        created.Add(v.Name);
                        PublishVolume("create", v);
                    }
                    mounts.Add(new VolumeMountPoint
                    {
                        Name = v.Name,
                        Destination = r.Destination,
                        Source = Volumes.Mountpoint(v.Name),
                        Driver = v.Driver,
                        RW = !r.ReadOnly,
                        Mode = r.Mode,
                        CopyData = !r.NoCopy,
                        Anonymous = r.Name is null,
                    });
                    // A fresh copy each time, not the list being filled: the container is already listed, and ps,
                    // inspect and --volumes-from read Record.Volumes without the engine lock.
                    record.Volumes = [.. mounts];
                }
            }
        }
        catch
        {
            lock (_lock)
            {
                record.Volumes = null;
            }
            RemoveVolumesQuietly(created);
            throw;
        }
        lock (_lock)
        {
            record.Volumes = mounts.Count > 0 ? mounts : null;
        }
        return created;
    }

    private IEnumerable<(VolumeMountPoint Mount, bool? ReadOnly)> VolumesFrom(ContainerRecord record)
    {
        foreach (var entry in record.HostConfig.VolumesFrom ?? [])
        {
            var parts = entry.Split(':');
            bool? ro = parts.Length == 2 ? parts[1] switch
            {
                "ro" => true,
                "rw" => false,
                _ => throw BerthException.InvalidArgument($"invalid mode for volumes-from: {parts[1]}; use ro or rw"),
            } : null;
            if (parts.Length > 2 || parts[0].Length == 0)
            {
                throw BerthException.InvalidArgument($"invalid volumes-from \"{entry}\": use CONTAINER[:ro|rw]");
            }
            var source = Get(parts[0]);
            foreach (var m in source.Record.Volumes ?? [])
            {
                yield return (m, ro);
            }
        }
    }

    internal void RemoveVolumesQuietly(IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            try
            {
                if (TryRemoveUnusedVolume(name, out _) is { } removed)
                {
                    FinishRemoval(removed);
                }
            }
            catch (Exception e) when (e is BerthException or IOException or UnauthorizedAccessException)
            {
                Log.ContainerWarning(Logger, name, "remove volume: " + e.Message);
            }
        }
    }

    /// <summary>After `docker rm -v` (or --rm): the container's anonymous volumes that no other container uses.</summary>
    internal void RemoveAnonymousVolumes(ContainerRecord record) =>
        RemoveVolumesQuietly((record.Volumes ?? []).Where(m => m.Anonymous).Select(m => m.Name));

    /// <summary>
    /// Before the container starts (its rootfs mounted): mounts volumes that have mount options and copies the image's
    /// content into every empty volume that asks for it (not with nocopy), once, as Docker does.
    /// </summary>
    internal async Task PrepareVolumesAsync(Container c, string rootfs, CancellationToken cancellationToken)
    {
        try
        {
            await PrepareVolumesCoreAsync(c, rootfs, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The caller's failure path (Container.StartLockedAsync) releases the volumes, for this and later steps.
            throw new BerthException(ErrorCode.Internal, $"preparing the volumes of {c.Record.Name.TrimStart('/')}: {e.Message}");
        }
    }

    private async Task PrepareVolumesCoreAsync(Container c, string rootfs, CancellationToken cancellationToken)
    {
        var changed = false;
        foreach (var m in c.Record.Volumes ?? [])
        {
            var v = Volumes.TryGet(m.Name) ?? throw BerthException.NotFound($"volume {m.Name} of container {c.Record.Name.TrimStart('/')} is gone; recreate the container");
            Volumes.Mount(v);
            if (m.CopyData)
            {
                await VolumeCopier.CopyUpAsync(rootfs, m.Destination, m.Source, cancellationToken).ConfigureAwait(false);
                m.CopyData = false;
                changed = true;
            }
            Events.Publish("volume", "mount", v.Name, new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["driver"] = v.Driver,
                ["container"] = c.Id,
                ["destination"] = m.Destination,
                ["read/write"] = m.RW ? "true" : "false",
                ["propagation"] = "",
            });
        }
        if (changed)
        {
            c.Save();
        }
    }

    /// <summary>After a container stopped: unmounts its volumes with mount options that no running container uses.</summary>
    internal void ReleaseVolumes(Container c)
    {
        foreach (var m in c.Record.Volumes ?? [])
        {
            if (Volumes.TryGet(m.Name) is not { HasMountOptions: true } v)
            {
                continue;
            }
            bool used;
            lock (_lock)
            {
                used = _containers.Values.Any(o => o != c && o.Record.State.Status is ContainerStatus.Running or ContainerStatus.Paused && o.Record.Volumes?.Any(x => x.Name == m.Name) == true);
            }
            if (!used)
            {
                Volumes.Unmount(v);
            }
        }
    }
}

/// <summary>
/// Docker's copy-up: an empty volume mounted over a directory of the image gets that directory's content (files,
/// directories, symlinks, hard links, devices, owners, modes, xattrs, times) and its owner and mode. The tree goes
/// through Berth.Images' layer writer and applier (an uncompressed tar over a pipe), which preserve all of that and
/// resolve every path inside the volume.
/// </summary>
public static class VolumeCopier
{
    public static async Task<bool> CopyUpAsync(string rootfs, string destination, string volumeDir, CancellationToken cancellationToken)
    {
        var source = FileSystem.SecureJoin(rootfs, destination);
        if (!Directory.Exists(source) || !Directory.Exists(volumeDir) || Directory.EnumerateFileSystemEntries(volumeDir).Any())
        {
            return false;
        }
        var pipe = new Pipe();
        var write = Task.Run(() =>
        {
            using var output = pipe.Writer.AsStream();
            try
            {
                LayerWriter.Write(source, output, new LayerWriteOptions { Compression = Berth.Oci.Image.LayerCompression.None }, cancellationToken);
            }
            catch (Exception e)
            {
                pipe.Writer.Complete(e);
                throw;
            }
        }, cancellationToken);
        var apply = Task.Run(() =>
        {
            using var input = pipe.Reader.AsStream();
            LayerApplier.Apply(input, volumeDir, new LayerApplyOptions(), cancellationToken);
        }, cancellationToken);
        await Task.WhenAll(write, apply).ConfigureAwait(false);
        var (uid, gid) = FileOwner.Get(source);
        FileOwner.Set(volumeDir, uid, gid);
        File.SetUnixFileMode(volumeDir, File.GetUnixFileMode(source));
        return true;
    }
}
