using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>Capability names (as in OCI configs) and the calls that set the five sets on the calling thread.</summary>
public static unsafe class Capability
{
    private static readonly string[] Names =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    private const int PrCapBsetDrop = 24;
    private const int PrCapAmbient = 47;
    private const int PrCapAmbientRaise = 2;
    private const int PrCapAmbientClearAll = 4;
    private const int PrSetKeepCaps = 8;
    private const uint Version3 = 0x20080522;

    public static IReadOnlyList<string> All => Names;

    /// <summary>The highest capability this kernel knows.</summary>
    public static int LastCap
    {
        get
        {
            try
            {
                return int.Parse(File.ReadAllText("/proc/sys/kernel/cap_last_cap").Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                return Names.Length - 1;
            }
        }
    }

    /// <summary>Number of a capability name ("CAP_NET_ADMIN" or "NET_ADMIN"), or -1.</summary>
    public static int Parse(string name)
    {
        var upper = name.ToUpperInvariant();
        if (!upper.StartsWith("CAP_", StringComparison.Ordinal))
        {
            upper = "CAP_" + upper;
        }
        return Array.IndexOf(Names, upper);
    }

    public static string Name(int cap) => cap >= 0 && cap < Names.Length ? Names[cap] : "CAP_" + cap;

    /// <summary>A 64-bit mask from names; unknown names throw with the field they came from.</summary>
    public static ulong Mask(IEnumerable<string>? names, string field, int lastCap)
    {
        ulong mask = 0;
        if (names is null)
        {
            return 0;
        }
        foreach (var n in names)
        {
            var cap = Parse(n);
            if (cap < 0)
            {
                throw new Core.BerthException(Core.ErrorCode.InvalidArgument, $"{field}: unknown capability \"{n}\"");
            }
            if (cap <= lastCap)
            {
                mask |= 1UL << cap;
            }
        }
        return mask;
    }

    /// <summary>Keep permitted capabilities across the uid change that follows.</summary>
    public static void KeepCaps(bool on) => Sys.CheckedPrctl("PR_SET_KEEPCAPS", PrSetKeepCaps, on ? 1UL : 0UL);

    /// <summary>Drops every capability not in <paramref name="keep"/> from the bounding set.</summary>
    public static void LimitBounding(ulong keep, int lastCap)
    {
        for (var cap = 0; cap <= lastCap; cap++)
        {
            if ((keep & (1UL << cap)) == 0 && Sys.Prctl(PrCapBsetDrop, (ulong)cap) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINVAL)
                {
                    throw new LinuxSyscallException("prctl", "PR_CAPBSET_DROP " + Name(cap), errno);
                }
            }
        }
    }

    /// <summary>Sets effective, permitted and inheritable sets of the calling thread.</summary>
    public static void Set(ulong effective, ulong permitted, ulong inheritable)
    {
        var header = stackalloc uint[2];
        header[0] = Version3;
        header[1] = 0;
        var data = stackalloc uint[6];
        data[0] = (uint)effective;
        data[1] = (uint)permitted;
        data[2] = (uint)inheritable;
        data[3] = (uint)(effective >> 32);
        data[4] = (uint)(permitted >> 32);
        data[5] = (uint)(inheritable >> 32);
        LinuxSyscallException.Check(Sys.RawSyscall(126, (long)header, (long)data), "capset");
    }

    /// <summary>
    /// Raises the ambient capabilities that are both permitted and inheritable; the kernel refuses the others, and
    /// runc likewise leaves them out rather than failing the container.
    /// </summary>
    public static void SetAmbient(ulong ambient, ulong permitted, ulong inheritable, int lastCap)
    {
        ambient &= permitted & inheritable;
        Sys.Prctl(PrCapAmbient, PrCapAmbientClearAll);
        for (var cap = 0; cap <= lastCap; cap++)
        {
            if ((ambient & (1UL << cap)) != 0)
            {
                Sys.CheckedPrctl("PR_CAP_AMBIENT_RAISE " + Name(cap), PrCapAmbient, PrCapAmbientRaise, (ulong)cap);
            }
        }
    }
}
