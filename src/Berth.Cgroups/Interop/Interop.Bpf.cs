using System.Runtime.InteropServices;

namespace Berth.Cgroups.Interop;

/// <summary>bpf(2) through syscall(2): glibc has no wrapper. Used only for the cgroup v2 device filter.</summary>
internal static unsafe partial class Bpf
{
    internal const int BPF_PROG_LOAD = 5;
    internal const int BPF_PROG_ATTACH = 8;
    internal const int BPF_PROG_DETACH = 9;
    internal const int BPF_PROG_GET_FD_BY_ID = 13;
    internal const int BPF_PROG_QUERY = 16;

    internal const uint BPF_PROG_TYPE_CGROUP_DEVICE = 15;
    internal const uint BPF_CGROUP_DEVICE = 6;
    internal const uint BPF_F_ALLOW_MULTI = 2;

    /// <summary>The size of the bpf_attr prefix we fill; the kernel accepts any size up to its own with zeroed tail.</summary>
    internal const int AttrSize = 128;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial nint Syscall(nint number, nint cmd, byte* attr, nint size);

    internal static int Call(int cmd, byte* attr)
    {
        var number = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 321,
            Architecture.Arm64 => 280,
            _ => throw Berth.Core.BerthException.Unsupported("device rules on cgroup v2 on " + RuntimeInformation.ProcessArchitecture + " (no bpf syscall number known)"),
        };
        nint result;
        do
        {
            result = Syscall(number, cmd, attr, AttrSize);
        }
        while (result < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR);
        return (int)result;
    }
}
