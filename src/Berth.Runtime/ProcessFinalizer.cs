using System.Globalization;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

/// <summary>
/// The last steps before the user's program runs, shared by a container's init and by exec: terminal, rlimits, user and
/// groups, capabilities, no_new_privs, seccomp, then execve. All on the calling thread: capabilities, credentials and
/// the seccomp filter are per-thread and survive execve from that thread.
/// </summary>
internal sealed class ProcessFinalizer(Process process, Seccomp? seccomp)
{
    private const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    private const int PrSetNoNewPrivs = 38;

    private string? _executable;
    private List<string>? _env;

    /// <summary>Connects stdio to a new pseudo-terminal whose master is sent over <paramref name="consoleSocketFd"/>.</summary>
    public void SetupTerminal(int consoleSocketFd)
    {
        var (master, slavePath) = Pty.Open();
        if (process.ConsoleSize is { } size)
        {
            Pty.SetSize(master, (ushort)size.Height, (ushort)size.Width);
        }
        UnixSocket.SendFd(consoleSocketFd, master, "/dev/ptmx");
        Sys.Close(master);
        Sys.Close(consoleSocketFd);
        Sys.SetSid();
        var slave = Sys.Open(slavePath, Sys.O_RDWR);
        Pty.MakeControllingTerminal(slave);
        Sys.Chown(slavePath, process.User.Uid, process.User.Gid);
        Sys.Dup2(slave, 0);
        Sys.Dup2(slave, 1);
        Sys.Dup2(slave, 2);
        if (slave > 2)
        {
            Sys.Close(slave);
        }
    }

    public void ApplyRlimits()
    {
        foreach (var r in process.Rlimits ?? [])
        {
            Sys.SetRlimit(SpecLoader.RlimitNumber(r.Type), r.Soft, r.Hard, r.Type);
        }
    }

    /// <summary>Finds the program in the container (PATH from the process env) so a typo fails at create, not later.</summary>
    public void ResolveExecutable()
    {
        _env = process.Env ?? [];
        var program = process.Args![0];
        // Called after DropPrivileges, so paths are relative to process.cwd and checked as the container's user.
        if (program.Contains('/', StringComparison.Ordinal))
        {
            var full = program.StartsWith('/') ? program : Path.Combine(process.Cwd, program);
            // The common case costs access(2) and one stat; only a failure is looked at more closely.
            var errno = Sys.Access(full, 1 /* X_OK */);
            if (errno is Errno.ENOENT or Errno.ENOTDIR)
            {
                throw new BerthException(ErrorCode.NotFound, $"exec: \"{program}\": stat {program}: no such file or directory");
            }
            // As runc (Go's LookPath): a directory or a file without execute permission is "permission denied".
            if (errno != 0 || Directory.Exists(full))
            {
                throw new BerthException(ErrorCode.PermissionDenied, $"exec: \"{program}\": permission denied");
            }
            _executable = full;
        }
        else
        {
            var pathVar = _env.LastOrDefault(e => e.StartsWith("PATH=", StringComparison.Ordinal))?[5..] ?? DefaultPath;
            foreach (var dir in pathVar.Split(':'))
            {
                var candidate = Path.Combine(dir.Length == 0 ? "." : dir, program);
                if (File.Exists(candidate) && IsExecutable(candidate))
                {
                    _executable = candidate;
                    break;
                }
            }
            if (_executable is null)
            {
                throw new BerthException(ErrorCode.NotFound, $"exec: \"{program}\": executable file not found in $PATH");
            }
        }
        if (!_env.Any(e => e.StartsWith("HOME=", StringComparison.Ordinal)))
        {
            _env = [.. _env, "HOME=" + HomeOf(process.User.Uid)];
        }
    }

    private static bool IsExecutable(string path) => Sys.Access(path, 1 /* X_OK */) == 0;

