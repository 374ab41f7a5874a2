using System.Globalization;

namespace Berth.Build;

/// <summary>Where a build reports what it does. The CLI renders these as bars on a terminal and as plain lines otherwise.</summary>
public interface IBuildProgress
{
    void Report(BuildEvent buildEvent);
}

/// <summary>Something that happened during a build.</summary>
public abstract record BuildEvent;

/// <summary>A step begins: <c>Step 3/9 : RUN make</c>. <see cref="Text"/> is the instruction as written.</summary>
public sealed record StepStarted(int Step, int Total, string Stage, string Text) : BuildEvent;

/// <summary>The step's result came from the cache.</summary>
public sealed record StepCached(int Step, string CacheKey) : BuildEvent;

/// <summary>A line of a RUN step's output, or a note such as "Executing 2 build triggers".</summary>
public sealed record StepOutput(int Step, string Line) : BuildEvent;

/// <summary>The step finished; <see cref="Id"/> is a short id of its result (layer or config).</summary>
public sealed record StepCompleted(int Step, string Id, TimeSpan Elapsed, bool Cached) : BuildEvent;

/// <summary>A warning (unused build-args, deprecated syntax).</summary>
public sealed record BuildWarning(string Message) : BuildEvent;

/// <summary>The build finished.</summary>
public sealed record BuildCompleted(string CacheKey, string? Layer, int Steps, int CachedSteps, TimeSpan Elapsed) : BuildEvent;

/// <summary>Discards every event.</summary>
public sealed class NullBuildProgress : IBuildProgress
{
    public static NullBuildProgress Instance { get; } = new();

    public void Report(BuildEvent buildEvent)
    {
    }
}

/// <summary>The classic builder's output, one line per event, for logs and non-terminal output.</summary>
public sealed class PlainBuildProgress(TextWriter writer) : IBuildProgress
{
    private readonly Lock _lock = new();

    public void Report(BuildEvent buildEvent)
    {
        var line = buildEvent switch
        {
            StepStarted s => $"Step {s.Step}/{s.Total} : {s.Text}",
            StepCached => " ---> Using cache",
            StepOutput o => o.Line,
            StepCompleted c => " ---> " + c.Id,
            BuildWarning w => "[Warning] " + w.Message,
            BuildCompleted b => string.Create(CultureInfo.InvariantCulture,
                $"Successfully built {Short(b.CacheKey)} ({b.Steps} steps, {b.CachedSteps} cached, {b.Elapsed.TotalSeconds:0.0}s)"),
            _ => null,
        };
        if (line is null)
        {
            return;
        }
        lock (_lock)
        {
            writer.WriteLine(line);
        }
    }

    internal static string Short(string id)
    {
        var colon = id.IndexOf(':', StringComparison.Ordinal);
        var hex = colon >= 0 ? id[(colon + 1)..] : id;
        return hex.Length > 12 ? hex[..12] : hex;
    }
}

/// <summary>
/// A terminal renderer: one status line per step, rewritten in place while it runs (with the last output line),
/// then frozen with its time or CACHED, like BuildKit's tty display.
/// </summary>
public sealed class TtyBuildProgress(TextWriter writer, TimeProvider? time = null) : IBuildProgress
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private StepStarted? _current;
    private long _startedAt;

    public void Report(BuildEvent buildEvent)
    {
        lock (_lock)
        {
            switch (buildEvent)
            {
                case StepStarted s:
                    _current = s;
                    _startedAt = _time.GetTimestamp();
                    Rewrite($"[{s.Step}/{s.Total}] {s.Text}");
                    break;
                case StepOutput o when _current is not null:
                    var tail = o.Line.Length > 60 ? o.Line[..60] : o.Line;
                    Rewrite(string.Create(CultureInfo.InvariantCulture,
                        $"[{_current.Step}/{_current.Total}] {_current.Text}  {_time.GetElapsedTime(_startedAt).TotalSeconds:0.0}s  {tail}"));
                    break;
                case StepCompleted c when _current is not null:
                    Rewrite(c.Cached
                        ? $"[{_current.Step}/{_current.Total}] {_current.Text}  CACHED"
                        : string.Create(CultureInfo.InvariantCulture, $"[{_current.Step}/{_current.Total}] {_current.Text}  {c.Elapsed.TotalSeconds:0.0}s"));
                    writer.WriteLine();
                    _current = null;
                    break;
                case BuildWarning w:
                    writer.WriteLine("WARNING: " + w.Message);
                    break;
                case BuildCompleted b:
                    writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"=> built {PlainBuildProgress.Short(b.CacheKey)} in {b.Elapsed.TotalSeconds:0.0}s ({b.CachedSteps}/{b.Steps} cached)"));
                    break;
            }
            writer.Flush();
        }
    }

    private void Rewrite(string text) => writer.Write("\r\u001b[2K" + text);
}

/// <summary>
/// The Docker Engine API's <c>POST /build</c> stream for the classic builder: one JSON object per line,
/// <c>{"stream":"Step 1/3 : FROM busybox\n"}</c>, warnings on the stream too, and at the end
/// <c>{"aux":{"ID":"..."}}</c> once the host knows the image id (<see cref="WriteImageId"/>). The docker CLI
/// renders these exactly like its own classic builder output.
/// </summary>
public sealed class DockerJsonBuildProgress(Stream output) : IBuildProgress
{
    private readonly Lock _lock = new();

    public void Report(BuildEvent buildEvent)
    {
        var text = buildEvent switch
        {
            StepStarted s => $"Step {s.Step}/{s.Total} : {s.Text}\n",
            StepCached => " ---> Using cache\n",
            StepOutput o => o.Line + "\n",
            StepCompleted c => " ---> " + c.Id + "\n",
            BuildWarning w => "[Warning] " + w.Message + "\n",
            _ => null,
        };
        if (text is not null)
        {
            Write(writer =>
            {
                writer.WriteString("stream", text);
            });
        }
    }

    /// <summary>The final <c>aux</c> message with the image id, then <c>Successfully built</c> as docker prints it.</summary>
    public void WriteImageId(string imageId)
    {
        Write(writer =>
        {
            writer.WriteStartObject("aux");
            writer.WriteString("ID", imageId);
            writer.WriteEndObject();
        });
        Write(writer => writer.WriteString("stream", $"Successfully built {PlainBuildProgress.Short(imageId)}\n"));
    }

    /// <summary>A failure as the API reports it mid-stream: <c>{"errorDetail":{"message":...},"error":...}</c>.</summary>
    public void WriteError(string message)
    {
        Write(writer =>
        {
            writer.WriteStartObject("errorDetail");
            writer.WriteString("message", message);
            writer.WriteEndObject();
            writer.WriteString("error", message);
        });
    }

    private void Write(Action<System.Text.Json.Utf8JsonWriter> body)
    {
        lock (_lock)
        {
            using (var writer = new System.Text.Json.Utf8JsonWriter(output))
            {
                writer.WriteStartObject();
                body(writer);
                writer.WriteEndObject();
            }
            output.WriteByte((byte)'\n');
            output.Flush();
        }
    }
}
