using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

/// <summary>
/// Builds the container's mount table inside its new mount namespace: the rootfs bind, every spec mount (paths resolved
/// inside the rootfs so image symlinks cannot point mounts at the host), /dev, pivot_root, then masked and read-only
/// paths. Runs on the init's main thread, synchronously.
/// </summary>
internal sealed class RootfsSetup(Spec spec, string rootfs, ISet<string> ownNamespaces)
{
    private static readonly (string Path, long Major, long Minor)[] DefaultDevices =
    [
        ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
    ];

    private const uint S_IFCHR = 0x2000;
    private const uint S_IFBLK = 0x6000;
    private const uint S_IFIFO = 0x1000;

    private bool _devIsTmpfs;

    private bool? _joinedNetworkGetsSysfs;

    /// <summary>
    /// A joined network namespace (a path, as engines pin one per container) gets its own sysfs too, so /sys/class/net
    /// shows the container's interfaces; only in a user namespace would the kernel refuse that. Worked out once.
    /// </summary>
    private bool JoinedNetworkGetsSysfs() =>
        _joinedNetworkGetsSysfs ??= !ownNamespaces.Contains("user")
            && spec.Linux?.Namespaces?.Exists(n => n.Type == "network" && !string.IsNullOrEmpty(n.Path)) == true;

    public void BeforePivot()
    {
        Sys.Mount(rootfs, rootfs, null, MountFlags.Bind | MountFlags.Rec, null);
        foreach (var mount in spec.Mounts ?? [])
        {
            MountOne(mount);
        }
        CreateDevices();
        CreateDevSymlinks();
        var cwd = FileSystem.SecureJoin(rootfs, spec.Process?.Cwd ?? "/");
        if (!Directory.Exists(cwd))
        {
            Directory.CreateDirectory(cwd);
        }
    }

    public void Pivot()
    {
        var oldRoot = Sys.Open("/", Sys.O_DIRECTORY | Sys.O_RDONLY);
        var newRoot = Sys.Open(rootfs, Sys.O_DIRECTORY | Sys.O_RDONLY);
        try
        {
            Sys.Chdir(rootfs);
            Sys.PivotRoot(".", ".");
            Sys.FChdir(oldRoot, "old root");
            // The old root must not propagate its detach to the host.
            Sys.Mount(null, ".", null, MountFlags.Slave | MountFlags.Rec, null);
            Sys.Unmount(".", Sys.MNT_DETACH);
            Sys.FChdir(newRoot, "new root");
            Sys.Chdir("/");
        }
        finally
        {
            Sys.Close(oldRoot);
            Sys.Close(newRoot);
        }
    }

    public void AfterPivot()
    {
        var linux = spec.Linux!;
        foreach (var path in linux.MaskedPaths ?? [])
        {
            Mask(path);
        }
        foreach (var path in linux.ReadonlyPaths ?? [])
        {
            MakeReadonly(path);
        }
        if (spec.Root!.Readonly)
        {
            var existing = FileSystem.MountFlagsOf("/");
            Sys.Mount(null, "/", null, MountFlags.Bind | MountFlags.Remount | MountFlags.ReadOnly | existing, null);
        }
        if (linux.RootfsPropagation is { } rp && MountOptions.PropagationFlag(rp) is { } flag)
        {
            Sys.Mount(null, "/", null, flag, null);
        }
        Sys.Umask(spec.Process?.User.Umask ?? 0x12);
    }

