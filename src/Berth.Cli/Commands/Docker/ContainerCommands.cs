using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Cli.Docker;
using Berth.Core;

namespace Berth.Cli.Commands.Docker;

/// <summary>Container commands besides run/create/start: lifecycle, listing, logs, exec, inspect, top, stats, rename, update, wait.</summary>
public static class ContainerCommands
{
    private static FlagSet Set(string name, string usage, params Flag[] flags) => new(name, usage, interspersed: true, flags);

    public static DockerCommandSpec Stop { get; } = new("stop", "Stop one or more running containers",
        Set("stop", "stop [OPTIONS] CONTAINER [CONTAINER...]",
            new Flag("time", 't', FlagKind.Value, "Seconds to wait before killing the container"),
            new Flag("signal", 's', FlagKind.Value, "Signal to send to the container")),
        (cli, f, ct) => ForEach(cli, f.Require(1), c => $"/containers/{c}/stop" + DockerCli.Query(("t", f.Int("time")?.ToString(CultureInfo.InvariantCulture)), ("signal", f.Value("signal"))), ct));

    public static DockerCommandSpec Restart { get; } = new("restart", "Restart one or more containers",
        Set("restart", "restart [OPTIONS] CONTAINER [CONTAINER...]",
            new Flag("time", 't', FlagKind.Value, "Seconds to wait before killing the container"),
            new Flag("signal", 's', FlagKind.Value, "Signal to send to the container")),
        (cli, f, ct) => ForEach(cli, f.Require(1), c => $"/containers/{c}/restart" + DockerCli.Query(("t", f.Int("time")?.ToString(CultureInfo.InvariantCulture)), ("signal", f.Value("signal"))), ct));

    public static DockerCommandSpec Kill { get; } = new("kill", "Kill one or more running containers",
        Set("kill", "kill [OPTIONS] CONTAINER [CONTAINER...]", new Flag("signal", 's', FlagKind.Value, "Signal to send to the container")),
        (cli, f, ct) => ForEach(cli, f.Require(1), c => $"/containers/{c}/kill" + DockerCli.Query(("signal", f.Value("signal"))), ct));

    public static DockerCommandSpec Pause { get; } = new("pause", "Pause all processes within one or more containers",
        Set("pause", "pause CONTAINER [CONTAINER...]"), (cli, f, ct) => ForEach(cli, f.Require(1), c => $"/containers/{c}/pause", ct));

    public static DockerCommandSpec Unpause { get; } = new("unpause", "Unpause all processes within one or more containers",
        Set("unpause", "unpause CONTAINER [CONTAINER...]"), (cli, f, ct) => ForEach(cli, f.Require(1), c => $"/containers/{c}/unpause", ct));

    public static DockerCommandSpec Rm { get; } = new("rm", "Remove one or more containers",
        Set("rm", "rm [OPTIONS] CONTAINER [CONTAINER...]",
            new Flag("force", 'f', FlagKind.Bool, "Force the removal of a running container (uses SIGKILL)"),
            new Flag("volumes", 'v', FlagKind.Bool, "Remove anonymous volumes associated with the container"),
            new Flag("link", 'l', FlagKind.Bool, "Remove the specified link")),
        async (cli, f, ct) =>
        {
            f.Require(1);
            var failed = false;
            foreach (var c in f.Positionals)
            {
                try
                {
                    await cli.Api.DeleteAsync($"/containers/{DockerCli.Esc(c)}" + DockerCli.Query(("force", f.Bool("force") ? "1" : null), ("v", f.Bool("volumes") ? "1" : null)), ct).ConfigureAwait(false);
                    cli.Out.WriteLine(c);
                }
                catch (DockerApiException e) when (f.Bool("force") && e.Status == System.Net.HttpStatusCode.NotFound)
                {
                    cli.Out.WriteLine(c); // docker rm -f of a missing container is not an error
                }
                catch (BerthException e)
                {
                    cli.Err.WriteLine("berth: " + e.Message);
                    failed = true;
                }
            }
            return failed ? 1 : 0;
        });

