using Berth.Oci.Runtime;

namespace Berth.Cgroups;

/// <summary>
/// The cgroup of one container, in every hierarchy the host mounts. The runtime makes one with
/// <see cref="CgroupManager.For"/> (new container) or <see cref="CgroupManager.Load"/> (from <see cref="SavedPath"/>).
/// All members are synchronous: they are a few small file operations each.
/// </summary>
public interface ICgroupManager
{
    CgroupMode Mode { get; }

    /// <summary>The cgroup path as seen in /proc/PID/cgroup, e.g. "/berth/c1" (the memory hierarchy's in v1).</summary>
    string Path { get; }

    /// <summary>What the runtime stores in its state to <see cref="CgroupManager.Load"/> this manager later.</summary>
    string SavedPath { get; }

    /// <summary>The cgroup directory per hierarchy key ("memory", "cpu,cpuacct", "name=systemd", "unified").</summary>
    IReadOnlyDictionary<string, string> Directories { get; }

    /// <summary>Whether the cgroup directory exists (in the first hierarchy: memory in v1, the cgroup2 one in v2).</summary>
    bool Exists();

    /// <summary>
    /// Makes the cgroup in every hierarchy and writes the limits <paramref name="resources"/> asks for (and only those).
    /// Validates first; on any failure removes every directory it made and rethrows.
    /// An existing empty cgroup is reused; one with processes is an AlreadyExists error.
    /// </summary>
    void Create(Resources? resources);

    /// <summary>
    /// Moves <paramref name="pid"/> (and its threads) into the cgroup in every hierarchy. With
    /// <paramref name="threadJoined"/> (the process was spawned by a thread that had <see cref="JoinCurrentThread"/>ed,
    /// so it was born in the cgroup's v1 hierarchies) only the hierarchies a thread cannot join get the pid: the
    /// cgroup2 one of a hybrid host (nothing at all on a v1-only host). With <paramref name="bornInUnified"/> (it was
    /// spawned into <see cref="UnifiedDirectory"/>, clone3's CLONE_INTO_CGROUP) the cgroup2 hierarchy is skipped too.
    /// </summary>
    void Apply(int pid, bool threadJoined = false, bool bornInUnified = false);

    /// <summary>
    /// The cgroup's directory in the cgroup2 hierarchy (all of a v2 host's cgroup, the controller-less tree of a
    /// hybrid one), for spawning a process straight into it; null on a v1-only host.
    /// </summary>
    string? UnifiedDirectory { get; }

    /// <summary>
    /// Whether <see cref="JoinCurrentThread"/> can work here, without changing anything: cgroup v1 moves single threads;
    /// a cgroup2 domain cannot take one thread of a process, so a v2 host gets false, and so does a hybrid host whose
    /// cgroup2 tree has controllers enabled for this cgroup (without any, that tree sets no limit, and a process spawned
    /// by the joined thread is moved there with <see cref="Apply(int, bool, bool)"/> afterwards).
    /// </summary>
    bool CanJoinCurrentThread();

    /// <summary>
    /// Moves only the calling thread into the cgroup's v1 hierarchies, so that the processes it spawns start there:
    /// "0" written to tasks (the writer itself, which needs neither the global migration lock nor its RCU grace period).
    /// Call it only where <see cref="CanJoinCurrentThread"/> said true; the thread leaves again with
    /// <see cref="CgroupLayout.ReturnCurrentThread"/> before it ends.
    /// </summary>
    void JoinCurrentThread();

    /// <summary>Changes limits of an existing cgroup (berth-runtime update). Only the fields set are written.</summary>
    void Update(Resources resources);

    /// <summary>Freezes every process and waits until the kernel says FROZEN.</summary>
    void Freeze();

    /// <summary>Thaws and waits until the kernel says THAWED.</summary>
    void Thaw();

    FreezerState GetFreezerState();

    /// <summary>The processes in the cgroup, and in its descendants when <paramref name="recursive"/>.</summary>
    IReadOnlyList<int> GetPids(bool recursive = true);

    /// <summary>Sends <paramref name="signal"/> to every process (freezing around it so none forks away); for kill --all.</summary>
    void KillAll(int signal);

    CgroupStats GetStats();

    /// <summary>How many processes the OOM killer killed in this cgroup (memory.oom_control / memory.events oom_kill).</summary>
    long GetOomKillCount();

    /// <summary>
    /// Removes the cgroup (and any child cgroups) in every hierarchy, retrying briefly while processes exit (EBUSY).
    /// With <paramref name="killProcesses"/> it SIGKILLs what is left first. A cgroup already gone is not an error.
    /// </summary>
    void Destroy(bool killProcesses = false);
}

public enum FreezerState
{
    Thawed,
    Freezing,
    Frozen,
}

/// <summary>Usage figures; a part is null when its controller is not available.</summary>
public sealed class CgroupStats
{
    public MemoryStats? Memory { get; init; }

    public CpuStats? Cpu { get; init; }

    public PidsStats? Pids { get; init; }

    /// <summary>Processes killed by the OOM killer in this cgroup.</summary>
    public long OomKills { get; init; }
}

public sealed class MemoryStats
{
    public long Usage { get; init; }

    /// <summary>-1 when unlimited.</summary>
    public long Limit { get; init; }

    /// <summary>Peak usage (memory.max_usage_in_bytes / memory.peak); -1 when the kernel does not track it.</summary>
    public long MaxUsage { get; init; }

    /// <summary>How often the limit was hit (memory.failcnt / memory.events max).</summary>
    public long Failcnt { get; init; }

    /// <summary>memory+swap usage in v1, swap usage in v2; -1 when not accounted.</summary>
    public long SwapUsage { get; init; } = -1;
}

public sealed class CpuStats
{
    public long UsageNanoseconds { get; init; }

    public long UserNanoseconds { get; init; }

    public long SystemNanoseconds { get; init; }

    public long Periods { get; init; }

    public long ThrottledPeriods { get; init; }

    public long ThrottledNanoseconds { get; init; }
}

public sealed class PidsStats
{
    public long Current { get; init; }

    /// <summary>-1 when unlimited.</summary>
    public long Limit { get; init; }
}
