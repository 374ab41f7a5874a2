using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;
using Microsoft.Win32.SafeHandles;

namespace Berth.Build;

/// <summary>
/// Runs a RUN step's process in a container by an OCI runtime's CLI (berth-runtime, or runc/crun, which take the
/// same arguments): it writes a bundle whose root is the step's mounted snapshot, then
/// <c>&lt;runtime&gt; --root &lt;dir&gt; run --bundle &lt;bundle&gt; &lt;id&gt;</c> with stdout and stderr on one pipe, so the
/// output keeps its order, streamed line by line.
/// <para>
/// The container is what Docker gives a build step: new pid, mount, ipc, uts and network namespaces (a network
/// namespace of its own holding only loopback: no network), Docker's default capability set, Docker's masked and
/// read-only /proc paths, /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys (read-only), the image's Env, WorkingDir
/// (made if missing) and User (resolved in the rootfs' /etc/passwd and /etc/group, with supplementary groups and
/// HOME as Docker sets them). Mount points the runtime had to create (/proc, /dev, /sys in an image without them)
/// are removed again afterwards so they do not end up in the layer.
/// </para>
/// </summary>
public sealed class RuntimeRunner
{
    /// <summary>Docker's default capabilities (moby oci/caps).</summary>
    public static readonly IReadOnlyList<string> DefaultCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    private static readonly string[] MaskedPaths =
    [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ];

    private static readonly string[] ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    /// <summary>Top-level mount points of the spec; created by the runtime when missing, removed again after the run.</summary>
    private static readonly string[] MountPoints = ["proc", "dev", "sys"];

    private readonly string _runtime;
    private readonly string _bundles;
    private readonly string _runtimeRoot;

    public RuntimeRunner(string runtimePath, string bundleDirectory, string runtimeRoot)
    {
        _runtime = ResolveExecutable(runtimePath);
        _bundles = bundleDirectory;
        _runtimeRoot = runtimeRoot;
        Directory.CreateDirectory(bundleDirectory);
        Directory.CreateDirectory(runtimeRoot);
    }

    public string RuntimePath => _runtime;

