using System.Text.Json.Serialization;

namespace Berth.Oci.Runtime;

// The OCI runtime specification 1.x (config.json), field names as in the spec.
// Mutable classes: `berth-runtime spec` and engines build specs up step by step.

public sealed class Spec
{
    public string OciVersion { get; set; } = "1.2.0";

    public Process? Process { get; set; }

    public Root? Root { get; set; }

    public string? Hostname { get; set; }

    public string? Domainname { get; set; }

    public List<Mount>? Mounts { get; set; }

    public Hooks? Hooks { get; set; }

    public Dictionary<string, string>? Annotations { get; set; }

    public Linux? Linux { get; set; }
}

public sealed class Process
{
    public bool Terminal { get; set; }

    public Box? ConsoleSize { get; set; }

    public User User { get; set; } = new();

    public List<string>? Args { get; set; }

    public string? CommandLine { get; set; }

    public List<string>? Env { get; set; }

    public string Cwd { get; set; } = "/";

    public Capabilities? Capabilities { get; set; }

    public List<Rlimit>? Rlimits { get; set; }

    public bool NoNewPrivileges { get; set; }

    public string? ApparmorProfile { get; set; }

    public int? OomScoreAdj { get; set; }

    public string? SelinuxLabel { get; set; }

    public Scheduler? Scheduler { get; set; }

    public IoPriority? IoPriority { get; set; }
}

public sealed class Box
{
    public uint Height { get; set; }

    public uint Width { get; set; }
}

public sealed class User
{
    public uint Uid { get; set; }

    public uint Gid { get; set; }

    public uint? Umask { get; set; }

    public List<uint>? AdditionalGids { get; set; }

    public string? Username { get; set; }
}

public sealed class Capabilities
{
    public List<string>? Bounding { get; set; }

    public List<string>? Effective { get; set; }

    public List<string>? Inheritable { get; set; }

    public List<string>? Permitted { get; set; }

    public List<string>? Ambient { get; set; }
}

public sealed class Rlimit
{
    public string Type { get; set; } = "";

    public ulong Hard { get; set; }

    public ulong Soft { get; set; }
}

public sealed class Scheduler
{
    public string Policy { get; set; } = "";

    public int Nice { get; set; }

    public int Priority { get; set; }
}

public sealed class IoPriority
{
    public string Class { get; set; } = "";

    public int Priority { get; set; }
}

public sealed class Root
{
    public string Path { get; set; } = "rootfs";

    public bool Readonly { get; set; }
}

public sealed class Mount
{
    public string Destination { get; set; } = "";

    public string? Type { get; set; }

    public string? Source { get; set; }

    public List<string>? Options { get; set; }

    public List<IdMapping>? UidMappings { get; set; }

    public List<IdMapping>? GidMappings { get; set; }
}

public sealed class Hooks
{
    public List<Hook>? Prestart { get; set; }

    public List<Hook>? CreateRuntime { get; set; }

    public List<Hook>? CreateContainer { get; set; }

    public List<Hook>? StartContainer { get; set; }

    public List<Hook>? Poststart { get; set; }

    public List<Hook>? Poststop { get; set; }
}

public sealed class Hook
{
    public string Path { get; set; } = "";

    public List<string>? Args { get; set; }

    public List<string>? Env { get; set; }

    public int? Timeout { get; set; }
}

public sealed class Linux
{
    public List<IdMapping>? UidMappings { get; set; }

    public List<IdMapping>? GidMappings { get; set; }

    public Dictionary<string, string>? Sysctl { get; set; }

    public Resources? Resources { get; set; }

    public string? CgroupsPath { get; set; }

    public List<Namespace>? Namespaces { get; set; }

    public List<Device>? Devices { get; set; }

    public Seccomp? Seccomp { get; set; }

    public string? RootfsPropagation { get; set; }

    public List<string>? MaskedPaths { get; set; }

    public List<string>? ReadonlyPaths { get; set; }

    public string? MountLabel { get; set; }

    public Dictionary<string, TimeOffset>? TimeOffsets { get; set; }
}

public sealed class TimeOffset
{
    public long Secs { get; set; }

    public uint Nanosecs { get; set; }
}

