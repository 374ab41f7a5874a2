using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Berth.Cli.Docker;
using Berth.Core;
using Berth.Linux;

namespace Berth.Cli.Commands.Docker;

/// <summary>`berth run`, `create` and `start`: create (pulling a missing image), attach through a hijacked connection, start, wait.</summary>
public static class RunCommands
{
    public static DockerCommandSpec Run { get; } = new("run", "Create and run a new container from an image",
        new FlagSet("run", "run [OPTIONS] IMAGE [COMMAND] [ARG...]", interspersed: false, [.. ContainerConfig.CreateFlags, .. ContainerConfig.RunOnlyFlags]),
        RunAsync);

    public static DockerCommandSpec Create { get; } = new("create", "Create a new container",
        new FlagSet("create", "create [OPTIONS] IMAGE [COMMAND] [ARG...]", interspersed: false, ContainerConfig.CreateFlags),
        CreateOnlyAsync);

    public static DockerCommandSpec Start { get; } = new("start", "Start one or more stopped containers",
        new FlagSet("start", "start [OPTIONS] CONTAINER [CONTAINER...]", interspersed: true,
            new Flag("attach", 'a', FlagKind.Bool, "Attach STDOUT/STDERR and forward signals"),
            new Flag("interactive", 'i', FlagKind.Bool, "Attach container's STDIN")),
        StartAsync);

    private static async Task<int> CreateOnlyAsync(DockerCli cli, ParsedFlags f, CancellationToken ct)
    {
        f.Require(1);
        var id = await CreateContainerAsync(cli, f, detach: true, ct).ConfigureAwait(false);
        cli.Out.WriteLine(id);
        return 0;
    }

    /// <summary>Creates the container; a missing image is pulled first (unless --pull never). Errors exit 125.</summary>
    private static async Task<string> CreateContainerAsync(DockerCli cli, ParsedFlags f, bool detach, CancellationToken ct)
    {
        var image = f.Positionals[0];
        var body = ContainerConfig.Build(f, image, f.Positionals.Skip(1).ToList(), detach);
        var query = DockerCli.Query(("name", f.Value("name")), ("platform", f.Value("platform")));
        var pull = f.Value("pull", "missing");
        if (pull is not ("missing" or "always" or "never"))
        {
            throw new UsageException($"invalid pull option: '{pull}': must be one of \"always\", \"missing\" or \"never\"");
        }
        try
        {
            if (pull == "always")
            {
                await ImageCommands.PullImageAsync(cli, image, f.Bool("quiet"), cli.Err, ct).ConfigureAwait(false);
            }
            JsonNode? created;
            try
            {
                created = await cli.Api.PostJsonAsync("/containers/create" + query, body, ct).ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.Status == HttpStatusCode.NotFound && pull == "missing" && e.DaemonMessage.Contains("image", StringComparison.OrdinalIgnoreCase))
            {
                await cli.Err.WriteLineAsync($"Unable to find image '{ImageCommands.Normalize(image)}' locally").ConfigureAwait(false);
                await ImageCommands.PullImageAsync(cli, image, f.Bool("quiet"), cli.Err, ct).ConfigureAwait(false);
                created = await cli.Api.PostJsonAsync("/containers/create" + query, body, ct).ConfigureAwait(false);
            }
            foreach (var w in created?["Warnings"]?.AsArray() ?? [])
            {
                await cli.Err.WriteLineAsync("WARNING: " + w).ConfigureAwait(false);
            }
            var id = created?["Id"]?.GetValue<string>() ?? throw new BerthException(ErrorCode.Internal, "the daemon answered the create without an Id");
            if (f.Value("cidfile") is { } cidfile)
            {
                await File.WriteAllTextAsync(cidfile, id, ct).ConfigureAwait(false);
            }
            return id;
        }
        catch (BerthException e) when (e is not UsageException)
        {
            throw new ExitException(125, e.Message);
        }
    }

