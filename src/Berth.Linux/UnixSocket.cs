using System.Runtime.InteropServices;
using System.Text;
using Berth.Linux.Interop;

namespace Berth.Linux;

/// <summary>Unix socket helpers for passing descriptors (the console socket protocol of runc).</summary>
public static unsafe partial class UnixSocket
{
    private const int AfUnix = 1;
    private const int SockStream = 1;
    private const int SolSocket = 1;
    private const int ScmRights = 1;

    /// <summary>Connects to a stream socket at <paramref name="path"/>; the descriptor is inheritable when asked.</summary>
    public static int Connect(string path, bool inheritable)
    {
        var fd = LinuxSyscallException.Check(Libc.socket(AfUnix, SockStream | (inheritable ? 0 : Sys.O_CLOEXEC), 0), "socket", path);
        var addr = stackalloc byte[110];
        new Span<byte>(addr, 110).Clear();
        *(ushort*)addr = AfUnix;
        var bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length > 107)
        {
            Libc.close(fd);
            throw new Core.BerthException(Core.ErrorCode.InvalidArgument, $"console socket path {path} is longer than 107 bytes");
        }
        bytes.CopyTo(new Span<byte>(addr + 2, 108));
        if (Libc.connect(fd, addr, 2 + bytes.Length + 1) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            Libc.close(fd);
            throw new LinuxSyscallException("connect", path, errno);
        }
        return fd;
    }

    /// <summary>Sends <paramref name="fdToSend"/> with SCM_RIGHTS and <paramref name="name"/> as the payload.</summary>
    public static void SendFd(int socket, int fdToSend, string name)
    {
        var payload = Encoding.UTF8.GetBytes(name.Length == 0 ? "fd" : name);
        // struct cmsghdr { size_t len; int level; int type; int fd; } padded to 24 bytes
        var control = stackalloc byte[24];
        new Span<byte>(control, 24).Clear();
        *(ulong*)control = 20;
        *(int*)(control + 8) = SolSocket;
        *(int*)(control + 12) = ScmRights;
        *(int*)(control + 16) = fdToSend;
        fixed (byte* p = payload)
        {
            var iov = stackalloc nint[2];
            iov[0] = (nint)p;
            iov[1] = payload.Length;
            // struct msghdr: name, namelen, iov, iovlen, control, controllen, flags
            var msg = stackalloc byte[56];
            new Span<byte>(msg, 56).Clear();
            *(nint*)(msg + 16) = (nint)iov;
            *(ulong*)(msg + 24) = 1;
            *(nint*)(msg + 32) = (nint)control;
            *(ulong*)(msg + 40) = 24;
            if (Libc.sendmsg(socket, msg, 0) < 0)
            {
                throw new LinuxSyscallException("sendmsg", "console socket", Marshal.GetLastPInvokeError());
            }
        }
    }

    /// <summary>Receives one descriptor sent with SCM_RIGHTS; returns -1 on end of stream.</summary>
    public static int ReceiveFd(int socket)
    {
        var buf = stackalloc byte[4096];
        var control = stackalloc byte[64];
        var iov = stackalloc nint[2];
        iov[0] = (nint)buf;
        iov[1] = 4096;
        var msg = stackalloc byte[56];
        new Span<byte>(msg, 56).Clear();
        *(nint*)(msg + 16) = (nint)iov;
        *(ulong*)(msg + 24) = 1;
        *(nint*)(msg + 32) = (nint)control;
        *(ulong*)(msg + 40) = 64;
        var n = Libc.recvmsg(socket, msg, 0x40000000); // MSG_CMSG_CLOEXEC
        if (n < 0)
        {
            throw new LinuxSyscallException("recvmsg", "console socket", Marshal.GetLastPInvokeError());
        }
        var controlLen = *(ulong*)(msg + 40);
        if (controlLen < 20 || *(int*)(control + 12) != ScmRights)
        {
            return -1;
        }
        return *(int*)(control + 16);
    }
}
