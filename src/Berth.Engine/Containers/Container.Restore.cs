using Berth.Core;
using Berth.Shim;

namespace Berth.Engine.Containers;

public sealed partial class Container
{
    internal async Task RestoreAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var wasRunning = Record.State.Status is ContainerStatus.Running or ContainerStatus.Paused or ContainerStatus.Restarting;
            if (Record.State.Status == ContainerStatus.Removing)
            {
                Record.State.Status = ContainerStatus.Dead;
            }
            if (Directory.Exists(StateDir))
            {
                try
                {
                    var shim = await ShimClient.ConnectAsync(StateDir, cancellationToken).ConfigureAwait(false);
                    var status = await shim.StatusAsync(cancellationToken).ConfigureAwait(false);
                    Shim = shim;
                    if (status.State is ShimState.Running or ShimState.Paused)
                    {
                        Record.State.Status = status.State == ShimState.Paused ? ContainerStatus.Paused : ContainerStatus.Running;
                        Record.State.Pid = status.Pid;
                        Save();
                        BeginMonitoring(shim);
                        return;
                    }
                    if (status.State == ShimState.Stopped && status.Exit is { } ended)
                    {
                        // Exited while the daemon was away: report it, clean up, apply the restart policy.
                        _ = Task.Run(() => OnExitAsync(shim, ended), CancellationToken.None);
                        return;
                    }
                    // Created but never started: nothing to keep.
                    await CleanupShimAsync().ConfigureAwait(false);
                }
                catch (BerthException)
                {
                    // The shim is gone (killed with the daemon, or crashed).
                    var exit = ShimClient.ReadExit(StateDir);
                    Shim = null;
                    await CleanupShimAsync().ConfigureAwait(false);
                    if (wasRunning)
                    {
                        MarkExited(exit?.ExitCode ?? 137, exit?.OomKilled ?? false, exit?.FinishedAt ?? _engine.Time.GetUtcNow(), exit is null ? "the shim of this container died" : "");
                    }
                }
            }
            else if (wasRunning)
            {
                UnmountRootfs();
                MarkExited(137, false, _engine.Time.GetUtcNow(), "the container's shim state is gone (host reboot?)");
            }
            else if (RootfsMounted())
            {
                UnmountRootfs();
            }
        }
        finally
        {
            _gate.Release();
        }
        var policy = Record.HostConfig.RestartPolicy?.Name;
        if (Record.State.Status == ContainerStatus.Exited && policy is "always" or "unless-stopped" && !Record.StoppedByUser)
        {
            ScheduleRestart(Record.State.ExitCode);
        }
    }

    private void MarkExited(int code, bool oom, DateTimeOffset finished, string error)
    {
        Record.State.Status = ContainerStatus.Exited;
        Record.State.ExitCode = code;
        Record.State.OomKilled = oom;
        Record.State.FinishedAt = finished;
        Record.State.Pid = 0;
        Record.State.Error = error;
        Save();
        Publish("die", new Dictionary<string, string> { ["exitCode"] = code.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }
}
