namespace Berth.Linux.Seccomp;

/// <summary>
/// The socket and SysV IPC calls that i386, s390x and ppc64le can also reach through one multiplexing call,
/// socketcall(SYS_*, args) or ipc(OP, ...), with the code in argument 0 (linux/net.h, linux/ipc.h).
/// </summary>
internal static class Multiplexer
{
    private static readonly (int Row, int MuxRow, uint Code)[] s_calls = Build();

    public static bool Applies(SeccompArchitecture arch) => arch is SeccompArchitecture.X86 or SeccompArchitecture.S390x or SeccompArchitecture.Ppc64le;

    /// <summary>The multiplexer's row and code for a call's row, or null.</summary>
    public static (int MuxRow, uint Code)? Of(int row)
    {
        foreach (var (r, mux, code) in s_calls)
        {
            if (r == row)
            {
                return (mux, code);
            }
        }
        return null;
    }

    private static (int, int, uint)[] Build()
    {
        var socketcall = SyscallTable.IndexOf("socketcall");
        var ipc = SyscallTable.IndexOf("ipc");
        (string Name, int Mux, uint Code)[] calls =
        [
            ("socket", socketcall, 1), ("bind", socketcall, 2), ("connect", socketcall, 3), ("listen", socketcall, 4),
            ("accept", socketcall, 5), ("getsockname", socketcall, 6), ("getpeername", socketcall, 7),
            ("socketpair", socketcall, 8), ("send", socketcall, 9), ("recv", socketcall, 10), ("sendto", socketcall, 11),
            ("recvfrom", socketcall, 12), ("shutdown", socketcall, 13), ("setsockopt", socketcall, 14),
            ("getsockopt", socketcall, 15), ("sendmsg", socketcall, 16), ("recvmsg", socketcall, 17),
            ("accept4", socketcall, 18), ("recvmmsg", socketcall, 19), ("sendmmsg", socketcall, 20),
            ("semop", ipc, 1), ("semget", ipc, 2), ("semctl", ipc, 3), ("semtimedop", ipc, 4),
            ("msgsnd", ipc, 11), ("msgrcv", ipc, 12), ("msgget", ipc, 13), ("msgctl", ipc, 14),
            ("shmat", ipc, 21), ("shmdt", ipc, 22), ("shmget", ipc, 23), ("shmctl", ipc, 24),
        ];
        var result = new List<(int, int, uint)>(calls.Length);
        foreach (var (name, mux, code) in calls)
        {
            var row = SyscallTable.IndexOf(name);
            if (row >= 0 && mux >= 0)
            {
                result.Add((row, mux, code));
            }
        }
        return [.. result];
    }
}
