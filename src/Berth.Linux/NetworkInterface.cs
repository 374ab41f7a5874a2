using System.Runtime.InteropServices;
using System.Text;
using Berth.Linux.Interop;

namespace Berth.Linux;

/// <summary>Minimal link control through SIOCGIFFLAGS/SIOCSIFFLAGS (netlink comes with the networking part).</summary>
public static unsafe class NetworkInterface
{
    private const ulong SIOCGIFFLAGS = 0x8913;
    private const ulong SIOCSIFFLAGS = 0x8914;
    private const short IFF_UP = 1;

    /// <summary>Sets a link up in the calling thread's network namespace (a new one has "lo" down).</summary>
    public static void Up(string name)
    {
        var fd = LinuxSyscallException.Check(Libc.socket(2 /* AF_INET */, 2 /* SOCK_DGRAM */ | Sys.O_CLOEXEC, 0), "socket", name);
        try
        {
            var ifr = stackalloc byte[40];
            new Span<byte>(ifr, 40).Clear();
            Encoding.ASCII.GetBytes(name).AsSpan(0, Math.Min(name.Length, 15)).CopyTo(new Span<byte>(ifr, 16));
            LinuxSyscallException.Check(Libc.ioctl(fd, SIOCGIFFLAGS, ifr), "ioctl SIOCGIFFLAGS", name);
            *(short*)(ifr + 16) |= IFF_UP;
            LinuxSyscallException.Check(Libc.ioctl(fd, SIOCSIFFLAGS, ifr), "ioctl SIOCSIFFLAGS", name);
        }
        finally
        {
            Libc.close(fd);
        }
    }
}
