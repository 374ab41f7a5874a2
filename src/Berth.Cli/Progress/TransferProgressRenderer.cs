using System.Globalization;
using System.Text;
using Berth.Images.Distribution;

namespace Berth.Cli.Progress;

/// <summary>
/// Shows per-layer progress of a pull or push: bars redrawn in place on a terminal (like docker), or one plain line per
/// change of status when the output is not a terminal (logs, tests). Thread-safe: transfers report concurrently.
/// </summary>
public sealed class TransferProgressRenderer : IProgress<TransferProgress>
{
    private readonly TextWriter _out;
    private readonly bool _terminal;
    private readonly bool _push;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly List<string> _order = [];
    private readonly Dictionary<string, TransferProgress> _rows = new(StringComparer.Ordinal);
    private int _drawn;
    private long _lastDraw;

    public TransferProgressRenderer(TextWriter output, bool terminal, bool push = false, TimeProvider? timeProvider = null)
    {
        _out = output;
        _terminal = terminal;
        _push = push;
        _time = timeProvider ?? TimeProvider.System;
    }

    public void Report(TransferProgress value)
    {
        lock (_lock)
        {
            var known = _rows.TryGetValue(value.Id, out var previous);
            if (!known)
            {
                _order.Add(value.Id);
            }
            _rows[value.Id] = value;
            if (!_terminal)
            {
                if (!known || previous.Status != value.Status)
                {
                    _out.WriteLine(Describe(value, bar: false));
                }
                return;
            }
            var now = _time.GetTimestamp();
            var final = value.Status is not (TransferStatus.Downloading or TransferStatus.Pushing);
            if (final || _time.GetElapsedTime(_lastDraw, now) >= TimeSpan.FromMilliseconds(100))
            {
                _lastDraw = now;
                Draw();
            }
        }
    }

    /// <summary>Draws the final state (call once the transfer finished or failed).</summary>
    public void Complete()
    {
        lock (_lock)
        {
            if (_terminal)
            {
                Draw();
            }
            _out.Flush();
        }
    }

    private void Draw()
    {
        var sb = new StringBuilder();
        if (_drawn > 0)
        {
            sb.Append("\u001b[").Append(_drawn.ToString(CultureInfo.InvariantCulture)).Append('A');
        }
        foreach (var id in _order)
        {
            sb.Append("\u001b[2K").Append(Describe(_rows[id], bar: true)).Append('\n');
        }
        _drawn = _order.Count;
        _out.Write(sb.ToString());
        _out.Flush();
    }

    private string Describe(TransferProgress p, bool bar)
    {
        var status = p.Status switch
        {
            TransferStatus.Waiting => "Waiting",
            TransferStatus.Downloading => "Downloading",
            TransferStatus.Verifying => "Verifying Checksum",
            TransferStatus.Done => "Pull complete",
            TransferStatus.AlreadyExists => _push ? "Layer already exists" : "Already exists",
            TransferStatus.Pushing => "Pushing",
            TransferStatus.Pushed => "Pushed",
            TransferStatus.Mounted => "Mounted" + (p.Message is null ? "" : " " + p.Message),
            TransferStatus.Retrying => "Retrying: " + p.Message,
            _ => p.Status.ToString(),
        };
        var line = p.Id + ": " + status;
        if (p.Status is TransferStatus.Downloading or TransferStatus.Pushing && p.Total > 0)
        {
            line += bar
                ? " " + Bar(p.Current, p.Total) + " " + Size(p.Current) + "/" + Size(p.Total)
                : " " + Size(p.Total);
        }
        return line;
    }

    public static string Bar(long current, long total)
    {
        const int width = 40;
        var filled = total <= 0 ? 0 : (int)Math.Clamp(current * width / total, 0, width);
        return "[" + new string('=', Math.Max(0, filled - 1)) + (filled > 0 ? ">" : "") + new string(' ', width - filled) + "]";
    }

    public static string Size(long bytes) => bytes switch
    {
        >= 1_000_000_000 => (bytes / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + "GB",
        >= 1_000_000 => (bytes / 1e6).ToString("0.#", CultureInfo.InvariantCulture) + "MB",
        >= 1_000 => (bytes / 1e3).ToString("0.#", CultureInfo.InvariantCulture) + "kB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + "B",
    };
}