    private static string HomeOf(uint uid)
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/passwd"))
            {
                var f = line.Split(':');
                if (f.Length >= 6 && f[2] == uid.ToString(CultureInfo.InvariantCulture))
                {
                    return f[5];
                }
            }
        }
        catch (IOException)
        {
        }
        return "/";
    }

    /// <summary>no_new_privs, privileged seccomp, bounding set, user and groups, capability sets, working directory.</summary>
    public void DropPrivileges(bool userNamespace)
    {
        if (process.NoNewPrivileges)
        {
            Sys.CheckedPrctl("PR_SET_NO_NEW_PRIVS", PrSetNoNewPrivs, 1);
        }
        if (seccomp is not null && !process.NoNewPrivileges)
        {
            // Without no_new_privs loading a filter needs CAP_SYS_ADMIN, so it must happen before capabilities go.
            SeccompBinding.Load(seccomp);
        }
        var caps = process.Capabilities;
        var lastCap = Capability.LastCap;
        if (caps is not null)
        {
            Capability.LimitBounding(Capability.Mask(caps.Bounding, "process.capabilities.bounding", lastCap), lastCap);
            Capability.KeepCaps(true);
        }
        var user = process.User;
        if (!userNamespace || user.AdditionalGids is { Count: > 0 })
        {
            Sys.SetGroupsThread(user.AdditionalGids is { } g ? g.ToArray() : []);
        }
        Sys.SetResGid(user.Gid);
        Sys.SetResUid(user.Uid);
        if (caps is not null)
        {
            var permitted = Capability.Mask(caps.Permitted, "process.capabilities.permitted", lastCap);
            var inheritable = Capability.Mask(caps.Inheritable, "process.capabilities.inheritable", lastCap);
            Capability.Set(Capability.Mask(caps.Effective, "process.capabilities.effective", lastCap), permitted, inheritable);
            Capability.SetAmbient(Capability.Mask(caps.Ambient, "process.capabilities.ambient", lastCap), permitted, inheritable, lastCap);
            Capability.KeepCaps(false);
        }
        Sys.Chdir(process.Cwd);
    }

    /// <summary>Loads a deferred seccomp filter (with no_new_privs, as late as possible) and replaces this process.</summary>
    public void Exec()
    {
        // Before the late seccomp filter, which may deny rt_sigaction: the program must not inherit .NET's ignored SIGPIPE.
        Spawn.ResetSignalDispositionsForExec();
        if (seccomp is not null && process.NoNewPrivileges)
        {
            SeccompBinding.Load(seccomp);
        }
        Spawn.Exec(_executable!, process.Args!, _env!);
    }

    /// <summary>
    /// posix_spawns the resolved program from the calling thread, whose credentials, capabilities, no_new_privs,
    /// namespaces and root the child inherits, with default signal dispositions and an empty signal mask.
    /// </summary>
    public int SpawnFromThisThread() => Spawn.Start(_executable!, process.Args!, _env!, new SpawnOptions());

    /// <summary>
    /// <see cref="SpawnFromThisThread"/>, the program born in the cgroup2 cgroup open as <paramref name="cgroupFd"/>
    /// (<paramref name="cgroupPath"/> names it in the error if the kernel refuses).
    /// </summary>
    public int SpawnFromThisThreadInto(int cgroupFd, string cgroupPath) =>
        Spawn.TryStartInCgroup(_executable!, process.Args!, _env!, cgroupFd, resetSignals: true)
        ?? throw new BerthException(ErrorCode.FailedPrecondition,
            $"exec: the kernel refused to start {process.Args![0]} in cgroup {cgroupPath} (clone3 with CLONE_INTO_CGROUP)");

    /// <summary>Marks every descriptor from 3 + <paramref name="preserve"/> up close-on-exec.</summary>
    public static void CloseExtraFdsOnExec(int preserve)
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            if (int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var fd) && fd >= 3 + preserve)
            {
                try
                {
                    Sys.SetCloexec(fd, true);
                }
                catch (LinuxSyscallException)
                {
                    // The directory's own descriptor is gone by now.
                }
            }
        }
    }
}
