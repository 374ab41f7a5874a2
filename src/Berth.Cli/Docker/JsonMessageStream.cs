using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Core;

namespace Berth.Cli.Docker;

/// <summary>
/// Renders the daemon's JSON-message streams (pull, push, load, import, build): one JSON object per message with
/// status/id/progressDetail, stream (build output), aux, or error. On a terminal, lines keyed by id are redrawn in
/// place with progress bars (like the docker CLI); otherwise only lines without progress are printed, once each.
/// </summary>
public sealed class JsonMessageStream(TextWriter output, bool isTerminal, int terminalWidth = 80)
{
    private readonly Dictionary<string, int> _lineOfId = new(StringComparer.Ordinal);
    private int _lines;

    /// <summary>Called for each "aux" object (build's image ID, push's digest).</summary>
    public Action<JsonNode>? OnAux { get; init; }

    public async Task RenderAsync(Stream stream, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            foreach (var json in SplitObjects(line))
            {
                JsonNode? node;
                try
                {
                    node = JsonNode.Parse(json);
                }
                catch (JsonException)
                {
                    await output.WriteLineAsync(json).ConfigureAwait(false);
                    continue;
                }
                if (node is JsonObject message)
                {
                    Render(message);
                }
            }
        }
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Renders one message; throws the stream's error message as a <see cref="BerthException"/>.</summary>
    public void Render(JsonObject m)
    {
        if ((m["errorDetail"]?["message"]?.GetValue<string>() ?? m["error"]?.GetValue<string>()) is { } error)
        {
            throw new BerthException(ErrorCode.Internal, error);
        }
        if (m["aux"] is { } aux)
        {
            OnAux?.Invoke(aux);
            return;
        }
        if (m["stream"]?.GetValue<string>() is { } text)
        {
            output.Write(text);
            output.Flush();
            return;
        }
        var id = m["id"]?.GetValue<string>();
        var status = m["status"]?.GetValue<string>() ?? "";
        var progress = m["progressDetail"] as JsonObject;
        var hasProgress = progress is not null && progress["total"] is not null;
        if (!isTerminal)
        {
            if (hasProgress || (m["progress"] is not null && id is not null))
            {
                return;
            }
            output.WriteLine(id is null ? status : $"{id}: {status}");
            output.Flush();
            return;
        }
        var lineText = id is null ? status : $"{id}: {status}";
        if (hasProgress)
        {
            lineText += " " + ProgressBar(progress!["current"]?.GetValue<long>() ?? 0, progress["total"]!.GetValue<long>(), terminalWidth - lineText.Length - 2);
        }
        if (id is null)
        {
            output.Write("\x1b[2K\r" + lineText + "\n");
            _lines++;
        }
        else if (_lineOfId.TryGetValue(id, out var line))
        {
            var up = _lines - line;
            output.Write($"\x1b[{up}A\x1b[2K\r{lineText}\x1b[{up}B\r");
        }
        else
        {
            _lineOfId[id] = _lines;
            output.Write("\x1b[2K\r" + lineText + "\n");
            _lines++;
        }
        output.Flush();
    }

    /// <summary>Docker's bar: "[=====>      ]  1.2MB/4.5MB" (the bar shrinks on narrow terminals).</summary>
    public static string ProgressBar(long current, long total, int room)
    {
        var numbers = $"{Units.HumanSize(current)}/{Units.HumanSize(total)}";
        if (total <= 0)
        {
            return numbers;
        }
        var width = Math.Clamp(room - numbers.Length - 4, 0, 50);
        if (width < 10)
        {
            return numbers;
        }
        var done = (int)Math.Min(width, current * width / total);
        var bar = new StringBuilder("[");
        bar.Append('=', Math.Max(0, done - 1)).Append(done > 0 && done < width ? ">" : done == width ? "=" : "").Append(' ', width - done).Append(']');
        return bar.Append("  ").Append(numbers).ToString();
    }

    /// <summary>Some daemons put several objects on one line ("}{"); split them at top-level boundaries.</summary>
    public static IEnumerable<string> SplitObjects(string line)
    {
        var depth = 0;
        var start = -1;
        var found = false;
        var inString = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (inString)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    inString = false;
                }
                continue;
            }
            switch (c)
            {
                case '"':
                    inString = true;
                    break;
                case '{':
                    if (depth++ == 0)
                    {
                        start = i;
                    }
                    break;
                case '}':
                    if (--depth == 0 && start >= 0)
                    {
                        found = true;
                        yield return line[start..(i + 1)];
                        start = -1;
                    }
                    break;
            }
        }
        if (!found && line.Trim() is { Length: > 0 } rest)
        {
            yield return rest;
        }
    }

    internal static string Format(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);
}