    private void MountOne(Mount mount)
    {
        var options = MountOptions.Parse(mount.Options, mount.Type);
        var dest = FileSystem.SecureJoin(rootfs, mount.Destination);
        var type = mount.Type;
        if (type == "cgroup" || type == "cgroup2")
        {
            MountCgroups(dest, options);
            return;
        }
        if (type == "sysfs" && !ownNamespaces.Contains("network") && !JoinedNetworkGetsSysfs())
        {
            // Without its own network namespace the kernel refuses a new sysfs; show the host's read-only instead.
            BindMount("/sys", dest, options with { Recursive = true, Flags = options.Flags | MountFlags.ReadOnly });
            return;
        }
        if (type == "mqueue" && !ownNamespaces.Contains("ipc"))
        {
            BindMount("/dev/mqueue", dest, options);
            return;
        }
        if (options.Bind)
        {
            var source = mount.Source ?? throw BerthException.InvalidArgument($"mounts {mount.Destination}: a bind mount needs a source");
            if (!Path.IsPathRooted(source))
            {
                throw BerthException.InvalidArgument($"mounts {mount.Destination}: bind source \"{source}\" must be an absolute path");
            }
            BindMount(source, dest, options);
            return;
        }
        EnsureDirectory(dest);
        if (mount.Destination == "/dev" && type == "tmpfs")
        {
            _devIsTmpfs = true;
        }
        Sys.Mount(mount.Source ?? type, dest, type, options.Flags & ~MountFlags.Remount, options.Data);
        if (options.Propagation != MountFlags.None)
        {
            Sys.Mount(null, dest, null, options.Propagation, null);
        }
    }

    private static void BindMount(string source, string dest, MountOptions options)
    {
        if (!File.Exists(source) && !Directory.Exists(source))
        {
            throw BerthException.NotFound($"bind mount source {source} does not exist");
        }
        if (Directory.Exists(source))
        {
            EnsureDirectory(dest);
        }
        else
        {
            EnsureFile(dest);
        }
        Sys.Mount(source, dest, null, MountFlags.Bind | (options.Recursive ? MountFlags.Rec : MountFlags.None), null);
        var extra = options.Flags & ~(MountFlags.Remount | MountFlags.Bind | MountFlags.Rec);
        if (extra != MountFlags.None)
        {
            var existing = FileSystem.MountFlagsOf(dest);
            Sys.Mount(null, dest, null, MountFlags.Bind | MountFlags.Remount | existing | extra, null);
        }
        if (options.Propagation != MountFlags.None)
        {
            Sys.Mount(null, dest, null, options.Propagation, null);
        }
    }

    /// <summary>
    /// cgroup v1: a tmpfs with one directory per hierarchy; cgroup v2: the unified tree. With a cgroup namespace the
    /// hierarchies are mounted fresh (rooted at the container's cgroup); without one, the container's own cgroup
    /// directories are bind-mounted, so it never sees its siblings. On a hybrid host, like runc, only v1 is shown.
    /// </summary>
    private void MountCgroups(string dest, MountOptions options)
    {
        var layout = Berth.Cgroups.CgroupLayout.Detect();
        var flags = MountFlags.NoSuid | MountFlags.NoDev | MountFlags.NoExec | (options.Flags & MountFlags.ReadOnly);
        var ownNs = ownNamespaces.Contains("cgroup");
        EnsureDirectory(dest);
        if (layout.Mode == Berth.Cgroups.CgroupMode.Unified)
        {
            var unified = layout.Unified!;
            if (ownNs)
            {
                Sys.Mount("cgroup2", dest, "cgroup2", flags, null);
            }
            else
            {
                BindMount(unified.DirectoryOf(unified.OwnPath), dest, options with { Flags = flags });
            }
            return;
        }
        Sys.Mount("tmpfs", dest, "tmpfs", MountFlags.NoSuid | MountFlags.NoDev | MountFlags.NoExec, "mode=755");
        foreach (var h in layout.V1)
        {
            var name = Path.GetFileName(h.MountPoint);
            var target = dest + "/" + name;
            Directory.CreateDirectory(target);
            if (ownNs)
            {
                Sys.Mount("cgroup", target, "cgroup", flags, h.Key);
            }
            else
            {
                Sys.Mount(h.DirectoryOf(h.OwnPath), target, null, MountFlags.Bind, null);
                Sys.Mount(null, target, null, MountFlags.Bind | MountFlags.Remount | flags, null);
            }
        }
        if (options.Flags.HasFlag(MountFlags.ReadOnly))
        {
            Sys.Mount(null, dest, null, MountFlags.Bind | MountFlags.Remount | MountFlags.ReadOnly | MountFlags.NoSuid | MountFlags.NoDev | MountFlags.NoExec, null);
        }
    }

