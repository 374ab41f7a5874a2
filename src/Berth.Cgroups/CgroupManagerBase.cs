using System.Globalization;
using Berth.Cgroups.Interop;
using Berth.Core;
using Berth.Oci.Runtime;

namespace Berth.Cgroups;

/// <summary>What both drivers do the same way: the directory set, joining, listing, killing and removing.</summary>
internal abstract class CgroupManagerBase : ICgroupManager
{
    private const int SIGKILL = 9;

    protected CgroupManagerBase(CgroupLayout layout, Dictionary<string, string> paths, CgroupOptions options)
    {
        Layout = layout;
        Options = options;
        var entries = new List<CgroupEntry>();
        var dirs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var h in layout.All)
        {
            if (paths.TryGetValue(h.Key, out var path))
            {
                var dir = h.DirectoryOf(path);
                entries.Add(new CgroupEntry(h, path, dir));
                dirs[h.Key] = dir;
            }
        }
        if (entries.Count == 0)
        {
            throw BerthException.FailedPrecondition("no mounted cgroup hierarchy matches the saved cgroup path; was the host's cgroup layout changed?");
        }
        Entries = entries;
        Directories = dirs;
        SavedPath = CgroupManager.Save(entries);
    }

    public abstract CgroupMode Mode { get; }

    public abstract string Path { get; }

    public string SavedPath { get; }

    public IReadOnlyDictionary<string, string> Directories { get; }

    protected CgroupLayout Layout { get; }

    protected CgroupOptions Options { get; }

    protected IReadOnlyList<CgroupEntry> Entries { get; }

    /// <summary>The directory whose cgroup.procs lists the container's processes.</summary>
    protected abstract string ProcsDirectory { get; }

    public bool Exists() => Directory.Exists(ProcsDirectory);

    public abstract void Create(Resources? resources);

    public abstract void Update(Resources resources);

    public abstract void Freeze();

    public abstract void Thaw();

    public abstract FreezerState GetFreezerState();

    public abstract CgroupStats GetStats();

    public abstract long GetOomKillCount();

    /// <summary>Whether this cgroup can be frozen (v1: a freezer hierarchy is mounted).</summary>
    protected abstract bool CanFreeze { get; }

    public string? UnifiedDirectory
    {
        get
        {
            foreach (var e in Entries)
            {
                if (e.Hierarchy.IsUnified)
                {
                    return e.Directory;
                }
            }
            return null;
        }
    }

    public void Apply(int pid, bool threadJoined = false, bool bornInUnified = false)
    {
        var value = pid.ToString(CultureInfo.InvariantCulture);
        foreach (var e in Entries)
        {
            if (e.Hierarchy.IsUnified ? bornInUnified : threadJoined)
            {
                // Born there: spawned into this cgroup2 cgroup, or by a thread that had joined this v1 hierarchy.
                continue;
            }
            var file = e.Directory + "/cgroup.procs";
            var errno = CgroupFs.TryWrite(file, value);
            if (errno == Libc.ESRCH)
            {
                throw new CgroupIOException("write", file, errno, $"process {pid} no longer exists");
            }
            if (errno != 0)
            {
                throw new CgroupIOException("write", file, errno, $"moving process {pid} into cgroup {e.CgroupPath}");
            }
        }
    }

    public bool CanJoinCurrentThread()
    {
        if (Mode == CgroupMode.Unified)
        {
            return false;
        }
        foreach (var e in Entries)
        {
            if (e.Hierarchy.IsUnified && !string.IsNullOrWhiteSpace(CgroupFs.TryRead(e.Directory + "/cgroup.controllers", out _)))
            {
                return false;
            }
        }
        return true;
    }

    public void JoinCurrentThread()
    {
        if (Mode == CgroupMode.Unified)
        {
            throw BerthException.FailedPrecondition($"cgroup {Path} is a cgroup2 one, which cannot take a single thread; move the process with Apply instead");
        }
        foreach (var e in Entries)
        {
            if (e.Hierarchy.IsUnified)
            {
                continue;
            }
            // "0" is the writing thread itself: a thread moving itself skips the global migration lock (and its RCU wait).
            var file = e.Directory + "/tasks";
            var errno = CgroupFs.TryWrite(file, "0");
            if (errno != 0)
            {
                throw new CgroupIOException("write", file, errno, $"moving this thread into cgroup {e.CgroupPath}");
            }
        }
    }

    public IReadOnlyList<int> GetPids(bool recursive = true)
    {
        var pids = new List<int>();
        Collect(ProcsDirectory, recursive, pids);
        return pids;

        static void Collect(string dir, bool recursive, List<int> into)
        {
            CgroupFs.ReadPids(dir + "/cgroup.procs", into);
            if (!recursive)
            {
                return;
            }
            IEnumerable<string> children;
            try
            {
                children = Directory.EnumerateDirectories(dir);
                foreach (var child in children)
                {
                    Collect(child, recursive, into);
                }
            }
            catch (DirectoryNotFoundException)
            {
            }
        }
    }

    public virtual void KillAll(int signal)
    {
        if (!Exists() || GetPids(recursive: true).Count == 0)
        {
            // Nothing to signal (the common case for delete after the program exited): no freeze and thaw.
            return;
        }
        // Frozen, no process can fork a child we would miss; thawed after, so SIGKILL/SIGTERM are acted on.
        var froze = false;
        if (CanFreeze && GetFreezerState() == FreezerState.Thawed)
        {
            try
            {
                Freeze();
                froze = true;
            }
            catch (BerthException)
            {
                // A cgroup that cannot be frozen still gets the signals.
            }
        }
        try
        {
            foreach (var pid in GetPids(recursive: true))
            {
                if (Libc.Kill(pid, signal) != 0)
                {
                    var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                    if (errno != Libc.ESRCH)
                    {
                        throw new CgroupIOException("kill", "pid " + pid.ToString(CultureInfo.InvariantCulture), errno);
                    }
                }
            }
        }
        finally
        {
            if (froze || (signal == SIGKILL && CanFreeze && Exists() && GetFreezerState() != FreezerState.Thawed))
            {
                Thaw();
            }
        }
    }

    public void Destroy(bool killProcesses = false)
    {
        var clock = Options.TimeProvider;
        var start = clock.GetTimestamp();
        var delay = 1;
        while (true)
        {
            if (killProcesses && Exists())
            {
                KillAll(SIGKILL);
            }
            string? failedDir = null;
            var failedErrno = 0;
            // Every hierarchy gets its rmdir even if one fails, so as much as possible is gone.
            foreach (var e in Entries)
            {
                var errno = RemoveTree(e.Directory);
                if (errno != 0 && failedDir is null)
                {
                    failedDir = e.Directory;
                    failedErrno = errno;
                }
            }
            if (failedDir is null)
            {
                return;
            }
            if (failedErrno != Libc.EBUSY || clock.GetElapsedTime(start) > Options.DestroyTimeout)
            {
                var left = Exists() ? GetPids() : [];
                var context = left.Count > 0
                    ? "cgroup " + Path + " still has processes " + string.Join(",", left) + "; stop them first or destroy with kill (delete --force)"
                    : null;
                throw new CgroupIOException("rmdir", failedDir, failedErrno, context);
            }
            Thread.Sleep(delay);
            delay = Math.Min(delay * 2, 50);
        }
    }

    /// <summary>rmdir; a cgroup with child cgroups answers EBUSY, so children go first, deepest first.</summary>
    protected static int RemoveTree(string dir)
    {
        var errno = CgroupFs.TryRemoveDirectory(dir);
        if (errno != Libc.EBUSY)
        {
            return errno;
        }
        string[] children;
        try
        {
            children = Directory.GetDirectories(dir);
        }
        catch (DirectoryNotFoundException)
        {
            return 0;
        }
        if (children.Length == 0)
        {
            return errno;
        }
        foreach (var child in children)
        {
            var childErrno = RemoveTree(child);
            if (childErrno != 0)
            {
                return childErrno;
            }
        }
        return CgroupFs.TryRemoveDirectory(dir);
    }

    /// <summary>Refuses to reuse a cgroup that already holds processes (another container's, or a leftover).</summary>
    protected static void EnsureNoProcesses(string dir, string cgroupPath)
    {
        var pids = new List<int>();
        CgroupFs.ReadPids(dir + "/cgroup.procs", pids);
        if (pids.Count > 0)
        {
            throw BerthException.AlreadyExists(
                $"cgroup {cgroupPath} already exists and has processes ({string.Join(",", pids)}); choose another linux.cgroupsPath or stop them");
        }
    }

    /// <summary>Removes what a failed Create made, innermost first.</summary>
    protected static void Undo(List<string> created)
    {
        for (var i = created.Count - 1; i >= 0; i--)
        {
            CgroupFs.TryRemoveDirectory(created[i]);
        }
    }

    /// <summary>Polls <paramref name="settled"/> with a short, growing sleep until it holds or the timeout passes.</summary>
    protected bool WaitUntil(Func<int, bool> settled)
    {
        var clock = Options.TimeProvider;
        var start = clock.GetTimestamp();
        for (var attempt = 0; ; attempt++)
        {
            if (settled(attempt))
            {
                return true;
            }
            if (clock.GetElapsedTime(start) > Options.FreezeTimeout)
            {
                return false;
            }
            Thread.Sleep(attempt < 10 ? 1 : 10);
        }
    }

    protected static BerthException Missing(string field, string controller) =>
        BerthException.Unsupported($"{field} needs the {controller} cgroup controller, which this host does not mount");
}
