using Berth.Linux;

namespace Berth.Shim.Server;

/// <summary>
/// Docker's json-file log driver: one JSON object per line, <c>{"log":"...","stream":"stdout","time":"RFC3339Nano"}</c>.
/// As Docker's copier, a message ends at a newline (kept in "log"), at 16 KiB without a newline (a partial message, no
/// newline), or at the end of the stream. Rotates by size like Docker: once the file has reached max-size, the next
/// entry goes to a fresh file and path.N-1 ... path.1 shift up, the oldest dropped (max-file 1 truncates in place).
/// </summary>
internal sealed class JsonFileLog : IDisposable
{
    /// <summary>Docker's copier buffer: longer lines are split into partial messages of this size.</summary>
    public const int MaxMessage = 16 * 1024;

    private static readonly byte[] Hex = "0123456789abcdef"u8.ToArray();

    private readonly string _path;
    private readonly long _maxSize;
    private readonly int _maxFiles;
    private readonly TimeProvider _time;
    private readonly byte[][] _pending = [[], new byte[MaxMessage], new byte[MaxMessage]];
    private readonly int[] _pendingLength = new int[3];
    private byte[] _entry = new byte[MaxMessage * 6 + 128];
    private int _fd = -1;
    private long _size;

    public JsonFileLog(string path, long maxSize, int maxFiles, TimeProvider time)
    {
        _path = path;
        _maxSize = maxSize;
        _maxFiles = Math.Max(1, maxFiles);
        _time = time;
        Open();
    }

    /// <summary>Appends output of <paramref name="stream"/> (1 stdout, 2 stderr), writing every complete message.</summary>
    public void Write(int stream, ReadOnlySpan<byte> data)
    {
        var buffer = _pending[stream];
        while (data.Length > 0)
        {
            var length = _pendingLength[stream];
            var newline = data.IndexOf((byte)'\n');
            var take = newline >= 0 ? newline + 1 : data.Length;
            take = Math.Min(take, MaxMessage - length);
            data[..take].CopyTo(buffer.AsSpan(length));
            length += take;
            data = data[take..];
            if (buffer[length - 1] == (byte)'\n' || length == MaxMessage)
            {
                Emit(stream, buffer.AsSpan(0, length));
                length = 0;
            }
            _pendingLength[stream] = length;
        }
    }

    /// <summary>The stream ended: what is left becomes a message without a newline, as Docker writes it.</summary>
    public void Flush(int stream)
    {
        if (_pendingLength[stream] > 0)
        {
            Emit(stream, _pending[stream].AsSpan(0, _pendingLength[stream]));
            _pendingLength[stream] = 0;
        }
    }

    private void Emit(int stream, ReadOnlySpan<byte> message)
    {
        var n = Format(_entry, stream, message, _time.GetUtcNow());
        if (_maxSize > 0 && _size >= _maxSize)
        {
            Rotate();
        }
        if (_fd < 0)
        {
            return;
        }
        // A full disk loses log lines, never the container: the error is not fatal to the shim.
        var off = 0;
        while (off < n)
        {
            var w = Descriptors.TryWrite(_fd, _entry.AsSpan(off, n - off));
            if (w <= 0)
            {
                return;
            }
            off += w;
        }
        _size += n;
    }

    /// <summary>Formats one entry into <paramref name="into"/> (large enough for 6 bytes per input byte) and returns its length.</summary>
    internal static int Format(byte[] into, int stream, ReadOnlySpan<byte> message, DateTimeOffset time)
    {
        var o = 0;
        Put(into, ref o, "{\"log\":\""u8);
        o = Escape(into, o, message);
        Put(into, ref o, stream == 2 ? "\",\"stream\":\"stderr\",\"time\":\""u8 : "\",\"stream\":\"stdout\",\"time\":\""u8);
        o += Rfc3339Nano(time, into.AsSpan(o));
        Put(into, ref o, "\"}\n"u8);
        return o;
    }

