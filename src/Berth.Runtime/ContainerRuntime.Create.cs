using System.Globalization;
using Berth.Cgroups;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

public sealed record CreateOptions(string Id, string Bundle, string? PidFile = null, string? ConsoleSocket = null, int PreserveFds = 0);

public sealed partial class ContainerRuntime
{
    /// <summary>
    /// Creates a container: its namespaces, cgroup, mounts and root, with the user's program resolved but not yet
    /// started (init waits on exec.fifo). Any failure undoes everything: no state dir, cgroup, mount or process remains.
    /// </summary>
    public ContainerRecord Create(CreateOptions options)
    {
        StateDirectory.ValidateId(options.Id);
        var bundle = Path.GetFullPath(options.Bundle);
        PhaseTimer.Mark("create: start");
        var spec = SpecLoader.Load(bundle);
        PhaseTimer.Mark("create: spec loaded");
        var plan = NamespacePlan.From(spec);
        if (spec.Linux!.Seccomp is { } seccomp)
        {
            // Compile once here too, so a bad profile is reported before anything is created.
            Berth.Linux.Seccomp.SeccompCompiler.Compile(SeccompBinding.ToProfile(seccomp));
        }
        if (spec.Process!.Terminal && string.IsNullOrEmpty(options.ConsoleSocket))
        {
            throw BerthException.InvalidArgument("process.terminal is true: pass --console-socket to receive the terminal, or set terminal to false");
        }
        states.Reserve(options.Id);
        ICgroupManager? cgroup = null;
        var pid = 0;
        var consoleFd = -1;
        SyncPipe? sync = null;
        try
        {
            var fifo = states.FifoOf(options.Id);
            Sys.Mkfifo(fifo, 0x180);
            Sys.Chmod(fifo, 0x192); // 0622: the container's user, whoever it is, can open it for writing
            cgroup = CgroupManager.For(Layout, spec.Linux!.CgroupsPath, options.Id);
            cgroup.Create(DeviceRules.ContainerResources(spec.Linux));
            PhaseTimer.Mark("create: cgroup created");
            if (plan.User)
            {
                WarmUpCgroupMigration();
            }
            if (!string.IsNullOrEmpty(options.ConsoleSocket))
            {
                consoleFd = UnixSocket.Connect(options.ConsoleSocket, inheritable: true);
            }
            var (childRead, parentWrite) = Sys.Pipe(cloexec: false);
            var (parentRead, childWrite) = Sys.Pipe(cloexec: false);
            Sys.SetCloexec(parentWrite, true);
            Sys.SetCloexec(parentRead, true);
            sync = new SyncPipe(parentRead, parentWrite);
            // In a user namespace init is not the host's root: it reaches the fifo (in the private state dir) through
            // a descriptor opened here.
            var fifoFd = plan.User ? Sys.OpenInheritable(fifo, Sys.O_PATH) : -1;
            string[] argv =
            [
                "berth-runtime", "init", options.Id, bundle, fifoFd >= 0 ? "/proc/self/fd/" + fifoFd.ToString(CultureInfo.InvariantCulture) : fifo,
                childRead.ToString(CultureInfo.InvariantCulture), childWrite.ToString(CultureInfo.InvariantCulture),
                consoleFd.ToString(CultureInfo.InvariantCulture), options.PreserveFds.ToString(CultureInfo.InvariantCulture),
            ];
            var bornInCgroup = false;
            var bornInUnified = false;
            try
            {
                if (plan.User)
                {
                    pid = UserNamespaceSpawner.Spawn(selfExecutable, [.. plan.Join.Select(j => (j.Path, j.Type))], plan.Unshare,
                        plan.Own.Contains("user") ? (spec.Linux!.UidMappings!, spec.Linux.GidMappings!) : null, spec.Linux!.TimeOffsets, argv);
                }
                else
                {
                    (pid, bornInCgroup, bornInUnified) = SpawnInNamespaces(plan, spec, argv, cgroup);
                }
            }
            finally
            {
                if (fifoFd >= 0)
                {
                    Sys.Close(fifoFd);
                }
                Sys.Close(childRead);
                Sys.Close(childWrite);
                if (consoleFd >= 0)
                {
                    Sys.Close(consoleFd);
                }
            }
            PhaseTimer.Mark("create: init spawned");
            // Born in the v1 hierarchies when the spawning thread joined them, in the cgroup2 one when clone3 put it there.
            cgroup.Apply(pid, threadJoined: bornInCgroup, bornInUnified: bornInUnified);
            PhaseTimer.Mark("create: init in cgroup");
            if (spec.Process.OomScoreAdj is { } adj)
            {
                Sys.WriteFile("/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/oom_score_adj", adj.ToString(CultureInfo.InvariantCulture));
            }
            var record = new ContainerRecord
            {
                Id = options.Id,
                Pid = pid,
                Bundle = bundle,
                Rootfs = SpecLoader.RootfsPath(spec, bundle),
                Created = DateTimeOffset.UtcNow,
                Owner = "",
                CgroupPath = cgroup.SavedPath,
                Annotations = spec.Annotations,
                Namespaces = [.. plan.All],
                Poststart = spec.Hooks?.Poststart,
                Poststop = spec.Hooks?.Poststop,
            };
            try
            {
                sync.Send("go");
            }
            catch (LinuxSyscallException e) when (e.Errno == Berth.Linux.Errno.EPIPE)
            {
                // The init already failed (it reads the spec before "go"); its error line is waiting in the pipe.
            }
            WaitForInit(sync, spec, record);
            PhaseTimer.Mark("create: init ready");
            record.PidStartTime = ProcStat.Read(pid)?.StartTime ?? 0;
            states.Save(record);
            WritePidFile(options.PidFile, pid);
            return record;
        }
        catch
        {
            if (pid > 0)
            {
                Sys.Kill(pid, Signals.SIGKILL);
                Sys.WaitPid(pid, noHang: false, out _);
            }
            try
            {
                cgroup?.Destroy(killProcesses: true);
            }
            catch (BerthException)
            {
                // The original error matters more than a cleanup that could not finish.
            }
            states.Remove(options.Id);
            throw;
        }
        finally
        {
            sync?.Close();
        }
    }

