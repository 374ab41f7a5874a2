using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace Berth.Engine.Containers;

public sealed record LogOptions(bool Stdout, bool Stderr, DateTimeOffset? Since, DateTimeOffset? Until, int? Tail, bool Follow, bool Timestamps);

public readonly record struct LogEntry(int Stream, byte[] Data, DateTimeOffset Time);

/// <summary>Reads the shim's json-file log (with its rotated files, oldest first), and follows it while the container runs.</summary>
public static class LogReader
{
    public static async IAsyncEnumerable<LogEntry> ReadAsync(Container c, LogOptions options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var path = c.Record.LogPath;
        var files = new List<string>();
        for (var i = 9; i >= 1; i--)
        {
            if (File.Exists(path + "." + i.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            {
                files.Add(path + "." + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        var entries = new List<LogEntry>();
        foreach (var f in files)
        {
            entries.AddRange(ParseFile(f, 0, out _).Where(e => Keep(e, options)));
        }
        long offset = 0;
        if (File.Exists(path))
        {
            entries.AddRange(ParseFile(path, 0, out offset).Where(e => Keep(e, options)));
        }
        if (options.Tail is int n && n >= 0)
        {
            entries = entries.Skip(Math.Max(0, entries.Count - n)).ToList();
        }
        foreach (var e in entries)
        {
            yield return Stamp(e, options);
        }
        if (!options.Follow)
        {
            yield break;
        }
        var inode = Inode(path);
        while (!cancellationToken.IsCancellationRequested)
        {
            var running = c.IsRunning || c.Record.State.Status == ContainerStatus.Restarting;
            var current = Inode(path);
            if (current != inode)
            {
                // Rotated: the rest of the old file is now path.1; the new file starts at 0.
                if (File.Exists(path + ".1"))
                {
                    foreach (var e in ParseFile(path + ".1", offset, out _).Where(e => Keep(e, options)))
                    {
                        yield return Stamp(e, options);
                    }
                }
                offset = 0;
                inode = current;
            }
            if (File.Exists(path))
            {
                var fresh = ParseFile(path, offset, out var newOffset);
                offset = newOffset;
                foreach (var e in fresh.Where(e => Keep(e, options)))
                {
                    yield return Stamp(e, options);
                }
                if (options.Until is { } u && DateTimeOffset.UtcNow > u)
                {
                    yield break;
                }
            }
            if (!running)
            {
                yield break;
            }
            try
            {
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
        }
    }

    private static LogEntry Stamp(LogEntry e, LogOptions options) =>
        options.Timestamps ? e with { Data = [.. Encoding.UTF8.GetBytes(e.Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z' ", System.Globalization.CultureInfo.InvariantCulture)), .. e.Data] } : e;

    private static bool Keep(LogEntry e, LogOptions o) =>
        (e.Stream == 1 ? o.Stdout : o.Stderr) && (o.Since is not { } s || e.Time >= s) && (o.Until is not { } u || e.Time <= u);

    private static long Inode(string path)
    {
        try
        {
            return File.Exists(path) ? new FileInfo(path).CreationTimeUtc.Ticks ^ (long)(File.GetUnixFileMode(path)) : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>Complete lines from <paramref name="offset"/>; a half-written last line is left for the next read.</summary>
    internal static List<LogEntry> ParseFile(string path, long offset, out long newOffset)
    {
        var result = new List<LogEntry>();
        newOffset = offset;
        byte[] bytes;
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (fs.Length < offset)
            {
                offset = 0;
            }
            fs.Position = offset;
            bytes = new byte[fs.Length - offset];
            fs.ReadExactly(bytes);
        }
        catch (FileNotFoundException)
        {
            return result;
        }
        var start = 0;
        while (start < bytes.Length)
        {
            var nl = Array.IndexOf(bytes, (byte)'\n', start);
            if (nl < 0)
            {
                break;
            }
            var line = bytes.AsSpan(start, nl - start);
            start = nl + 1;
            if (Parse(line) is { } e)
            {
                result.Add(e);
            }
        }
        newOffset = offset + start;
        return result;
    }

    internal static LogEntry? Parse(ReadOnlySpan<byte> line)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            string? log = null;
            var stream = 1;
            var time = DateTimeOffset.MinValue;
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    continue;
                }
                var name = reader.GetString();
                reader.Read();
                switch (name)
                {
                    case "log":
                        log = reader.GetString();
                        break;
                    case "stream":
                        stream = reader.GetString() == "stderr" ? 2 : 1;
                        break;
                    case "time":
                        time = reader.GetDateTimeOffset();
                        break;
                }
            }
            return log is null ? null : new LogEntry(stream, Encoding.UTF8.GetBytes(log), time);
        }
        catch (JsonException)
        {
            return null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
