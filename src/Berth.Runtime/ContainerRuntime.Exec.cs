using System.Globalization;
using Berth.Cgroups;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

public sealed record ExecOptions(string Id, Process Process, bool Detach = false, string? PidFile = null, string? ConsoleSocket = null, int PreserveFds = 0);

public sealed partial class ContainerRuntime
{
    /// <summary>The process an exec starts by default: the container's own, so env, user and capabilities carry over.</summary>
    public Process BaseProcess(string id) => SpecOf(states.Load(id)).Process!;

    private Spec? _spec;
    private string? _specBundle;

    /// <summary>A container's config.json, read once per invocation (exec needs its process and its seccomp profile).</summary>
    private Spec SpecOf(ContainerRecord record)
    {
        if (_spec is null || _specBundle != record.Bundle)
        {
            _spec = SpecLoader.Read(record.Bundle);
            _specBundle = record.Bundle;
        }
        return _spec;
    }

    /// <summary>
    /// Runs another process in a running container: a helper is spawned from a thread that has joined the container's
    /// namespaces (but a private copy of the host's mount namespace, where the runtime binary is read-only); the helper
    /// joins the container's cgroup and mount namespace, drops privileges like init, and execs.
    /// </summary>
    public int Exec(ExecOptions options)
    {
        PhaseTimer.Mark("exec: start");
        var record = states.Load(options.Id);
        var status = StatusOf(record);
        if (status is not (ContainerStatus.Running or ContainerStatus.Created))
        {
            throw BerthException.FailedPrecondition($"cannot exec in container \"{options.Id}\": it is {status.ToOci()}");
        }
        if (options.Process.Args is not { Count: > 0 })
        {
            throw BerthException.InvalidArgument("exec: no command given; pass the program and its arguments after the container id");
        }
        if (options.Process.Terminal && string.IsNullOrEmpty(options.ConsoleSocket))
        {
            throw BerthException.InvalidArgument("exec --tty needs --console-socket to hand the terminal to");
        }
        var cgroup = record.CgroupPath.Length > 0 ? LoadCgroup(record) : null;
        var seccomp = SpecOf(record).Linux?.Seccomp;
        var pidText = record.Pid.ToString(CultureInfo.InvariantCulture);
        var direct = CanExecDirectly(record, options, seccomp, cgroup);
        // The program of the direct path is born in the container's cgroup2 cgroup where it runs as root (the kernel
        // checks the spawning thread's credentials, already the program's). Otherwise some process will be moved into a
        // cgroup2 hierarchy (the runtime around the direct spawn, or the helper): the grace period of the kernel's
        // migration lock then starts now.
        var bornInUnified = direct && cgroup?.UnifiedDirectory is not null && options.Process.User.Uid == 0 && Spawn.CanStartInCgroup;
        var warmUp = cgroup is not null && Layout.Unified is not null && !bornInUnified ? WarmUpCgroupMigration() : null;
        if (direct)
        {
            var program = ExecDirectly(record, options, pidText, cgroup, warmUp, bornInUnified);
            PhaseTimer.Mark("exec: program spawned");
            WritePidFile(options.PidFile, program);
            return options.Detach ? 0 : WaitForExec(program);
        }
        var joins = new List<(int Fd, NamespaceFlags Flag, string What)>();
        var consoleFd = -1;
        var mntFd = -1;
        SyncPipe? sync = null;
        var pid = 0;
        try
        {
            OpenNamespacesToJoin(record, pidText, joins);
            mntFd = Sys.OpenInheritable("/proc/" + pidText + "/ns/mnt", Sys.O_RDONLY);
            if (!string.IsNullOrEmpty(options.ConsoleSocket))
            {
                consoleFd = UnixSocket.Connect(options.ConsoleSocket, inheritable: true);
            }
            var (childRead, parentWrite) = Sys.Pipe(cloexec: false);
            var (parentRead, childWrite) = Sys.Pipe(cloexec: false);
            Sys.SetCloexec(parentWrite, true);
            Sys.SetCloexec(parentRead, true);
            sync = new SyncPipe(parentRead, parentWrite);
            string[] argv =
            [
                "berth-runtime", "exec-init",
                childRead.ToString(CultureInfo.InvariantCulture), childWrite.ToString(CultureInfo.InvariantCulture),
                consoleFd.ToString(CultureInfo.InvariantCulture), options.PreserveFds.ToString(CultureInfo.InvariantCulture),
                mntFd.ToString(CultureInfo.InvariantCulture),
            ];
            try
            {
                pid = record.Namespaces.Contains("user") ? SpawnJoinedUserNamespace(pidText, joins, argv) : SpawnJoined(joins, argv);
            }
            finally
            {
                Sys.Close(childRead);
                Sys.Close(childWrite);
            }
            PhaseTimer.Mark("exec: helper spawned");
            cgroup?.Apply(pid);
            PhaseTimer.Mark("exec: helper in cgroup");
            Sys.WriteAll(parentWrite, SpecWriter.ExecPayload(options.Process, seccomp), "exec helper");
            sync.CloseWrite();
            var message = sync.Receive();
            PhaseTimer.Mark("exec: helper exec'd");
            if (message is not null)
            {
                Sys.WaitPid(pid, noHang: false, out _);
                pid = 0;
                var text = message.StartsWith("error ", StringComparison.Ordinal) ? message[6..] : message;
                var space = text.IndexOf(' ', StringComparison.Ordinal);
                var code = text.StartsWith("NotFound ", StringComparison.Ordinal) ? ErrorCode.NotFound : ErrorCode.FailedPrecondition;
                throw new BerthException(code, space > 0 ? text[(space + 1)..] : text);
            }
            WritePidFile(options.PidFile, pid);
        }
        catch
        {
            if (pid > 0)
            {
                Sys.Kill(pid, Signals.SIGKILL);
                Sys.WaitPid(pid, noHang: false, out _);
            }
            throw;
        }
        finally
        {
            foreach (var (fd, _, _) in joins)
            {
                Sys.Close(fd);
            }
            if (mntFd >= 0)
            {
                Sys.Close(mntFd);
            }
            if (consoleFd >= 0)
            {
                Sys.Close(consoleFd);
            }
            if (sync is not null)
            {
                Sys.Close(sync.ReadFd);
            }
        }
        return options.Detach ? 0 : WaitForExec(pid);
    }

