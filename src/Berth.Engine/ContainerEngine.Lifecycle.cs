using Berth.Core;
using Berth.Engine.Api;
using Berth.Engine.Containers;
using Berth.Shim;

namespace Berth.Engine;

public sealed partial class ContainerEngine
{
    private readonly Dictionary<string, ExecInstance> _execs = new(StringComparer.Ordinal);

    /// <summary>docker rm: refused while running unless forced (then SIGKILL); removes the snapshots, record and logs.</summary>
    public Task RemoveAsync(Container c, bool force, CancellationToken cancellationToken) => RemoveAsync(c, force, removeVolumes: false, cancellationToken);

    /// <summary>docker rm [-v]: with <paramref name="removeVolumes"/> (and always for --rm containers, as dockerd) the container's anonymous volumes go too.</summary>
    public async Task RemoveAsync(Container c, bool force, bool removeVolumes, CancellationToken cancellationToken)
    {
        using (await c.LockAsync(cancellationToken).ConfigureAwait(false))
        {
            if (c.Record.State.Status == ContainerStatus.Removing)
            {
                throw new BerthException(ErrorCode.Conflict, $"removal of container {c.Id} is already in progress");
            }
            if ((c.IsRunning || c.Record.State.Status == ContainerStatus.Restarting) && !force)
            {
                var state = c.Record.State.Status == ContainerStatus.Paused ? "paused" : c.Record.State.Status == ContainerStatus.Restarting ? "restarting" : "running";
                throw new BerthException(ErrorCode.Conflict, $"cannot remove container \"{c.Record.Name}\": container is {state}: stop the container before removing or force remove");
            }
            c.Record.StoppedByUser = true;
            c.Record.State.Status = ContainerStatus.Removing;
            await c.DetachAsync().ConfigureAwait(false);
            // Delete kills (runtime delete --force) and waits for the shim; the monitor then finds no shim and returns.
            await c.CleanupShimAsync().ConfigureAwait(false);
            Forget(c);
            await Images.RemoveContainerAsync(c.Id, CancellationToken.None).ConfigureAwait(false);
            TryDeleteDirectory(Path.Combine(Options.ContainersDirectory, c.Id));
            if (removeVolumes || c.Record.HostConfig.AutoRemove)
            {
                RemoveAnonymousVolumes(c.Record);
            }
            lock (_execs)
            {
                foreach (var e in _execs.Where(e => e.Value.Container == c).Select(e => e.Key).ToList())
                {
                    _execs.Remove(e);
                }
            }
        }
        c.Publish("destroy");
        c.MarkRemoved();
    }

    /// <summary>
    /// Live restore: a container whose shim answers keeps running and is watched again; one whose shim is gone is
    /// marked exited (with the exit.json the shim left, else 137) and cleaned up; restart policies then apply.
    /// </summary>
    private async Task RestoreAsync(CancellationToken cancellationToken)
    {
        foreach (var c in List())
        {
            await c.RestoreAsync(cancellationToken).ConfigureAwait(false);
            Log.Restored(Logger, c.Id, c.Record.State.Status.ToString());
        }
    }

    public ExecInstance CreateExec(Container c, ExecCreateRequest request)
    {
        c.RequireRunning();
        if (request.Cmd is not { Count: > 0 })
        {
            throw BerthException.InvalidArgument("No exec command specified");
        }
        var exec = new ExecInstance
        {
            Id = EngineFormat.NewId(),
            Container = c,
            Config = request,
        };
        lock (_execs)
        {
            _execs[exec.Id] = exec;
        }
        c.Publish("exec_create: " + string.Join(' ', request.Cmd), new Dictionary<string, string> { ["execID"] = exec.Id });
        return exec;
    }

    public ExecInstance GetExec(string id)
    {
        lock (_execs)
        {
            return _execs.TryGetValue(id, out var e) ? e : throw BerthException.NotFound($"No such exec instance: {id}");
        }
    }

    /// <summary>Starts an exec: the returned stream carries its output; the exit code lands in the instance when it ends.</summary>
    public async Task<ShimExec> StartExecAsync(ExecInstance exec, CancellationToken cancellationToken)
    {
        lock (exec)
        {
            if (exec.Started)
            {
                throw new BerthException(ErrorCode.Conflict, $"exec {exec.Id} has already been started");
            }
            exec.Started = true;
        }
        var c = exec.Container;
        var shim = c.RequireRunning();
        var r = exec.Config;
        var process = c.ExecProcess(r.Cmd!, r.Env, r.User, r.WorkingDir, r.Tty, r.Privileged);
        if (r.ConsoleSize is [var h, var w] && r.Tty && h > 0 && w > 0)
        {
            process.ConsoleSize = new Berth.Oci.Runtime.Box { Height = (uint)h, Width = (uint)w };
        }
        var shimExec = await shim.ExecAsync(exec.Id, process, r.AttachStdin, cancellationToken).ConfigureAwait(false);
        exec.Exec = shimExec;
        try
        {
            await shimExec.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (BerthException e)
        {
            exec.ExitCode = e.Message.Contains("not found", StringComparison.Ordinal) || e.Message.Contains("no such file", StringComparison.OrdinalIgnoreCase) ? 127 : 126;
            await shimExec.DisposeAsync().ConfigureAwait(false);
            throw new BerthException(e.Code, "OCI runtime exec failed: " + e.Message);
        }
        exec.Running = true;
        exec.Pid = shimExec.Pid;
        c.Publish("exec_start: " + string.Join(' ', r.Cmd!), new Dictionary<string, string> { ["execID"] = exec.Id });
        _ = Task.Run(async () =>
        {
            try
            {
                exec.ExitCode = await shimExec.WaitAsync(Stopping).ConfigureAwait(false);
            }
            catch (Exception e) when (e is BerthException or OperationCanceledException or IOException)
            {
                exec.ExitCode ??= 137;
            }
            exec.Running = false;
            c.Publish("exec_die", new Dictionary<string, string> { ["execID"] = exec.Id, ["exitCode"] = exec.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "" });
        }, CancellationToken.None);
        return shimExec;
    }
}
