using System.Globalization;
using Berth.Core;
using Berth.Engine.Api;
using Berth.Oci.Runtime;

namespace Berth.Engine.Containers;

/// <summary>Turns a container's merged config and HostConfig into an OCI runtime spec, the way dockerd does.</summary>
public static class SpecGenerator
{
    /// <summary>Docker's default capability set.</summary>
    public static readonly string[] DefaultCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    public static readonly string[] MaskedPaths =
    [
        "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ];

    public static readonly string[] ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    public const string InitPath = "/sbin/docker-init";

    /// <summary>Checks everything that can be checked without the rootfs; throws one InvalidArgument naming every problem.</summary>
    public static void Validate(ContainerRecord c)
    {
        var errors = new List<string>();
        var h = c.HostConfig;
        try
        {
            _ = Capabilities(h);
        }
        catch (BerthException e)
        {
            errors.Add(e.Message);
        }
        if (h.Memory is > 0 and < 6 * 1024 * 1024)
        {
            errors.Add($"invalid --memory {h.Memory}: the minimum allowed memory limit is 6MB");
        }
        if (h.Memory < 0 || h.NanoCpus < 0 || h.CpuShares < 0)
        {
            errors.Add("resource limits cannot be negative");
        }
        if (h.NanoCpus > (long)Environment.ProcessorCount * 1_000_000_000L)
        {
            errors.Add($"invalid --cpus {h.NanoCpus / 1e9:0.##}: range of CPUs is from 0.01 to {Environment.ProcessorCount}.00, as there are only {Environment.ProcessorCount} CPUs available");
        }
        if (h.NanoCpus > 0 && (h.CpuQuota > 0 || h.CpuPeriod > 0))
        {
            errors.Add("conflicting options: --cpus (NanoCPUs) and --cpu-quota/--cpu-period cannot both be set");
        }
        if (h.RestartPolicy is { Name: { Length: > 0 } rp } && rp is not ("no" or "always" or "on-failure" or "unless-stopped"))
        {
            errors.Add($"invalid restart policy '{rp}': use no, always, on-failure[:N] or unless-stopped");
        }
        if (h.AutoRemove && h.RestartPolicy is { Name: "always" or "on-failure" or "unless-stopped" })
        {
            errors.Add("conflicting options: cannot combine --restart and --rm (AutoRemove)");
        }
        if (h.LogConfig is { Type: { Length: > 0 } lt } && lt is not ("json-file" or "none"))
        {
            errors.Add($"not supported: log driver '{lt}'; use json-file (the default) or none");
        }
        foreach (var m in h.PidMode is { Length: > 0 } pm && pm != "host" ? [pm] : Array.Empty<string>())
        {
            errors.Add($"not supported: --pid {m}; use the default (private) or host");
        }
        foreach (var bind in h.Binds ?? [])
        {
            try
            {
                _ = ParseBind(bind);
            }
            catch (BerthException e)
            {
                errors.Add(e.Message);
            }
        }
        foreach (var m in h.Mounts ?? [])
        {
            try
            {
                _ = ConvertMount(m);
            }
            catch (BerthException e)
            {
                errors.Add(e.Message);
            }
        }
        if (errors.Count > 0)
        {
            var unsupported = errors.All(e => e.StartsWith("not supported", StringComparison.Ordinal));
            throw new BerthException(unsupported ? ErrorCode.Unsupported : ErrorCode.InvalidArgument, string.Join("; ", errors));
        }
    }

    /// <summary>The spec for <paramref name="c"/> whose rootfs is mounted at <paramref name="rootfs"/>.</summary>
    public static Spec Generate(ContainerRecord c, string rootfs, string? initBinary, bool hostNetwork)
    {
        Validate(c);
        var cfg = c.Config;
        var h = c.HostConfig;
        var argv = new List<string> { c.Path };
        argv.AddRange(c.Args);
        var mounts = DefaultMounts(h);
        if (h.Init == true)
        {
            if (initBinary is null || !File.Exists(initBinary))
            {
                throw BerthException.FailedPrecondition($"--init needs berth-init, which is not at {initBinary ?? "(unset)"}; build it (make shim) or pass the daemon --init-path");
            }
            mounts.Add(new Mount { Destination = InitPath, Type = "bind", Source = initBinary, Options = ["rbind", "ro"] });
            argv.InsertRange(0, [InitPath, "--"]);
        }
        foreach (var bind in h.Binds ?? [])
        {
            var m = ParseBind(bind);
            if (!Directory.Exists(m.Source) && !File.Exists(m.Source))
            {
                Directory.CreateDirectory(m.Source!);
            }
            mounts.Add(m);
        }
        foreach (var requested in h.Mounts ?? [])
        {
            var m = ConvertMount(requested);
            if (m.Type == "bind" && !Directory.Exists(m.Source) && !File.Exists(m.Source))
            {
                throw BerthException.InvalidArgument($"invalid mount config for type \"bind\": bind source path does not exist: {m.Source}");
            }
            mounts.Add(m);
        }
        foreach (var (dst, opts) in h.Tmpfs ?? [])
        {
            List<string> options = ["nosuid", "nodev", "noexec"];
            options.AddRange(opts.Split(',', StringSplitOptions.RemoveEmptyEntries));
            mounts.Add(new Mount { Destination = dst, Type = "tmpfs", Source = "tmpfs", Options = options });
        }
        // A later mount at the same destination replaces an earlier one (a user /dev/shm replaces the default).
        mounts = mounts.GroupBy(m => m.Destination.TrimEnd('/')).Select(g => g.Last()).ToList();
        var env = new List<string>(cfg.Env ?? []);
        if (!env.Any(e => e.StartsWith("PATH=", StringComparison.Ordinal)))
        {
            env.Insert(0, ConfigMerge.DefaultPath);
        }
        env = ConfigMerge.MergeEnv(["HOSTNAME=" + Hostname(c, hostNetwork)], env);
        if (cfg.Tty && !env.Any(e => e.StartsWith("TERM=", StringComparison.Ordinal)))
        {
            env.Add("TERM=xterm");
        }
        var caps = Capabilities(h);
        var spec = new Spec
        {
            Process = new Process
            {
                Terminal = cfg.Tty,
                Args = argv,
                Env = env,
                Cwd = string.IsNullOrEmpty(cfg.WorkingDir) ? "/" : cfg.WorkingDir,
                User = UserResolver.Resolve(rootfs, cfg.User),
                Capabilities = new Capabilities { Bounding = [.. caps], Effective = [.. caps], Permitted = [.. caps] },
                NoNewPrivileges = h.SecurityOpt?.Any(o => o is "no-new-privileges" or "no-new-privileges:true" or "no-new-privileges=true") == true,
            },
            Root = new Root { Path = rootfs, Readonly = h.ReadonlyRootfs },
            Hostname = Hostname(c, hostNetwork),
            Domainname = string.IsNullOrEmpty(cfg.Domainname) ? null : cfg.Domainname,
            Mounts = mounts,
            Annotations = new Dictionary<string, string> { ["org.berth.container.name"] = c.Name.TrimStart('/') },
            Linux = new Berth.Oci.Runtime.Linux
            {
                CgroupsPath = "/berth/" + c.Id,
                Resources = Resources(h),
                Namespaces = Namespaces(h, hostNetwork),
                MaskedPaths = h.Privileged ? null : [.. MaskedPaths],
                ReadonlyPaths = h.Privileged ? null : [.. ReadonlyPaths],
                Sysctl = h.Sysctls is { Count: > 0 } s ? new Dictionary<string, string>(s) : null,
                Devices = h.Privileged ? HostDevices() : null,
                Seccomp = DefaultSeccompProfile.ForContainer(h, caps),
            },
        };
        if (h.Privileged)
        {
            spec.Linux.Resources!.Devices = [new DeviceCgroup { Allow = true, Access = "rwm" }];
            foreach (var m in spec.Mounts.Where(m => m.Destination is "/sys" or "/sys/fs/cgroup"))
            {
                m.Options = m.Options?.Where(o => o != "ro").Append("rw").ToList();
            }
        }
        return spec;
    }

    public static string Hostname(ContainerRecord c, bool hostNetwork) =>
        !string.IsNullOrEmpty(c.Config.Hostname) ? c.Config.Hostname : hostNetwork ? System.Net.Dns.GetHostName() : c.Id[..12];

    private static List<Mount> DefaultMounts(HostConfig h)
    {
        var shm = h.ShmSize > 0 ? h.ShmSize : 64L * 1024 * 1024;
        return
        [
            new Mount { Destination = "/proc", Type = "proc", Source = "proc", Options = ["nosuid", "noexec", "nodev"] },
            new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            new Mount { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            new Mount { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", "ro"] },
            new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "noexec", "nodev", "relatime", "ro"] },
            new Mount { Destination = "/dev/mqueue", Type = "mqueue", Source = "mqueue", Options = ["nosuid", "noexec", "nodev"] },
            new Mount { Destination = "/dev/shm", Type = "tmpfs", Source = "shm", Options = ["nosuid", "noexec", "nodev", "mode=1777", "size=" + shm.ToString(CultureInfo.InvariantCulture)] },
        ];
    }

    private static List<Namespace> Namespaces(HostConfig h, bool hostNetwork)
    {
        var ns = new List<Namespace> { new() { Type = "mount" }, new() { Type = "uts" }, new() { Type = "ipc" } };
        if (h.PidMode != "host")
        {
            ns.Add(new Namespace { Type = "pid" });
        }
        if (!hostNetwork)
        {
            ns.Add(new Namespace { Type = "network" });
        }
        return ns;
    }

    public static Resources Resources(HostConfig h)
    {
        var r = new Resources();
        if (h.Memory > 0)
        {
            r.Memory = new MemoryResources { Limit = h.Memory, Swap = h.MemorySwap switch { 0 => h.Memory * 2, -1 => -1, var s => s } };
        }
        if (h.NanoCpus > 0 || h.CpuShares > 0 || h.CpuQuota > 0 || !string.IsNullOrEmpty(h.CpusetCpus))
        {
            r.Cpu = new CpuResources
            {
                Shares = h.CpuShares > 0 ? (ulong)h.CpuShares : null,
                Period = h.NanoCpus > 0 ? 100_000 : h.CpuPeriod > 0 ? (ulong)h.CpuPeriod : null,
                Quota = h.NanoCpus > 0 ? h.NanoCpus * 100_000 / 1_000_000_000 : h.CpuQuota > 0 ? h.CpuQuota : null,
                Cpus = string.IsNullOrEmpty(h.CpusetCpus) ? null : h.CpusetCpus,
            };
        }
        if (h.PidsLimit is > 0 or -1)
        {
            r.Pids = new PidsResources { Limit = h.PidsLimit.Value };
        }
        return r;
    }

    /// <summary>Docker's capability rules: names with or without CAP_, any case; "ALL" in CapAdd or CapDrop.</summary>
    public static List<string> Capabilities(HostConfig h)
    {
        var all = Berth.Linux.Capability.All;
        if (h.Privileged)
        {
            return HostCapabilities();
        }
        string Norm(string name)
        {
            var n = name.ToUpperInvariant();
            if (n == "ALL")
            {
                return n;
            }
            n = n.StartsWith("CAP_", StringComparison.Ordinal) ? n : "CAP_" + n;
            return all.Contains(n) ? n : throw BerthException.InvalidArgument($"unknown capability: \"{name}\"; see capabilities(7) for the names");
        }
        var add = (h.CapAdd ?? []).Select(Norm).ToList();
        var drop = (h.CapDrop ?? []).Select(Norm).ToList();
        var caps = new List<string>(add.Contains("ALL") ? all : DefaultCapabilities);
        if (drop.Contains("ALL"))
        {
            caps.Clear();
        }
        else
        {
            caps.RemoveAll(drop.Contains);
        }
        foreach (var a in add.Where(a => a != "ALL" && !caps.Contains(a)))
        {
            caps.Add(a);
        }
        return caps;
    }

    /// <summary>
    /// Every capability the daemon itself may hold (its bounding set): what --privileged grants. A host that runs the
    /// daemon with a reduced bounding set (a container, a systemd unit) cannot give more, and capset would fail.
    /// </summary>
    public static List<string> HostCapabilities()
    {
        var all = Berth.Linux.Capability.All;
        ulong mask = ulong.MaxValue;
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("CapBnd:", StringComparison.Ordinal));
            if (line is not null)
            {
                mask = ulong.Parse(line[7..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            }
        }
        catch (IOException)
        {
        }
        var last = Berth.Linux.Capability.LastCap;
        return all.Where((_, i) => i <= last && (mask & (1UL << i)) != 0).ToList();
    }

    /// <summary>"/host:/ctr[:ro|rw,...]"; a source that is not an absolute path is a named volume, not supported yet.</summary>
    public static Mount ParseBind(string bind)
    {
        var parts = bind.Split(':');
        if (parts.Length is < 2 or > 3 || parts[0].Length == 0 || parts[1].Length == 0)
        {
            throw BerthException.InvalidArgument($"invalid volume specification: '{bind}'; use /host/path:/container/path[:ro]");
        }
        if (!parts[0].StartsWith('/'))
        {
            throw BerthException.Unsupported($"named volume '{parts[0]}' in '{bind}'; bind-mount a host directory: /host/path:{parts[1]}");
        }
        if (!parts[1].StartsWith('/'))
        {
            throw BerthException.InvalidArgument($"invalid volume specification: '{bind}': the container path must be absolute");
        }
        var options = new List<string> { "rbind" };
        var ro = false;
        foreach (var o in parts.Length == 3 ? parts[2].Split(',') : [])
        {
            switch (o)
            {
                case "ro": ro = true; break;
                case "rw" or "z" or "Z" or "":
                    break;
                case "private" or "rprivate" or "shared" or "rshared" or "slave" or "rslave":
                    options.Add(o);
                    break;
                default:
                    throw BerthException.InvalidArgument($"invalid mode '{o}' in volume specification '{bind}'; use ro or rw");
            }
        }
        options.Add(ro ? "ro" : "rw");
        return new Mount { Destination = parts[1], Type = "bind", Source = Path.GetFullPath(parts[0]), Options = options };
    }

    public static Mount ConvertMount(MountSpec m)
    {
        if (string.IsNullOrEmpty(m.Target) || !m.Target.StartsWith('/'))
        {
            throw BerthException.InvalidArgument($"invalid mount config: the target '{m.Target}' must be an absolute path");
        }
        switch (m.Type)
        {
            case "bind":
                if (string.IsNullOrEmpty(m.Source) || !m.Source.StartsWith('/'))
                {
                    throw BerthException.InvalidArgument($"invalid mount config for type \"bind\": the source '{m.Source}' must be an absolute path");
                }
                List<string> bo = ["rbind", m.ReadOnly ? "ro" : "rw"];
                if (m.BindOptions?.Propagation is { Length: > 0 } p)
                {
                    bo.Add(p);
                }
                return new Mount { Destination = m.Target, Type = "bind", Source = m.Source, Options = bo };
            case "tmpfs":
                List<string> to = ["nosuid", "nodev", "noexec"];
                if (m.TmpfsOptions is { SizeBytes: > 0 } t)
                {
                    to.Add("size=" + t.SizeBytes.ToString(CultureInfo.InvariantCulture));
                }
                if (m.TmpfsOptions is { Mode: > 0 } tm)
                {
                    to.Add("mode=" + Convert.ToString(tm.Mode, 8));
                }
                if (m.ReadOnly)
                {
                    to.Add("ro");
                }
                return new Mount { Destination = m.Target, Type = "tmpfs", Source = "tmpfs", Options = to };
            case "volume":
                throw BerthException.Unsupported($"volume mounts ({m.Source ?? "anonymous"} at {m.Target}) yet; use type=bind with a host directory");
            default:
                throw BerthException.Unsupported($"mount type '{m.Type}'; use bind or tmpfs");
        }
    }

    /// <summary>Every character and block device of the host, for --privileged (from /sys/dev, no stat calls needed).</summary>
    private static List<Device> HostDevices()
    {
        var devices = new List<Device>();
        foreach (var (kind, type) in new[] { ("char", "c"), ("block", "b") })
        {
            var dir = "/sys/dev/" + kind;
            if (!Directory.Exists(dir))
            {
                continue;
            }
            foreach (var entry in Directory.EnumerateFileSystemEntries(dir))
            {
                var mm = Path.GetFileName(entry).Split(':');
                string? name = null;
                try
                {
                    name = File.ReadLines(Path.Combine(entry, "uevent")).FirstOrDefault(l => l.StartsWith("DEVNAME=", StringComparison.Ordinal))?[8..];
                }
                catch (IOException)
                {
                }
                if (name is null || mm.Length != 2 || name.StartsWith("pts/", StringComparison.Ordinal) || name is "console" or "tty" or "ptmx" or "null" or "zero" or "full" or "random" or "urandom")
                {
                    continue;
                }
                devices.Add(new Device
                {
                    Path = "/dev/" + name,
                    Type = type,
                    Major = long.Parse(mm[0], CultureInfo.InvariantCulture),
                    Minor = long.Parse(mm[1], CultureInfo.InvariantCulture),
                    FileMode = 0x1b6,
                    Uid = 0,
                    Gid = 0,
                });
            }
        }
        return devices;
    }
}