    private static int WaitForExec(int pid)
    {
        using (ForwardSignals(pid))
        {
            var status = Sys.WaitPid(pid, noHang: false, out _);
            return status < 0 ? 255 : Sys.ExitCodeOf(status);
        }
    }

    /// <summary>The container's namespaces this process is not already in, except mount and user, opened for setns.</summary>
    private static void OpenNamespacesToJoin(ContainerRecord record, string pidText, List<(int Fd, NamespaceFlags Flag, string What)> joins)
    {
        foreach (var type in record.Namespaces)
        {
            if (type is "mount" or "user")
            {
                continue;
            }
            var (flag, procName) = NamespaceKinds.FromOci(type)!.Value;
            var path = "/proc/" + pidText + "/ns/" + procName;
            if (SameInode(path, "/proc/self/ns/" + procName))
            {
                continue;
            }
            joins.Add((Sys.Open(path, Sys.O_RDONLY), flag, type));
        }
    }

    /// <summary>
    /// Resource limits are per process, not per thread: the direct path sets them on the whole runtime for the spawn
    /// (and restores them where the kernel lets it), which is harmless only for these, and for RLIMIT_NOFILE only when
    /// it leaves room for the runtime's own few descriptors. Any other (CPU time, address space, data, stack, RSS, file
    /// size) sends exec through the helper.
    /// </summary>
    private static readonly string[] RlimitsSafeForTheRuntime =
    [
        "RLIMIT_CORE", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
    ];

    /// <summary>
    /// Whether exec can spawn the program straight from a thread of this process (<see cref="ExecDirectly"/>): not with
    /// a user namespace (no .NET thread can enter one), a terminal (the pty's session set-up happens in the helper), a
    /// seccomp filter (it would apply to this thread's own remaining syscalls, spawn and exit included, not only to the
    /// program's), an rlimit that is not harmless to this process for a moment, or a cgroup that cannot take a single
    /// thread (cgroup v2).
    /// </summary>
    private static bool CanExecDirectly(ContainerRecord record, ExecOptions options, Seccomp? seccomp, ICgroupManager? cgroup) =>
        !record.Namespaces.Contains("user") && !options.Process.Terminal && seccomp is null
        && (options.Process.Rlimits ?? []).TrueForAll(r => Array.IndexOf(RlimitsSafeForTheRuntime, r.Type) >= 0 && (r.Type != "RLIMIT_NOFILE" || r.Soft >= 64))
        && (cgroup is null || cgroup.CanJoinCurrentThread());

