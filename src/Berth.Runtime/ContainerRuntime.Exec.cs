using System.Globalization;
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
        var seccomp = SpecOf(record).Linux?.Seccomp;
        var pidText = record.Pid.ToString(CultureInfo.InvariantCulture);
        var joins = new List<(int Fd, NamespaceFlags Flag, string What)>();
        var consoleFd = -1;
        var mntFd = -1;
        SyncPipe? sync = null;
        var pid = 0;
        try
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
            if (record.CgroupPath.Length > 0)
            {
                LoadCgroup(record).Apply(pid);
            }
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
        if (options.Detach)
        {
            return 0;
        }
        using (ForwardSignals(pid))
        {
            var status2 = Sys.WaitPid(pid, noHang: false, out _);
            return status2 < 0 ? 255 : Sys.ExitCodeOf(status2);
        }
    }

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
