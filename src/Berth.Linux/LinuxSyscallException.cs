using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>A failed system call, named with its target: "mount /run/berth/c1/rootfs: EPERM (Operation not permitted)".</summary>
public sealed class LinuxSyscallException : Exception
{
    public LinuxSyscallException(string call, string? target, int errno)
        : base(Format(call, target, errno))
    {
        Call = call;
        Target = target;
        Errno = errno;
    }

    public string Call { get; }

    public string? Target { get; }

    public int Errno { get; }

    public static string Format(string call, string? target, int errno) =>
        (target is null ? call : call + " " + target) + ": " + Berth.Linux.Errno.Name(errno) + " (" + Marshal.GetPInvokeErrorMessage(errno) + ")";

    /// <summary>Throws for a -1 result with the last P/Invoke error.</summary>
    public static int Check(int result, string call, string? target = null) =>
        result < 0 ? throw new LinuxSyscallException(call, target, Marshal.GetLastPInvokeError()) : result;

    public static long Check(long result, string call, string? target = null) =>
        result < 0 ? throw new LinuxSyscallException(call, target, Marshal.GetLastPInvokeError()) : result;
}
