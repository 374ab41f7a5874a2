using System.Runtime.InteropServices;
using Berth.Core;

namespace Berth.Linux.Seccomp;

/// <summary>
/// Installs a compiled filter on the calling thread (all threads with <see cref="SeccompFilterFlags.Tsync"/>).
/// </summary>
/// <remarks>
/// The kernel accepts a filter only from a task with no_new_privs set or with CAP_SYS_ADMIN in its user namespace;
/// setting no_new_privs is the caller's job (the runtime does it from process.noNewPrivileges). A filter also
/// governs every call the caller makes afterwards, so load it as late as possible: runc loads it after changing
/// uid/gid and capabilities, right before execve (or earlier only when no_new_privs is off and the profile would
/// block the setup calls). Filters stack; a loaded filter can never be removed.
/// </remarks>
public static unsafe partial class SeccompFilter
{
    private const int SeccompSetModeFilter = 1;
    private const int PrSetSeccomp = 22;
    private const int SeccompModeFilter = 2;
    private const int ENOSYS = 38;

    public static void Load(SeccompProgram program) => Load(program.Instructions, program.Flags);

    /// <summary>seccomp(SECCOMP_SET_MODE_FILTER, flags, prog); prctl(PR_SET_SECCOMP) when seccomp(2) is missing and no flags are asked.</summary>
    public static void Load(ReadOnlySpan<SockFilter> program, SeccompFilterFlags flags)
    {
        if (program.IsEmpty || program.Length > Bpf.MaxInstructions)
        {
            throw BerthException.InvalidArgument($"a seccomp program has 1 to {Bpf.MaxInstructions} instructions; got {program.Length}");
        }
        const SeccompFilterFlags known = SeccompFilterFlags.Tsync | SeccompFilterFlags.Log | SeccompFilterFlags.SpecAllow;
        if ((flags & ~known) != 0)
        {
            // NEW_LISTENER would return a notification fd this API has no way to hand back
            throw BerthException.Unsupported($"seccomp filter flags 0x{(uint)(flags & ~known):x}; Berth loads with TSYNC, LOG and SPEC_ALLOW only");
        }
        fixed (SockFilter* filter = program)
        {
            var prog = new SockFprog { Len = (ushort)program.Length, Filter = filter };
            var result = syscall(SeccompSyscallNumber, SeccompSetModeFilter, (long)flags, (nint)(&prog));
            if (result == 0)
            {
                return;
            }
            if (result > 0)
            {
                // SECCOMP_FILTER_FLAG_TSYNC: the id of a thread that could not take the filter
                throw new BerthException(ErrorCode.FailedPrecondition,
                    $"seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): thread {result} could not be synchronized (it runs another seccomp filter)");
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == ENOSYS && flags == SeccompFilterFlags.None)
            {
                if (prctl(PrSetSeccomp, SeccompModeFilter, (nint)(&prog), 0, 0) == 0)
                {
                    return;
                }
                errno = Marshal.GetLastPInvokeError();
                throw Failure("prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)", errno, flags);
            }
            throw Failure("seccomp(SECCOMP_SET_MODE_FILTER)", errno, flags);
        }
    }

    /// <summary>Whether the kernel supports a filter flag (seccomp(SECCOMP_GET_ACTION_AVAIL) is not needed for flags).</summary>
    public static bool IsFlagSupported(SeccompFilterFlags flag)
    {
        // An invalid (null) program with a supported flag fails with EFAULT; an unsupported flag fails with EINVAL first.
        var result = syscall(SeccompSyscallNumber, SeccompSetModeFilter, (long)flag, 0);
        return result < 0 && Marshal.GetLastPInvokeError() == 14;
    }

    private static BerthException Failure(string call, int errno, SeccompFilterFlags flags)
    {
        var message = $"{call}: {ErrnoName(errno)} ({Marshal.GetPInvokeErrorMessage(errno)})";
        return errno switch
        {
            13 => new BerthException(ErrorCode.PermissionDenied,
                message + "; loading a seccomp filter needs no_new_privs (process.noNewPrivileges) or CAP_SYS_ADMIN"),
            22 => BerthException.InvalidArgument(message + $"; the kernel refused the program or the flags ({flags})"),
            _ => new BerthException(ErrorCode.Internal, message),
        };
    }

    private static string ErrnoName(int errno) => errno switch
    {
        1 => "EPERM",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        22 => "EINVAL",
        38 => "ENOSYS",
        _ => "errno " + errno.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static long SeccompSyscallNumber => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 317,
        Architecture.Arm64 or Architecture.RiscV64 => 277,
        Architecture.X86 => 354,
        Architecture.Arm => 383,
        Architecture.Ppc64le => 358,
        Architecture.S390x => 348,
        var other => throw BerthException.Unsupported($"seccomp on process architecture {other}"),
    };

    [StructLayout(LayoutKind.Sequential)]
    private struct SockFprog
    {
        public ushort Len;
        public SockFilter* Filter;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, long a1, long a2, nint a3);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int prctl(int option, nint a2, nint a3, nint a4, nint a5);
}
