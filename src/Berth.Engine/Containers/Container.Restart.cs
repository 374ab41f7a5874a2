using Berth.Core;

namespace Berth.Engine.Containers;

public sealed partial class Container
{
    private CancellationTokenSource? _restartCts;

    /// <summary>
    /// Docker's restart manager: after an exit the policy decides; the delay starts at 100 ms and doubles each
    /// time (max 1 min), and resets when the container ran for at least 10 s.
    /// </summary>
    internal TimeSpan RestartDelay { get; private set; } = TimeSpan.Zero;

    internal static bool ShouldRestart(string? policy, int maxRetries, int exitCode, int restartCount, bool stoppedByUser, bool daemonStart)
    {
        switch (policy)
        {
            case "always":
                return !stoppedByUser;
            case "unless-stopped":
                return !stoppedByUser;
            case "on-failure":
                return exitCode != 0 && !stoppedByUser && (maxRetries <= 0 || restartCount < maxRetries) && !daemonStart;
            default:
                return false;
        }
    }

    internal static TimeSpan NextDelay(TimeSpan previous, TimeSpan ranFor)
    {
        if (ranFor >= TimeSpan.FromSeconds(10))
        {
            return TimeSpan.FromMilliseconds(100);
        }
        var next = previous == TimeSpan.Zero ? TimeSpan.FromMilliseconds(100) : previous * 2;
        return next > TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : next;
    }

    private void ScheduleRestart(int exitCode)
    {
        var policy = Record.HostConfig.RestartPolicy;
        if (!ShouldRestart(policy?.Name, policy?.MaximumRetryCount ?? 0, exitCode, Record.RestartCount, Record.StoppedByUser, daemonStart: false))
        {
            return;
        }
        var ranFor = (Record.State.FinishedAt ?? _engine.Time.GetUtcNow()) - (Record.State.StartedAt ?? _engine.Time.GetUtcNow());
        RestartDelay = NextDelay(RestartDelay, ranFor);
        _restartCts?.Dispose();
        _restartCts = CancellationTokenSource.CreateLinkedTokenSource(_engine.Stopping);
        var token = _restartCts.Token;
        Record.State.Status = ContainerStatus.Restarting;
        Save();
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(RestartDelay, _engine.Time, token).ConfigureAwait(false);
                await _gate.WaitAsync(token).ConfigureAwait(false);
                try
                {
                    if (Record.State.Status != ContainerStatus.Restarting || Record.StoppedByUser)
                    {
                        return;
                    }
                    Record.RestartCount++;
                    await StartLockedAsync(token).ConfigureAwait(false);
                    Publish("restart");
                }
                finally
                {
                    _gate.Release();
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (BerthException e)
            {
                Log.ContainerWarning(_engine.Logger, Id, "restart failed: " + e.Message);
                Record.State.Status = ContainerStatus.Exited;
                Save();
            }
        }, CancellationToken.None);
    }

    /// <summary>docker restart: stop (signal, timeout, SIGKILL) then start.</summary>
    public async Task RestartAsync(int? timeoutSeconds, string? signal, CancellationToken cancellationToken)
    {
        await StopAsync(timeoutSeconds, signal, cancellationToken).ConfigureAwait(false);
        await StartAsync(cancellationToken).ConfigureAwait(false);
        Publish("restart");
    }
}
