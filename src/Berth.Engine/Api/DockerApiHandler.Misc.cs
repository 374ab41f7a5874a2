using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.Cgroups;
using Berth.Core;
using Berth.Engine.Containers;
using Microsoft.AspNetCore.Http;

namespace Berth.Engine.Api;

internal sealed partial class DockerApiHandler
{
    private async Task LogsAsync(HttpContext context, Match m)
    {
        var c = ContainerOf(m);
        var stdout = QueryBool(context, "stdout");
        var stderr = QueryBool(context, "stderr");
        if (!stdout && !stderr)
        {
            throw BerthException.InvalidArgument("Bad parameters: you must choose at least one stream");
        }
        if (c.Record.HostConfig.LogConfig?.Type == "none")
        {
            throw BerthException.InvalidArgument($"configured logging driver does not support reading: container {c.Record.Name.TrimStart('/')} logs with --log-driver none");
        }
        var tailText = Query(context, "tail");
        int? tail = string.IsNullOrEmpty(tailText) || tailText == "all" ? null
            : int.TryParse(tailText, CultureInfo.InvariantCulture, out var t) ? t : throw BerthException.InvalidArgument($"invalid tail \"{tailText}\": a number or all");
        var options = new LogOptions(stdout, stderr, ParseTime(Query(context, "since")), ParseTime(Query(context, "until")), tail, QueryBool(context, "follow"), QueryBool(context, "timestamps"));
        var tty = c.Record.Config.Tty;
        context.Response.StatusCode = 200;
        context.Response.ContentType = tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream";
        await context.Response.StartAsync(context.RequestAborted).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _engine.Stopping);
        await foreach (var e in LogReader.ReadAsync(c, options, cts.Token).ConfigureAwait(false))
        {
            await context.Response.Body.WriteAsync(Frame(tty, e.Stream, e.Data), cts.Token).ConfigureAwait(false);
            if (options.Follow)
            {
                await context.Response.Body.FlushAsync(cts.Token).ConfigureAwait(false);
            }
        }
    }

    private async Task TopAsync(HttpContext context, Match m)
    {
        var c = ContainerOf(m);
        c.RequireRunningOrPaused();
        var pids = CgroupManager.For(CgroupLayout.Detect(), "/berth/" + c.Id, c.Id).GetPids().ToHashSet();
        var args = Query(context, "ps_args");
        var psi = new System.Diagnostics.ProcessStartInfo("ps") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string.IsNullOrEmpty(args) ? "-ef" : args).Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            psi.ArgumentList.Add(a);
        }
        using var ps = System.Diagnostics.Process.Start(psi) ?? throw new BerthException(ErrorCode.Internal, "could not run ps");
        var output = await ps.StandardOutput.ReadToEndAsync(context.RequestAborted).ConfigureAwait(false);
        var error = await ps.StandardError.ReadToEndAsync(context.RequestAborted).ConfigureAwait(false);
        await ps.WaitForExitAsync(context.RequestAborted).ConfigureAwait(false);
        if (ps.ExitCode != 0)
        {
            throw BerthException.InvalidArgument($"ps {args}: {error.Trim()}");
        }
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var titles = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var pidColumn = Array.IndexOf(titles, "PID");
        if (pidColumn < 0)
        {
            throw BerthException.InvalidArgument($"couldn't find PID field in ps output; ps_args \"{args}\" must include the pid");
        }
        var processes = new JsonArray();
        foreach (var line in lines.Skip(1))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length <= pidColumn || !int.TryParse(fields[pidColumn], CultureInfo.InvariantCulture, out var pid) || !pids.Contains(pid))
            {
                continue;
            }
            // The last column (the command) keeps its spaces.
            var row = fields.Take(titles.Length - 1).Append(string.Join(' ', fields.Skip(titles.Length - 1))).Select(f => (JsonNode?)f).ToArray();
            processes.Add((JsonNode)new JsonArray(row));
        }
        await WriteJsonAsync(context, new JsonObject { ["Titles"] = new JsonArray(titles.Select(x => (JsonNode?)x).ToArray()), ["Processes"] = processes }).ConfigureAwait(false);
    }

    private async Task StatsAsync(HttpContext context, Match m)
    {
        var c = ContainerOf(m);
        var stream = QueryBool(context, "stream", true) && !QueryBool(context, "one-shot");
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        await context.Response.StartAsync(context.RequestAborted).ConfigureAwait(false);
        JsonObject? previous = null;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _engine.Stopping);
        if (!stream && !QueryBool(context, "one-shot"))
        {
            // docker stats --no-stream wants a CPU percentage: take two samples a second apart, as dockerd does.
            previous = StatsSnapshot(c, null);
            await Task.Delay(1000, cts.Token).ConfigureAwait(false);
        }
        try
        {
            do
            {
                var now = StatsSnapshot(c, previous);
                await context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(now, DockerJsonContext.Default.JsonObject), cts.Token).ConfigureAwait(false);
                await context.Response.Body.WriteAsync("\n"u8.ToArray(), cts.Token).ConfigureAwait(false);
                await context.Response.Body.FlushAsync(cts.Token).ConfigureAwait(false);
                previous = now;
                if (stream)
                {
                    await Task.Delay(1000, cts.Token).ConfigureAwait(false);
                }
            }
            while (stream && c.IsRunning);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Docker's stats JSON from the container's cgroup and /proc/stat.</summary>
    internal JsonObject StatsSnapshot(Container c, JsonObject? previous)
    {
        CgroupStats? stats = null;
        if (c.IsRunning)
        {
            try
            {
                stats = CgroupManager.For(CgroupLayout.Detect(), "/berth/" + c.Id, c.Id).GetStats();
            }
            catch (BerthException)
            {
            }
        }
        var cpu = new JsonObject
        {
            ["cpu_usage"] = new JsonObject
            {
                ["total_usage"] = stats?.Cpu?.UsageNanoseconds ?? 0,
                ["usage_in_kernelmode"] = stats?.Cpu?.SystemNanoseconds ?? 0,
                ["usage_in_usermode"] = stats?.Cpu?.UserNanoseconds ?? 0,
            },
            ["system_cpu_usage"] = SystemCpuNanoseconds(),
            ["online_cpus"] = Environment.ProcessorCount,
            ["throttling_data"] = new JsonObject
            {
                ["periods"] = stats?.Cpu?.Periods ?? 0,
                ["throttled_periods"] = stats?.Cpu?.ThrottledPeriods ?? 0,
                ["throttled_time"] = stats?.Cpu?.ThrottledNanoseconds ?? 0,
            },
        };
        var limit = stats?.Memory?.Limit is > 0 and < long.MaxValue / 2 ? stats.Memory.Limit : TotalMemory();
        var o = new JsonObject
        {
            ["read"] = _engine.Time.GetUtcNow().UtcDateTime.ToString("o", CultureInfo.InvariantCulture),
            ["preread"] = previous?["read"]?.GetValue<string>() ?? "0001-01-01T00:00:00Z",
            ["pids_stats"] = stats?.Pids is { } p ? new JsonObject { ["current"] = p.Current, ["limit"] = p.Limit < 0 ? 0 : p.Limit } : new JsonObject(),
            ["blkio_stats"] = new JsonObject { ["io_service_bytes_recursive"] = null },
            ["num_procs"] = 0,
            ["storage_stats"] = new JsonObject(),
            ["cpu_stats"] = cpu,
            ["precpu_stats"] = previous?["cpu_stats"]?.DeepClone() ?? new JsonObject { ["cpu_usage"] = new JsonObject { ["total_usage"] = 0 }, ["throttling_data"] = new JsonObject() },
            ["memory_stats"] = stats?.Memory is { } mem
                ? new JsonObject { ["usage"] = mem.Usage, ["max_usage"] = mem.MaxUsage, ["failcnt"] = mem.Failcnt, ["limit"] = limit, ["stats"] = new JsonObject() }
                : new JsonObject(),
            ["name"] = c.Record.Name,
            ["id"] = c.Id,
        };
        return o;
    }

    private static long SystemCpuNanoseconds()
    {
        var line = File.ReadLines("/proc/stat").First();
        var jiffies = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(7).Sum(x => long.Parse(x, CultureInfo.InvariantCulture));
        return jiffies * (1_000_000_000L / 100);
    }

    private static long TotalMemory()
    {
        var kb = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
    }

    private async Task ExportContainerAsync(HttpContext context, Match m)
    {
        var c = ContainerOf(m);
        context.Response.ContentType = "application/x-tar";
        await c.WithRootfsAsync(async rootfs =>
        {
            await context.Response.StartAsync(context.RequestAborted).ConfigureAwait(false);
            await TarDirectory.WriteAsync(rootfs, "", context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        }, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task HeadArchiveAsync(HttpContext context, Match m)
    {
        var c = ContainerOf(m);
        var path = Query(context, "path") ?? throw BerthException.InvalidArgument("path is required");
        await c.WithRootfsAsync(rootfs =>
        {
            var stat = TarDirectory.Stat(rootfs, path);
            context.Response.Headers["X-Docker-Container-Path-Stat"] = Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(stat, DockerJsonContext.Default.JsonObject));
            context.Response.StatusCode = 200;
            return Task.CompletedTask;
        }, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task GetArchiveAsync(HttpContext context, Match m)
    {
        var c = ContainerOf(m);
        var path = Query(context, "path") ?? throw BerthException.InvalidArgument("path is required");
        await c.WithRootfsAsync(async rootfs =>
        {
            var stat = TarDirectory.Stat(rootfs, path);
            context.Response.Headers["X-Docker-Container-Path-Stat"] = Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(stat, DockerJsonContext.Default.JsonObject));
            context.Response.ContentType = "application/x-tar";
            await context.Response.StartAsync(context.RequestAborted).ConfigureAwait(false);
            await TarDirectory.WriteAsync(rootfs, path, context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        }, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task PutArchiveAsync(HttpContext context, Match m)
    {
        var c = ContainerOf(m);
        var path = Query(context, "path") ?? throw BerthException.InvalidArgument("path is required");
        if (c.Record.HostConfig.ReadonlyRootfs)
        {
            throw new BerthException(ErrorCode.PermissionDenied, $"container rootfs is marked read-only: cannot copy into {c.Record.Name.TrimStart('/')}");
        }
        await c.WithRootfsAsync(async rootfs =>
        {
            await TarDirectory.ExtractAsync(context.Request.Body, rootfs, path, context.RequestAborted).ConfigureAwait(false);
        }, context.RequestAborted).ConfigureAwait(false);
        context.Response.StatusCode = 200;
    }
}
