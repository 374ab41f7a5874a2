namespace Berth.Linux.Seccomp;

/// <summary>What a filter returns for a matched system call (the OCI <c>SCMP_ACT_*</c> names).</summary>
public enum SeccompAction
{
    /// <summary>SCMP_ACT_KILL and SCMP_ACT_KILL_THREAD: SECCOMP_RET_KILL_THREAD.</summary>
    KillThread,

    /// <summary>SCMP_ACT_KILL_PROCESS: SECCOMP_RET_KILL_PROCESS.</summary>
    KillProcess,

    /// <summary>SCMP_ACT_TRAP: SIGSYS.</summary>
    Trap,

    /// <summary>SCMP_ACT_ERRNO: the call fails with errnoRet (EPERM when unset).</summary>
    Errno,

    /// <summary>SCMP_ACT_TRACE: a ptrace tracer is notified with errnoRet as the message (EPERM when unset, as runc).</summary>
    Trace,

    /// <summary>SCMP_ACT_ALLOW.</summary>
    Allow,

    /// <summary>SCMP_ACT_LOG: allowed and logged.</summary>
    Log,

    /// <summary>SCMP_ACT_NOTIFY: needs a user-space listener, which Berth does not provide (compiling it fails).</summary>
    Notify,
}

/// <summary>Argument comparisons (the OCI <c>SCMP_CMP_*</c> names), all unsigned 64-bit.</summary>
public enum SeccompOperator
{
    NotEqual,
    LessThan,
    LessOrEqual,
    Equal,
    GreaterOrEqual,
    GreaterThan,

    /// <summary>(arg &amp; Value) == ValueTwo: Value is the mask, as in libseccomp and the OCI spec.</summary>
    MaskedEqual,
}

/// <summary>seccomp(2) SECCOMP_SET_MODE_FILTER flags; the values are the kernel's.</summary>
[Flags]
public enum SeccompFilterFlags : uint
{
    None = 0,

    /// <summary>SECCOMP_FILTER_FLAG_TSYNC: apply the filter to every thread of the process.</summary>
    Tsync = 1,

    /// <summary>SECCOMP_FILTER_FLAG_LOG: log every action except ALLOW.</summary>
    Log = 2,

    /// <summary>SECCOMP_FILTER_FLAG_SPEC_ALLOW: do not force speculative store bypass mitigation.</summary>
    SpecAllow = 4,
}

/// <summary>The system call ABIs the compiler has tables for (OCI <c>SCMP_ARCH_*</c>).</summary>
public enum SeccompArchitecture
{
    X86_64,
    X86,
    X32,
    Aarch64,
    Arm,
    Riscv64,
    Ppc64le,
    S390x,
}

/// <summary>One comparison of system call argument <see cref="Index"/> (0..5).</summary>
public readonly record struct SeccompCondition(int Index, SeccompOperator Op, ulong Value, ulong ValueTwo = 0);

/// <summary>
/// A rule: for each named system call, <see cref="Action"/> when every condition holds (no conditions: always).
/// </summary>
public sealed class SeccompRule
{
    public SeccompRule(IReadOnlyList<string> names, SeccompAction action, uint? errnoRet = null, IReadOnlyList<SeccompCondition>? conditions = null)
    {
        Names = names;
        Action = action;
        ErrnoRet = errnoRet;
        Conditions = conditions ?? [];
    }

    public IReadOnlyList<string> Names { get; }

    public SeccompAction Action { get; }

    /// <summary>The errno for <see cref="SeccompAction.Errno"/> or the message for <see cref="SeccompAction.Trace"/>; EPERM when null.</summary>
    public uint? ErrnoRet { get; }

    public IReadOnlyList<SeccompCondition> Conditions { get; }
}

/// <summary>A seccomp profile as the OCI runtime spec describes it (<c>linux.seccomp</c>), with the names already parsed.</summary>
public sealed class SeccompProfile
{
    public SeccompProfile(
        SeccompAction defaultAction,
        IReadOnlyList<SeccompRule> rules,
        uint? defaultErrnoRet = null,
        IReadOnlyList<SeccompArchitecture>? architectures = null,
        SeccompFilterFlags flags = SeccompFilterFlags.None)
    {
        DefaultAction = defaultAction;
        Rules = rules;
        DefaultErrnoRet = defaultErrnoRet;
        Architectures = architectures ?? [];
        Flags = flags;
    }

    public SeccompAction DefaultAction { get; }

    /// <summary>errno for an ERRNO default action (EPERM when null).</summary>
    public uint? DefaultErrnoRet { get; }

    /// <summary>Extra ABIs to filter; the native one is always included, as libseccomp does.</summary>
    public IReadOnlyList<SeccompArchitecture> Architectures { get; }

    public SeccompFilterFlags Flags { get; }

    public IReadOnlyList<SeccompRule> Rules { get; }
}
