using System.Runtime.InteropServices;
using Berth.Linux.Interop;

namespace Berth.Linux;

/// <summary>Pseudo-terminals: open a master in the current /dev/pts and make a slave the controlling terminal.</summary>
public static unsafe class Pty
{
    private const ulong TIOCSCTTY = 0x540E;
    private const ulong TIOCSWINSZ = 0x5414;

    /// <summary>Opens /dev/ptmx and returns the master descriptor and the slave path.</summary>
    public static (int Master, string SlavePath) Open()
    {
        var master = LinuxSyscallException.Check(Libc.open("/dev/ptmx", Sys.O_RDWR | Sys.O_NOCTTY | Sys.O_CLOEXEC, 0), "open", "/dev/ptmx");
        LinuxSyscallException.Check(Libc.unlockpt(master), "unlockpt", "/dev/ptmx");
        var buf = stackalloc byte[128];
        var rc = Libc.ptsname_r(master, buf, 128);
        if (rc != 0)
        {
            throw new LinuxSyscallException("ptsname", "/dev/ptmx", rc);
        }
        return (master, Marshal.PtrToStringUTF8((nint)buf)!);
    }

    public static void MakeControllingTerminal(int fd) =>
        LinuxSyscallException.Check(Libc.ioctl(fd, TIOCSCTTY, null), "ioctl", "TIOCSCTTY");

    public static void SetSize(int fd, ushort rows, ushort cols)
    {
        var ws = stackalloc ushort[4];
        ws[0] = rows;
        ws[1] = cols;
        ws[2] = 0;
        ws[3] = 0;
        Libc.ioctl(fd, TIOCSWINSZ, ws);
    }
}
