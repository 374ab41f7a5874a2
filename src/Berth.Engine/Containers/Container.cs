using System.Text.Json;
using Berth.Core;
using Berth.Images.Snapshots;
using Berth.Shim;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Containers;

/// <summary>One container: its record, its shim while it runs, and the waiters on its lifecycle.</summary>
public sealed partial class Container
{
    private readonly ContainerEngine _engine;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<PendingAttach> _pending = [];
    private TaskCompletionSource<(int Code, string? Error)> _exited = NewTcs<(int, string?)>();
    private readonly TaskCompletionSource _removed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _neverStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _activeAttaches;
    private CancellationTokenSource? _runCts;

    internal Container(ContainerEngine engine, ContainerRecord record)
    {
        _engine = engine;
        Record = record;
    }

    public string Id => Record.Id;

    public ContainerRecord Record { get; }

    /// <summary>The shim while the container has one (created, running, paused, or exited but not yet cleaned up).</summary>
    internal ShimClient? Shim { get; private set; }

    internal string StateDir => _engine.Options.ShimStateDirectory(Id);

    internal string BundleDir => _engine.Options.BundleDirectory(Id);

    internal string RootfsDir => Path.Combine(BundleDir, "rootfs");

    internal bool IsRunning => Record.State.Status is ContainerStatus.Running or ContainerStatus.Paused;

    internal Task Removed => _removed.Task;

    private static TaskCompletionSource<T> NewTcs<T>() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal void Save()
    {
        var dir = Path.Combine(_engine.Options.ContainersDirectory, Id);
        if (!Directory.Exists(dir))
        {
            return; // removed meanwhile
        }
        AtomicFile.WriteAllBytes(Path.Combine(dir, "config.v2.json"), JsonSerializer.SerializeToUtf8Bytes(Record, EngineJsonContext.Default.ContainerRecord));
    }

