using System.Text;
using Berth.Linux;

namespace Berth.Runtime;

/// <summary>
/// Line messages between the runtime and a container's init over a pair of pipes: "go", "hooks", "ready",
/// "error MESSAGE". End of stream with no message means the other side exited (or exec'd, its end being close-on-exec).
/// </summary>
internal sealed class SyncPipe(int readFd, int writeFd)
{
    private readonly byte[] _buffer = new byte[65536];
    private int _start;
    private int _end;

    public int ReadFd => readFd;

    public int WriteFd => writeFd;

    public void Send(string message) => Sys.WriteAll(writeFd, Encoding.UTF8.GetBytes(message.Replace('\n', ' ') + "\n"), "sync pipe");

    /// <summary>The next line, or null at end of stream.</summary>
    public string? Receive()
    {
        while (true)
        {
            var nl = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (nl >= 0)
            {
                var line = Encoding.UTF8.GetString(_buffer, _start, nl - _start);
                _start = nl + 1;
                return line;
            }
            if (_start > 0)
            {
                Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length)
            {
                throw new InvalidOperationException("sync message too long");
            }
            var n = Sys.Read(readFd, _buffer.AsSpan(_end));
            if (n == 0)
            {
                return _end > 0 ? Encoding.UTF8.GetString(_buffer, 0, _end) : null;
            }
            _end += n;
        }
    }

    /// <summary>Everything until end of stream (used to pass a process spec to the exec helper).</summary>
    public byte[] ReadToEnd()
    {
        using var ms = new MemoryStream();
        ms.Write(_buffer, _start, _end - _start);
        _start = _end = 0;
        while (true)
        {
            var n = Sys.Read(readFd, _buffer);
            if (n == 0)
            {
                return ms.ToArray();
            }
            ms.Write(_buffer, 0, n);
        }
    }

    public void CloseWrite() => Sys.Close(writeFd);

    public void Close()
    {
        Sys.Close(readFd);
        Sys.Close(writeFd);
    }
}
