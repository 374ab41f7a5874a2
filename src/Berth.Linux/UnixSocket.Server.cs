using System.Runtime.InteropServices;
using System.Text;
using Berth.Linux.Interop;

namespace Berth.Linux;

public static unsafe partial class UnixSocket
{
    private const int SockNonBlock = 0x800;

    /// <summary>
    /// A listening stream socket at <paramref name="path"/> (an old socket file there is replaced), close-on-exec and
    /// non-blocking, as raw descriptors for a poll loop that wants no .NET socket engine (and its thread).
    /// </summary>
    public static int Listen(string path, int backlog = 64)
    {
        var bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length > 107)
        {
            throw new Core.BerthException(Core.ErrorCode.InvalidArgument, $"socket path {path} is longer than 107 bytes; use a shorter directory");
        }
        File.Delete(path);
        var fd = LinuxSyscallException.Check(Libc.socket(AfUnix, SockStream | Sys.O_CLOEXEC | SockNonBlock, 0), "socket", path);
        var addr = stackalloc byte[110];
        new Span<byte>(addr, 110).Clear();
        *(ushort*)addr = AfUnix;
        bytes.CopyTo(new Span<byte>(addr + 2, 108));
        if (Libc.bind(fd, addr, 2 + bytes.Length + 1) != 0 || Libc.listen(fd, backlog) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            Libc.close(fd);
            throw new LinuxSyscallException("listen", path, errno);
        }
        return fd;
    }

    /// <summary>accept4 (close-on-exec, non-blocking); -1 when no connection is waiting.</summary>
    public static int Accept(int listener)
    {
        while (true)
        {
            var fd = Libc.accept4(listener, null, null, Sys.O_CLOEXEC | SockNonBlock);
            if (fd >= 0)
            {
                return fd;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Errno.EINTR || errno == 103 /* ECONNABORTED */)
            {
                continue;
            }
            return -1;
        }
    }
}