public sealed class IdMapping
{
    public uint ContainerID { get; set; }

    public uint HostID { get; set; }

    public uint Size { get; set; }
}

public sealed class Namespace
{
    /// <summary>pid, network, mount, ipc, uts, user, cgroup, time.</summary>
    public string Type { get; set; } = "";

    public string? Path { get; set; }
}

public sealed class Device
{
    public string Path { get; set; } = "";

    /// <summary>c, b, u or p.</summary>
    public string Type { get; set; } = "";

    public long Major { get; set; }

    public long Minor { get; set; }

    public uint? FileMode { get; set; }

    public uint? Uid { get; set; }

    public uint? Gid { get; set; }
}

public sealed class Resources
{
    public List<DeviceCgroup>? Devices { get; set; }

    public MemoryResources? Memory { get; set; }

    public CpuResources? Cpu { get; set; }

    public PidsResources? Pids { get; set; }

    public BlockIoResources? BlockIO { get; set; }

    public List<HugepageLimit>? HugepageLimits { get; set; }

    public Dictionary<string, string>? Unified { get; set; }
}

public sealed class DeviceCgroup
{
    public bool Allow { get; set; }

    /// <summary>a (all), c or b; null means all.</summary>
    public string? Type { get; set; }

    public long? Major { get; set; }

    public long? Minor { get; set; }

    /// <summary>Any of r, w, m; null means rwm.</summary>
    public string? Access { get; set; }
}

public sealed class MemoryResources
{
    public long? Limit { get; set; }

    public long? Reservation { get; set; }

    public long? Swap { get; set; }

    public long? Kernel { get; set; }

    [JsonPropertyName("kernelTCP")]
    public long? KernelTcp { get; set; }

    public ulong? Swappiness { get; set; }

    [JsonPropertyName("disableOOMKiller")]
    public bool? DisableOomKiller { get; set; }

    public bool? UseHierarchy { get; set; }
}

public sealed class CpuResources
{
    public ulong? Shares { get; set; }

    public long? Quota { get; set; }

    public ulong? Burst { get; set; }

    public ulong? Period { get; set; }

    public long? RealtimeRuntime { get; set; }

    public ulong? RealtimePeriod { get; set; }

    public string? Cpus { get; set; }

    public string? Mems { get; set; }

    public long? Idle { get; set; }
}

public sealed class PidsResources
{
    public long Limit { get; set; }
}

public sealed class BlockIoResources
{
    public ushort? Weight { get; set; }

    public ushort? LeafWeight { get; set; }
}

public sealed class HugepageLimit
{
    public string PageSize { get; set; } = "";

    public ulong Limit { get; set; }
}

public sealed class Seccomp
{
    public string DefaultAction { get; set; } = "SCMP_ACT_ALLOW";

    public uint? DefaultErrnoRet { get; set; }

    public List<string>? Architectures { get; set; }

    public List<string>? Flags { get; set; }

    public string? ListenerPath { get; set; }

    public string? ListenerMetadata { get; set; }

    public List<SeccompSyscall>? Syscalls { get; set; }
}

public sealed class SeccompSyscall
{
    public List<string> Names { get; set; } = [];

    public string Action { get; set; } = "";

    public uint? ErrnoRet { get; set; }

    public List<SeccompArg>? Args { get; set; }
}

public sealed class SeccompArg
{
    public uint Index { get; set; }

    public ulong Value { get; set; }

    public ulong ValueTwo { get; set; }

    /// <summary>SCMP_CMP_NE, _LT, _LE, _EQ, _GE, _GT, _MASKED_EQ.</summary>
    public string Op { get; set; } = "";
}

/// <summary>The state a runtime reports (`state ID`): the spec's fields plus runc's extras that engines read.</summary>
public sealed class State
{
    public string OciVersion { get; set; } = "1.2.0";

    public string Id { get; set; } = "";

    /// <summary>creating, created, running, paused or stopped.</summary>
    public string Status { get; set; } = "";

    public int Pid { get; set; }

    public string Bundle { get; set; } = "";

    public string? Rootfs { get; set; }

    public DateTimeOffset? Created { get; set; }

    public string? Owner { get; set; }

    public Dictionary<string, string>? Annotations { get; set; }
}
