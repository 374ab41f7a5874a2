using Berth.Core;

namespace Berth.Linux.Seccomp;

/// <summary>Parses the OCI runtime spec's seccomp names (<c>SCMP_ACT_*</c>, <c>SCMP_CMP_*</c>, <c>SCMP_ARCH_*</c>, flags).</summary>
public static class SeccompNames
{
    private const string Actions = "SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_NOTIFY";
    private const string Operators = "SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ";
    private const string Flags = "SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW";

    /// <param name="value">an OCI action name.</param>
    /// <param name="field">the config path named in the error, e.g. "linux.seccomp.syscalls[3].action".</param>
    public static SeccompAction ParseAction(string value, string field = "action") => value switch
    {
        "SCMP_ACT_KILL" or "SCMP_ACT_KILL_THREAD" => SeccompAction.KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction.KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction.Trap,
        "SCMP_ACT_ERRNO" => SeccompAction.Errno,
        "SCMP_ACT_TRACE" => SeccompAction.Trace,
        "SCMP_ACT_ALLOW" => SeccompAction.Allow,
        "SCMP_ACT_LOG" => SeccompAction.Log,
        "SCMP_ACT_NOTIFY" => SeccompAction.Notify,
        _ => throw BerthException.InvalidArgument($"{field}: unknown seccomp action '{value}'; use one of {Actions}"),
    };

    public static SeccompOperator ParseOperator(string value, string field = "op") => value switch
    {
        "SCMP_CMP_NE" => SeccompOperator.NotEqual,
        "SCMP_CMP_LT" => SeccompOperator.LessThan,
        "SCMP_CMP_LE" => SeccompOperator.LessOrEqual,
        "SCMP_CMP_EQ" => SeccompOperator.Equal,
        "SCMP_CMP_GE" => SeccompOperator.GreaterOrEqual,
        "SCMP_CMP_GT" => SeccompOperator.GreaterThan,
        "SCMP_CMP_MASKED_EQ" => SeccompOperator.MaskedEqual,
        _ => throw BerthException.InvalidArgument($"{field}: unknown seccomp operator '{value}'; use one of {Operators}"),
    };

    public static SeccompFilterFlags ParseFlag(string value, string field = "flags") => value switch
    {
        "SECCOMP_FILTER_FLAG_TSYNC" => SeccompFilterFlags.Tsync,
        "SECCOMP_FILTER_FLAG_LOG" => SeccompFilterFlags.Log,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => SeccompFilterFlags.SpecAllow,
        _ => throw BerthException.InvalidArgument($"{field}: unknown seccomp flag '{value}'; use one of {Flags}"),
    };

    /// <summary>
    /// Parses an OCI architecture name. Returns null for a name the spec defines but this compiler has no
    /// tables for (MIPS, PA-RISC, 32-bit PowerPC/s390, big-endian ppc64): no x86_64 or aarch64 kernel can run
    /// those ABIs, so leaving their section out changes nothing on the hosts Berth runs on. The caller should
    /// log that it skipped it. Unknown names are an error, as in runc.
    /// </summary>
    public static SeccompArchitecture? ParseArchitecture(string value, string field = "architectures") => value switch
    {
        "SCMP_ARCH_X86_64" => SeccompArchitecture.X86_64,
        "SCMP_ARCH_X86" => SeccompArchitecture.X86,
        "SCMP_ARCH_X32" => SeccompArchitecture.X32,
        "SCMP_ARCH_AARCH64" => SeccompArchitecture.Aarch64,
        "SCMP_ARCH_ARM" => SeccompArchitecture.Arm,
        "SCMP_ARCH_RISCV64" => SeccompArchitecture.Riscv64,
        "SCMP_ARCH_PPC64LE" => SeccompArchitecture.Ppc64le,
        "SCMP_ARCH_S390X" => SeccompArchitecture.S390x,
        "SCMP_ARCH_MIPS" or "SCMP_ARCH_MIPS64" or "SCMP_ARCH_MIPS64N32" or "SCMP_ARCH_MIPSEL" or "SCMP_ARCH_MIPSEL64"
            or "SCMP_ARCH_MIPSEL64N32" or "SCMP_ARCH_PPC" or "SCMP_ARCH_PPC64" or "SCMP_ARCH_S390"
            or "SCMP_ARCH_PARISC" or "SCMP_ARCH_PARISC64" or "SCMP_ARCH_LOONGARCH64" or "SCMP_ARCH_M68K"
            or "SCMP_ARCH_SH" or "SCMP_ARCH_SHEB" => null,
        _ => throw BerthException.InvalidArgument(
            $"{field}: unknown seccomp architecture '{value}'; use SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32, SCMP_ARCH_AARCH64, SCMP_ARCH_ARM, SCMP_ARCH_RISCV64, SCMP_ARCH_PPC64LE or SCMP_ARCH_S390X"),
    };

    /// <summary>The OCI name of an architecture, for messages.</summary>
    public static string Name(SeccompArchitecture arch) => arch switch
    {
        SeccompArchitecture.X86_64 => "SCMP_ARCH_X86_64",
        SeccompArchitecture.X86 => "SCMP_ARCH_X86",
        SeccompArchitecture.X32 => "SCMP_ARCH_X32",
        SeccompArchitecture.Aarch64 => "SCMP_ARCH_AARCH64",
        SeccompArchitecture.Arm => "SCMP_ARCH_ARM",
        SeccompArchitecture.Riscv64 => "SCMP_ARCH_RISCV64",
        SeccompArchitecture.Ppc64le => "SCMP_ARCH_PPC64LE",
        SeccompArchitecture.S390x => "SCMP_ARCH_S390X",
        _ => arch.ToString(),
    };

    /// <summary>
    /// The architecture of a Go GOARCH name, as Docker's seccomp profiles (includes/excludes arches) and OCI
    /// platforms spell it; null for one this compiler has no tables for. <see cref="Name"/> gives its OCI name.
    /// </summary>
    public static SeccompArchitecture? FromGoArchitecture(string goArch) => goArch switch
    {
        "amd64" => SeccompArchitecture.X86_64,
        "386" => SeccompArchitecture.X86,
        "arm64" => SeccompArchitecture.Aarch64,
        "arm" => SeccompArchitecture.Arm,
        "riscv64" => SeccompArchitecture.Riscv64,
        "ppc64le" => SeccompArchitecture.Ppc64le,
        "s390x" => SeccompArchitecture.S390x,
        _ => null,
    };
}
