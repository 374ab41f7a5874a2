using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Cli.Docker;
using Berth.Core;
using Berth.Linux;

namespace Berth.Cli.Commands.Docker;

/// <summary>A command's wish to end with a given exit code (the container's, or docker's 125/126/127).</summary>
public sealed class ExitException(int code, string? message = null) : Exception(message ?? $"exit status {code}")
{
    public int Code { get; } = code;

    public bool HasMessage { get; } = message is not null;
}

/// <summary>
/// What every docker-style command gets: the API client for -H/BERTH_HOST, the process's standard streams and
/// whether they are terminals. <see cref="RunAsync"/> turns errors into docker's one-line messages and exit codes:
/// usage errors 125, daemon errors 1 (run/create map theirs to 125/126/127 themselves).
/// </summary>
public sealed class DockerCli : IDisposable
{
    private DockerApiClient? _api;

    public DockerCli(TextWriter output, TextWriter error)
    {
        Out = output;
        Err = error;
    }

    public DockerApiClient Api => _api ??= new DockerApiClient(DockerHost.Resolve());

    public TextWriter Out { get; }

    public TextWriter Err { get; }

    public static bool StdinIsTerminal => Terminal.IsTerminal(0);

    public static bool StdoutIsTerminal => Terminal.IsTerminal(1);

    public static int TerminalWidth => Terminal.GetSize(1)?.Cols is { } c and > 0 ? c : 80;

    public static Stream OpenStdout() => Console.OpenStandardOutput();