    /// <summary>
    /// exec without a second process image: a dedicated thread moves itself into the container's cgroup (v1 moves a
    /// single thread, and a thread moving itself skips the global migration lock's RCU wait), joins the container's
    /// namespaces and, after unshare(CLONE_FS), its mount namespace and root, drops privileges exactly as the helper
    /// would (credentials, capabilities and no_new_privs are per thread), resolves the program as the container's user
    /// and spawns it; the child inherits all of that. The cgroup2 hierarchy of a hybrid host cannot take a thread alone,
    /// and the program runs at once (it could fork before a move after the spawn): with <paramref name="bornInUnified"/>
    /// the program is born in the container's cgroup there (clone3 CLONE_INTO_CGROUP); otherwise, for the spawn, the
    /// whole runtime sits in that cgroup (after <paramref name="warmUp"/>, whose grace period that move then skips) and
    /// goes back right after. The thread leaves the container's v1 cgroups before it ends. Returns the program's pid.
    /// </summary>
    private int ExecDirectly(ContainerRecord record, ExecOptions options, string pidText, ICgroupManager? cgroup, Thread? warmUp, bool bornInUnified)
    {
        var process = options.Process;
        var joins = new List<(int Fd, NamespaceFlags Flag, string What)>();
        var mntFd = -1;
        var unifiedFd = -1;
        var saved = new List<(int Resource, ulong Soft, ulong Hard)>();
        ThreadReturn? back = null;
        var processMoved = false;
        try
        {
            OpenNamespacesToJoin(record, pidText, joins);
            mntFd = Sys.Open("/proc/" + pidText + "/ns/mnt", Sys.O_RDONLY);
            // Opened here, as root on the host: the thread writes them after it has left both behind.
            back = cgroup is null ? null : Layout.PrepareThreadReturn();
            unifiedFd = bornInUnified ? Sys.Open(cgroup!.UnifiedDirectory!, Sys.O_PATH | Sys.O_DIRECTORY) : -1;
            // Process-wide, and before the thread's root becomes the container's (where /proc/self is not this process).
            ProcessFinalizer.CloseExtraFdsOnExec(options.PreserveFds);
            return OnDedicatedThread(() =>
            {
                try
                {
                    if (cgroup is not null)
                    {
                        cgroup.JoinCurrentThread();
                        if (unifiedFd < 0)
                        {
                            // The warm-up moves this process within its own cgroup2 cgroup: it must be done before the move below.
                            warmUp?.Join();
                            processMoved = true;
                            cgroup.Apply(Environment.ProcessId, threadJoined: true);
                        }
                    }
                    foreach (var (fd, flag, what) in joins)
                    {
                        Sys.SetNs(fd, flag, what);
                    }
                    Sys.Unshare(NamespaceFlags.Fs);
                    Sys.SetNs(mntFd, NamespaceFlags.Mount, "mount namespace of the container");
                    foreach (var r in process.Rlimits ?? [])
                    {
                        var resource = SpecLoader.RlimitNumber(r.Type);
                        var (soft, hard) = Sys.GetRlimit(resource);
                        saved.Add((resource, soft, hard));
                    }
                    var finalizer = new ProcessFinalizer(process, null);
                    finalizer.ApplyRlimits();
                    finalizer.DropPrivileges(userNamespace: false);
                    finalizer.ResolveExecutable();
                    // Until it execs, the child shares this process's memory and /proc/PID/exe is the runtime binary on the
                    // host: a process that cannot be dumped keeps container processes without CAP_SYS_PTRACE from opening it.
                    Sys.Prctl(PrSetDumpable, 0);
                    return unifiedFd < 0 ? finalizer.SpawnFromThisThread() : finalizer.SpawnFromThisThreadInto(unifiedFd, cgroup!.Path);
                }
                finally
                {
                    back?.Return();
                }
            });
        }
        finally
        {
            if (processMoved)
            {
                Layout.ReturnProcessToOwnUnified();
            }
            for (var i = saved.Count - 1; i >= 0; i--)
            {
                try
                {
                    Sys.SetRlimit(saved[i].Resource, saved[i].Soft, saved[i].Hard, "restoring the runtime's own limit");
                }
                catch (LinuxSyscallException)
                {
                    // Raising a hard limit back needs CAP_SYS_RESOURCE, which a host may withhold even from root (this
                    // machine kind does). From here on the runtime only writes a pid file and waits for the program,
                    // which these limits (the program's own) allow.
                }
            }
            foreach (var (fd, _, _) in joins)
            {
                Sys.Close(fd);
            }
            if (mntFd >= 0)
            {
                Sys.Close(mntFd);
            }
            if (unifiedFd >= 0)
            {
                Sys.Close(unifiedFd);
            }
            back?.Dispose();
        }
    }

