using System.Text.Json;
using System.Text.Json.Serialization;
using Berth.Core;
using Berth.Engine.Api;
using Berth.Oci.Runtime;
using Platform = Berth.Oci.Image.Platform;
using SeccompNames = Berth.Linux.Seccomp.SeccompNames;

namespace Berth.Engine.Containers;

/// <summary>
/// Docker's seccomp profiles: the default ("builtin") profile as data, taken from moby's profiles/seccomp
/// (default.json of Docker 28: an allowlist with ERRNO(EPERM) as the default action, plus rules that depend on
/// the container's capabilities, the architecture and the kernel), and Docker's profile format for
/// <c>--security-opt seccomp=profile.json</c>. Both are resolved against a container's bounding capabilities
/// into the OCI <see cref="Seccomp"/> the runtime compiles, as dockerd does before handing the spec to runc.
/// </summary>
public static class DefaultSeccompProfile
{
    /// <summary>The name <c>docker info</c> reports and <c>seccomp=builtin</c> selects.</summary>
    public const string BuiltinName = "builtin";

    private const string Allow = "SCMP_ACT_ALLOW";

    /// <summary>Calls every container may make (moby's first rule).</summary>
    private static readonly string[] Allowed =
    [
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir",
        "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
        "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
        "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
        "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
        "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
        "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
        "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
        "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
        "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd",
        "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
        "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
        "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
        "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
        "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
        "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
        "ioprio_set", "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
        "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr",
        "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
        "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
        "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify",
        "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink",
        "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
        "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause",
        "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
        "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease",
        "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
        "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
        "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
        "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
        "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
        "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
        "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
        "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
        "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority",
        "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32",
        "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
        "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
        "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
        "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill",
        "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
        "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
        "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask",
        "uname", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice",
        "wait4", "waitid", "waitpid", "write", "writev",
    ];