    /// <summary>POSTs to each named container's path; prints the names that worked, errors for the rest (exit 1 if any).</summary>
    private static async Task<int> ForEach(DockerCli cli, ParsedFlags f, Func<string, string> path, CancellationToken ct)
    {
        var failed = false;
        foreach (var c in f.Positionals)
        {
            try
            {
                await cli.Api.PostJsonAsync(path(DockerCli.Esc(c)), null, ct).ConfigureAwait(false);
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

    public static DockerCommandSpec Ps { get; } = new("ps", "List containers",
        Set("ps", "ps [OPTIONS]",
            new Flag("all", 'a', FlagKind.Bool, "Show all containers (default shows just running)"),
            new Flag("quiet", 'q', FlagKind.Bool, "Only display container IDs"),
            new Flag("filter", 'f', FlagKind.List, "Filter output based on conditions provided"),
            new Flag("no-trunc", null, FlagKind.Bool, "Don't truncate output"),
            new Flag("format", null, FlagKind.Value, "Format output using a Go template (basics: table, .Field, json)"),
            new Flag("last", 'n', FlagKind.Value, "Show n last created containers (includes all states)"),
            new Flag("latest", 'l', FlagKind.Bool, "Show the latest created container (includes all states)"),
            new Flag("size", 's', FlagKind.Bool, "Display total file sizes")),
        PsAsync);

    private static async Task<int> PsAsync(DockerCli cli, ParsedFlags f, CancellationToken ct)
    {
        f.Require(0, 0);
        var limit = f.Bool("latest") ? 1 : f.Int("last");
        var query = DockerCli.Query(("all", f.Bool("all") || limit is not null ? "1" : null), ("limit", limit?.ToString(CultureInfo.InvariantCulture)),
            ("size", f.Bool("size") ? "1" : null), ("filters", DockerCli.Filters(f.List("filter"))));
        var list = await cli.Api.GetJsonAsync("/containers/json" + query, ct).ConfigureAwait(false) as JsonArray ?? [];
        var noTrunc = f.Bool("no-trunc");
        var now = DateTimeOffset.UtcNow;
        var rows = list.OfType<JsonObject>().Select(c =>
        {
            var id = c["Id"]?.GetValue<string>() ?? "";
            var command = c["Command"]?.GetValue<string>() ?? "";
            var created = DateTimeOffset.FromUnixTimeSeconds(c["Created"]?.GetValue<long>() ?? 0);
            var names = (c["Names"]?.AsArray() ?? []).Select(n => n!.GetValue<string>().TrimStart('/')).Where(n => noTrunc || !n.Contains('/', StringComparison.Ordinal));
            return new JsonObject
            {
                ["ID"] = noTrunc ? id : Short(id),
                ["Image"] = c["Image"]?.GetValue<string>() is { } img && !noTrunc && img.StartsWith("sha256:", StringComparison.Ordinal) ? img[7..19] : c["Image"]?.GetValue<string>(),
                ["Command"] = "\"" + (noTrunc ? command : Ellipsis(command, 20)) + "\"",
                ["CreatedAt"] = created.ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture),
                ["RunningFor"] = Units.HumanDuration(now - created) + " ago",
                ["Ports"] = PortsColumn.Format(PortsColumn.FromJson(c["Ports"] as JsonArray)),
                ["State"] = c["State"]?.GetValue<string>(),
                ["Status"] = c["Status"]?.GetValue<string>(),
                ["Size"] = c["SizeRw"] is null ? "" : Units.HumanSize(c["SizeRw"]!.GetValue<long>()) + $" (virtual {Units.HumanSize(c["SizeRootFs"]?.GetValue<long>() ?? 0)})",
                ["Names"] = string.Join(',', names),
                ["Labels"] = string.Join(',', (c["Labels"] as JsonObject ?? []).Select(kv => kv.Key + "=" + Template.Text(kv.Value))),
                ["Networks"] = string.Join(',', (c["NetworkSettings"]?["Networks"] as JsonObject ?? []).Select(kv => kv.Key)),
                ["Mounts"] = string.Join(',', (c["Mounts"] as JsonArray ?? []).Select(m => m?["Name"]?.GetValue<string>() ?? m?["Source"]?.GetValue<string>() ?? "")),
            };
        }).ToList();
        var columns = new List<(string, string)> { ("ID", "CONTAINER ID"), ("Image", "IMAGE"), ("Command", "COMMAND"), ("RunningFor", "CREATED"), ("Status", "STATUS"), ("Ports", "PORTS"), ("Names", "NAMES") };
        if (f.Bool("size"))
        {
            columns.Add(("Size", "SIZE"));
        }
        cli.WriteRows(f.Value("format"), f.Bool("quiet"), rows, "ID", columns);
        return 0;
    }

    public static string Short(string id) => (id.StartsWith("sha256:", StringComparison.Ordinal) ? id[7..] : id) is var s && s.Length > 12 ? s[..12] : s;

    private static string Ellipsis(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    public static DockerCommandSpec Logs { get; } = new("logs", "Fetch the logs of a container",
        Set("logs", "logs [OPTIONS] CONTAINER",
            new Flag("follow", 'f', FlagKind.Bool, "Follow log output"),
            new Flag("since", null, FlagKind.Value, "Show logs since timestamp or relative (e.g. 42m)"),
            new Flag("until", null, FlagKind.Value, "Show logs before a timestamp or relative (e.g. 42m)"),
            new Flag("tail", 'n', FlagKind.Value, "Number of lines to show from the end of the logs"),
            new Flag("timestamps", 't', FlagKind.Bool, "Show timestamps"),
            new Flag("details", null, FlagKind.Bool, "Show extra details provided to logs")),
        async (cli, f, ct) =>
        {
            f.Require(1, 1);
            var name = DockerCli.Esc(f.Positionals[0]);
            var info = await cli.Api.GetJsonAsync($"/containers/{name}/json", ct).ConfigureAwait(false);
            var tty = info?["Config"]?["Tty"]?.GetValue<bool>() ?? false;
            var query = DockerCli.Query(("stdout", "1"), ("stderr", "1"), ("follow", f.Bool("follow") ? "1" : null),
                ("since", TimeArg(f.Value("since"))), ("until", TimeArg(f.Value("until"))), ("tail", f.Value("tail")),
                ("timestamps", f.Bool("timestamps") ? "1" : null), ("details", f.Bool("details") ? "1" : null));
            using var response = await cli.Api.SendAsync(HttpMethod.Get, $"/containers/{name}/logs{query}", stream: true, cancellationToken: ct).ConfigureAwait(false);
            await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using var stdout = DockerCli.OpenStdout();
            if (tty)
            {
                await body.CopyToAsync(stdout, ct).ConfigureAwait(false);
            }
            else
            {
                await using var stderr = DockerCli.OpenStderr();
                await StdCopy.DemultiplexAsync(body, stdout, stderr, ct).ConfigureAwait(false);
            }
            return 0;
        });

    /// <summary>--since/--until: a relative duration (10m) becomes a unix time; timestamps pass through as docker sends them.</summary>
    public static string? TimeArg(string? value)
    {
        if (value is null)
        {
            return null;
        }
        if (value.Length > 0 && char.IsAsciiDigit(value[0]) && !value.All(c => char.IsAsciiDigit(c) || c == '.') && !value.Contains('-', StringComparison.Ordinal) && !value.Contains(':', StringComparison.Ordinal))
        {
            var nanos = Units.ParseDurationNanos(value, "--since");
            var t = DateTimeOffset.UtcNow.AddTicks(-nanos / 100);
            return t.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        }
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
        {
            return at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        }
        return value;
    }

    public static DockerCommandSpec Exec { get; } = new("exec", "Execute a command in a running container",
        new FlagSet("exec", "exec [OPTIONS] CONTAINER COMMAND [ARG...]", interspersed: false,
            new Flag("detach", 'd', FlagKind.Bool, "Detached mode: run command in the background"),
            new Flag("interactive", 'i', FlagKind.Bool, "Keep STDIN open even if not attached"),
            new Flag("tty", 't', FlagKind.Bool, "Allocate a pseudo-TTY"),
            new Flag("env", 'e', FlagKind.List, "Set environment variables"),
            new Flag("env-file", null, FlagKind.List, "Read in a file of environment variables"),
            new Flag("user", 'u', FlagKind.Value, "Username or UID (format: <name|uid>[:<group|gid>])"),
            new Flag("workdir", 'w', FlagKind.Value, "Working directory inside the container"),
            new Flag("privileged", null, FlagKind.Bool, "Give extended privileges to the command")),
        ExecAsync);

    private static async Task<int> ExecAsync(DockerCli cli, ParsedFlags f, CancellationToken ct)
    {
        f.Require(2);
        var container = DockerCli.Esc(f.Positionals[0]);
        var tty = f.Bool("tty");
        var interactive = f.Bool("interactive");
        var detach = f.Bool("detach");
        if (tty && interactive && !detach && !DockerCli.StdinIsTerminal)
        {
            throw new ExitException(1, "the input device is not a TTY");
        }
        var body = new JsonObject
        {
            ["AttachStdin"] = interactive && !detach,
            ["AttachStdout"] = !detach,
            ["AttachStderr"] = !detach,
            ["Tty"] = tty,
            ["Privileged"] = f.Bool("privileged"),
            ["Env"] = ContainerConfig.Array(ContainerConfig.Env(f)),
            ["Cmd"] = ContainerConfig.Array(f.Positionals.Skip(1)),
        };
        if (f.Value("user") is { } user)
        {
            body["User"] = user;
        }
        if (f.Value("workdir") is { } wd)
        {
            body["WorkingDir"] = wd;
        }
        var created = await cli.Api.PostJsonAsync($"/containers/{container}/exec", body, ct).ConfigureAwait(false);
        var execId = created?["Id"]?.GetValue<string>() ?? throw new BerthException(ErrorCode.Internal, "the daemon answered the exec create without an Id");
        if (detach)
        {
            await cli.Api.PostJsonAsync($"/exec/{execId}/start", new JsonObject { ["Detach"] = true, ["Tty"] = tty }, ct).ConfigureAwait(false);
            return 0;
        }
        IDisposable? raw = null;
        var registrations = new List<System.Runtime.InteropServices.PosixSignalRegistration>();
        try
        {
            using var connection = await cli.Api.HijackAsync("POST", $"/exec/{execId}/start", new JsonObject { ["Detach"] = false, ["Tty"] = tty }, ct).ConfigureAwait(false);
            if (tty && interactive && DockerCli.StdinIsTerminal)
            {
                raw = Berth.Linux.Terminal.MakeRaw(0);
            }
            if (tty && DockerCli.StdoutIsTerminal)
            {
                await RunCommands.ResizeAsync(cli, $"/exec/{execId}/resize").ConfigureAwait(false);
                registrations.Add(System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGWINCH,
                    ctx => { _ = RunCommands.ResizeAsync(cli, $"/exec/{execId}/resize"); }));
            }
            await RunCommands.PumpAsync(connection, tty, interactive).ConfigureAwait(false);
        }
        finally
        {
            raw?.Dispose();
            foreach (var r in registrations)
            {
                r.Dispose();
            }
        }
        // The exec's status can lag its stream's end by a moment.
        for (var i = 0; i < 50; i++)
        {
            var inspect = await cli.Api.GetJsonAsync($"/exec/{execId}/json", CancellationToken.None).ConfigureAwait(false);
            if (inspect?["Running"]?.GetValue<bool>() != true && inspect?["ExitCode"] is { } code && code.GetValueKind() == JsonValueKind.Number)
            {
                return code.GetValue<int>();
            }
            await Task.Delay(20, CancellationToken.None).ConfigureAwait(false);
        }
        return 0;
    }

    public static DockerCommandSpec Inspect { get; } = new("inspect", "Return low-level information on Docker objects",
        Set("inspect", "inspect [OPTIONS] NAME|ID [NAME|ID...]",
            new Flag("format", 'f', FlagKind.Value, "Format output using a Go template (basics: .Field, json, index)"),
            new Flag("type", null, FlagKind.Value, "Return JSON for specified type (container or image)"),
            new Flag("size", 's', FlagKind.Bool, "Display total file sizes if the type is container")),
        (cli, f, ct) => InspectAsync(cli, f, f.Value("type"), ct));

    public static DockerCommandSpec ContainerInspect { get; } = Inspect with
    {
        Flags = Set("container inspect", "container inspect [OPTIONS] CONTAINER [CONTAINER...]",
            new Flag("format", 'f', FlagKind.Value, "Format output using a Go template"), new Flag("size", 's', FlagKind.Bool, "Display total file sizes")),
        Run = (cli, f, ct) => InspectAsync(cli, f, "container", ct),
    };

    public static async Task<int> InspectAsync(DockerCli cli, ParsedFlags f, string? type, CancellationToken ct)
    {
        f.Require(1);
        if (type is not (null or "container" or "image"))
        {
            throw new UsageException($"\"{type}\" is not a valid value for --type (container or image)");
        }
        var results = new JsonArray();
        var failed = false;
        foreach (var name in f.Positionals)
        {
            JsonNode? found = null;
            if (type is null or "container")
            {
                try
                {
                    found = await cli.Api.GetJsonAsync($"/containers/{DockerCli.Esc(name)}/json" + (f.Has("size") && f.Bool("size") ? "?size=1" : ""), ct).ConfigureAwait(false);
                }
                catch (DockerApiException e) when (e.Status == System.Net.HttpStatusCode.NotFound)
                {
                }
            }
            if (found is null && type is null or "image")
            {
                try
                {
                    found = await cli.Api.GetJsonAsync($"/images/{DockerCli.Esc(name)}/json", ct).ConfigureAwait(false);
                }
                catch (DockerApiException e) when (e.Status == System.Net.HttpStatusCode.NotFound)
                {
                }
            }
            if (found is null)
            {
                cli.Err.WriteLine($"berth: Error: No such {type ?? "object"}: {name}");
                failed = true;
                continue;
            }
            results.Add(found);
        }
        return cli.WriteInspected(f, results, failed);
    }

    public static DockerCommandSpec Top { get; } = new("top", "Display the running processes of a container",
        Set("top", "top CONTAINER [ps OPTIONS]"),
        async (cli, f, ct) =>
        {
            f.Require(1);
            var args = string.Join(' ', f.Positionals.Skip(1));
            var top = await cli.Api.GetJsonAsync($"/containers/{DockerCli.Esc(f.Positionals[0])}/top" + DockerCli.Query(("ps_args", args.Length > 0 ? args : null)), ct).ConfigureAwait(false);
            var table = new TableWriter([.. (top?["Titles"]?.AsArray() ?? []).Select(t => t!.GetValue<string>())]);
            foreach (var p in top?["Processes"]?.AsArray() ?? [])
            {
                table.Add([.. p!.AsArray().Select(c => c!.GetValue<string>())]);
            }
            cli.Out.Write(table.ToString());
            return 0;
        });

    public static DockerCommandSpec Rename { get; } = new("rename", "Rename a container",
        Set("rename", "rename CONTAINER NEW_NAME"),
        async (cli, f, ct) =>
        {
            f.Require(2, 2);
            await cli.Api.PostJsonAsync($"/containers/{DockerCli.Esc(f.Positionals[0])}/rename?name={DockerCli.Esc(f.Positionals[1])}", null, ct).ConfigureAwait(false);
            return 0;
        });

    public static DockerCommandSpec Wait { get; } = new("wait", "Block until one or more containers stop, then print their exit codes",
        Set("wait", "wait CONTAINER [CONTAINER...]"),
        async (cli, f, ct) =>
        {
            f.Require(1);
            var failed = false;
            foreach (var c in f.Positionals)
            {
                try
                {
                    var r = await cli.Api.PostJsonAsync($"/containers/{DockerCli.Esc(c)}/wait", null, ct).ConfigureAwait(false);
                    cli.Out.WriteLine(r?["StatusCode"]?.ToJsonString() ?? "0");
                }
                catch (BerthException e)
                {
                    cli.Err.WriteLine("berth: " + e.Message);
                    failed = true;
                }
            }
            return failed ? 1 : 0;
        });

    public static DockerCommandSpec Update { get; } = new("update", "Update configuration of one or more containers",
        Set("update", "update [OPTIONS] CONTAINER [CONTAINER...]",
            new Flag("memory", 'm', FlagKind.Value, "Memory limit"),
            new Flag("memory-swap", null, FlagKind.Value, "Swap limit equal to memory plus swap: -1 to enable unlimited swap"),
            new Flag("memory-reservation", null, FlagKind.Value, "Memory soft limit"),
            new Flag("cpus", null, FlagKind.Value, "Number of CPUs"),
            new Flag("cpu-shares", 'c', FlagKind.Value, "CPU shares (relative weight)"),
            new Flag("cpuset-cpus", null, FlagKind.Value, "CPUs in which to allow execution"),
            new Flag("pids-limit", null, FlagKind.Value, "Tune container pids limit (set -1 for unlimited)"),
            new Flag("restart", null, FlagKind.Value, "Restart policy to apply when a container exits")),
        async (cli, f, ct) =>
        {
            f.Require(1);
            var body = new JsonObject();
            if (f.Value("memory") is { } m)
            {
                body["Memory"] = Units.ParseBytes(m, "--memory");
            }
            if (f.Value("memory-swap") is { } sw)
            {
                body["MemorySwap"] = sw == "-1" ? -1 : Units.ParseBytes(sw, "--memory-swap");
            }
            if (f.Value("memory-reservation") is { } mr)
            {
                body["MemoryReservation"] = Units.ParseBytes(mr, "--memory-reservation");
            }
            if (f.Value("cpus") is { } cpus)
            {
                body["NanoCpus"] = Units.ParseNanoCpus(cpus);
            }
            if (f.Long("cpu-shares") is { } shares)
            {
                body["CpuShares"] = shares;
            }
            if (f.Value("cpuset-cpus") is { } cpuset)
            {
                body["CpusetCpus"] = cpuset;
            }
            if (f.Long("pids-limit") is { } pids)
            {
                body["PidsLimit"] = pids;
            }
            if (f.Value("restart") is { } restart)
            {
                body["RestartPolicy"] = ContainerConfig.RestartPolicy(restart);
            }
            if (body.Count == 0)
            {
                throw new UsageException("you must provide one or more flags when using this command");
            }
            var failed = false;
            foreach (var c in f.Positionals)
            {
                try
                {
                    var r = await cli.Api.PostJsonAsync($"/containers/{DockerCli.Esc(c)}/update", body.DeepClone(), ct).ConfigureAwait(false);
                    foreach (var w in r?["Warnings"]?.AsArray() ?? [])
                    {
                        cli.Err.WriteLine("WARNING: " + w);
                    }
                    cli.Out.WriteLine(c);
                }
                catch (BerthException e)
                {
                    cli.Err.WriteLine("berth: " + e.Message);
                    failed = true;
                }
            }
            return failed ? 1 : 0;
        });

    public static DockerCommandSpec Port { get; } = new("port", "List port mappings or a specific mapping for the container",
        Set("port", "port CONTAINER [PRIVATE_PORT[/PROTO]]"),
        async (cli, f, ct) =>
        {
            f.Require(1, 2);
            var info = await cli.Api.GetJsonAsync($"/containers/{DockerCli.Esc(f.Positionals[0])}/json", ct).ConfigureAwait(false);
            var ports = info?["NetworkSettings"]?["Ports"] as JsonObject ?? [];
            var want = f.Positionals.Count > 1 ? (f.Positionals[1].Contains('/', StringComparison.Ordinal) ? f.Positionals[1] : f.Positionals[1] + "/tcp") : null;
            var found = false;
            foreach (var (port, bindings) in ports.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                if (want is not null && port != want)
                {
                    continue;
                }
                foreach (var b in bindings as JsonArray ?? [])
                {
                    var ip = b?["HostIp"]?.GetValue<string>() is { Length: > 0 } h ? h : "0.0.0.0";
                    var hostPort = $"{ip}:{b?["HostPort"]?.GetValue<string>()}";
                    cli.Out.WriteLine(want is null ? $"{port} -> {hostPort}" : hostPort);
                    found = true;
                }
            }
            if (want is not null && !found)
            {
                throw new BerthException(ErrorCode.NotFound, $"Error: No public port '{want}' published for {f.Positionals[0]}");
            }
            return 0;
        });

    public static DockerCommandSpec Prune { get; } = new("container prune", "Remove all stopped containers",
        Set("container prune", "container prune [OPTIONS]",
            new Flag("force", 'f', FlagKind.Bool, "Do not prompt for confirmation"),
            new Flag("filter", null, FlagKind.List, "Provide filter values (e.g. \"until=<timestamp>\")")),
        async (cli, f, ct) =>
        {
            if (!f.Bool("force") && !cli.Confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"))
            {
                return 0;
            }
            var space = await cli.PruneAsync("/containers/prune" + DockerCli.Query(("filters", DockerCli.Filters(f.List("filter")))), "ContainersDeleted", "Deleted Containers:", ct).ConfigureAwait(false);
            cli.Out.WriteLine("Total reclaimed space: " + Units.HumanSize(space));
            return 0;
        });

    internal static string Json(JsonNode? node) => node?.ToJsonString(DockerCli.Indented) ?? "null";

    internal static string Utf8(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