    internal void Publish(string action, IReadOnlyDictionary<string, string>? extra = null)
    {
        var attrs = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["name"] = Record.Name.TrimStart('/'),
            ["image"] = Record.ImageName,
        };
        foreach (var (k, v) in Record.Config.Labels ?? [])
        {
            attrs.TryAdd(k, v);
        }
        foreach (var (k, v) in extra ?? new Dictionary<string, string>())
        {
            attrs[k] = v;
        }
        _engine.Events.Publish("container", action, Id, attrs);
    }

    /// <summary>Whether the overlay rootfs is mounted at the bundle (it stays mounted while the container runs, also across a daemon restart).</summary>
    internal bool RootfsMounted() => Berth.Linux.MountInfo.IsMountPoint(RootfsDir);

    internal async Task MountRootfsAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(RootfsDir);
        if (RootfsMounted())
        {
            return;
        }
        var snapshotter = _engine.Images.Snapshotter!;
        var mounts = await snapshotter.MountsAsync(Id, cancellationToken).ConfigureAwait(false);
        SnapshotMounter.Mount(mounts, RootfsDir);
    }

    internal void UnmountRootfs()
    {
        for (var i = 0; i < 10 && RootfsMounted(); i++)
        {
            try
            {
                SnapshotMounter.Unmount(RootfsDir);
            }
            catch (BerthException e)
            {
                Log.ContainerWarning(_engine.Logger, Id, "unmount rootfs: " + e.Message);
                Thread.Sleep(50);
            }
        }
        ContainerEngine.TryDeleteDirectory(BundleDir);
    }

    internal sealed class PendingAttach(bool stdin, bool stdout, bool stderr)
    {
        public bool Stdin { get; } = stdin;

        public bool Stdout { get; } = stdout;

        public bool Stderr { get; } = stderr;

        public TaskCompletionSource<ShimStream?> Stream { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// Attaches to the container's stdio. Before start (docker run attaches first), the attachment waits and is
    /// connected to the shim between `create` and `start`, so it sees all output. Null when the container is gone.
    /// </summary>
    internal async Task<ShimStream?> AttachAsync(bool stdin, bool stdout, bool stderr, CancellationToken cancellationToken)
    {
        PendingAttach pending;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (IsRunning && Shim is { } shim)
            {
                Interlocked.Increment(ref _activeAttaches);
                return await shim.AttachAsync(stdin, stdout, stderr, cancellationToken).ConfigureAwait(false);
            }
            pending = new PendingAttach(stdin, stdout, stderr);
            _pending.Add(pending);
        }
        finally
        {
            _gate.Release();
        }
        using var reg = cancellationToken.Register(() => pending.Stream.TrySetCanceled());
        var result = await Task.WhenAny(pending.Stream.Task, _removed.Task).ConfigureAwait(false);
        if (result == pending.Stream.Task)
        {
            var s = await pending.Stream.Task.ConfigureAwait(false);
            return s;
        }
        return null;
    }

    internal void AttachEnded() => Interlocked.Decrement(ref _activeAttaches);

    /// <summary>Starts the container; false when it already runs (Docker answers 304).</summary>
    public async Task<bool> StartAsync(CancellationToken cancellationToken)
    {
        var released = false;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Record.State.Status is ContainerStatus.Running)
            {
                return false;
            }
            if (Record.State.Status is ContainerStatus.Paused)
            {
                throw new BerthException(ErrorCode.Conflict, $"cannot start a paused container {Record.Name.TrimStart('/')}, try unpause instead");
            }
            if (Record.State.Status is ContainerStatus.Removing or ContainerStatus.Dead)
            {
                throw new BerthException(ErrorCode.Conflict, $"container {Record.Name.TrimStart('/')} is marked for removal and cannot be started");
            }
            Record.StoppedByUser = false;
            await StartLockedAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (BerthException) when (Record.HostConfig.AutoRemove && !IsRunning)
        {
            // As dockerd: a --rm container that cannot start is removed, so `docker run --rm` does not wait forever.
            _gate.Release();
            released = true;
            _ = Task.Run(() => _engine.RemoveAsync(this, force: true, CancellationToken.None), CancellationToken.None);
            throw;
        }
        finally
        {
            if (!released)
            {
                _gate.Release();
            }
        }
    }

    private async Task StartLockedAsync(CancellationToken cancellationToken)
    {
        // A previous run's shim (exited but not yet cleaned) goes first.
        await CleanupShimAsync().ConfigureAwait(false);
        var o = _engine.Options;
        await _engine.Networks.SetupAsync(this, cancellationToken).ConfigureAwait(false);
        try
        {
            await MountRootfsAsync(cancellationToken).ConfigureAwait(false);
            await _engine.PrepareVolumesAsync(this, RootfsDir, cancellationToken).ConfigureAwait(false);
            var hostNetwork = Record.HostConfig.NetworkMode == "host";
            var spec = SpecGenerator.Generate(Record, RootfsDir, o.InitPath, hostNetwork);
            _engine.Networks.ApplyToSpec(this, spec);
            AtomicFile.WriteAllBytes(Path.Combine(BundleDir, "config.json"), JsonSerializer.SerializeToUtf8Bytes(spec, Berth.Oci.Runtime.OciJsonContext.Default.Spec));
            var (logPath, maxSize, maxFiles) = LogSettings();
            Directory.CreateDirectory(Path.GetDirectoryName(StateDir)!);
            ContainerEngine.TryDeleteDirectory(StateDir);
            var options = new ShimOptions(Id, BundleDir, StateDir, o.RuntimePath, o.RuntimeRoot, Record.Config.Tty, Record.Config.OpenStdin, Record.Config.StdinOnce, logPath, maxSize, maxFiles);
            Shim = await ShimProcess.StartAsync(o.ShimPath, options, cancellationToken).ConfigureAwait(false);
        }
        catch (BerthException e)
        {
            Shim = null;
            UnmountRootfs();
            // Whichever step failed, volumes with mount options that PrepareVolumesAsync mounted are unmounted again.
            _engine.ReleaseVolumes(this);
            await _engine.Networks.TeardownAsync(this).ConfigureAwait(false);
            // docker run maps these texts to its exit codes 127 and 126.
            Record.State.ExitCode = e.Message.Contains("not found", StringComparison.Ordinal) || e.Message.Contains("no such file", StringComparison.OrdinalIgnoreCase) ? 127
                : e.Message.Contains("permission denied", StringComparison.OrdinalIgnoreCase) ? 126 : 128;
            Record.State.Error = e.Message;
            Record.State.Status = Record.State.StartedAt is null ? ContainerStatus.Created : ContainerStatus.Exited;
            Save();
            throw new BerthException(e.Code == ErrorCode.NotFound ? ErrorCode.InvalidArgument : e.Code, "failed to create task for container: " + e.Message);
        }
        foreach (var p in _pending.ToList())
        {
            _pending.Remove(p);
            try
            {
                var stream = await Shim.AttachAsync(p.Stdin, p.Stdout, p.Stderr, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref _activeAttaches);
                p.Stream.TrySetResult(stream);
            }
            catch (BerthException e)
            {
                p.Stream.TrySetException(e);
            }
        }
        try
        {
            await Shim.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (BerthException e)
        {
            await CleanupShimAsync().ConfigureAwait(false);
            Record.State.ExitCode = 128;
            Record.State.Error = e.Message;
            Save();
            throw;
        }
        var status = await Shim.StatusAsync(cancellationToken).ConfigureAwait(false);
        Record.State = new ContainerState
        {
            Status = ContainerStatus.Running,
            Pid = status.Pid,
            StartedAt = _engine.Time.GetUtcNow(),
            Health = Record.Config.Healthcheck is null ? null : new HealthState(),
        };
        Save();
        Publish("start");
        BeginMonitoring(Shim);
    }

    private (string? Path, long MaxSize, int MaxFiles) LogSettings()
    {
        var lc = Record.HostConfig.LogConfig;
        if (lc?.Type == "none")
        {
            return (null, 0, 1);
        }
        var o = _engine.Options;
        var size = o.DefaultLogMaxSize;
        var files = o.DefaultLogMaxFiles;
        if (lc?.Config is { } cfg)
        {
            if (cfg.TryGetValue("max-size", out var ms))
            {
                size = ParseSize(ms);
            }
            if (cfg.TryGetValue("max-file", out var mf))
            {
                files = int.TryParse(mf, out var n) && n > 0 ? n : throw BerthException.InvalidArgument($"invalid max-file \"{mf}\": give a positive number");
            }
        }
        return (Record.LogPath, size, files);
    }

    internal static long ParseSize(string value)
    {
        var v = value.Trim().ToLowerInvariant().TrimEnd('b');
        long mult = 1;
        if (v.Length > 0 && "kmgt".Contains(v[^1], StringComparison.Ordinal))
        {
            mult = v[^1] switch { 'k' => 1024L, 'm' => 1024L * 1024, 'g' => 1024L * 1024 * 1024, _ => 1024L * 1024 * 1024 * 1024 };
            v = v[..^1];
        }
        return double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= 0
            ? (long)(n * mult)
            : throw BerthException.InvalidArgument($"invalid size \"{value}\": use a number with an optional k, m or g suffix");
    }

    private void BeginMonitoring(ShimClient shim)
    {
        _runCts?.Dispose();
        _runCts = CancellationTokenSource.CreateLinkedTokenSource(_engine.Stopping);
        var token = _runCts.Token;
        _ = Task.Run(async () =>
        {
            ShimExit exit;
            try
            {
                exit = await shim.WaitAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return; // the daemon is stopping; the shim keeps the container
            }
            catch (BerthException e)
            {
                Log.ContainerWarning(_engine.Logger, Id, "lost the shim: " + e.Message);
                exit = new ShimExit(137, false, _engine.Time.GetUtcNow());
            }
            await OnExitAsync(shim, exit).ConfigureAwait(false);
        }, CancellationToken.None);
        if (Record.Config.Healthcheck is not null)
        {
            _ = Task.Run(() => HealthLoopAsync(token), CancellationToken.None);
        }
    }

    private async Task OnExitAsync(ShimClient shim, ShimExit exit)
    {
        await _gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (!ReferenceEquals(Shim, shim))
            {
                return;
            }
            Record.State.Status = ContainerStatus.Exited;
            Record.State.ExitCode = exit.ExitCode;
            Record.State.OomKilled = exit.OomKilled;
            Record.State.FinishedAt = exit.FinishedAt;
            Record.State.Pid = 0;
            if (Record.State.Health is { } h)
            {
                h.Status = "unhealthy";
                h.FailingStreak = 0;
            }
            Save();
            if (exit.OomKilled)
            {
                Publish("oom");
            }
            Publish("die", new Dictionary<string, string> { ["exitCode"] = exit.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            // Let attached clients drain the last output before the shim goes.
            for (var i = 0; i < 40 && Volatile.Read(ref _activeAttaches) > 0; i++)
            {
                await Task.Delay(50).ConfigureAwait(false);
            }
            await CleanupShimAsync().ConfigureAwait(false);
            var done = _exited;
            _exited = NewTcs<(int, string?)>();
            done.TrySetResult((exit.ExitCode, null));
        }
        finally
        {
            _gate.Release();
        }
        if (Record.HostConfig.AutoRemove)
        {
            try
            {
                await _engine.RemoveAsync(this, force: true, CancellationToken.None).ConfigureAwait(false);
            }
            catch (BerthException e)
            {
                Log.ContainerWarning(_engine.Logger, Id, "auto-remove: " + e.Message);
            }
            return;
        }
        ScheduleRestart(exit.ExitCode);
    }

    /// <summary>Deletes the shim (runtime delete), unmounts the rootfs. Idempotent.</summary>
    internal async Task CleanupShimAsync()
    {
        _runCts?.Cancel();
        if (Shim is { } shim)
        {
            Shim = null;
            try
            {
                await shim.DeleteAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (BerthException e)
            {
                Log.ContainerWarning(_engine.Logger, Id, "shim delete: " + e.Message);
                await ForceDeleteAsync().ConfigureAwait(false);
            }
        }
        else if (Directory.Exists(StateDir))
        {
            await ForceDeleteAsync().ConfigureAwait(false);
        }
        UnmountRootfs();
        await _engine.Networks.TeardownAsync(this).ConfigureAwait(false);
        _engine.ReleaseVolumes(this);
    }

    /// <summary>When the shim is gone: `runtime delete --force` ourselves, and the shim's state dir.</summary>
    private async Task ForceDeleteAsync()
    {
        try
        {
            using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(_engine.Options.RuntimePath)
            {
                ArgumentList = { "--root", _engine.Options.RuntimeRoot, "delete", "--force", Id },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            });
            if (p is not null)
            {
                await p.WaitForExitAsync().ConfigureAwait(false);
            }
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Log.ContainerWarning(_engine.Logger, Id, "runtime delete: " + e.Message);
        }
        ContainerEngine.TryDeleteDirectory(StateDir);
    }

    /// <summary>Waits per Docker's conditions: not-running (default), next-exit, removed.</summary>
    public async Task<(int Code, string? Error)> WaitAsync(string? condition, CancellationToken cancellationToken)
    {
        switch (condition)
        {
            case null or "" or "not-running":
                Task<(int, string?)> t;
                await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    if (!IsRunning && Record.State.Status != ContainerStatus.Restarting)
                    {
                        return (Record.State.ExitCode, null);
                    }
                    t = _exited.Task;
                }
                finally
                {
                    _gate.Release();
                }
                return await t.WaitAsync(cancellationToken).ConfigureAwait(false);
            case "next-exit":
                return await _exited.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            case "removed":
                var exited = _exited.Task;
                await _removed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                return exited.IsCompletedSuccessfully ? exited.Result : (Record.State.ExitCode, null);
            default:
                throw BerthException.InvalidArgument($"invalid condition: \"{condition}\"; use not-running, next-exit or removed");
        }
    }

    /// <summary>Sends the stop signal, waits <paramref name="timeoutSeconds"/>, then SIGKILL. False when not running (304).</summary>
    public async Task<bool> StopAsync(int? timeoutSeconds, string? signal, CancellationToken cancellationToken)
    {
        Task<(int, string?)> exited;
        ShimClient shim;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _restartCts?.Cancel();
            Record.StoppedByUser = true;
            if (Record.State.Status == ContainerStatus.Restarting)
            {
                Record.State.Status = ContainerStatus.Exited;
                Save();
                return true;
            }
            if (!IsRunning || Shim is null)
            {
                Save();
                return false;
            }
            shim = Shim;
            exited = _exited.Task;
            Save();
            if (Record.State.Status == ContainerStatus.Paused)
            {
                await shim.ResumeAsync(cancellationToken).ConfigureAwait(false);
                Record.State.Status = ContainerStatus.Running;
            }
        }
        finally
        {
            _gate.Release();
        }
        var sig = Signals.Parse(signal ?? Record.Config.StopSignal ?? "SIGTERM");
        var timeout = timeoutSeconds ?? Record.Config.StopTimeout ?? 10;
        Publish("kill", new Dictionary<string, string> { ["signal"] = sig.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        await TryKillAsync(shim, sig, cancellationToken).ConfigureAwait(false);
        if (timeout < 0)
        {
            await exited.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (await Task.WhenAny(exited, Task.Delay(TimeSpan.FromSeconds(timeout), cancellationToken)).ConfigureAwait(false) != exited)
        {
            Publish("kill", new Dictionary<string, string> { ["signal"] = "9" });
            await TryKillAsync(shim, 9, cancellationToken).ConfigureAwait(false);
            await exited.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        }
        Publish("stop");
        return true;
    }

    private static async Task TryKillAsync(ShimClient shim, int signal, CancellationToken cancellationToken)
    {
        try
        {
            await shim.KillAsync(signal, false, cancellationToken).ConfigureAwait(false);
        }
        catch (BerthException)
        {
            // Already gone: the exit is reported through WaitAsync.
        }
    }

    public async Task KillAsync(string? signal, CancellationToken cancellationToken)
    {
        var sig = Signals.Parse(string.IsNullOrEmpty(signal) ? "SIGKILL" : signal);
        ShimClient shim;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!IsRunning || Shim is null)
            {
                throw new BerthException(ErrorCode.Conflict, $"cannot kill container: {Record.Name.TrimStart('/')}: container {Id} is not running");
            }
            shim = Shim;
            if (sig == 9)
            {
                // An explicit kill counts as a manual stop for restart policies, as in Docker.
                Record.StoppedByUser = true;
                _restartCts?.Cancel();
            }
        }
        finally
        {
            _gate.Release();
        }
        Publish("kill", new Dictionary<string, string> { ["signal"] = sig.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        await shim.KillAsync(sig, false, cancellationToken).ConfigureAwait(false);
    }

    public async Task PauseAsync(bool pause, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var name = Record.Name.TrimStart('/');
            if (!IsRunning || Shim is null)
            {
                throw new BerthException(ErrorCode.Conflict, $"container {name} is not running");
            }
            if (pause && Record.State.Status == ContainerStatus.Paused)
            {
                throw new BerthException(ErrorCode.Conflict, $"container {name} is already paused");
            }
            if (!pause && Record.State.Status != ContainerStatus.Paused)
            {
                throw new BerthException(ErrorCode.Conflict, $"container {name} is not paused");
            }
            if (pause)
            {
                await Shim.PauseAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await Shim.ResumeAsync(cancellationToken).ConfigureAwait(false);
            }
            Record.State.Status = pause ? ContainerStatus.Paused : ContainerStatus.Running;
            Save();
            Publish(pause ? "pause" : "unpause");
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task ResizeAsync(ushort rows, ushort columns, CancellationToken cancellationToken)
    {
        var shim = Shim ?? throw new BerthException(ErrorCode.Conflict, $"container {Record.Name.TrimStart('/')} is not running");
        await shim.ResizeAsync(rows, columns, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Marks the container removed (after its files are gone): wakes `wait --condition removed` and pending attaches.</summary>
    internal void MarkRemoved()
    {
        _removed.TrySetResult();
        foreach (var p in _pending)
        {
            p.Stream.TrySetResult(null);
        }
        _pending.Clear();
    }

    internal Task<IDisposable> LockAsync(CancellationToken cancellationToken) => LockCore(cancellationToken);

    private async Task<IDisposable> LockCore(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Releaser(_gate);
    }

    private sealed class Releaser(SemaphoreSlim gate) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                gate.Release();
            }
        }
    }

    /// <summary>Daemon shutdown: stop watching; shims and containers keep running (live restore picks them up).</summary>
    internal ValueTask DetachAsync()
    {
        _runCts?.Cancel();
        _restartCts?.Cancel();
        return ValueTask.CompletedTask;
    }
}
