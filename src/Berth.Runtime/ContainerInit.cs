using System.Globalization;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

/// <summary>
/// The container's first process (`berth-runtime init ...`), started by create inside the new namespaces. It sets up
/// the root filesystem and the process, reports "ready", waits for start on exec.fifo, then execs the user's program
/// (so that program becomes PID 1). Everything runs on the main thread, synchronously.
/// </summary>
public static class ContainerInit
{
    public static int Run(string[] args)
    {
        // args: init ID BUNDLE FIFO SYNC_IN SYNC_OUT CONSOLE_FD PRESERVE_FDS
        var id = args[1];
        var bundle = args[2];
        var fifoPath = args[3];
        var syncIn = int.Parse(args[4], CultureInfo.InvariantCulture);
        var syncOut = int.Parse(args[5], CultureInfo.InvariantCulture);
        var consoleFd = int.Parse(args[6], CultureInfo.InvariantCulture);
        var preserve = int.Parse(args[7], CultureInfo.InvariantCulture);
        Sys.SetCloexec(syncIn, true);
        Sys.SetCloexec(syncOut, true);
        if (consoleFd >= 0)
        {
            Sys.SetCloexec(consoleFd, true);
        }
        var sync = new SyncPipe(syncIn, syncOut);
        ProcessFinalizer finalizer;
        Spec spec;
        int fifoFd;
        try
        {
            PhaseTimer.Mark("init: start");
            // What does not depend on the cgroup happens while the runtime moves this process into it.
            spec = SpecLoader.Parse(ReadConfig(bundle), Path.Combine(bundle, "config.json"));
            var plan = NamespacePlan.From(spec);
            if (plan.Own.Contains("network"))
            {
                NetworkInterface.Up("lo");
            }
            if (plan.Own.Contains("uts"))
            {
                if (!string.IsNullOrEmpty(spec.Hostname))
                {
                    Sys.SetHostname(spec.Hostname);
                }
                if (!string.IsNullOrEmpty(spec.Domainname))
                {
                    Sys.SetDomainname(spec.Domainname);
                }
            }
            PhaseTimer.Mark("init: spec loaded");
            if (sync.Receive() != "go")
            {
                return 1;
            }
            PhaseTimer.Mark("init: go");
            if (plan.Own.Contains("cgroup"))
            {
                // Now that it sits in its cgroup, so the namespace is rooted there.
                Sys.Unshare(NamespaceFlags.Cgroup);
            }
            fifoFd = Sys.Open(fifoPath, Sys.O_PATH);
            var rootfs = SpecLoader.RootfsPath(spec, bundle);
            // A joined user namespace forbids mknod just like a new one: devices are bind-mounted in both cases.
            var setup = new RootfsSetup(spec, rootfs, plan.User ? new HashSet<string>(plan.Own) { "user" } : plan.Own);
            setup.BeforePivot();
            PhaseTimer.Mark("init: mounts done");
            if (spec.Hooks?.Prestart is { Count: > 0 } || spec.Hooks?.CreateRuntime is { Count: > 0 })
            {
                sync.Send("hooks");
                if (sync.Receive() != "go")
                {
                    return 1;
                }
            }
            if (spec.Hooks?.CreateContainer is { Count: > 0 } createContainer)
            {
                HookRunner.Run(createContainer, "createContainer", InitStateJson(id, bundle, rootfs, spec));
            }
            setup.Pivot();
            // Sysctls go in before /proc/sys becomes read-only.
            foreach (var (key, value) in spec.Linux!.Sysctl ?? [])
            {
                Sys.WriteFile("/proc/sys/" + key.Replace('.', '/'), value);
            }
            setup.AfterPivot();
            finalizer = new ProcessFinalizer(spec.Process!, spec.Linux.Seccomp);
            if (spec.Process!.Terminal)
            {
                finalizer.SetupTerminal(consoleFd);
            }
            finalizer.ApplyRlimits();
            ProcessFinalizer.CloseExtraFdsOnExec(preserve);
            finalizer.DropPrivileges(userNamespace: plan.User);
            // As the container's user, so a program it may not run fails here, at create.
            finalizer.ResolveExecutable();
            PhaseTimer.Mark("init: ready");
            sync.Send("ready");
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
                // The runtime is gone; nobody is left to tell.
            }
            return 1;
        }
        sync.Close();
        try
        {
            // Blocks until `start` opens the fifo for reading.
            var fifo = Sys.Open("/proc/self/fd/" + fifoFd.ToString(CultureInfo.InvariantCulture), Sys.O_WRONLY);
            Sys.WriteAll(fifo, "0"u8, "exec.fifo");
            Sys.Close(fifo);
            Sys.Close(fifoFd);
            if (spec.Hooks?.StartContainer is { Count: > 0 } startContainer)
            {
                HookRunner.Run(startContainer, "startContainer", InitStateJson(id, bundle, "/", spec));
            }
            finalizer.Exec();
            return 127;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine("berth-runtime init: " + e.Message);
            return e is BerthException { Code: ErrorCode.NotFound } ? 127 : 126;
        }
    }

    private static byte[] ReadConfig(string bundle)
    {
        var path = Path.Combine(bundle, "config.json");
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException)
        {
            // Only in a user namespace: init then runs as the mapped root, not as the host's.
            throw BerthException.FailedPrecondition($"{path} is not readable by the container's init, which runs as the host uid that container uid 0 maps to: make the bundle directory and its config.json readable (and the directories searchable) by that uid");
        }
    }

    private static string InitStateJson(string id, string bundle, string rootfs, Spec spec) =>
        ContainerRuntime.StateJson(new State
        {
            Id = id,
            Status = "creating",
            Pid = Environment.ProcessId,
            Bundle = bundle,
            Rootfs = rootfs,
            Annotations = spec.Annotations,
        });
}
