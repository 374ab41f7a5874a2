using Berth.Cgroups;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

public sealed partial class ContainerRuntime
{
    /// <summary>Lets a created container's init exec the user's program, then runs the poststart hooks.</summary>
    public void Start(string id)
    {
        var record = states.Load(id);
        var status = StatusOf(record);
        if (status != ContainerStatus.Created)
        {
            throw BerthException.FailedPrecondition(status == ContainerStatus.Stopped
                ? $"cannot start container \"{id}\": it has stopped; delete it and create it again"
                : $"cannot start container \"{id}\": it is {status.ToOci()}, not created");
        }
        PhaseTimer.Mark("start: state checked");
        Release(record);
    }

    /// <summary>
    /// Start's work once the container is known to be created: open the exec fifo, which lets the init exec the
    /// program, then the poststart hooks. `run` comes here straight from create with the record it just saved.
    /// </summary>
    private void Release(ContainerRecord record)
    {
        var id = record.Id;
        var fifo = states.FifoOf(id);
        var fd = Sys.Open(fifo, Sys.O_RDONLY | Sys.O_NONBLOCK);
        try
        {
            Span<byte> one = stackalloc byte[1];
            while (true)
            {
                if (FileSystem.PollReadable(fd, 50) && Sys.Read(fd, one) > 0)
                {
                    break;
                }
                if (StatusOf(record) == ContainerStatus.Stopped)
                {
                    throw BerthException.FailedPrecondition($"cannot start container \"{id}\": its init exited before start");
                }
            }
        }
        finally
        {
            Sys.Close(fd);
        }
        PhaseTimer.Mark("start: init released");
        File.Delete(fifo);
        if (record.Poststop is { Count: > 0 })
        {
            // Only delete's poststop hooks care whether start ran (the status comes from the fifo and the process).
            record.Started = true;
            states.Save(record);
        }
        PhaseTimer.Mark("start: state saved");
        if (record.Poststart is { Count: > 0 } poststart)
        {
            try
            {
                HookRunner.Run(poststart, "poststart", StateJson(ToState(record, ContainerStatus.Running)));
            }
            catch (BerthException e)
            {
                // The spec says a failing poststart hook is logged and the container keeps running.
                Warn?.Invoke(e.Message);
            }
        }
    }

    /// <summary>Where warnings go (the CLI points it at its log).</summary>
    public Action<string>? Warn { get; set; }

    public void Kill(string id, int signal, bool all)
    {
        var record = states.Load(id);
        var status = StatusOf(record);
        if (status == ContainerStatus.Stopped)
        {
            throw BerthException.FailedPrecondition($"container \"{id}\" is not running");
        }
        if (all)
        {
            LoadCgroup(record).KillAll(signal);
            return;
        }
        var err = Sys.Kill(record.Pid, signal);
        if (err != 0 && err != Berth.Linux.Errno.ESRCH)
        {
            throw new LinuxSyscallException("kill", id, err);
        }
    }

    /// <summary>Removes a container: kills what is left (only with <paramref name="force"/> when it runs), its cgroup, its state.</summary>
    public void Delete(string id, bool force)
    {
        StateDirectory.ValidateId(id);
        if (!states.Exists(id))
        {
            if (force)
            {
                return;
            }
            throw BerthException.NotFound($"container \"{id}\" does not exist");
        }
        ContainerRecord record;
        try
        {
            record = states.Load(id);
        }
        catch (BerthException) when (force)
        {
            states.Remove(id);
            return;
        }
        var status = StatusOf(record);
        if (status is ContainerStatus.Running or ContainerStatus.Paused && !force)
        {
            throw BerthException.FailedPrecondition($"cannot delete container \"{id}\" that is {status.ToOci()}: stop it first, or use --force");
        }
        var cgroup = record.CgroupPath.Length > 0 ? LoadCgroup(record) : null;
        if (status != ContainerStatus.Stopped)
        {
            if (status == ContainerStatus.Paused)
            {
                cgroup?.Thaw();
            }
            Sys.Kill(record.Pid, Signals.SIGKILL);
            WaitGone(record.Pid, record.PidStartTime, TimeSpan.FromSeconds(10));
        }
        PhaseTimer.Mark("delete: process gone");
        cgroup?.Destroy(killProcesses: true);
        PhaseTimer.Mark("delete: cgroup destroyed");
        if (record.Started && record.Poststop is { Count: > 0 } poststop)
        {
            try
            {
                HookRunner.Run(poststop, "poststop", StateJson(ToState(record, ContainerStatus.Stopped)));
            }
            catch (BerthException e)
            {
                Warn?.Invoke(e.Message);
            }
        }
        states.Remove(id);
    }

