using System.Runtime.InteropServices;
using Berth.Linux.Interop;

namespace Berth.Linux;

/// <summary>One entry of a poll(2) set.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PollFd
{
    public const short In = 0x001;
    public const short Out = 0x004;
    public const short Err = 0x008;
    public const short Hup = 0x010;
    public const short Nval = 0x020;

    public int Fd;
    public short Events;
    public short Revents;
}

/// <summary>Non-blocking descriptor I/O and poll(2), for single-threaded event loops (berth-shim) that must not allocate per event.</summary>
public static unsafe class Descriptors
{
    private const int F_GETFL = 3;
    private const int F_SETFL = 4;
    private const int F_DUPFD_CLOEXEC = 1030;

    /// <summary>poll(2); returns the number of ready entries (0 on timeout or EINTR).</summary>
    public static int Poll(Span<PollFd> fds, int timeoutMs)
    {
        fixed (PollFd* p = fds)
        {
            var n = Libc.poll(p, (nuint)fds.Length, timeoutMs);
            if (n >= 0)
            {
                return n;
            }
            var errno = Marshal.GetLastPInvokeError();
            return errno == Errno.EINTR ? 0 : throw new LinuxSyscallException("poll", null, errno);
        }
    }

    public static void SetNonBlocking(int fd)
    {
        var flags = LinuxSyscallException.Check(Libc.fcntl(fd, F_GETFL, 0), "fcntl", "fd " + fd);
        LinuxSyscallException.Check(Libc.fcntl(fd, F_SETFL, flags | Sys.O_NONBLOCK), "fcntl", "fd " + fd);
    }

    /// <summary>read(2): the byte count, 0 at end of file, or -errno (EAGAIN when nothing is ready).</summary>
    public static int TryRead(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = Libc.read(fd, p, (nuint)buffer.Length);
                if (n >= 0)
                {
                    return (int)n;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR)
                {
                    return -errno;
                }
            }
        }
    }

    /// <summary>write(2): the byte count written (possibly partial) or -errno.</summary>
    public static int TryWrite(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            while (true)
            {
                var n = Libc.write(fd, p, (nuint)data.Length);
                if (n >= 0)
                {
                    return (int)n;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR)
                {
                    return -errno;
                }
            }
        }
    }

    /// <summary>A close-on-exec duplicate of <paramref name="fd"/>.</summary>
    public static int DupCloexec(int fd) => LinuxSyscallException.Check(Libc.fcntl(fd, F_DUPFD_CLOEXEC, 3), "fcntl", "F_DUPFD_CLOEXEC fd " + fd);

    /// <summary>Sets a signal's disposition to ignored (SIGPIPE in a process that writes to pipes and sockets peers may close).</summary>
    public static void IgnoreSignal(int signal) => Libc.signal(signal, 1);
}
