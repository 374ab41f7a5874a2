using Berth.Core;
using Berth.Images.Interop;

namespace Berth.Images.Snapshots;

/// <summary>
/// Mounts a snapshot's mounts on a directory (for unpack-by-mount, commit and tests; the runtime mounts the same
/// plan itself). When an overlay's options exceed the one-page mount data limit, the mount is made from a thread
/// that unshared its fs context (CLONE_FS) and chdir'ed to the common parent, with relative paths — the way Docker
/// and containerd shorten long lowerdir lists.
/// </summary>
public static class SnapshotMounter
{
    private const int MountDataLimit = 4095;

    public static void Mount(IReadOnlyList<SnapshotMount> mounts, string target)
    {
        foreach (var m in mounts)
        {
            MountOne(m, target);
        }
    }

    public static void Unmount(string target) => Unmount(target, detach: false);

    /// <summary>Unmounts <paramref name="target"/>; <paramref name="detach"/> = MNT_DETACH (lazy, for a busy mount).</summary>
    public static void Unmount(string target, bool detach)
    {
        if (MountCalls.umount2(target, detach ? MountCalls.MNT_DETACH : 0) != 0)
        {
            throw Fs.Error("umount", target, Fs.Errno);
        }
    }

    private static void MountOne(SnapshotMount m, string target)
    {
        if (m.Type == "bind")
        {
            Check(MountCalls.mount(m.Source, target, null, MountCalls.MS_BIND | MountCalls.MS_REC, null), target);
            if (m.Options.Contains("ro"))
            {
                Check(MountCalls.mount(m.Source, target, null, MountCalls.MS_BIND | MountCalls.MS_REMOUNT | MountCalls.MS_RDONLY, null), target);
            }
            return;
        }
        if (m.Type != "overlay")
        {
            throw BerthException.Unsupported($"mount type {m.Type} for a snapshot");
        }
        var data = string.Join(',', m.Options);
        if (data.Length <= MountDataLimit)
        {
            Check(MountCalls.mount("overlay", target, "overlay", 0, data), target);
            return;
        }
        var (dir, relative) = Relativize(m.Options);
        if (relative.Length > MountDataLimit)
        {
            throw BerthException.Unsupported($"an overlay of this many layers ({relative.Length} bytes of options even with relative paths) exceeds the kernel's mount data limit");
        }
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                // CLONE_FS gives this thread its own cwd, so the chdir does not move the rest of the process.
                if (MountCalls.unshare(MountCalls.CLONE_FS) != 0)
                {
                    throw Fs.Error("unshare(CLONE_FS)", dir, Fs.Errno);
                }
                if (MountCalls.chdir(dir) != 0)
                {
                    throw Fs.Error("chdir", dir, Fs.Errno);
                }
                Check(MountCalls.mount("overlay", Path.GetFullPath(target), "overlay", 0, relative), target);
            }
            catch (Exception e) when (e is IOException or BerthException)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw failure;
        }
    }

    /// <summary>Rewrites dir options relative to their longest common parent directory.</summary>
    internal static (string Dir, string Data) Relativize(IReadOnlyList<string> options)
    {
        var paths = new List<string>();
        foreach (var o in options)
        {
            var eq = o.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && o[..eq] is "lowerdir" or "upperdir" or "workdir")
            {
                paths.AddRange(o[(eq + 1)..].Split(':'));
            }
        }
        var common = paths.Count == 0 ? "/" : Path.GetDirectoryName(paths[0])!;
        foreach (var p in paths)
        {
            while (!(p.StartsWith(common + "/", StringComparison.Ordinal) || common == "/"))
            {
                common = Path.GetDirectoryName(common)!;
            }
        }
        var prefix = common == "/" ? "/" : common + "/";
        var rewritten = options.Select(o =>
        {
            var eq = o.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && o[..eq] is "lowerdir" or "upperdir" or "workdir")
            {
                return o[..(eq + 1)] + string.Join(':', o[(eq + 1)..].Split(':').Select(p => p[prefix.Length..]));
            }
            return o;
        });
        return (common, string.Join(',', rewritten));
    }

    private static void Check(int rc, string target)
    {
        if (rc != 0)
        {
            throw Fs.Error("mount", target, Fs.Errno);
        }
    }
}