    /// <summary>
    /// Streams a tar the daemon sends (save, export) to <paramref name="output"/>, or to stdout when that is not a
    /// terminal. A file is written beside its target and renamed, so a failed download leaves no half archive.
    /// </summary>
    public async Task<int> DownloadArchiveAsync(string path, string? output, CancellationToken ct)
    {
        if (output is null && StdoutIsTerminal)
        {
            throw new BerthException(ErrorCode.InvalidArgument, "cowardly refusing to save to a terminal. Use the -o flag or redirect");
        }
        using var response = await Api.SendAsync(HttpMethod.Get, path, stream: true, cancellationToken: ct).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        if (output is null)
        {
            await using var stdout = OpenStdout();
            await body.CopyToAsync(stdout, ct).ConfigureAwait(false);
            return 0;
        }
        var full = Path.GetFullPath(output);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            await using (var file = File.Create(temp))
            {
                await body.CopyToAsync(file, ct).ConfigureAwait(false);
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
        return 0;
    }

    public static Stream OpenStderr() => Console.OpenStandardError();

    public static Stream OpenStdin() => Console.OpenStandardInput();

    public static JsonSerializerOptions Indented { get; } = new() { WriteIndented = true, IndentSize = 4, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>`network inspect`, `volume inspect`: GET each named object; a missing one is reported and the rest still printed.</summary>
    public async Task<int> InspectEachAsync(ParsedFlags flags, Func<string, string> path, Func<string, DockerApiException, string> notFound, CancellationToken ct)
    {
        var results = new JsonArray();
        var failed = false;
        foreach (var name in flags.Positionals)
        {
            try
            {
                results.Add(await Api.GetJsonAsync(path(name), ct).ConfigureAwait(false));
            }
            catch (DockerApiException e) when (e.Status == System.Net.HttpStatusCode.NotFound)
            {
                Err.WriteLine("berth: " + notFound(name, e));
                failed = true;
            }
        }
        return WriteInspected(flags, results, failed);
    }

    /// <summary>What every `inspect` prints: each result through --format, else the JSON array; 1 if any was missing.</summary>
    public int WriteInspected(ParsedFlags flags, JsonArray results, bool failed)
    {
        if (flags.Value("format") is { } format)
        {
            foreach (var r in results)
            {
                Out.WriteLine(Template.Render(format, r));
            }
        }
        else
        {
            Out.WriteLine(results.ToJsonString(Indented));
        }
        return failed ? 1 : 0;
    }

    /// <summary>POST a prune endpoint and print what it deleted under <paramref name="title"/>, as the docker CLI does; returns the space reclaimed.</summary>
    public async Task<long> PruneAsync(string path, string listKey, string title, CancellationToken ct)
    {
        var r = await Api.PostJsonAsync(path, null, ct).ConfigureAwait(false);
        if ((r?[listKey] as JsonArray ?? []) is { Count: > 0 } deleted)
        {
            Out.WriteLine(title);
            foreach (var d in deleted)
            {
                Out.WriteLine(Template.Text(d));
            }
            Out.WriteLine();
        }
        return r?["SpaceReclaimed"]?.GetValue<long>() ?? 0;
    }

    public void Dispose() => _api?.Dispose();

    public static async Task<int> RunAsync(DockerCommandSpec spec, string[] args, CancellationToken cancellationToken)
    {
        using var cli = new DockerCli(Console.Out, Console.Error);
        try
        {
            var parsed = spec.Flags.Parse(args);
            if (parsed.Help)
            {
                await cli.Out.WriteAsync(spec.Summary + "\n\n" + spec.Flags.HelpText()).ConfigureAwait(false);
                return 0;
            }
            var code = await spec.Run(cli, parsed, cancellationToken).ConfigureAwait(false);
            await cli.Out.FlushAsync(cancellationToken).ConfigureAwait(false);
            return code;
        }
        catch (UsageException e)
        {
            await cli.Err.WriteLineAsync($"berth: {e.Message}\nSee 'berth {spec.Flags.Command} --help'.").ConfigureAwait(false);
            return 125;
        }
        catch (ExitException e)
        {
            if (e.HasMessage)
            {
                await cli.Err.WriteLineAsync("berth: " + e.Message).ConfigureAwait(false);
            }
            return e.Code;
        }
        catch (BerthException e)
        {
            await cli.Out.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            await cli.Err.WriteLineAsync("berth: " + e.Message).ConfigureAwait(false);
            return 1;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return 130;
        }
        catch (IOException e)
        {
            await cli.Err.WriteLineAsync("berth: " + e.Message).ConfigureAwait(false);
            return 1;
        }
    }

    /// <summary>Writes a table (or a --format template per row) for a list command.</summary>
    public void WriteRows(string? format, bool quiet, IReadOnlyList<JsonObject> rows, string quietField, IReadOnlyList<(string Field, string Header)> columns)
    {
        if (quiet)
        {
            foreach (var r in rows)
            {
                Out.WriteLine(Template.Text(r[quietField]));
            }
            return;
        }
        if (format is not null && format != "table")
        {
            var headers = columns.ToDictionary(c => c.Field, c => c.Header, StringComparer.Ordinal);
            if (Template.IsTable(format))
            {
                var table = new TableWriter(Template.Header(format, headers).Split('\t'));
                foreach (var r in rows)
                {
                    table.Add(Template.Render(format, r).Split('\t'));
                }
                Out.Write(table.ToString());
            }
            else
            {
                foreach (var r in rows)
                {
                    Out.WriteLine(Template.Render(format, r));
                }
            }
            return;
        }
        var t = new TableWriter([.. columns.Select(c => c.Header)]);
        foreach (var r in rows)
        {
            t.Add([.. columns.Select(c => Template.Text(r[c.Field]))]);
        }
        Out.Write(t.ToString());
    }

    public static string Query(params (string Key, string? Value)[] pairs)
    {
        var sb = new StringBuilder();
        foreach (var (k, v) in pairs)
        {
            if (v is null)
            {
                continue;
            }
            sb.Append(sb.Length == 0 ? '?' : '&').Append(Uri.EscapeDataString(k)).Append('=').Append(Uri.EscapeDataString(v));
        }
        return sb.ToString();
    }

    public static string Esc(string s) => Uri.EscapeDataString(s);

    /// <summary>--filter key=value (repeatable) → the API's {"key":["value",...]} JSON, or null when there are none.</summary>
    public static string? Filters(IEnumerable<string> filters, params (string Key, string Value)[] extra)
    {
        var map = new JsonObject();
        foreach (var f in filters.Select(f => f.Split('=', 2)).Select(p => (p[0], p.Length > 1 ? p[1] : "")).Concat(extra))
        {
            if (f.Item1.Length == 0)
            {
                throw new UsageException($"bad format of filter (expected name=value)");
            }
            if (map[f.Item1] is not JsonArray list)
            {
                map[f.Item1] = list = [];
            }
            list.Add((JsonNode)f.Item2);
        }
        return map.Count == 0 ? null : map.ToJsonString();
    }

    /// <summary>Asks y/N on the terminal (prune without -f), like docker.</summary>
    public bool Confirm(string question)
    {
        Out.Write(question + " [y/N] ");
        Out.Flush();
        var answer = Console.In.ReadLine();
        return answer is not null && answer.Trim().ToLowerInvariant() is "y" or "yes";
    }
}

/// <summary>A docker-style command: its flag set, a one-line summary and what it does.</summary>
public sealed record DockerCommandSpec(string Name, string Summary, FlagSet Flags, Func<DockerCli, ParsedFlags, CancellationToken, Task<int>> Run, bool Hidden = false)
{
    public RawCommand ToCommand() => new(Name, Summary, (args, ct) => DockerCli.RunAsync(this, args, ct), Hidden);
}
