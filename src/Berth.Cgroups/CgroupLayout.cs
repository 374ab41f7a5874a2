using Berth.Core;

namespace Berth.Cgroups;

/// <summary>How the host mounts cgroups.</summary>
public enum CgroupMode
{
    /// <summary>Only v1 hierarchies (cgroup filesystem per controller or group of controllers).</summary>
    Legacy,

    /// <summary>v1 hierarchies own the controllers; a cgroup2 hierarchy is mounted beside them (usually at /sys/fs/cgroup/unified).</summary>
    Hybrid,

    /// <summary>One cgroup2 hierarchy holds every controller.</summary>
    Unified,
}

/// <summary>One mounted hierarchy: where it is, which controllers it carries and where this process sits in it.</summary>
public sealed class CgroupHierarchy
{
    public CgroupHierarchy(string key, IReadOnlyList<string> controllers, string mountPoint, string mountRoot, string ownPath, bool isUnified)
    {
        Key = key;
        Controllers = controllers;
        MountPoint = mountPoint;
        MountRoot = mountRoot;
        OwnPath = ownPath;
        IsUnified = isUnified;
    }

    /// <summary>The controller list as /proc/self/cgroup spells it ("cpu", "cpu,cpuacct", "name=systemd"), or "unified".</summary>
    public string Key { get; }

    public IReadOnlyList<string> Controllers { get; }

    public string MountPoint { get; }

    /// <summary>The root of the mount inside the hierarchy (field 4 of mountinfo), "/" unless bind-mounted from below.</summary>
    public string MountRoot { get; }

    /// <summary>This process's cgroup in the hierarchy (from /proc/self/cgroup).</summary>
    public string OwnPath { get; }

    public bool IsUnified { get; }

