using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.Engine.Containers;
using Microsoft.AspNetCore.Http;

namespace Berth.Engine.Api;

internal sealed partial class DockerApiHandler
{
    private static readonly string EngineVersion = typeof(DockerApiHandler).Assembly.GetName().Version?.ToString(3) ?? "0.1.0";

    private static async Task PingAsync(HttpContext context, Match _)
    {
        context.Response.Headers["API-Version"] = DockerApiServer.ApiVersion;
        context.Response.Headers["Docker-Experimental"] = "false";
        context.Response.Headers["Ostype"] = "linux";
        // The classic builder protocol (POST /build with a context tar), not BuildKit's gRPC session.
        context.Response.Headers["Builder-Version"] = "1";
        context.Response.Headers["Swarm"] = "inactive";
        context.Response.Headers.CacheControl = "no-cache, no-store, must-revalidate";
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.ContentLength = 2;
        if (context.Request.Method != "HEAD")
        {
            await context.Response.WriteAsync("OK").ConfigureAwait(false);
        }
    }

    private Task VersionAsync(HttpContext context, Match _)
    {
        var kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "";
        var o = new JsonObject
        {
            ["Platform"] = new JsonObject { ["Name"] = "Berth Engine" },
            ["Components"] = new JsonArray(new JsonObject
            {
                ["Name"] = "Engine",
                ["Version"] = EngineVersion,
                ["Details"] = new JsonObject { ["ApiVersion"] = DockerApiServer.ApiVersion, ["MinAPIVersion"] = DockerApiServer.MinApiVersion, ["Os"] = "linux", ["Arch"] = "amd64", ["KernelVersion"] = kernel },
            }),
            ["Version"] = EngineVersion,
            ["ApiVersion"] = DockerApiServer.ApiVersion,
            ["MinAPIVersion"] = DockerApiServer.MinApiVersion,
            ["GitCommit"] = "berth",
            ["GoVersion"] = "dotnet" + Environment.Version.ToString(),
            ["Os"] = "linux",
            ["Arch"] = "amd64",
            ["KernelVersion"] = kernel,
            ["BuildTime"] = "",
        };
        return WriteJsonAsync(context, o);
    }

    private async Task InfoAsync(HttpContext context, Match _)
    {
        var containers = _engine.List();
        var images = await _engine.Images.ListAsync(context.RequestAborted).ConfigureAwait(false);
        var kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "";
        var memTotal = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        var cgroupVersion = File.Exists("/sys/fs/cgroup/cgroup.controllers") ? "2" : "1";
        var o = new JsonObject
        {
            ["ID"] = Environment.MachineName,
            ["Containers"] = containers.Count,
            ["ContainersRunning"] = containers.Count(c => c.Record.State.Status == ContainerStatus.Running),
            ["ContainersPaused"] = containers.Count(c => c.Record.State.Status == ContainerStatus.Paused),
            ["ContainersStopped"] = containers.Count(c => c.Record.State.Status is not (ContainerStatus.Running or ContainerStatus.Paused)),
            ["Images"] = images.Select(i => i.Target.Digest).Distinct().Count(),
            ["Driver"] = "overlay2",
            ["DriverStatus"] = new JsonArray(new JsonArray("Backing Filesystem", "overlayfs snapshots"), new JsonArray("Supports d_type", "true")),
            ["Plugins"] = new JsonObject { ["Volume"] = new JsonArray(), ["Network"] = new JsonArray("bridge", "host", "null"), ["Log"] = new JsonArray("json-file") },
            ["MemoryLimit"] = true,
            ["SwapLimit"] = true,
            ["CpuCfsPeriod"] = true,
            ["CpuCfsQuota"] = true,
            ["CPUShares"] = true,
            ["PidsLimit"] = true,
            ["IPv4Forwarding"] = false,
            ["Debug"] = false,
            ["NFd"] = Directory.GetFiles("/proc/self/fd").Length,
            ["NGoroutines"] = System.Diagnostics.Process.GetCurrentProcess().Threads.Count,
            ["SystemTime"] = EngineFormat.Time(_engine.Time.GetUtcNow()),
            ["LoggingDriver"] = "json-file",
            ["CgroupDriver"] = "cgroupfs",
            ["CgroupVersion"] = cgroupVersion,
            ["KernelVersion"] = kernel,
            ["OperatingSystem"] = OsName(),
            ["OSType"] = "linux",
            ["Architecture"] = "x86_64",
            ["NCPU"] = Environment.ProcessorCount,
            ["MemTotal"] = long.TryParse(memTotal, out var kb) ? kb * 1024 : 0,
            ["DockerRootDir"] = _engine.Options.DataRoot,
            ["Name"] = Environment.MachineName,
            ["Labels"] = new JsonArray(),
            ["ExperimentalBuild"] = false,
            ["ServerVersion"] = EngineVersion,
            ["Runtimes"] = new JsonObject { [Path.GetFileName(_engine.Options.RuntimePath)] = new JsonObject { ["path"] = _engine.Options.RuntimePath } },
            ["DefaultRuntime"] = Path.GetFileName(_engine.Options.RuntimePath),
            ["Swarm"] = new JsonObject { ["LocalNodeState"] = "inactive", ["NodeID"] = "", ["NodeAddr"] = "", ["ControlAvailable"] = false },
            ["LiveRestoreEnabled"] = true,
            ["Isolation"] = "",
            ["InitBinary"] = _engine.Options.InitPath ?? "",
            ["SecurityOptions"] = new JsonArray("name=seccomp,profile=" + DefaultSeccompProfile.BuiltinName, "name=cgroupns"),
            ["Warnings"] = new JsonArray(),
        };
        await WriteJsonAsync(context, o).ConfigureAwait(false);
    }