    private static void WaitForInit(SyncPipe sync, Spec spec, ContainerRecord record)
    {
        while (true)
        {
            var message = sync.Receive();
            switch (message)
            {
                case "ready":
                    return;
                case "hooks":
                    var state = StateJson(ToState(record, ContainerStatus.Creating));
                    HookRunner.Run(spec.Hooks?.Prestart, "prestart", state);
                    HookRunner.Run(spec.Hooks?.CreateRuntime, "createRuntime", state);
                    sync.Send("go");
                    break;
                case null:
                    var status = Sys.WaitPid(record.Pid, noHang: false, out _);
                    throw new BerthException(ErrorCode.Internal,
                        $"container init exited before it was ready (exit status {(status < 0 ? "unknown" : Sys.ExitCodeOf(status))})");
                default:
                    if (message.StartsWith("error ", StringComparison.Ordinal))
                    {
                        var code = message.StartsWith("error NotFound ", StringComparison.Ordinal) ? ErrorCode.NotFound : ErrorCode.FailedPrecondition;
                        var text = message[6..];
                        var space = text.IndexOf(' ', StringComparison.Ordinal);
                        throw new BerthException(code, space > 0 ? text[(space + 1)..] : text);
                    }
                    throw new BerthException(ErrorCode.Internal, "unexpected message from container init: " + message);
            }
        }
    }

