namespace Berth.Linux.Seccomp;

/// <summary>What the compiler needs to know about an ABI: its AUDIT_ARCH value, word size, byte order and table.</summary>
internal static class Architectures
{
    public const uint AuditX86_64 = 0xC000003E;
    public const uint AuditI386 = 0x40000003;
    public const uint AuditAarch64 = 0xC00000B7;
    public const uint AuditArm = 0x40000028;
    public const uint AuditRiscv64 = 0xC00000F3;
    public const uint AuditPpc64le = 0xC0000015;
    public const uint AuditS390x = 0x80000016;

    /// <summary>seccomp_data.arch for the ABI (x32 shares x86_64's and sets bit 30 in the call number).</summary>
    public static uint Audit(SeccompArchitecture arch) => arch switch
    {
        SeccompArchitecture.X86_64 or SeccompArchitecture.X32 => AuditX86_64,
        SeccompArchitecture.X86 => AuditI386,
        SeccompArchitecture.Aarch64 => AuditAarch64,
        SeccompArchitecture.Arm => AuditArm,
        SeccompArchitecture.Riscv64 => AuditRiscv64,
        SeccompArchitecture.Ppc64le => AuditPpc64le,
        SeccompArchitecture.S390x => AuditS390x,
        _ => throw new ArgumentOutOfRangeException(nameof(arch)),
    };

    /// <summary>
    /// Whether arguments are compared as 64-bit values. libseccomp treats x32 like the 32-bit ABIs (it compares
    /// the low word only, with the value truncated), and so does this compiler, so profiles behave as under runc.
    /// </summary>
    public static bool Is64Bit(SeccompArchitecture arch) => arch is SeccompArchitecture.X86_64 or SeccompArchitecture.Aarch64
        or SeccompArchitecture.Riscv64 or SeccompArchitecture.Ppc64le or SeccompArchitecture.S390x;

    public static bool IsBigEndian(SeccompArchitecture arch) => arch is SeccompArchitecture.S390x;

    public static ReadOnlySpan<int> Table(SeccompArchitecture arch) => arch switch
    {
        SeccompArchitecture.X86_64 => SyscallTable.X86_64,
        SeccompArchitecture.X86 => SyscallTable.X86,
        SeccompArchitecture.X32 => SyscallTable.X32,
        SeccompArchitecture.Aarch64 => SyscallTable.Aarch64,
        SeccompArchitecture.Arm => SyscallTable.Arm,
        SeccompArchitecture.Riscv64 => SyscallTable.Riscv64,
        SeccompArchitecture.Ppc64le => SyscallTable.Ppc64le,
        SeccompArchitecture.S390x => SyscallTable.S390x,
        _ => throw new ArgumentOutOfRangeException(nameof(arch)),
    };

    /// <summary>The ABI of the running process, which libseccomp (and so runc) always includes in a filter.</summary>
    public static SeccompArchitecture Native => System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => SeccompArchitecture.X86_64,
        System.Runtime.InteropServices.Architecture.X86 => SeccompArchitecture.X86,
        System.Runtime.InteropServices.Architecture.Arm64 => SeccompArchitecture.Aarch64,
        System.Runtime.InteropServices.Architecture.Arm => SeccompArchitecture.Arm,
        System.Runtime.InteropServices.Architecture.RiscV64 => SeccompArchitecture.Riscv64,
        System.Runtime.InteropServices.Architecture.Ppc64le => SeccompArchitecture.Ppc64le,
        System.Runtime.InteropServices.Architecture.S390x => SeccompArchitecture.S390x,
        var other => throw Berth.Core.BerthException.Unsupported($"seccomp on process architecture {other}"),
    };
}