    private static string OsName()
    {
        try
        {
            var line = File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal));
            return line?[12..].Trim('"') ?? "Linux";
        }
        catch (IOException)
        {
            return "Linux";
        }
    }

    private async Task EventsAsync(HttpContext context, Match _)
    {
        var since = ParseTime(Query(context, "since"));
        var until = ParseTime(Query(context, "until"));
        var filters = Filters(Query(context, "filters"));
        context.Response.ContentType = "application/json";
        context.Response.StatusCode = 200;
        await context.Response.StartAsync(context.RequestAborted).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        var (past, live, subscription) = _engine.Events.Subscribe(since ?? (until is not null ? DateTimeOffset.MinValue : null));
        using var _s = subscription;
        // Two tokens: writes stop when the client goes away or the daemon stops; the live stream also ends at `until`.
        // An `until` already past (a client asking for "events up to now") must still get the history, so the
        // until-timer never cancels the writes themselves.
        using var connection = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _engine.Stopping);
        using var liveEnd = CancellationTokenSource.CreateLinkedTokenSource(connection.Token);
        if (until is { } u)
        {
            var delay = u - _engine.Time.GetUtcNow();
            liveEnd.CancelAfter(delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
        }
        async Task SendAsync(EngineEvent e)
        {
            if (until is { } u2 && e.Time > u2 || !Matches(e, filters))
            {
                return;
            }
            var bytes = JsonSerializer.SerializeToUtf8Bytes(e.ToJson(), DockerJsonContext.Default.JsonObject);
            await context.Response.Body.WriteAsync(bytes, connection.Token).ConfigureAwait(false);
            await context.Response.Body.WriteAsync("\n"u8.ToArray(), connection.Token).ConfigureAwait(false);
            await context.Response.Body.FlushAsync(connection.Token).ConfigureAwait(false);
        }
        try
        {
            foreach (var e in past)
            {
                await SendAsync(e).ConfigureAwait(false);
            }
            await foreach (var e in live.ReadAllAsync(liveEnd.Token).ConfigureAwait(false))
            {
                await SendAsync(e).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private bool Matches(EngineEvent e, Dictionary<string, List<string>> filters)
    {
        foreach (var (key, values) in filters)
        {
            if (values.Count == 0)
            {
                continue;
            }
            var ok = key switch
            {
                "type" => values.Contains(e.Type),
                "event" => values.Any(v => e.Action == v || e.Action.StartsWith(v + ":", StringComparison.Ordinal)),
                "container" => e.Type == "container" && values.Any(v => e.Id.StartsWith(v, StringComparison.Ordinal) || e.Attributes.GetValueOrDefault("name") == v),
                "image" => values.Any(v => e.Attributes.GetValueOrDefault("image") == v || (e.Type == "image" && e.Id.Contains(v, StringComparison.Ordinal))),
                "label" => values.Any(v =>
                {
                    var eq = v.IndexOf('=', StringComparison.Ordinal);
                    return eq < 0 ? e.Attributes.ContainsKey(v) : e.Attributes.GetValueOrDefault(v[..eq]) == v[(eq + 1)..];
                }),
                _ => true,
            };
            if (!ok)
            {
                return false;
            }
        }
        return true;
    }

    private async Task SystemDfAsync(HttpContext context, Match _)
    {
        var images = await ImageSummariesAsync(context.RequestAborted).ConfigureAwait(false);
        var containers = new JsonArray();
        foreach (var c in _engine.List())
        {
            var summary = c.Summary();
            summary["SizeRw"] = c.WritableLayerSize();
            containers.Add((JsonNode)summary);
        }
        long layers = 0;
        foreach (var i in images)
        {
            layers += i!["Size"]!.GetValue<long>();
        }
        var o = new JsonObject
        {
            ["LayersSize"] = layers,
            ["Images"] = images,
            ["Containers"] = containers,
            ["Volumes"] = VolumesWithUsage(),
            ["BuildCache"] = new JsonArray(),
        };
        await WriteJsonAsync(context, o).ConfigureAwait(false);
    }

}
