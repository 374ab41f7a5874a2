using Berth.Linux.Interop;

namespace Berth.Linux;

/// <summary>
/// The local terminal for interactive clients (`berth run -it`): raw mode with a saved state to restore,
/// and the window size to forward as a resize.
/// </summary>
public static unsafe class Terminal
{
    // struct termios is 60 bytes on x86_64/aarch64 glibc; keep room to spare.
    private const int TermiosSize = 128;
    private const ulong TIOCGWINSZ = 0x5413;
    private const int TCSANOW = 0;

    public static bool IsTerminal(int fd) => Libc.isatty(fd) == 1;

    /// <summary>Puts <paramref name="fd"/> into raw mode; dispose the result to restore the previous state.</summary>
    public static IDisposable MakeRaw(int fd)
    {
        var saved = new byte[TermiosSize];
        fixed (byte* p = saved)
        {
            LinuxSyscallException.Check(Libc.tcgetattr(fd, p), "tcgetattr", "fd " + fd);
            var raw = stackalloc byte[TermiosSize];
            new Span<byte>(p, TermiosSize).CopyTo(new Span<byte>(raw, TermiosSize));
            Libc.cfmakeraw(raw);
            LinuxSyscallException.Check(Libc.tcsetattr(fd, TCSANOW, raw), "tcsetattr", "fd " + fd);
        }
        return new Restore(fd, saved);
    }

    /// <summary>Rows and columns of the terminal on <paramref name="fd"/>, or null when it is not a terminal.</summary>
    public static (ushort Rows, ushort Cols)? GetSize(int fd)
    {
        var ws = stackalloc ushort[4];
        return Libc.ioctl(fd, TIOCGWINSZ, ws) == 0 ? (ws[0], ws[1]) : null;
    }

    private sealed class Restore(int fd, byte[] saved) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done)
            {
                return;
            }
            _done = true;
            fixed (byte* p = saved)
            {
                Libc.tcsetattr(fd, TCSANOW, p);
            }
        }
    }
}