    /// <summary>
    /// Go's time.RFC3339Nano in UTC (trailing zeros of the fraction trimmed, no fraction when it is zero), formatted
    /// into <paramref name="into"/> without allocating: it runs once per log line.
    /// </summary>
    internal static int Rfc3339Nano(DateTimeOffset time, Span<byte> into)
    {
        var utc = time.UtcDateTime;
        utc.TryFormat(into, out var n, "yyyy-MM-dd'T'HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
        var fraction = utc.Ticks % TimeSpan.TicksPerSecond * 100; // nanoseconds
        if (fraction != 0)
        {
            into[n++] = (byte)'.';
            for (var div = 100_000_000L; div > 0 && fraction != 0; div /= 10)
            {
                into[n++] = (byte)('0' + fraction / div);
                fraction %= div;
            }
        }
        into[n++] = (byte)'Z';
        return n;
    }

    private static void Put(byte[] into, ref int o, ReadOnlySpan<byte> text)
    {
        text.CopyTo(into.AsSpan(o));
        o += text.Length;
    }

    /// <summary>Escapes like Docker's jsonlog (Go's encoding/json with HTML escaping): invalid UTF-8 becomes U+FFFD.</summary>
    private static int Escape(byte[] into, int o, ReadOnlySpan<byte> s)
    {
        var i = 0;
        while (i < s.Length)
        {
            var b = s[i];
            if (b < 0x80)
            {
                switch (b)
                {
                    case (byte)'"':
                    case (byte)'\\':
                        into[o++] = (byte)'\\';
                        into[o++] = b;
                        break;
                    case (byte)'\n':
                        into[o++] = (byte)'\\';
                        into[o++] = (byte)'n';
                        break;
                    case (byte)'\r':
                        into[o++] = (byte)'\\';
                        into[o++] = (byte)'r';
                        break;
                    case (byte)'\t':
                        into[o++] = (byte)'\\';
                        into[o++] = (byte)'t';
                        break;
                    case < 0x20 or (byte)'<' or (byte)'>' or (byte)'&':
                        Put(into, ref o, "\\u00"u8);
                        into[o++] = Hex[b >> 4];
                        into[o++] = Hex[b & 0xf];
                        break;
                    default:
                        into[o++] = b;
                        break;
                }
                i++;
                continue;
            }
            var status = System.Text.Rune.DecodeFromUtf8(s[i..], out var rune, out var consumed);
            if (status != System.Buffers.OperationStatus.Done)
            {
                Put(into, ref o, "\\ufffd"u8);
                i += Math.Max(1, consumed);
                continue;
            }
            if (rune.Value is 0x2028 or 0x2029)
            {
                Put(into, ref o, rune.Value == 0x2028 ? "\\u2028"u8 : "\\u2029"u8);
            }
            else
            {
                s.Slice(i, consumed).CopyTo(into.AsSpan(o));
                o += consumed;
            }
            i += consumed;
        }
        return o;
    }

    private void Open()
    {
        _fd = Sys.TryOpen(_path, Sys.O_WRONLY | Sys.O_CREAT | Sys.O_APPEND, 0x1a0); // 0640
        if (_fd < 0)
        {
            _fd = -1;
            return;
        }
        _size = new FileInfo(_path).Length;
    }

    private void Rotate()
    {
        Sys.Close(_fd);
        _fd = -1;
        try
        {
            if (_maxFiles <= 1)
            {
                File.Delete(_path);
            }
            else
            {
                File.Delete(_path + "." + (_maxFiles - 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
                for (var i = _maxFiles - 2; i >= 1; i--)
                {
                    var from = _path + "." + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    if (File.Exists(from))
                    {
                        File.Move(from, _path + "." + (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), overwrite: true);
                    }
                }
                File.Move(_path, _path + ".1", overwrite: true);
            }
        }
        catch (IOException)
        {
        }
        Open();
    }

    public void Dispose()
    {
        Flush(1);
        Flush(2);
        if (_fd >= 0)
        {
            Sys.Close(_fd);
            _fd = -1;
        }
    }
}