    private static string ResolveExecutable(string path)
    {
        if (path.Contains('/', StringComparison.Ordinal))
        {
            var full = Path.GetFullPath(path);
            return File.Exists(full) ? full : throw BerthException.NotFound($"OCI runtime {full} not found; build it (make runtime) or pass --runtime PATH (e.g. runc)");
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':'))
        {
            var candidate = Path.Combine(dir, path);
            if (dir.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw BerthException.NotFound($"OCI runtime {path} not found on the PATH; install it or pass --runtime with a full path");
    }

    /// <summary>Runs <paramref name="spec"/> with <paramref name="rootfs"/> as the container's root; returns the exit code.</summary>
    public async Task<int> RunAsync(string rootfs, RunSpec spec, Action<string> output, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var id = "berth-build-" + Guid.NewGuid().ToString("N")[..12];
        var bundle = Path.Combine(_bundles, id);
        var missing = MountPoints.Where(p => !Path.Exists(Path.Combine(rootfs, p))).ToList();
        try
        {
            var user = ResolveUser(rootfs, spec.User);
            var cwd = PathRules.SecureJoin(rootfs, spec.WorkingDir.TrimStart('/'));
            if (!Directory.Exists(cwd))
            {
                Directory.CreateDirectory(cwd);
            }
            Directory.CreateDirectory(bundle);
            var config = CreateSpec(rootfs, spec, user);
            AtomicFile.WriteAllBytes(Path.Combine(bundle, "config.json"), JsonSerializer.SerializeToUtf8Bytes(config, OciJsonContext.Default.Spec));
            return await SpawnAndWaitAsync(id, bundle, output, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (Directory.Exists(Path.Combine(_runtimeRoot, id)))
            {
                await RuntimeCommandAsync(["delete", "--force", id]).ConfigureAwait(false);
            }
            if (Directory.Exists(bundle))
            {
                Directory.Delete(bundle, recursive: true);
            }
            foreach (var point in missing)
            {
                var path = Path.Combine(rootfs, point);
                if (Directory.Exists(path) && !Directory.EnumerateFileSystemEntries(path).Any())
                {
                    Directory.Delete(path);
                }
            }
        }
    }

    private async Task<int> SpawnAndWaitAsync(string id, string bundle, Action<string> output, CancellationToken cancellationToken)
    {
        var (read, write) = Sys.Pipe(cloexec: true);
        int pid;
        var devNull = Sys.Open("/dev/null", 0);
        try
        {
            pid = Spawn.Start(_runtime, [_runtime, "--root", _runtimeRoot, "run", "--bundle", bundle, id], Spawn.CurrentEnvironment(), (devNull, write, write));
        }
        catch
        {
            Sys.Close(read);
            throw;
        }
        finally
        {
            Sys.Close(write);
            Sys.Close(devNull);
        }
        var killed = false;
        await using var registration = cancellationToken.Register(() =>
        {
            killed = true;
            _ = RuntimeCommandAsync(["kill", id, "KILL"]);
        }).ConfigureAwait(false);
        await Task.Run(() =>
        {
            using var stream = new FileStream(new SafeFileHandle((IntPtr)read, ownsHandle: true), FileAccess.Read, 1);
            using var reader = new StreamReader(stream);
            while (reader.ReadLine() is { } line)
            {
                output(line);
            }
        }, CancellationToken.None).ConfigureAwait(false);
        var status = await Task.Run(() => Sys.WaitPid(pid, noHang: false, out _), CancellationToken.None).ConfigureAwait(false);
        if (killed)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        return status < 0 ? throw BerthException.FailedPrecondition($"lost the exit status of {_runtime} (pid {pid})") : Sys.ExitCodeOf(status);
    }

    /// <summary>Kills and deletes a container this runner's runtime root knows (recovery after a crash).</summary>
    internal Task DeleteContainerAsync(string id) => RuntimeCommandAsync(["delete", "--force", id]);

    /// <summary>A housekeeping runtime call (kill, delete); its output is not the step's.</summary>
    private async Task RuntimeCommandAsync(string[] args)
    {
        var psi = new ProcessStartInfo(_runtime) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("--root");
        psi.ArgumentList.Add(_runtimeRoot);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var process = System.Diagnostics.Process.Start(psi);
        if (process is not null)
        {
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    internal static Spec CreateSpec(string rootfs, RunSpec run, ResolvedUser user)
    {
        var env = new List<string>(run.Env);
        if (!env.Any(e => e.StartsWith("HOME=", StringComparison.Ordinal)))
        {
            env.Add("HOME=" + user.Home);
        }
        var caps = DefaultCapabilities.ToList();
        // As Docker: a non-root user keeps the bounding set but starts with no effective or permitted capabilities.
        var effective = user.Uid == 0 ? caps : [];
        return new Spec
        {
            OciVersion = "1.0.2",
            Process = new Berth.Oci.Runtime.Process
            {
                Terminal = false,
                User = new User { Uid = user.Uid, Gid = user.Gid, AdditionalGids = user.AdditionalGids.Count > 0 ? [.. user.AdditionalGids] : null },
                Args = [.. run.Args],
                Env = env,
                Cwd = "/" + run.WorkingDir.TrimStart('/'),
                Capabilities = new Capabilities { Bounding = [.. caps], Effective = [.. effective], Permitted = [.. effective], Inheritable = [] },
                Rlimits = [NoFileLimit()],
                NoNewPrivileges = false,
            },
            Root = new Root { Path = rootfs, Readonly = false },
            Hostname = "buildkitsandbox",
            Mounts =
            [
                new Mount { Destination = "/proc", Type = "proc", Source = "proc", Options = ["nosuid", "noexec", "nodev"] },
                new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] },
                new Mount { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
                new Mount { Destination = "/dev/shm", Type = "tmpfs", Source = "shm", Options = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
                new Mount { Destination = "/dev/mqueue", Type = "mqueue", Source = "mqueue", Options = ["nosuid", "noexec", "nodev"] },
                new Mount { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", "ro"] },
            ],
            Linux = new Berth.Oci.Runtime.Linux
            {
                Resources = new Resources { Devices = [new DeviceCgroup { Allow = false, Access = "rwm" }] },
                Namespaces =
                [
                    new Namespace { Type = "pid" }, new Namespace { Type = "network" }, new Namespace { Type = "ipc" },
                    new Namespace { Type = "uts" }, new Namespace { Type = "mount" },
                ],
                MaskedPaths = [.. MaskedPaths],
                ReadonlyPaths = [.. ReadonlyPaths],
            },
        };
    }

    /// <summary>Docker's 1048576 open files, capped at what this process may grant (an unprivileged raise fails).</summary>
    private static Rlimit NoFileLimit()
    {
        const int RlimitNofile = 7;
        var (_, hard) = Sys.GetRlimit(RlimitNofile);
        var limit = Math.Min(1048576UL, hard);
        return new Rlimit { Type = "RLIMIT_NOFILE", Hard = limit, Soft = limit };
    }

    /// <summary>A RUN user as the runtime needs it.</summary>
    internal sealed record ResolvedUser(uint Uid, uint Gid, IReadOnlyList<uint> AdditionalGids, string Home);

    /// <summary>
    /// Docker's user rules: <c>name</c>, <c>uid</c>, <c>name:group</c> or <c>uid:gid</c>; names are looked up in the
    /// rootfs' /etc/passwd and /etc/group (a name that is not there is an error, a number need not be); the
    /// supplementary groups are the /etc/group entries listing the user; HOME is the passwd entry's, else "/".
    /// </summary>
    internal static ResolvedUser ResolveUser(string rootfs, string? spec)
    {
        var text = string.IsNullOrEmpty(spec) ? "0" : spec;
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var userPart = colon < 0 ? text : text[..colon];
        var groupPart = colon < 0 ? null : text[(colon + 1)..];
        var passwd = ReadDatabase(rootfs, "etc/passwd");
        var groups = ReadDatabase(rootfs, "etc/group");

        string[]? entry;
        uint uid;
        if (uint.TryParse(userPart, NumberStyles.None, CultureInfo.InvariantCulture, out uid))
        {
            entry = passwd.FirstOrDefault(f => f.Length >= 3 && f[2] == userPart);
        }
        else
        {
            entry = passwd.FirstOrDefault(f => f.Length >= 3 && f[0] == userPart)
                ?? throw BerthException.NotFound($"unable to find user {userPart}: no matching entries in passwd file");
            uid = uint.Parse(entry[2], NumberStyles.None, CultureInfo.InvariantCulture);
        }
        uint gid;
        if (groupPart is null || groupPart.Length == 0)
        {
            gid = entry is { Length: >= 4 } && uint.TryParse(entry[3], NumberStyles.None, CultureInfo.InvariantCulture, out var primary) ? primary : 0;
        }
        else if (!uint.TryParse(groupPart, NumberStyles.None, CultureInfo.InvariantCulture, out gid))
        {
            var group = groups.FirstOrDefault(f => f.Length >= 3 && f[0] == groupPart)
                ?? throw BerthException.NotFound($"unable to find group {groupPart}: no matching entries in group file");
            gid = uint.Parse(group[2], NumberStyles.None, CultureInfo.InvariantCulture);
        }
        var additional = new List<uint>();
        if (entry is not null && groupPart is null)
        {
            foreach (var g in groups)
            {
                if (g.Length >= 4 && g[3].Split(',').Contains(entry[0]) && uint.TryParse(g[2], NumberStyles.None, CultureInfo.InvariantCulture, out var extra) && extra != gid && !additional.Contains(extra))
                {
                    additional.Add(extra);
                }
            }
        }
        var home = entry is { Length: >= 6 } && entry[5].Length > 0 ? entry[5] : "/";
        return new ResolvedUser(uid, gid, additional, home);
    }

    private static List<string[]> ReadDatabase(string rootfs, string file)
    {
        var path = PathRules.SecureJoin(rootfs, file);
        return File.Exists(path)
            ? File.ReadLines(path).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split(':')).ToList()
            : [];
    }
}