    /// <summary>The profile, in Docker's format (includes/excludes resolved per container).</summary>
    internal static readonly DockerSeccompProfile Profile = new()
    {
        DefaultAction = "SCMP_ACT_ERRNO",
        DefaultErrnoRet = 1,
        ArchMap =
        [
            new() { Architecture = "SCMP_ARCH_X86_64", SubArchitectures = ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
            new() { Architecture = "SCMP_ARCH_AARCH64", SubArchitectures = ["SCMP_ARCH_ARM"] },
            new() { Architecture = "SCMP_ARCH_MIPS64", SubArchitectures = ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"] },
            new() { Architecture = "SCMP_ARCH_MIPS64N32", SubArchitectures = ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"] },
            new() { Architecture = "SCMP_ARCH_MIPSEL64", SubArchitectures = ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"] },
            new() { Architecture = "SCMP_ARCH_MIPSEL64N32", SubArchitectures = ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"] },
            new() { Architecture = "SCMP_ARCH_S390X", SubArchitectures = ["SCMP_ARCH_S390"] },
            new() { Architecture = "SCMP_ARCH_RISCV64", SubArchitectures = null },
        ],
        Syscalls =
        [
            Rule(Allowed),
            Rule(["process_vm_readv", "process_vm_writev", "ptrace"], includes: new() { MinKernel = "4.8" }),
            Rule(["socket"], args: [Arg(0, 40, "SCMP_CMP_NE")]), // AF_VSOCK
            // personality(2): only the harmless personas (PER_LINUX, UNAME26, PER_LINUX32, their mix, and the query).
            Rule(["personality"], args: [Arg(0, 0x0, "SCMP_CMP_EQ")]),
            Rule(["personality"], args: [Arg(0, 0x8, "SCMP_CMP_EQ")]),
            Rule(["personality"], args: [Arg(0, 0x20000, "SCMP_CMP_EQ")]),
            Rule(["personality"], args: [Arg(0, 0x20008, "SCMP_CMP_EQ")]),
            Rule(["personality"], args: [Arg(0, 0xffffffff, "SCMP_CMP_EQ")]),
            Rule(["sync_file_range2", "swapcontext"], includes: new() { Arches = ["ppc64le"] }),
            Rule(["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"],
                includes: new() { Arches = ["arm", "arm64"] }),
            Rule(["arch_prctl"], includes: new() { Arches = ["amd64", "x32"] }),
            Rule(["modify_ldt"], includes: new() { Arches = ["amd64", "x32", "x86"] }),
            Rule(["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"], includes: new() { Arches = ["s390", "s390x"] }),
            Rule(["riscv_flush_icache"], includes: new() { Arches = ["riscv64"] }),
            Rule(["open_by_handle_at"], includes: Caps("CAP_DAC_READ_SEARCH")),
            Rule(
            [
                "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie", "mount",
                "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname",
                "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
            ], includes: Caps("CAP_SYS_ADMIN")),
            // Without CAP_SYS_ADMIN, clone may not make namespaces: CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET.
            Rule(["clone"], args: [Arg(0, 0x7E020000, "SCMP_CMP_MASKED_EQ")],
                excludes: new() { Caps = ["CAP_SYS_ADMIN"], Arches = ["s390", "s390x"] }),
            Rule(["clone"], args: [Arg(1, 0x7E020000, "SCMP_CMP_MASKED_EQ")],
                includes: new() { Arches = ["s390", "s390x"] }, excludes: Caps("CAP_SYS_ADMIN")),
            // clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes libc fall back to clone.
            new() { Names = ["clone3"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 38, Excludes = Caps("CAP_SYS_ADMIN") },
            Rule(["reboot"], includes: Caps("CAP_SYS_BOOT")),
            Rule(["chroot"], includes: Caps("CAP_SYS_CHROOT")),
            Rule(["delete_module", "init_module", "finit_module"], includes: Caps("CAP_SYS_MODULE")),
            Rule(["acct"], includes: Caps("CAP_SYS_PACCT")),
            Rule(["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"], includes: Caps("CAP_SYS_PTRACE")),
            Rule(["iopl", "ioperm"], includes: Caps("CAP_SYS_RAWIO")),
            Rule(["settimeofday", "stime", "clock_settime", "clock_settime64"], includes: Caps("CAP_SYS_TIME")),
            Rule(["vhangup"], includes: Caps("CAP_SYS_TTY_CONFIG")),
            Rule(["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"], includes: Caps("CAP_SYS_NICE")),
            Rule(["syslog"], includes: Caps("CAP_SYSLOG")),
            Rule(["bpf"], includes: Caps("CAP_BPF")),
            Rule(["perf_event_open"], includes: Caps("CAP_PERFMON")),
        ],
    };

    /// <summary>
    /// The seccomp section a container gets, as dockerd decides it: none for --privileged or
    /// <c>seccomp=unconfined</c>; the given profile for <c>seccomp=&lt;profile JSON&gt;</c> (what the docker CLI
    /// sends for <c>seccomp=/path/profile.json</c>; a path on the daemon's host is read too); else the default.
    /// </summary>
    public static Seccomp? ForContainer(HostConfig hostConfig, IReadOnlyCollection<string> capabilities)
    {
        ArgumentNullException.ThrowIfNull(hostConfig);
        if (hostConfig.Privileged)
        {
            return null;
        }
        var option = SeccompOption(hostConfig.SecurityOpt);
        switch (option)
        {
            case null or "" or BuiltinName:
                return Resolve(Profile, capabilities);
            case "unconfined":
                return null;
            default:
                var json = option.TrimStart();
                if (!json.StartsWith('{') && File.Exists(option))
                {
                    json = File.ReadAllText(option);
                }
                return Resolve(Parse(json), capabilities);
        }
    }

    /// <summary>The value of the last <c>seccomp=</c> (or legacy <c>seccomp:</c>) security option, if any.</summary>
    public static string? SeccompOption(IEnumerable<string>? securityOpt)
    {
        string? value = null;
        foreach (var opt in securityOpt ?? [])
        {
            if (opt.StartsWith("seccomp=", StringComparison.Ordinal) || opt.StartsWith("seccomp:", StringComparison.Ordinal))
            {
                value = opt["seccomp=".Length..];
            }
        }
        return value;
    }

    /// <summary>Reads a profile in Docker's format; a clear error for JSON that is not one.</summary>
    public static DockerSeccompProfile Parse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, SeccompProfileJsonContext.Default.DockerSeccompProfile)
                ?? throw BerthException.InvalidArgument("Decoding seccomp profile failed: the profile is null");
        }
        catch (JsonException e)
        {
            throw new BerthException(ErrorCode.InvalidArgument,
                $"Decoding seccomp profile failed: {e.Message}; pass --security-opt seccomp=<file with a Docker seccomp profile (JSON)>", e);
        }
    }

    /// <summary>
    /// Docker's setupSeccomp: the architectures of the native entry of archMap (or the profile's list), and every
    /// rule whose includes hold and whose excludes do not for <paramref name="capabilities"/> (the bounding set),
    /// this machine's architecture and kernel.
    /// </summary>
    public static Seccomp? Resolve(DockerSeccompProfile profile, IReadOnlyCollection<string> capabilities) =>
        Resolve(profile, capabilities, Platform.Host.Architecture, Environment.OSVersion.Version);

    internal static Seccomp? Resolve(DockerSeccompProfile profile, IReadOnlyCollection<string> capabilities, string goArch, Version kernel)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(capabilities);
        // No default action and no rules: Docker reads that as seccomp off.
        if (string.IsNullOrEmpty(profile.DefaultAction) && (profile.Syscalls?.Count ?? 0) == 0)
        {
            return null;
        }
        var errors = new List<string>();
        if (profile.Architectures is { Count: > 0 } && profile.ArchMap is { Count: > 0 })
        {
            errors.Add("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'");
        }
        if (string.IsNullOrEmpty(profile.DefaultAction))
        {
            errors.Add("the seccomp profile has no defaultAction");
        }
        var architectures = new List<string>(profile.Architectures ?? []);
        var native = SeccompNames.FromGoArchitecture(goArch) is { } arch ? SeccompNames.Name(arch) : null;
        foreach (var entry in profile.ArchMap ?? [])
        {
            if (entry.Architecture == native)
            {
                architectures.Add(entry.Architecture);
                architectures.AddRange(entry.SubArchitectures ?? []);
            }
        }
        var syscalls = new List<SeccompSyscall>();
        for (var i = 0; i < (profile.Syscalls?.Count ?? 0); i++)
        {
            var call = profile.Syscalls![i];
            if (call.Name is { Length: > 0 } && call.Names is { Count: > 0 })
            {
                errors.Add($"syscalls[{i}]: use either 'name' or 'names'");
                continue;
            }
            if (!Applies(call, capabilities, goArch, kernel, errors, i))
            {
                continue;
            }
            syscalls.Add(new SeccompSyscall
            {
                Names = call.Name is { Length: > 0 } name ? [name] : [.. call.Names ?? []],
                Action = call.Action,
                ErrnoRet = call.ErrnoRet,
                Args = call.Args is { Count: > 0 } args
                    ? [.. args.Select(a => new SeccompArg { Index = a.Index, Value = a.Value, ValueTwo = a.ValueTwo, Op = a.Op })]
                    : null,
            });
        }
        if (errors.Count > 0)
        {
            throw BerthException.InvalidArgument("invalid seccomp profile: " + string.Join("; ", errors));
        }
        return new Seccomp
        {
            DefaultAction = profile.DefaultAction,
            DefaultErrnoRet = profile.DefaultErrnoRet,
            Architectures = architectures.Count > 0 ? architectures : null,
            Flags = profile.Flags is { Count: > 0 } f ? [.. f] : null,
            ListenerPath = string.IsNullOrEmpty(profile.ListenerPath) ? null : profile.ListenerPath,
            ListenerMetadata = string.IsNullOrEmpty(profile.ListenerMetadata) ? null : profile.ListenerMetadata,
            Syscalls = syscalls,
        };
    }

    private static bool Applies(DockerSeccompSyscall call, IReadOnlyCollection<string> caps, string goArch, Version kernel, List<string> errors, int index)
    {
        if (call.Excludes is { } ex)
        {
            if ((ex.Arches ?? []).Contains(goArch) || (ex.Caps ?? []).Any(caps.Contains))
            {
                return false;
            }
            if (ex.MinKernel is { Length: > 0 } exMin)
            {
                if (!TryParseKernel(exMin, out var from))
                {
                    errors.Add($"syscalls[{index}]: invalid excludes.minKernel '{exMin}'; use a version such as 4.8");
                    return false;
                }
                if (new Version(kernel.Major, Math.Max(kernel.Minor, 0)) >= from)
                {
                    return false;
                }
            }
        }
        if (call.Includes is { } inc)
        {
            if (inc.Arches is { Count: > 0 } arches && !arches.Contains(goArch))
            {
                return false;
            }
            if (inc.Caps is { Count: > 0 } needed && !needed.All(caps.Contains))
            {
                return false;
            }
            if (inc.MinKernel is { Length: > 0 } min)
            {
                if (!TryParseKernel(min, out var required))
                {
                    errors.Add($"syscalls[{index}]: invalid includes.minKernel '{min}'; use a version such as 4.8");
                    return false;
                }
                if (new Version(kernel.Major, Math.Max(kernel.Minor, 0)) < required)
                {
                    return false;
                }
            }
        }
        return true;
    }

    private static bool TryParseKernel(string value, out Version version)
    {
        var parts = value.Split('.');
        version = new Version(0, 0);
        if (parts.Length is < 2 or > 2 || !int.TryParse(parts[0], out var major) || !int.TryParse(parts[1], out var minor) || major < 0 || minor < 0)
        {
            return false;
        }
        version = new Version(major, minor);
        return true;
    }

    private static DockerSeccompSyscall Rule(string[] names, DockerSeccompArg[]? args = null, DockerSeccompFilter? includes = null, DockerSeccompFilter? excludes = null) =>
        new() { Names = [.. names], Action = Allow, Args = args is null ? null : [.. args], Includes = includes, Excludes = excludes };

    private static DockerSeccompArg Arg(uint index, ulong value, string op) => new() { Index = index, Value = value, Op = op };

    private static DockerSeccompFilter Caps(string cap) => new() { Caps = [cap] };
}

/// <summary>A seccomp profile in Docker's format (moby api/types Seccomp): OCI's fields plus archMap and filters.</summary>
public sealed class DockerSeccompProfile
{
    public string DefaultAction { get; set; } = "";

    public uint? DefaultErrnoRet { get; set; }

    public List<string>? Architectures { get; set; }

    public List<DockerSeccompArchMap>? ArchMap { get; set; }

    public List<string>? Flags { get; set; }

    public string? ListenerPath { get; set; }

    public string? ListenerMetadata { get; set; }

    public List<DockerSeccompSyscall>? Syscalls { get; set; }
}

public sealed class DockerSeccompArchMap
{
    public string Architecture { get; set; } = "";

    public List<string>? SubArchitectures { get; set; }
}

public sealed class DockerSeccompSyscall
{
    /// <summary>Docker's older single-name form; a rule has either this or <see cref="Names"/>.</summary>
    public string? Name { get; set; }

    public List<string>? Names { get; set; }

    public string Action { get; set; } = "";

    public uint? ErrnoRet { get; set; }

    public List<DockerSeccompArg>? Args { get; set; }

    public string? Comment { get; set; }

    public DockerSeccompFilter? Includes { get; set; }

    public DockerSeccompFilter? Excludes { get; set; }
}

public sealed class DockerSeccompArg
{
    public uint Index { get; set; }

    public ulong Value { get; set; }

    public ulong ValueTwo { get; set; }

    public string Op { get; set; } = "";
}

/// <summary>When a rule applies: every listed capability held (includes) / any held (excludes), the architecture, the kernel.</summary>
public sealed class DockerSeccompFilter
{
    public List<string>? Caps { get; set; }

    public List<string>? Arches { get; set; }

    public string? MinKernel { get; set; }
}

[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true)]
[JsonSerializable(typeof(DockerSeccompProfile))]
internal sealed partial class SeccompProfileJsonContext : JsonSerializerContext;