    public void Pause(string id)
    {
        var record = states.Load(id);
        var status = StatusOf(record);
        if (status != ContainerStatus.Running)
        {
            throw BerthException.FailedPrecondition($"cannot pause container \"{id}\": it is {status.ToOci()}, not running");
        }
        LoadCgroup(record).Freeze();
    }

    public void Resume(string id)
    {
        var record = states.Load(id);
        var status = StatusOf(record);
        if (status != ContainerStatus.Paused)
        {
            throw BerthException.FailedPrecondition($"cannot resume container \"{id}\": it is {status.ToOci()}, not paused");
        }
        LoadCgroup(record).Thaw();
    }

    public void Update(string id, Resources resources)
    {
        var record = states.Load(id);
        if (StatusOf(record) == ContainerStatus.Stopped)
        {
            throw BerthException.FailedPrecondition($"cannot update container \"{id}\": it has stopped");
        }
        LoadCgroup(record).Update(resources);
    }

    /// <summary>The processes of a running container (host PIDs), for `ps`.</summary>
    public IReadOnlyList<int> Pids(string id)
    {
        var record = states.Load(id);
        if (StatusOf(record) == ContainerStatus.Stopped)
        {
            throw BerthException.FailedPrecondition($"container \"{id}\" is not running");
        }
        return LoadCgroup(record).GetPids();
    }

    public CgroupStats Stats(string id) => LoadCgroup(states.Load(id)).GetStats();

    /// <summary>create + start, then (unless detached) wait for the program and delete: the exit code is the program's.</summary>
    public int Run(CreateOptions options, bool detach)
    {
        var record = Create(options);
        try
        {
            Release(record);
            PhaseTimer.Mark("run: started");
        }
        catch
        {
            Delete(options.Id, force: true);
            throw;
        }
        if (detach)
        {
            return 0;
        }
        int status;
        using (ForwardSignals(record.Pid))
        {
            status = Sys.WaitPid(record.Pid, noHang: false, out _);
        }
        PhaseTimer.Mark("run: exited");
        Delete(options.Id, force: true);
        PhaseTimer.Mark("run: deleted");
        return status < 0 ? 255 : Sys.ExitCodeOf(status);
    }

    private static IDisposable ForwardSignals(int pid)
    {
        var registrations = new List<System.Runtime.InteropServices.PosixSignalRegistration>();
        foreach (var (signal, number) in new[]
        {
            (System.Runtime.InteropServices.PosixSignal.SIGINT, Signals.SIGINT),
            (System.Runtime.InteropServices.PosixSignal.SIGTERM, Signals.SIGTERM),
            (System.Runtime.InteropServices.PosixSignal.SIGHUP, Signals.SIGHUP),
            (System.Runtime.InteropServices.PosixSignal.SIGQUIT, Signals.SIGQUIT),
        })
        {
            registrations.Add(System.Runtime.InteropServices.PosixSignalRegistration.Create(signal, ctx =>
            {
                ctx.Cancel = true;
                Sys.Kill(pid, number);
            }));
        }
        return new Registrations(registrations);
    }

    private sealed class Registrations(List<System.Runtime.InteropServices.PosixSignalRegistration> list) : IDisposable
    {
        public void Dispose()
        {
            foreach (var r in list)
            {
                r.Dispose();
            }
        }
    }
}