    private const int PrSetDumpable = 4;

    private static bool SameInode(string a, string b)
    {
        try
        {
            return FileSystem.ReadLink(a) == FileSystem.ReadLink(b);
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>
    /// The same through berth-userns: it joins the container's user namespace first, then the others, and makes its own
    /// mount namespace (owned by the container's user namespace) where the runtime binary is read-only.
    /// </summary>
    private int SpawnJoinedUserNamespace(string pidText, List<(int Fd, NamespaceFlags Flag, string What)> joins, string[] argv)
    {
        var ns = "/proc/" + pidText + "/ns/";
        List<(string Path, string Type)> paths = [(ns + "user", "user"), .. joins.Select(j => (ns + NamespaceKinds.FromOci(j.What)!.Value.ProcName, j.What))];
        return UserNamespaceSpawner.Spawn(selfExecutable, paths, NamespaceFlags.Mount, null, null, argv);
    }

    private int SpawnJoined(List<(int Fd, NamespaceFlags Flag, string What)> joins, string[] argv) => OnDedicatedThread(() =>
    {
        foreach (var (fd, flag, what) in joins)
        {
            Sys.SetNs(fd, flag, what);
        }
        Sys.Unshare(NamespaceFlags.Mount);
        Sys.Mount(null, "/", null, MountFlags.Slave | MountFlags.Rec, null);
        ProtectSelf();
        return Spawn.Start(selfExecutable, argv, PhaseTimer.ChildEnvironment);
    });
}

/// <summary>The exec helper (`berth-runtime exec-init ...`): joins the container's mount namespace and becomes the process.</summary>
public static class ExecInit
{
    /// <summary>Anything but the initial user namespace's identity map means berth-userns put this process in one.</summary>
    private static bool InUserNamespace() =>
        string.Join(' ', File.ReadAllText("/proc/self/uid_map").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)) != "0 0 4294967295";

    public static int Run(string[] args)
    {
        var syncIn = int.Parse(args[1], CultureInfo.InvariantCulture);
        var syncOut = int.Parse(args[2], CultureInfo.InvariantCulture);
        var consoleFd = int.Parse(args[3], CultureInfo.InvariantCulture);
        var preserve = int.Parse(args[4], CultureInfo.InvariantCulture);
        var mntFd = int.Parse(args[5], CultureInfo.InvariantCulture);
        Sys.SetCloexec(syncIn, true);
        Sys.SetCloexec(syncOut, true);
        Sys.SetCloexec(mntFd, true);
        if (consoleFd >= 0)
        {
            Sys.SetCloexec(consoleFd, true);
        }
        var sync = new SyncPipe(syncIn, syncOut);
        try
        {
            PhaseTimer.Mark("exec-init: start");
            var payload = SpecReader.Read(sync.ReadToEnd());
            PhaseTimer.Mark("exec-init: process read");
            Sys.Unshare(NamespaceFlags.Fs);
            Sys.SetNs(mntFd, NamespaceFlags.Mount, "mount namespace of the container");
            Sys.Close(mntFd);
            var finalizer = new ProcessFinalizer(payload.Process!, payload.Linux?.Seccomp);
            if (payload.Process!.Terminal)
            {
                finalizer.SetupTerminal(consoleFd);
            }
            finalizer.ApplyRlimits();
            ProcessFinalizer.CloseExtraFdsOnExec(preserve);
            finalizer.DropPrivileges(userNamespace: InUserNamespace());
            finalizer.ResolveExecutable();
            finalizer.Exec();
            return 127;
        }
        catch (Exception e)
        {
            var code = e is BerthException b ? b.Code.ToString() : "Internal";
            try
            {
                sync.Send("error " + code + " " + e.Message);
            }
            catch (LinuxSyscallException)
            {
            }
            return e is BerthException { Code: ErrorCode.NotFound } ? 127 : 126;
        }
    }
}
