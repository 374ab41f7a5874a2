using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.Core;
using Berth.Engine.Containers;
using Microsoft.AspNetCore.Http;

namespace Berth.Engine.Api;

internal sealed partial class DockerApiHandler
{
    private Container ContainerOf(Match m) => _engine.Get(m.Groups["id"].Value);

    private async Task CreateContainerAsync(HttpContext context, Match _)
    {
        var request = await ReadBodyAsync(context, DockerJsonContext.Default.ContainerCreateRequest).ConfigureAwait(false);
        var (c, warnings) = await _engine.CreateAsync(Query(context, "name"), request, context.RequestAborted).ConfigureAwait(false);
        var o = new JsonObject { ["Id"] = c.Id, ["Warnings"] = new JsonArray(warnings.Select(w => (JsonNode?)w).ToArray()) };
        await WriteJsonAsync(context, o, 201).ConfigureAwait(false);
    }

    private async Task ListContainersAsync(HttpContext context, Match _)
    {
        var all = QueryBool(context, "all");
        var size = QueryBool(context, "size");
        var limit = QueryInt(context, "limit") ?? -1;
        var filters = Filters(Query(context, "filters"));
        var result = new JsonArray();
        var list = _engine.List().AsEnumerable();
        if (!all && !filters.ContainsKey("status") && !filters.ContainsKey("exited"))
        {
            list = list.Where(c => c.IsRunning || c.Record.State.Status == ContainerStatus.Restarting);
        }
        foreach (var (key, values) in filters)
        {
            list = key switch
            {
                "status" => values.All(v => v is "created" or "restarting" or "running" or "removing" or "paused" or "exited" or "dead")
                    ? list.Where(c => values.Contains(Container.StateName(c.Record.State.Status)))
                    : throw BerthException.InvalidArgument($"invalid filter 'status={string.Join(',', values)}'"),
                "name" => list.Where(c => values.Any(v => Regex.IsMatch(c.Record.Name.TrimStart('/'), v.TrimStart('/')))),
                "id" => list.Where(c => values.Any(v => c.Id.StartsWith(v, StringComparison.Ordinal))),
                "label" => list.Where(c => values.All(v =>
                {
                    var eq = v.IndexOf('=', StringComparison.Ordinal);
                    var labels = c.Record.Config.Labels ?? [];
                    return eq < 0 ? labels.ContainsKey(v) : labels.GetValueOrDefault(v[..eq]) == v[(eq + 1)..];
                })),
                "ancestor" => list.Where(c => values.Any(v => c.Record.ImageName == v || ContainerEngine.FamiliarName(c.Record.ImageName) == ContainerEngine.FamiliarName(v) || c.Record.Image.Contains(v, StringComparison.Ordinal))),
                "exited" => list.Where(c => c.Record.State.Status == ContainerStatus.Exited && values.Any(v => int.TryParse(v, CultureInfo.InvariantCulture, out var n) && n == c.Record.State.ExitCode)),
                "health" => list.Where(c => values.Contains(c.Record.State.Health?.Status ?? "none")),
                "network" => list.Where(c => values.Contains(c.Record.HostConfig.NetworkMode ?? "")),
                "before" or "since" or "volume" or "publish" or "expose" or "isolation" or "is-task" => list,
                _ => throw BerthException.InvalidArgument($"invalid filter '{key}'"),
            };
        }
        foreach (var c in limit > 0 ? list.Take(limit) : list)
        {
            var s = c.Summary();
            if (size)
            {
                s["SizeRw"] = c.WritableLayerSize();
            }
            result.Add((JsonNode)s);
        }
        await WriteJsonAsync(context, result).ConfigureAwait(false);
    }

    private Task InspectContainerAsync(HttpContext context, Match m) =>
        WriteJsonAsync(context, ContainerOf(m).Inspect(QueryBool(context, "size")));

    private static Task NoContentAsync(HttpContext context, int status = 204)
    {
        context.Response.StatusCode = status;
        return Task.CompletedTask;
    }

    private async Task StartContainerAsync(HttpContext context, Match m)
    {
        var started = await ContainerOf(m).StartAsync(context.RequestAborted).ConfigureAwait(false);
        await NoContentAsync(context, started ? 204 : 304).ConfigureAwait(false);
    }