    private void CreateDevices()
    {
        var userNs = ownNamespaces.Contains("user");
        var seen = new HashSet<string>();
        foreach (var d in spec.Linux?.Devices ?? [])
        {
            seen.Add(d.Path);
            var type = d.Type switch
            {
                "b" => S_IFBLK,
                "p" => S_IFIFO,
                _ => S_IFCHR,
            };
            MakeDevice(d.Path, type, d.Major, d.Minor, d.FileMode ?? 0x1b6, d.Uid ?? 0, d.Gid ?? 0, userNs);
        }
        foreach (var (path, major, minor) in DefaultDevices)
        {
            if (seen.Add(path))
            {
                MakeDevice(path, S_IFCHR, major, minor, 0x1b6, 0, 0, userNs);
            }
        }
    }

    private void MakeDevice(string path, uint type, long major, long minor, uint mode, uint uid, uint gid, bool userNs)
    {
        var dest = FileSystem.SecureJoin(rootfs, path);
        EnsureDirectory(Path.GetDirectoryName(dest)!);
        if (userNs)
        {
            // mknod is not allowed in a user namespace: bind the host's node instead.
            EnsureFile(dest);
            Sys.Mount(path, dest, null, MountFlags.Bind, null);
            return;
        }
        if (!_devIsTmpfs && File.Exists(dest))
        {
            File.Delete(dest);
        }
        var err = Sys.TryMknod(dest, type | (mode & 0xfff), Sys.MakeDev(major, minor));
        if (err == Errno.EEXIST)
        {
            File.Delete(dest);
            Sys.Mknod(dest, type | (mode & 0xfff), Sys.MakeDev(major, minor));
        }
        else if (err != 0)
        {
            throw new LinuxSyscallException("mknod", dest, err);
        }
        Sys.Chmod(dest, mode & 0xfff);
        Sys.Chown(dest, uid, gid);
    }

    private void CreateDevSymlinks()
    {
        (string Link, string Target)[] links =
        [
            ("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"), ("/dev/stdout", "/proc/self/fd/1"),
            ("/dev/stderr", "/proc/self/fd/2"),
        ];
        foreach (var (link, target) in links)
        {
            TrySymlink(target, FileSystem.SecureJoin(rootfs, link));
        }
        if (File.Exists("/proc/kcore"))
        {
            TrySymlink("/proc/kcore", FileSystem.SecureJoin(rootfs, "/dev/core"));
        }
        var ptmx = FileSystem.SecureJoin(rootfs, "/dev/ptmx");
        if (Directory.Exists(FileSystem.SecureJoin(rootfs, "/dev/pts")))
        {
            if (File.Exists(ptmx) || FileSystem.ReadLink(ptmx) is not null)
            {
                File.Delete(ptmx);
            }
            TrySymlink("pts/ptmx", ptmx);
        }
    }

    private static void TrySymlink(string target, string link)
    {
        if (FileSystem.ReadLink(link) is not null || File.Exists(link) || Directory.Exists(link))
        {
            return;
        }
        Sys.Symlink(target, link);
    }

    private static void Mask(string path)
    {
        if (Directory.Exists(path))
        {
            Sys.Mount("tmpfs", path, "tmpfs", MountFlags.ReadOnly, null);
        }
        else if (File.Exists(path))
        {
            Sys.Mount("/dev/null", path, null, MountFlags.Bind, null);
        }
    }

    private static void MakeReadonly(string path)
    {
        if (!Directory.Exists(path) && !File.Exists(path))
        {
            return;
        }
        Sys.Mount(path, path, null, MountFlags.Bind | MountFlags.Rec, null);
        var existing = FileSystem.MountFlagsOf(path);
        Sys.Mount(path, path, null, MountFlags.Bind | MountFlags.Remount | MountFlags.ReadOnly | MountFlags.Rec | existing, null);
    }

    private static void EnsureDirectory(string path)
    {
        if (!Directory.Exists(path))
        {
            Directory.CreateDirectory(path);
        }
    }

    private static void EnsureFile(string path)
    {
        if (File.Exists(path) || Directory.Exists(path))
        {
            return;
        }
        EnsureDirectory(Path.GetDirectoryName(path)!);
        using (File.Create(path))
        {
        }
    }
}