    public bool Has(string controller)
    {
        foreach (var c in Controllers)
        {
            if (c == controller)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The directory of <paramref name="cgroupPath"/> (absolute within the hierarchy).</summary>
    public string DirectoryOf(string cgroupPath)
    {
        if (MountRoot != "/" && cgroupPath.StartsWith(MountRoot, StringComparison.Ordinal)
            && (cgroupPath.Length == MountRoot.Length || cgroupPath[MountRoot.Length] == '/'))
        {
            cgroupPath = cgroupPath[MountRoot.Length..];
        }
        return cgroupPath is "/" or "" ? MountPoint : MountPoint + cgroupPath;
    }

    public override string ToString() => Key + " at " + MountPoint;
}

/// <summary>
/// The cgroup layout of the host, detected once from /proc/self/mountinfo and /proc/self/cgroup (two small reads).
/// Paths are injectable so the drivers can run against a file-tree fake.
/// </summary>
public sealed class CgroupLayout
{
    private static readonly string[] NoControllers = [];

    private CgroupLayout(CgroupMode mode, IReadOnlyList<CgroupHierarchy> v1, CgroupHierarchy? unified)
    {
        Mode = mode;
        V1 = v1;
        Unified = unified;
    }

    public CgroupMode Mode { get; }

    /// <summary>The v1 hierarchies (empty in unified mode).</summary>
    public IReadOnlyList<CgroupHierarchy> V1 { get; }

    /// <summary>The cgroup2 hierarchy: all controllers in unified mode, the (mostly empty) hybrid one otherwise, or null.</summary>
    public CgroupHierarchy? Unified { get; }

    /// <summary>Every hierarchy a container joins: all v1 ones plus the cgroup2 one when mounted.</summary>
    public IEnumerable<CgroupHierarchy> All => Unified is null ? V1 : V1.Append(Unified);

    /// <summary>The v1 hierarchy carrying <paramref name="controller"/>, or null.</summary>
    public CgroupHierarchy? FindV1(string controller)
    {
        foreach (var h in V1)
        {
            if (h.Has(controller))
            {
                return h;
            }
        }
        return null;
    }

    public static CgroupLayout Detect() => Detect("/proc/self/mountinfo", "/proc/self/cgroup");

    /// <summary>
    /// Moves this process into the cgroup it is already in — a no-op move that makes the kernel switch its global
    /// cgroup-migration lock into writer mode, which first waits for an RCU grace period (10–30 ms measured on this
    /// loaded host). Moves within the next few milliseconds (the container's <see cref="ICgroupManager.Apply"/>)
    /// then skip that wait. Call it on a background thread as early as possible in a runtime invocation that will
    /// Apply; it blocks for the grace period (holding the cgroup mutex, so other cgroup writes queue behind it: start
    /// it after <see cref="ICgroupManager.JoinCurrentThread"/>, not before). Where a cgroup2 hierarchy is mounted the
    /// move is made there, which a thread that joined the v1 hierarchies does not use, so that thread stays where it
    /// is. Best effort: returns false if the kernel refused.
    /// </summary>
    public bool WarmUpMigration()
    {
        var h = Unified ?? (V1.Count > 0 ? V1[0] : null);
        return h is not null
            && CgroupFs.TryWrite(h.DirectoryOf(h.OwnPath) + "/cgroup.procs", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)) == 0;
    }

    /// <summary>
    /// Moves the calling thread back into this process's own cgroup in every v1 hierarchy, after
    /// <see cref="ICgroupManager.JoinCurrentThread"/> (a thread moving itself is cheap). A thread that spawned a
    /// container's process from inside its cgroup leaves it this way before it ends, so the runtime never shows up
    /// among the container's processes (and a kill of the container's processes cannot hit it).
    /// </summary>
    public void ReturnCurrentThread()
    {
        using var back = PrepareThreadReturn();
        back.Return();
    }

    /// <summary>
    /// Opens the tasks files of this process's own v1 cgroups now, for a thread that will call
    /// <see cref="ThreadReturn.Return"/> after it has left the host's mount namespace or dropped its privileges (the
    /// kernel checks the credentials of the opener).
    /// </summary>
    public ThreadReturn PrepareThreadReturn()
    {
        var fds = new List<(int Fd, string File)>(V1.Count);
        try
        {
            foreach (var h in V1)
            {
                var file = h.DirectoryOf(h.OwnPath) + "/tasks";
                var fd = CgroupFs.TryOpenForWriting(file, out var errno);
                if (fd < 0)
                {
                    throw new CgroupIOException("open", file, errno, "to move a thread back into the runtime's own cgroup");
                }
                fds.Add((fd, file));
            }
        }
        catch
        {
            new ThreadReturn(fds).Dispose();
            throw;
        }
        return new ThreadReturn(fds);
    }

    /// <summary>
    /// Moves this whole process back into its own cgroup in the cgroup2 hierarchy of a hybrid host, after
    /// <see cref="ICgroupManager.Apply"/> of <see cref="Environment.ProcessId"/> with threadJoined put it into a
    /// container's (so that a program spawned by a thread of it is born there). Nothing to do elsewhere.
    /// </summary>
    public void ReturnProcessToOwnUnified()
    {
        if (Mode != CgroupMode.Hybrid || Unified is null)
        {
            return;
        }
        var file = Unified.DirectoryOf(Unified.OwnPath) + "/cgroup.procs";
        var errno = CgroupFs.TryWrite(file, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (errno != 0)
        {
            throw new CgroupIOException("write", file, errno, "moving the runtime back into its own cgroup");
        }
    }

    public static CgroupLayout Detect(string mountInfoPath, string procCgroupPath) =>
        Parse(CgroupFs.Read(mountInfoPath), CgroupFs.Read(procCgroupPath), mountInfoPath);

    /// <summary>A pure cgroup2 layout rooted at <paramref name="mountPoint"/>, e.g. a temp directory holding a fake tree.</summary>
    public static CgroupLayout ForUnified(string mountPoint, string ownPath = "/") =>
        new(CgroupMode.Unified, [], new CgroupHierarchy("unified", NoControllers, mountPoint.TrimEnd('/'), "/", ownPath, isUnified: true));

    public static CgroupLayout Parse(string mountInfo, string procCgroup, string source = "/proc/self/mountinfo")
    {
        // Our own position per hierarchy: "4:memory:/process_api/x", "0::/".
        var own = new List<(string Controllers, string Path)>();
        string? unifiedOwn = null;
        foreach (var lineRange in procCgroup.AsSpan().Split('\n'))
        {
            var line = procCgroup.AsSpan()[lineRange];
            var first = line.IndexOf(':');
            if (first < 0)
            {
                continue;
            }
            var rest = line[(first + 1)..];
            var second = rest.IndexOf(':');
            if (second < 0)
            {
                continue;
            }
            var controllers = rest[..second].ToString();
            var path = rest[(second + 1)..].ToString();
            if (line[..first].SequenceEqual("0") && controllers.Length == 0)
            {
                unifiedOwn = path;
            }
            else
            {
                own.Add((controllers, path));
            }
        }

        var mounts = new List<(string FsType, string MountPoint, string Root, string[] Options)>();
        foreach (var lineRange in mountInfo.AsSpan().Split('\n'))
        {
            var line = mountInfo[lineRange];
            if (!line.Contains(" cgroup", StringComparison.Ordinal))
            {
                continue;
            }
            var fields = line.Split(' ');
            var sep = Array.IndexOf(fields, "-", 6);
            if (sep < 0 || sep + 3 >= fields.Length)
            {
                continue;
            }
            var fsType = fields[sep + 1];
            if (fsType is "cgroup" or "cgroup2")
            {
                mounts.Add((fsType, Berth.Linux.MountInfo.Unescape(fields[4]), Berth.Linux.MountInfo.Unescape(fields[3]), fields[sep + 3].Split(',')));
            }
        }

        var v1 = new List<CgroupHierarchy>();
        foreach (var (controllers, path) in own)
        {
            var wanted = controllers.Split(',');
            (string FsType, string MountPoint, string Root, string[] Options)? best = null;
            foreach (var m in mounts)
            {
                if (m.FsType != "cgroup" || !ContainsAll(m.Options, wanted))
                {
                    continue;
                }
                if (best is null || (best.Value.Root != "/" && m.Root == "/"))
                {
                    best = m;
                }
            }
            if (best is { } b)
            {
                v1.Add(new CgroupHierarchy(controllers, wanted, b.MountPoint, b.Root, path, isUnified: false));
            }
        }

        CgroupHierarchy? unified = null;
        foreach (var m in mounts)
        {
            if (m.FsType != "cgroup2")
            {
                continue;
            }
            if (unified is null || (unified.MountRoot != "/" && m.Root == "/") || m.MountPoint == "/sys/fs/cgroup")
            {
                unified = new CgroupHierarchy("unified", NoControllers, m.MountPoint, m.Root, unifiedOwn ?? "/", isUnified: true);
            }
        }

        if (v1.Count > 0)
        {
            return new CgroupLayout(unified is null ? CgroupMode.Legacy : CgroupMode.Hybrid, v1, unified);
        }
        if (unified is not null)
        {
            // Controllers come from the hierarchy itself; read lazily by the v2 driver (cgroup.controllers).
            return new CgroupLayout(CgroupMode.Unified, [], unified);
        }
        throw BerthException.Unsupported("no cgroup filesystem is mounted (" + source + " lists neither cgroup nor cgroup2); mount cgroup2 at /sys/fs/cgroup");
    }

    private static bool ContainsAll(string[] options, string[] wanted)
    {
        foreach (var w in wanted)
        {
            if (Array.IndexOf(options, w) < 0)
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>The tasks files of a process's own v1 cgroups, opened ahead for a thread to move itself back into them.</summary>
public sealed class ThreadReturn : IDisposable
{
    private readonly List<(int Fd, string File)> files;

    internal ThreadReturn(List<(int Fd, string File)> files) => this.files = files;

    /// <summary>Moves the calling thread ("0": the writer itself, no global lock) back into every one of them.</summary>
    public void Return()
    {
        foreach (var (fd, file) in files)
        {
            var errno = CgroupFs.TryWrite(fd, "0");
            if (errno != 0)
            {
                throw new CgroupIOException("write", file, errno, "moving this thread back into the runtime's own cgroup");
            }
        }
    }

    public void Dispose()
    {
        foreach (var (fd, _) in files)
        {
            Interop.Libc.Close(fd);
        }
        files.Clear();
    }
}
