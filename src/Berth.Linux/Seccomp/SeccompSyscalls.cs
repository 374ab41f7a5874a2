namespace Berth.Linux.Seccomp;

/// <summary>System call names and numbers per ABI, from the generated libseccomp-derived tables.</summary>
public static class SeccompSyscalls
{
    /// <summary>Where the tables come from, e.g. "libseccomp 2.5.4".</summary>
    public static string Source => SyscallTable.Source;

    /// <summary>Every name some supported ABI knows, sorted.</summary>
    public static ReadOnlySpan<string> Names => SyscallTable.Names;

    /// <summary>The call number of <paramref name="name"/> on <paramref name="arch"/> (x32 numbers include bit 30), or null.</summary>
    public static uint? Resolve(string name, SeccompArchitecture arch)
    {
        var row = SyscallTable.IndexOf(name);
        if (row < 0)
        {
            return null;
        }
        var nr = Architectures.Table(arch)[row];
        return nr < 0 ? null : (uint)nr;
    }

    /// <summary>Whether any supported ABI knows the name (a profile naming none is only worth a warning).</summary>
    public static bool IsKnown(string name) => SyscallTable.IndexOf(name) >= 0;

    /// <summary>seccomp_data.arch (AUDIT_ARCH_*) of an ABI.</summary>
    public static uint AuditArch(SeccompArchitecture arch) => Architectures.Audit(arch);

    /// <summary>Whether the compiler compares arguments as 64-bit values on the ABI (false: low word only, as libseccomp).</summary>
    public static bool Compares64BitArguments(SeccompArchitecture arch) => Architectures.Is64Bit(arch);
}
