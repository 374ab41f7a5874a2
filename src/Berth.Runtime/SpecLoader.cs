using System.Text.Json;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

/// <summary>Reads a bundle's config.json and validates it, reporting every invalid field at once.</summary>
public static class SpecLoader
{
    private static readonly string[] RlimitNames =
    [
        "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS", "RLIMIT_NPROC",
        "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
    ];

    public static int RlimitNumber(string type) => Array.IndexOf(RlimitNames, type);

    /// <summary>Reads and validates a bundle's config.json (create).</summary>
    public static Spec Load(string bundle)
    {
        var spec = Read(bundle);
        var path = Path.Combine(bundle, "config.json");
        var errors = Validate(spec, bundle);
        if (errors.Count > 0)
        {
            throw BerthException.InvalidArgument($"{path}: " + string.Join("; ", errors));
        }
        return spec;
    }

    /// <summary>Reads config.json without validating it: for a container that was validated when it was created.</summary>
    public static Spec Read(string bundle)
    {
        var path = Path.Combine(bundle, "config.json");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            throw BerthException.NotFound($"{path} does not exist; pass the bundle directory with --bundle (or run `berth-runtime spec` there)");
        }
        catch (DirectoryNotFoundException)
        {
            throw BerthException.NotFound($"bundle {bundle} does not exist");
        }
        return Parse(bytes, path);
    }

    /// <summary>config.json's bytes as a <see cref="Spec"/>; <paramref name="path"/> names the file in errors.</summary>
    public static Spec Parse(byte[] bytes, string path)
    {
        try
        {
            return SpecReader.Read(bytes);
        }
        catch (JsonException e)
        {
            throw BerthException.InvalidArgument($"{path}: {Describe(e, bytes)}");
        }
    }

    /// <summary>"invalid JSON at FIELD (line N): WHAT" for a syntax error or a value of the wrong type.</summary>
    public static string Describe(JsonException e, ReadOnlySpan<byte> bytes)
    {
        var where = e.Path is { Length: > 1 } p ? $" at {p.TrimStart('$', '.')}" : "";
        // The readers' own errors carry the byte offset of the bad token (and no line number); count the lines to it.
        var line = e.LineNumber ?? (e.BytePositionInLine is { } offset ? bytes[..(int)Math.Min(offset, bytes.Length)].Count((byte)'\n') : 0);
        return $"invalid JSON{where} (line {line + 1}): {FirstSentence(e.Message)}";
    }

    private static string FirstSentence(string message)
    {
        var i = message.IndexOf(". ", StringComparison.Ordinal);
        return i > 0 ? message[..i] : message.TrimEnd('.');
    }

    public static string RootfsPath(Spec spec, string bundle) =>
        Path.GetFullPath(Path.IsPathRooted(spec.Root!.Path) ? spec.Root.Path : Path.Combine(bundle, spec.Root.Path));

    /// <summary>Every problem with the spec, each naming its field and value.</summary>
    public static List<string> Validate(Spec spec, string bundle)
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(spec.OciVersion) || !spec.OciVersion.StartsWith("1.", StringComparison.Ordinal))
        {
            errors.Add($"ociVersion: \"{spec.OciVersion}\" is not supported; use a 1.x version such as \"1.2.0\"");
        }
        if (spec.Root is null || string.IsNullOrEmpty(spec.Root.Path))
        {
            errors.Add("root.path: is required");
        }
        else
        {
            var rootfs = RootfsPath(spec, bundle);
            if (!Directory.Exists(rootfs))
            {
                errors.Add($"root.path: {rootfs} does not exist or is not a directory");
            }
        }
        ValidateProcess(spec.Process, errors);
        var namespaces = new HashSet<string>();
        var linux = spec.Linux;
        if (linux is null)
        {
            errors.Add("linux: is required on Linux");
        }
        else
        {
            for (var i = 0; i < (linux.Namespaces?.Count ?? 0); i++)
            {
                var ns = linux.Namespaces![i];
                if (NamespaceKinds.FromOci(ns.Type) is null)
                {
                    errors.Add($"linux.namespaces[{i}].type: \"{ns.Type}\" is unknown; use pid, network, mount, ipc, uts, user, cgroup or time");
                }
                else if (!namespaces.Add(ns.Type))
                {
                    errors.Add($"linux.namespaces[{i}].type: \"{ns.Type}\" is listed twice");
                }
                if (!string.IsNullOrEmpty(ns.Path) && !File.Exists(ns.Path))
                {
                    errors.Add($"linux.namespaces[{i}].path: {ns.Path} does not exist");
                }
            }
            if ((linux.UidMappings?.Count > 0 || linux.GidMappings?.Count > 0) && !namespaces.Contains("user"))
            {
                errors.Add("linux.uidMappings: mappings need a user namespace in linux.namespaces");
            }
            if (linux.CgroupsPath is { } cg && cg.Contains(':', StringComparison.Ordinal))
            {
                errors.Add($"linux.cgroupsPath: \"{cg}\" is a systemd slice path; not supported: systemd cgroups (use a cgroupfs path such as /berth/<id>)");
            }
            for (var i = 0; i < (linux.Devices?.Count ?? 0); i++)
            {
                var d = linux.Devices![i];
                if (d.Type is not ("c" or "b" or "u" or "p"))
                {
                    errors.Add($"linux.devices[{i}].type: \"{d.Type}\" is invalid; use c, b, u or p");
                }
                if (!d.Path.StartsWith("/dev/", StringComparison.Ordinal))
                {
                    errors.Add($"linux.devices[{i}].path: \"{d.Path}\" must be under /dev/");
                }
            }
            foreach (var (key, _) in linux.Sysctl ?? [])
            {
                var problem = SysctlProblem(key, namespaces);
                if (problem is not null)
                {
                    errors.Add($"linux.sysctl[\"{key}\"]: {problem}");
                }
            }
            if (linux.RootfsPropagation is { } rp && MountOptions.PropagationFlag(rp) is null)
            {
                errors.Add($"linux.rootfsPropagation: \"{rp}\" is invalid; use shared, slave, private, unbindable or their r- forms");
            }
            if (linux.TimeOffsets?.Count > 0 && !namespaces.Contains("time"))
            {
                errors.Add("linux.timeOffsets: offsets need a time namespace in linux.namespaces");
            }
        }
        if (!string.IsNullOrEmpty(spec.Hostname) && !namespaces.Contains("uts"))
        {
            errors.Add("hostname: setting a hostname needs a uts namespace in linux.namespaces");
        }
        for (var i = 0; i < (spec.Mounts?.Count ?? 0); i++)
        {
            var m = spec.Mounts![i];
            if (!m.Destination.StartsWith('/'))
            {
                errors.Add($"mounts[{i}].destination: \"{m.Destination}\" must be an absolute path");
            }
            if (m.UidMappings is { Count: > 0 } || m.GidMappings is { Count: > 0 })
            {
                errors.Add($"mounts[{i}].uidMappings: not supported: idmapped mounts; remove the mount's uidMappings/gidMappings");
            }
        }
        ValidateHooks(spec.Hooks, errors);
        return errors;
    }

    private static void ValidateProcess(Process? process, List<string> errors)
    {
        if (process is null)
        {
            errors.Add("process: is required to create a container");
            return;
        }
        if (process.Args is null || process.Args.Count == 0 || string.IsNullOrEmpty(process.Args[0]))
        {
            errors.Add("process.args: needs at least the program to run");
        }
        if (!process.Cwd.StartsWith('/'))
        {
            errors.Add($"process.cwd: \"{process.Cwd}\" must be an absolute path");
        }
        for (var i = 0; i < (process.Rlimits?.Count ?? 0); i++)
        {
            var r = process.Rlimits![i];
            if (RlimitNumber(r.Type) < 0)
            {
                errors.Add($"process.rlimits[{i}].type: \"{r.Type}\" is unknown");
            }
            if (r.Soft > r.Hard)
            {
                errors.Add($"process.rlimits[{i}]: soft limit {r.Soft} is above hard limit {r.Hard}");
            }
        }
        if (process.Capabilities is { } caps)
        {
            CheckCaps(caps.Bounding, "bounding", errors);
            CheckCaps(caps.Effective, "effective", errors);
            CheckCaps(caps.Permitted, "permitted", errors);
            CheckCaps(caps.Inheritable, "inheritable", errors);
            CheckCaps(caps.Ambient, "ambient", errors);
        }
        foreach (var e in process.Env ?? [])
        {
            if (!e.Contains('=', StringComparison.Ordinal))
            {
                errors.Add($"process.env: \"{e}\" is not of the form KEY=value");
            }
        }
        if (process.OomScoreAdj is < -1000 or > 1000)
        {
            errors.Add($"process.oomScoreAdj: {process.OomScoreAdj} is outside -1000..1000");
        }
    }

    private static void CheckCaps(List<string>? names, string set, List<string> errors)
    {
        foreach (var n in names ?? [])
        {
            if (Capability.Parse(n) < 0)
            {
                errors.Add($"process.capabilities.{set}: unknown capability \"{n}\"");
            }
        }
    }

    private static void ValidateHooks(Hooks? hooks, List<string> errors)
    {
        if (hooks is null)
        {
            return;
        }
        void Check(List<Hook>? list, string name)
        {
            for (var i = 0; i < (list?.Count ?? 0); i++)
            {
                if (!list![i].Path.StartsWith('/'))
                {
                    errors.Add($"hooks.{name}[{i}].path: \"{list[i].Path}\" must be an absolute path");
                }
                if (list[i].Timeout is <= 0)
                {
                    errors.Add($"hooks.{name}[{i}].timeout: must be greater than zero");
                }
            }
        }
        Check(hooks.Prestart, "prestart");
        Check(hooks.CreateRuntime, "createRuntime");
        Check(hooks.CreateContainer, "createContainer");
        Check(hooks.StartContainer, "startContainer");
        Check(hooks.Poststart, "poststart");
        Check(hooks.Poststop, "poststop");
    }

    private static string? SysctlProblem(string key, HashSet<string> namespaces)
    {
        if (key.StartsWith("net.", StringComparison.Ordinal))
        {
            return namespaces.Contains("network") ? null : "net.* sysctls need a network namespace";
        }
        if (key is "kernel.msgmax" or "kernel.msgmnb" or "kernel.msgmni" or "kernel.sem" or "kernel.shmall" or "kernel.shmmax"
            or "kernel.shmmni" or "kernel.shm_rmid_forced" || key.StartsWith("fs.mqueue.", StringComparison.Ordinal))
        {
            return namespaces.Contains("ipc") ? null : "IPC sysctls need an ipc namespace";
        }
        if (key is "kernel.hostname" or "kernel.domainname")
        {
            return namespaces.Contains("uts") ? null : "use the hostname field; UTS sysctls need a uts namespace";
        }
        return "is not namespaced; setting it would change the host (not supported)";
    }

}