    private static async Task<int> RunAsync(DockerCli cli, ParsedFlags f, CancellationToken ct)
    {
        f.Require(1);
        var detach = f.Bool("detach");
        if (detach && f.Bool("rm") && f.List("attach").Count > 0)
        {
            throw new UsageException("conflicting options: cannot specify both --attach and --detach");
        }
        var tty = f.Bool("tty");
        var interactive = f.Bool("interactive");
        if (tty && interactive && !detach && !DockerCli.StdinIsTerminal)
        {
            throw new ExitException(1, "the input device is not a TTY");
        }
        var id = await CreateContainerAsync(cli, f, detach, ct).ConfigureAwait(false);
        var autoRemove = f.Bool("rm");
        if (detach)
        {
            await StartOrExitAsync(cli, id, autoRemove, ct).ConfigureAwait(false);
            cli.Out.WriteLine(id);
            return 0;
        }

        var attach = f.List("attach");
        var attachStdin = attach.Count == 0 ? interactive : attach.Contains("stdin", StringComparer.OrdinalIgnoreCase);
        var sigProxy = !f.Has("sig-proxy") || f.Bool("sig-proxy");
        return await AttachStartWaitAsync(cli, id, tty, attachStdin, autoRemove, sigProxy, start: true, ct).ConfigureAwait(false);
    }

    private static async Task<int> StartAsync(DockerCli cli, ParsedFlags f, CancellationToken ct)
    {
        f.Require(1);
        if (f.Bool("attach") || f.Bool("interactive"))
        {
            if (f.Positionals.Count > 1)
            {
                throw new UsageException("you cannot start and attach multiple containers at once");
            }
            var info = await cli.Api.GetJsonAsync($"/containers/{DockerCli.Esc(f.Positionals[0])}/json", ct).ConfigureAwait(false);
            var tty = info?["Config"]?["Tty"]?.GetValue<bool>() ?? false;
            var autoRemove = info?["HostConfig"]?["AutoRemove"]?.GetValue<bool>() ?? false;
            var id = info?["Id"]?.GetValue<string>() ?? f.Positionals[0];
            return await AttachStartWaitAsync(cli, id, tty, f.Bool("interactive"), autoRemove, sigProxy: true, start: true, ct).ConfigureAwait(false);
        }
        var failed = false;
        foreach (var c in f.Positionals)
        {
            try
            {
                await cli.Api.PostJsonAsync($"/containers/{DockerCli.Esc(c)}/start", null, ct).ConfigureAwait(false);
                cli.Out.WriteLine(c);
            }
            catch (BerthException e)
            {
                cli.Err.WriteLine("berth: " + e.Message);
                failed = true;
            }
        }
        return failed ? 1 : 0;
    }

    private static async Task StartOrExitAsync(DockerCli cli, string id, bool autoRemove, CancellationToken ct)
    {
        try
        {
            await cli.Api.PostJsonAsync($"/containers/{id}/start", null, ct).ConfigureAwait(false);
        }
        catch (DockerApiException e)
        {
            if (autoRemove)
            {
                await RemoveQuietlyAsync(cli, id).ConfigureAwait(false);
            }
            throw new ExitException(StartErrorExitCode(e.DaemonMessage), e.Message);
        }
    }

    /// <summary>Docker's mapping of a failed start: 127 when the command is not found, 126 when it cannot be invoked, else 125.</summary>
    public static int StartErrorExitCode(string message) =>
        message.Contains("executable file not found", StringComparison.Ordinal) || message.Contains("no such file or directory", StringComparison.Ordinal) ? 127
        : message.Contains("permission denied", StringComparison.Ordinal) || message.Contains("is a directory", StringComparison.Ordinal) ? 126
        : 125;

    private static async Task RemoveQuietlyAsync(DockerCli cli, string id)
    {
        try
        {
            await cli.Api.DeleteAsync($"/containers/{id}?force=1", CancellationToken.None).ConfigureAwait(false);
        }
        catch (BerthException)
        {
            // Already removed by the daemon (AutoRemove) or being removed: nothing left to do.
        }
    }