    private async Task StopContainerAsync(HttpContext context, Match m)
    {
        var stopped = await ContainerOf(m).StopAsync(QueryInt(context, "t") ?? QueryInt(context, "timeout"), Query(context, "signal"), context.RequestAborted).ConfigureAwait(false);
        await NoContentAsync(context, stopped ? 204 : 304).ConfigureAwait(false);
    }

    private async Task RestartContainerAsync(HttpContext context, Match m)
    {
        await ContainerOf(m).RestartAsync(QueryInt(context, "t") ?? QueryInt(context, "timeout"), Query(context, "signal"), context.RequestAborted).ConfigureAwait(false);
        await NoContentAsync(context).ConfigureAwait(false);
    }

    private async Task KillContainerAsync(HttpContext context, Match m)
    {
        await ContainerOf(m).KillAsync(Query(context, "signal"), context.RequestAborted).ConfigureAwait(false);
        await NoContentAsync(context).ConfigureAwait(false);
    }

    private async Task PauseContainerAsync(HttpContext context, Match m)
    {
        await ContainerOf(m).PauseAsync(true, context.RequestAborted).ConfigureAwait(false);
        await NoContentAsync(context).ConfigureAwait(false);
    }

    private async Task UnpauseContainerAsync(HttpContext context, Match m)
    {
        await ContainerOf(m).PauseAsync(false, context.RequestAborted).ConfigureAwait(false);
        await NoContentAsync(context).ConfigureAwait(false);
    }

