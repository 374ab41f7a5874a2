using System.Text;
using Berth.Core;
using Berth.Oci.Runtime;
using Berth.Shim;

namespace Berth.Engine.Containers;

/// <summary>An exec instance (docker exec): created, then started once; its exit code stays for inspect.</summary>
public sealed class ExecInstance
{
    public required string Id { get; init; }

    public required Container Container { get; init; }

    public required Api.ExecCreateRequest Config { get; init; }

    public bool Running { get; set; }

    public bool Started { get; set; }

    public int? ExitCode { get; set; }

    public int Pid { get; set; }

    public ShimExec? Exec { get; set; }
}

public sealed partial class Container
{
    /// <summary>The process of an exec: the container's env, user, cwd and capabilities unless the request overrides them.</summary>
    internal Process ExecProcess(IReadOnlyList<string> cmd, IReadOnlyList<string>? env, string? user, string? workingDir, bool tty, bool privileged)
    {
        if (cmd.Count == 0)
        {
            throw BerthException.InvalidArgument("no exec command specified");
        }
        var caps = privileged ? SpecGenerator.HostCapabilities() : SpecGenerator.Capabilities(Record.HostConfig);
        var e = ConfigMerge.MergeEnv(Record.Config.Env, env);
        if (!e.Any(x => x.StartsWith("PATH=", StringComparison.Ordinal)))
        {
            e.Insert(0, ConfigMerge.DefaultPath);
        }
        e = ConfigMerge.MergeEnv(["HOSTNAME=" + SpecGenerator.Hostname(Record, Record.HostConfig.NetworkMode == "host")], e);
        if (tty && !e.Any(x => x.StartsWith("TERM=", StringComparison.Ordinal)))
        {
            e.Add("TERM=xterm");
        }
        return new Process
        {
            Terminal = tty,
            Args = [.. cmd],
            Env = e,
            Cwd = !string.IsNullOrEmpty(workingDir) ? workingDir : string.IsNullOrEmpty(Record.Config.WorkingDir) ? "/" : Record.Config.WorkingDir,
            User = UserResolver.Resolve(RootfsDir, string.IsNullOrEmpty(user) ? Record.Config.User : user),
            Capabilities = new Capabilities { Bounding = [.. caps], Effective = [.. caps], Permitted = [.. caps] },
        };
    }

    internal ShimClient RequireRunning()
    {
        if (Record.State.Status == ContainerStatus.Paused)
        {
            throw new BerthException(ErrorCode.Conflict, $"container {Id} is paused, unpause the container before exec");
        }
        return Record.State.Status == ContainerStatus.Running && Shim is { } s
            ? s
            : throw new BerthException(ErrorCode.Conflict, $"container {Id} is not running");
    }

    /// <summary>Runs a probe command in the container; the output is capped at 4 KiB like Docker's health log.</summary>
    internal async Task<(int ExitCode, string Output)> ProbeAsync(IReadOnlyList<string> cmd, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var shim = RequireRunning();
        var process = ExecProcess(cmd, null, null, null, tty: false, privileged: false);
        var exec = await shim.ExecAsync("health-" + Guid.NewGuid().ToString("N")[..12], process, openStdin: false, cancellationToken).ConfigureAwait(false);
        await using (exec.ConfigureAwait(false))
        {
            await exec.StartAsync(cancellationToken).ConfigureAwait(false);
            var output = new StringBuilder();
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            try
            {
                while (await exec.Stream.ReadAsync(cts.Token).ConfigureAwait(false) is { } frame)
                {
                    if (output.Length < 4096)
                    {
                        output.Append(Encoding.UTF8.GetString(frame.Data.Span));
                    }
                }
                return (await exec.WaitAsync(cts.Token).ConfigureAwait(false), output.ToString());
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await exec.KillAsync(9, CancellationToken.None).ConfigureAwait(false);
                }
                catch (BerthException)
                {
                }
                return (-1, $"Health check exceeded timeout ({timeout.TotalSeconds:0.#}s)");
            }
        }
    }

    private async Task HealthLoopAsync(CancellationToken cancellationToken)
    {
        var hc = Record.Config.Healthcheck!;
        var interval = hc.Interval > 0 ? TimeSpan.FromTicks(hc.Interval / 100) : TimeSpan.FromSeconds(30);
        var timeout = hc.Timeout > 0 ? TimeSpan.FromTicks(hc.Timeout / 100) : TimeSpan.FromSeconds(30);
        var startPeriod = TimeSpan.FromTicks(hc.StartPeriod / 100);
        var startInterval = hc.StartInterval > 0 ? TimeSpan.FromTicks(hc.StartInterval / 100) : TimeSpan.FromSeconds(5);
        var retries = hc.Retries > 0 ? hc.Retries : 3;
        var test = hc.Test!;
        List<string> cmd = test[0] switch
        {
            "CMD" => test.Skip(1).ToList(),
            "CMD-SHELL" => ["/bin/sh", "-c", string.Join(' ', test.Skip(1))],
            _ => [.. test],
        };
        var started = _engine.Time.GetUtcNow();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var inStart = _engine.Time.GetUtcNow() - started < startPeriod;
                var health = Record.State.Health;
                await Task.Delay(inStart && health?.Status == "starting" && hc.StartInterval > 0 ? startInterval : interval, _engine.Time, cancellationToken).ConfigureAwait(false);
                if (Record.State.Status != ContainerStatus.Running || Record.State.Health is not { } h)
                {
                    continue;
                }
                var begin = _engine.Time.GetUtcNow();
                int code;
                string output;
                try
                {
                    (code, output) = await ProbeAsync(cmd, timeout, cancellationToken).ConfigureAwait(false);
                }
                catch (BerthException e)
                {
                    (code, output) = (-1, e.Message);
                }
                var old = h.Status;
                h.Log.Add(new HealthLogEntry { Start = begin, End = _engine.Time.GetUtcNow(), ExitCode = code, Output = output });
                if (h.Log.Count > 5)
                {
                    h.Log.RemoveAt(0);
                }
                if (code == 0)
                {
                    h.Status = "healthy";
                    h.FailingStreak = 0;
                }
                else if (!(_engine.Time.GetUtcNow() - started < startPeriod))
                {
                    h.FailingStreak++;
                    if (h.FailingStreak >= retries)
                    {
                        h.Status = "unhealthy";
                    }
                }
                Save();
                Publish("exec_die", new Dictionary<string, string> { ["execID"] = "health", ["exitCode"] = code.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                if (h.Status != old)
                {
                    Publish("health_status: " + h.Status);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