    /// <summary>
    /// The attached run: hijack the attach stream before starting (so no output is lost), ask for the wait result,
    /// start, pump stdin/stdout/stderr (raw for a tty, demultiplexed otherwise), then return the exit status.
    /// </summary>
    public static async Task<int> AttachStartWaitAsync(DockerCli cli, string id, bool tty, bool attachStdin, bool autoRemove, bool sigProxy, bool start, CancellationToken ct)
    {
        _ = ct; // once attached, Ctrl-C goes to the container (signal proxy), not to us
        var query = DockerCli.Query(("stream", "1"), ("stdin", attachStdin ? "1" : "0"), ("stdout", "1"), ("stderr", "1"));
        using var connection = await cli.Api.HijackAsync("POST", $"/containers/{id}/attach{query}", null, CancellationToken.None).ConfigureAwait(false);
        // The wait goes out before the start so a quick exit cannot be missed; dockerd answers its headers at once.
        var waitResponse = cli.Api.SendAsync(HttpMethod.Post, $"/containers/{id}/wait?condition={(autoRemove ? "removed" : "next-exit")}", stream: true);
        await Task.WhenAny(waitResponse, Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None)).ConfigureAwait(false);
        IDisposable? rawMode = null;
        var signals = new List<PosixSignalRegistration>();
        try
        {
            if (start)
            {
                try
                {
                    await cli.Api.PostJsonAsync($"/containers/{id}/start", null, CancellationToken.None).ConfigureAwait(false);
                }
                catch (DockerApiException e)
                {
                    if (autoRemove)
                    {
                        await RemoveQuietlyAsync(cli, id).ConfigureAwait(false);
                    }
                    throw new ExitException(StartErrorExitCode(e.DaemonMessage), e.Message);
                }
            }
            if (tty && DockerCli.StdinIsTerminal && attachStdin)
            {
                rawMode = Terminal.MakeRaw(0);
            }
            if (tty && DockerCli.StdoutIsTerminal)
            {
                await ResizeAsync(cli, $"/containers/{id}/resize").ConfigureAwait(false);
                signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGWINCH, ctx => { _ = ResizeAsync(cli, $"/containers/{id}/resize"); }));
            }
            if (sigProxy && !tty)
            {
                foreach (var (sig, name) in new[] { (PosixSignal.SIGINT, "SIGINT"), (PosixSignal.SIGTERM, "SIGTERM"), (PosixSignal.SIGHUP, "SIGHUP"), (PosixSignal.SIGQUIT, "SIGQUIT") })
                {
                    signals.Add(PosixSignalRegistration.Create(sig, ctx =>
                    {
                        ctx.Cancel = true;
                        _ = KillQuietlyAsync(cli, id, name);
                    }));
                }
            }
            await PumpAsync(connection, tty, attachStdin).ConfigureAwait(false);
        }
        finally
        {
            rawMode?.Dispose();
            foreach (var s in signals)
            {
                s.Dispose();
            }
        }
        return await WaitResultAsync(waitResponse).ConfigureAwait(false);
    }

    /// <summary>Copies stdin to the connection (then half-closes it) and the connection to stdout/stderr until the daemon ends it.</summary>
    public static async Task PumpAsync(HijackedConnection connection, bool tty, bool attachStdin)
    {
        if (attachStdin)
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await using var stdin = DockerCli.OpenStdin();
                    var buffer = new byte[16 * 1024];
                    int n;
                    while ((n = await stdin.ReadAsync(buffer).ConfigureAwait(false)) > 0)
                    {
                        await connection.WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
                    }
                }
                catch (IOException)
                {
                }
                catch (ObjectDisposedException)
                {
                }
                connection.CloseWrite();
            });
        }
        else
        {
            // As the docker CLI does: nothing will be written, say so at once.
            connection.CloseWrite();
        }
        await using var stdout = DockerCli.OpenStdout();
        if (tty)
        {
            var buffer = new byte[16 * 1024];
            int n;
            while ((n = await connection.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                await stdout.WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
                await stdout.FlushAsync().ConfigureAwait(false);
            }
        }
        else
        {
            await using var stderr = DockerCli.OpenStderr();
            await StdCopy.DemultiplexAsync(connection, stdout, stderr, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task<int> WaitResultAsync(Task<HttpResponseMessage> pending)
    {
        using var response = await pending.ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(CancellationToken.None).ConfigureAwait(false);
        var result = string.IsNullOrWhiteSpace(text) ? null : JsonNode.Parse(text);
        if (result?["Error"]?["Message"]?.GetValue<string>() is { Length: > 0 } message)
        {
            throw new ExitException(125, "Error waiting for container: " + message);
        }
        return result?["StatusCode"]?.GetValue<int>() ?? 0;
    }

    public static async Task ResizeAsync(DockerCli cli, string path)
    {
        if (Terminal.GetSize(1) is not { } size || size.Rows == 0)
        {
            return;
        }
        try
        {
            await cli.Api.PostJsonAsync(path + DockerCli.Query(("h", size.Rows.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("w", size.Cols.ToString(System.Globalization.CultureInfo.InvariantCulture))), null, CancellationToken.None).ConfigureAwait(false);
        }
        catch (BerthException)
        {
            // The process may have exited between the signal and the request.
        }
    }

    private static async Task KillQuietlyAsync(DockerCli cli, string id, string signal)
    {
        try
        {
            await cli.Api.PostJsonAsync($"/containers/{id}/kill?signal={signal}", null, CancellationToken.None).ConfigureAwait(false);
        }
        catch (BerthException)
        {
        }
    }
}