    private async Task WaitContainerAsync(HttpContext context, Match m)
    {
        var c = ContainerOf(m);
        var condition = Query(context, "condition");
        var wait = c.WaitAsync(condition, context.RequestAborted);
        // Headers go out at once: the docker CLI waits for them before it starts the container.
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        await context.Response.StartAsync(context.RequestAborted).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        var (code, error) = await wait.ConfigureAwait(false);
        var body = new JsonObject { ["StatusCode"] = code, ["Error"] = error is null ? null : new JsonObject { ["Message"] = error } };
        await context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(body, DockerJsonContext.Default.JsonObject), context.RequestAborted).ConfigureAwait(false);
        await context.Response.Body.WriteAsync("\n"u8.ToArray(), context.RequestAborted).ConfigureAwait(false);
    }

    private async Task RemoveContainerAsync(HttpContext context, Match m)
    {
        var c = ContainerOf(m);
        if (QueryBool(context, "link"))
        {
            throw BerthException.Unsupported("container links");
        }
        await _engine.RemoveAsync(c, QueryBool(context, "force"), QueryBool(context, "v"), context.RequestAborted).ConfigureAwait(false);
        await NoContentAsync(context).ConfigureAwait(false);
    }

    private async Task RenameContainerAsync(HttpContext context, Match m)
    {
        var name = Query(context, "name");
        if (string.IsNullOrEmpty(name))
        {
            throw BerthException.InvalidArgument("Neither old nor new names may be empty: give ?name=NEW");
        }
        _engine.Rename(m.Groups["id"].Value, name);
        await NoContentAsync(context).ConfigureAwait(false);
    }

    private async Task ResizeContainerAsync(HttpContext context, Match m)
    {
        var (h, w) = (QueryInt(context, "h") ?? 0, QueryInt(context, "w") ?? 0);
        await ContainerOf(m).ResizeAsync((ushort)h, (ushort)w, context.RequestAborted).ConfigureAwait(false);
        context.Response.StatusCode = 200;
    }

    private async Task UpdateContainerAsync(HttpContext context, Match m)
    {
        var c = ContainerOf(m);
        var update = await ReadBodyAsync(context, DockerJsonContext.Default.UpdateRequest).ConfigureAwait(false);
        var warnings = await c.UpdateAsync(update, context.RequestAborted).ConfigureAwait(false);
        await WriteJsonAsync(context, new JsonObject { ["Warnings"] = new JsonArray(warnings.Select(w => (JsonNode?)w).ToArray()) }).ConfigureAwait(false);
    }

    private Task AttachNotHijackedAsync(HttpContext context, Match m)
    {
        _ = ContainerOf(m);
        throw BerthException.InvalidArgument("attach must be the first request on its connection (the docker CLI and Docker.DotNet open a new connection for it)");
    }

    private async Task CreateExecAsync(HttpContext context, Match m)
    {
        var c = ContainerOf(m);
        var request = await ReadBodyAsync(context, DockerJsonContext.Default.ExecCreateRequest).ConfigureAwait(false);
        var exec = _engine.CreateExec(c, request);
        await WriteJsonAsync(context, new JsonObject { ["Id"] = exec.Id }, 201).ConfigureAwait(false);
    }

    private async Task StartExecDetachedAsync(HttpContext context, Match m)
    {
        var exec = _engine.GetExec(m.Groups["id"].Value);
        var request = await ReadBodyAsync(context, DockerJsonContext.Default.ExecStartRequest).ConfigureAwait(false);
        if (!request.Detach)
        {
            throw BerthException.InvalidArgument("an attached exec start must be the first request on its connection (upgrade to tcp)");
        }
        var shimExec = await _engine.StartExecAsync(exec, context.RequestAborted).ConfigureAwait(false);
        _ = DrainAsync(shimExec.Stream);
        context.Response.StatusCode = 200;
    }

    private static async Task DrainAsync(Berth.Shim.ShimStream stream)
    {
        try
        {
            while (await stream.ReadAsync(CancellationToken.None).ConfigureAwait(false) is not null)
            {
            }
        }
        catch (Exception e) when (e is BerthException or IOException)
        {
        }
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task ResizeExecAsync(HttpContext context, Match m)
    {
        var exec = _engine.GetExec(m.Groups["id"].Value);
        var (h, w) = (QueryInt(context, "h") ?? 0, QueryInt(context, "w") ?? 0);
        if (exec.Exec is { } e && exec.Running)
        {
            await e.ResizeAsync((ushort)h, (ushort)w, context.RequestAborted).ConfigureAwait(false);
        }
        context.Response.StatusCode = 200;
    }

    private Task InspectExecAsync(HttpContext context, Match m)
    {
        var exec = _engine.GetExec(m.Groups["id"].Value);
        var r = exec.Config;
        var o = new JsonObject
        {
            ["ID"] = exec.Id,
            ["Running"] = exec.Running,
            ["ExitCode"] = exec.ExitCode,
            ["ProcessConfig"] = new JsonObject
            {
                ["tty"] = r.Tty,
                ["entrypoint"] = r.Cmd![0],
                ["arguments"] = new JsonArray(r.Cmd.Skip(1).Select(a => (JsonNode?)a).ToArray()),
                ["privileged"] = r.Privileged,
                ["user"] = r.User ?? "",
            },
            ["OpenStdin"] = r.AttachStdin,
            ["OpenStderr"] = r.AttachStderr,
            ["OpenStdout"] = r.AttachStdout,
            ["CanRemove"] = false,
            ["ContainerID"] = exec.Container.Id,
            ["DetachKeys"] = "",
            ["Pid"] = exec.Pid,
        };
        return WriteJsonAsync(context, o);
    }

    private async Task PruneContainersAsync(HttpContext context, Match _)
    {
        var filters = Filters(Query(context, "filters"));
        var until = filters.TryGetValue("until", out var u) && u.Count > 0 ? ParseTime(u[0]) : null;
        var deleted = new JsonArray();
        long reclaimed = 0;
        foreach (var c in _engine.List().Where(c => c.Record.State.Status is ContainerStatus.Exited or ContainerStatus.Created or ContainerStatus.Dead))
        {
            if (until is { } t && c.Record.Created >= t)
            {
                continue;
            }
            if (filters.TryGetValue("label", out var labels) && !labels.All(l => (c.Record.Config.Labels ?? []).ContainsKey(l.Split('=')[0])))
            {
                continue;
            }
            reclaimed += c.WritableLayerSize();
            await _engine.RemoveAsync(c, false, context.RequestAborted).ConfigureAwait(false);
            deleted.Add((JsonNode)c.Id);
        }
        await WriteJsonAsync(context, new JsonObject { ["ContainersDeleted"] = deleted, ["SpaceReclaimed"] = reclaimed }).ConfigureAwait(false);
    }
}