    /// <summary>
    /// On a dedicated thread: move the thread itself into the container's cgroup where the kernel allows it (cgroup v1:
    /// a thread moving itself skips the global migration lock and its RCU grace period, 10-50 ms cold, which a move
    /// of the init afterwards waits for), join and unshare namespaces, protect the runtime binary, and spawn the init,
    /// which is then born in the cgroup's v1 hierarchies. Where there is a cgroup2 hierarchy (all of a v2 host, the
    /// controller-less tree of a hybrid one) the init is born in that cgroup too, by clone3's CLONE_INTO_CGROUP
    /// (<see cref="Spawn.TryStartInCgroup"/>). Only that thread (and the init it spawns) ever sees the new namespaces;
    /// the thread leaves the cgroup and ends right after. Where the clone cannot place it, the init is moved there
    /// afterwards, behind a warm-up move started before the spawn so the grace period runs alongside it. Returns the
    /// init's pid and where it was born.
    /// </summary>
    private (int Pid, bool BornInCgroup, bool BornInUnified) SpawnInNamespaces(NamespacePlan plan, Spec spec, string[] argv, ICgroupManager cgroup)
    {
        var bornInCgroup = cgroup.CanJoinCurrentThread();
        var bornInUnified = false;
        var unifiedFd = cgroup.UnifiedDirectory is { } unified && Spawn.CanStartInCgroup ? Sys.Open(unified, Sys.O_PATH | Sys.O_DIRECTORY) : -1;
        try
        {
            var pid = OnDedicatedThread(() =>
            {
                try
                {
                    if (bornInCgroup)
                    {
                        cgroup.JoinCurrentThread();
                    }
                    // After the join (the warm-up holds the cgroup mutex through its grace period, which the join would
                    // wait for) and before the namespaces (a thread cannot be made once the pid namespace is unshared).
                    if ((!bornInCgroup && Layout.V1.Count > 0) || (unifiedFd < 0 && Layout.Unified is not null))
                    {
                        WarmUpCgroupMigration();
                    }
                    plan.Enter(spec.Linux!.TimeOffsets);
                    // Slave first, whatever rootfsPropagation says (init applies that after pivot_root): nothing done
                    // in this namespace, the binary protection below included, may propagate back to the host.
                    Sys.Mount(null, "/", null, MountFlags.Slave | MountFlags.Rec, null);
                    ProtectSelf();
                    if (unifiedFd >= 0 && Spawn.TryStartInCgroup(selfExecutable, argv, PhaseTimer.ChildEnvironment, unifiedFd, resetSignals: false) is { } born)
                    {
                        bornInUnified = true;
                        return born;
                    }
                    return Spawn.Start(selfExecutable, argv, PhaseTimer.ChildEnvironment);
                }
                finally
                {
                    if (bornInCgroup)
                    {
                        Layout.ReturnCurrentThread();
                    }
                }
            });
            return (pid, bornInCgroup, bornInUnified);
        }
        finally
        {
            if (unifiedFd >= 0)
            {
                Sys.Close(unifiedFd);
            }
        }
    }

    /// <summary>
    /// Moving a process into a v1 cgroup waits for an RCU grace period (10-30 ms here) unless another move happened
    /// within about one grace period. A no-op move started on the side right before a spawn overlaps that wait with
    /// the spawn, and the new process's own move then joins the grace period already under way.
    /// </summary>
    private Thread WarmUpCgroupMigration()
    {
        var layout = Layout;
        var thread = new Thread(() => layout.WarmUpMigration(), 64 * 1024) { IsBackground = true };
        thread.Start();
        return thread;
    }

    /// <summary>
    /// Runs <paramref name="body"/> on a new thread and waits for it. Namespace changes (unshare, setns) stay on that
    /// thread, which ends with the body, so the rest of the process never sees them.
    /// </summary>
    private static int OnDedicatedThread(Func<int> body)
    {
        var result = 0;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = body();
            }
            catch (Exception e)
            {
                error = e;
            }
        }, 256 * 1024);
        thread.Start();
        thread.Join();
        return error is null ? result : throw error;
    }

    /// <summary>
    /// Bind-mounts the runtime binary read-only onto itself in the new mount namespace before spawning from it, so that
    /// a container process that opens /proc/PID/exe of the init (or of an exec helper) gets EROFS when it tries to
    /// write the binary (CVE-2019-5736).
    /// </summary>
    private void ProtectSelf()
    {
        Sys.Mount(selfExecutable, selfExecutable, null, MountFlags.Bind, null);
        var existing = FileSystem.MountFlagsOf(selfExecutable);
        Sys.Mount(null, selfExecutable, null, MountFlags.Bind | MountFlags.Remount | MountFlags.ReadOnly | existing, null);
    }
}
