using System.Globalization;
using System.Text.Json.Nodes;
using Berth.Cli.Docker;

namespace Berth.Cli.Commands.Docker;

/// <summary>The flags `berth run` and `berth create` share, and their translation into a /containers/create body.</summary>
public static class ContainerConfig
{
    public static readonly Flag[] CreateFlags =
    [
        new("interactive", 'i', FlagKind.Bool, "Keep STDIN open even if not attached"),
        new("tty", 't', FlagKind.Bool, "Allocate a pseudo-TTY"),
        new("rm", null, FlagKind.Bool, "Automatically remove the container when it exits"),
        new("name", null, FlagKind.Value, "Assign a name to the container"),
        new("env", 'e', FlagKind.List, "Set environment variables"),
        new("env-file", null, FlagKind.List, "Read in a file of environment variables"),
        new("volume", 'v', FlagKind.List, "Bind mount a volume"),
        new("mount", null, FlagKind.List, "Attach a filesystem mount to the container"),
        new("tmpfs", null, FlagKind.List, "Mount a tmpfs directory"),
        new("workdir", 'w', FlagKind.Value, "Working directory inside the container"),
        new("user", 'u', FlagKind.Value, "Username or UID (format: <name|uid>[:<group|gid>])"),
        new("entrypoint", null, FlagKind.Value, "Overwrite the default ENTRYPOINT of the image"),
        new("memory", 'm', FlagKind.Value, "Memory limit"),
        new("memory-swap", null, FlagKind.Value, "Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
        new("memory-reservation", null, FlagKind.Value, "Memory soft limit"),
        new("shm-size", null, FlagKind.Value, "Size of /dev/shm"),
        new("cpus", null, FlagKind.Value, "Number of CPUs"),
        new("cpu-shares", 'c', FlagKind.Value, "CPU shares (relative weight)"),
        new("cpuset-cpus", null, FlagKind.Value, "CPUs in which to allow execution (0-3, 0,1)"),
        new("pids-limit", null, FlagKind.Value, "Tune container pids limit (set -1 for unlimited)"),
        new("cap-add", null, FlagKind.List, "Add Linux capabilities"),
        new("cap-drop", null, FlagKind.List, "Drop Linux capabilities"),
        new("read-only", null, FlagKind.Bool, "Mount the container's root filesystem as read only"),
        new("privileged", null, FlagKind.Bool, "Give extended privileges to this container"),
        new("init", null, FlagKind.Bool, "Run an init inside the container that forwards signals and reaps processes"),
        new("network", null, FlagKind.Value, "Connect a container to a network"),
        new("net", null, FlagKind.Value, "Connect a container to a network (alias of --network)"),
        new("network-alias", null, FlagKind.List, "Add network-scoped alias for the container"),
        new("ip", null, FlagKind.Value, "IPv4 address (e.g., 172.30.100.104)"),
        new("mac-address", null, FlagKind.Value, "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
        new("publish-all", 'P', FlagKind.Bool, "Publish all exposed ports to random ports"),
        new("hostname", 'h', FlagKind.Value, "Container host name"),
        new("domainname", null, FlagKind.Value, "Container NIS domain name"),
        new("dns", null, FlagKind.List, "Set custom DNS servers"),
        new("dns-search", null, FlagKind.List, "Set custom DNS search domains"),
        new("dns-option", null, FlagKind.List, "Set DNS options"),
        new("add-host", null, FlagKind.List, "Add a custom host-to-IP mapping (host:ip)"),
        new("publish", 'p', FlagKind.List, "Publish a container's port(s) to the host"),
        new("expose", null, FlagKind.List, "Expose a port or a range of ports"),
        new("restart", null, FlagKind.Value, "Restart policy to apply when a container exits (no, on-failure[:N], always, unless-stopped)"),
        new("health-cmd", null, FlagKind.Value, "Command to run to check health"),
        new("health-interval", null, FlagKind.Value, "Time between running the check (ms|s|m|h)"),
        new("health-timeout", null, FlagKind.Value, "Maximum time to allow one check to run (ms|s|m|h)"),
        new("health-retries", null, FlagKind.Value, "Consecutive failures needed to report unhealthy"),
        new("health-start-period", null, FlagKind.Value, "Start period for the container to initialize before counting retries"),
        new("no-healthcheck", null, FlagKind.Bool, "Disable any container-specified HEALTHCHECK"),
        new("stop-signal", null, FlagKind.Value, "Signal to stop the container"),
        new("stop-timeout", null, FlagKind.Value, "Timeout (in seconds) to stop a container"),
        new("log-driver", null, FlagKind.Value, "Logging driver for the container"),
        new("log-opt", null, FlagKind.List, "Log driver options"),
        new("label", 'l', FlagKind.List, "Set meta data on a container"),
        new("label-file", null, FlagKind.List, "Read in a line delimited file of labels"),
        new("ulimit", null, FlagKind.List, "Ulimit options (nofile=1024:2048)"),
        new("sysctl", null, FlagKind.List, "Sysctl options"),
        new("security-opt", null, FlagKind.List, "Security Options"),
        new("ipc", null, FlagKind.Value, "IPC mode to use"),
        new("pid", null, FlagKind.Value, "PID namespace to use"),
        new("platform", null, FlagKind.Value, "Set platform if server is multi-platform capable"),
        new("pull", null, FlagKind.Value, "Pull image before running (\"always\", \"missing\", \"never\")"),
        new("quiet", 'q', FlagKind.Bool, "Suppress the pull output"),
        new("cidfile", null, FlagKind.Value, "Write the container ID to the file"),
        new("attach", 'a', FlagKind.List, "Attach to STDIN, STDOUT or STDERR"),
    ];

    public static readonly Flag[] RunOnlyFlags =
    [
        new("detach", 'd', FlagKind.Bool, "Run container in background and print container ID"),
        new("sig-proxy", null, FlagKind.Bool, "Proxy received signals to the process"),
    ];

    /// <summary>The /containers/create body for IMAGE [COMMAND [ARG...]] and the flags.</summary>
    public static JsonObject Build(ParsedFlags f, string image, IReadOnlyList<string> command, bool detach)
    {
        var tty = f.Bool("tty");
        var interactive = f.Bool("interactive");
        var attach = f.List("attach");
        var host = new JsonObject();
        var config = new JsonObject
        {
            ["Image"] = image,
            ["Tty"] = tty,
            ["OpenStdin"] = interactive,
            ["StdinOnce"] = interactive && !detach,
            ["AttachStdin"] = !detach && (attach.Count == 0 ? interactive : attach.Contains("stdin", StringComparer.OrdinalIgnoreCase)),
            ["AttachStdout"] = !detach && (attach.Count == 0 || attach.Contains("stdout", StringComparer.OrdinalIgnoreCase)),
            ["AttachStderr"] = !detach && (attach.Count == 0 || attach.Contains("stderr", StringComparer.OrdinalIgnoreCase)),
            ["Env"] = Array(Env(f)),
            ["Cmd"] = command.Count > 0 ? Array(command) : null,
            ["Labels"] = KeyValueFlags.Map(f.List("label").Concat(f.List("label-file").SelectMany(ReadLines)), "label", allowBare: true),
            ["HostConfig"] = host,
        };
        if (f.Value("entrypoint") is { } ep)
        {
            config["Entrypoint"] = ep.Length == 0 ? new JsonArray("") : new JsonArray(ep);
        }
        SetIf(config, "WorkingDir", f.Value("workdir"));
        SetIf(config, "User", f.Value("user"));
        SetIf(config, "Hostname", f.Value("hostname"));
        SetIf(config, "Domainname", f.Value("domainname"));
        SetIf(config, "StopSignal", f.Value("stop-signal"));
        if (f.Int("stop-timeout") is { } st)
        {
            config["StopTimeout"] = st;
        }
        if (Healthcheck(f) is { } hc)
        {
            config["Healthcheck"] = hc;
        }

        var binds = new JsonArray();
        var volumes = new JsonObject();
        foreach (var v in f.List("volume"))
        {
            var (bind, anonymous) = Volume(v);
            if (bind is not null)
            {
                binds.Add((JsonNode)bind);
            }
            else
            {
                volumes[anonymous!] = new JsonObject();
            }
        }
        if (binds.Count > 0)
        {
            host["Binds"] = binds;
        }
        if (volumes.Count > 0)
        {
            config["Volumes"] = volumes;
        }
        if (f.List("mount") is { Count: > 0 } mounts)
        {
            host["Mounts"] = Array(mounts.Select(Mount));
        }
        if (f.List("tmpfs") is { Count: > 0 } tmpfs)
        {
            host["Tmpfs"] = KeyValueFlags.ToJson(tmpfs.Select(t => t.Split(':', 2)).Select(p => (p[0], p.Length > 1 ? p[1] : "")));
        }
        if (f.Value("memory") is { } mem)
        {
            host["Memory"] = Units.ParseBytes(mem, "--memory");
        }
        if (f.Value("memory-swap") is { } swap)
        {
            host["MemorySwap"] = swap == "-1" ? -1 : Units.ParseBytes(swap, "--memory-swap");
        }
        if (f.Value("memory-reservation") is { } res)
        {
            host["MemoryReservation"] = Units.ParseBytes(res, "--memory-reservation");
        }
        if (f.Value("shm-size") is { } shm)
        {
            host["ShmSize"] = Units.ParseBytes(shm, "--shm-size");
        }
        if (f.Value("cpus") is { } cpus)
        {
            host["NanoCpus"] = Units.ParseNanoCpus(cpus);
        }
        if (f.Long("cpu-shares") is { } shares)
        {
            host["CpuShares"] = shares;
        }
        SetIf(host, "CpusetCpus", f.Value("cpuset-cpus"));
        if (f.Long("pids-limit") is { } pids)
        {
            host["PidsLimit"] = pids;
        }
        if (f.List("cap-add") is { Count: > 0 } capAdd)
        {
            host["CapAdd"] = Array(capAdd);
        }
        if (f.List("cap-drop") is { Count: > 0 } capDrop)
        {
            host["CapDrop"] = Array(capDrop);
        }
        if (f.Bool("read-only"))
        {
            host["ReadonlyRootfs"] = true;
        }
        if (f.Bool("privileged"))
        {
            host["Privileged"] = true;
        }
        if (f.Has("init"))
        {
            host["Init"] = f.Bool("init");
        }
        SetIf(host, "NetworkMode", f.Value("network") ?? f.Value("net"));
        SetIf(host, "IpcMode", f.Value("ipc"));
        SetIf(host, "PidMode", f.Value("pid"));
        if (f.List("dns") is { Count: > 0 } dns)
        {
            host["Dns"] = Array(dns);
        }
        if (f.List("dns-search") is { Count: > 0 } search)
        {
            host["DnsSearch"] = Array(search);
        }
        if (f.List("dns-option") is { Count: > 0 } dnsOptions)
        {
            host["DnsOptions"] = Array(dnsOptions);
        }
        if (f.List("add-host") is { Count: > 0 } hosts)
        {
            foreach (var h in hosts)
            {
                var i = h.IndexOf(':', StringComparison.Ordinal);
                if (i <= 0 || i == h.Length - 1)
                {
                    throw new UsageException($"invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\" (expected host:ip)");
                }
            }
            host["ExtraHosts"] = Array(hosts);
        }
        if (f.List("security-opt") is { Count: > 0 } sec)
        {
            host["SecurityOpt"] = Array(sec);
        }
        if (f.List("sysctl") is { Count: > 0 } sysctls)
        {
            host["Sysctls"] = KeyValueFlags.Map(sysctls, "sysctl", allowBare: false);
        }
        if (f.List("ulimit") is { Count: > 0 } ulimits)
        {
            host["Ulimits"] = Array(ulimits.Select(Ulimit));
        }
        if (f.Value("restart") is { } restart)
        {
            host["RestartPolicy"] = RestartPolicy(restart);
        }
        if (f.Bool("rm"))
        {
            if (f.Value("restart") is { } r && r != "no")
            {
                throw new UsageException("conflicting options: cannot specify both --restart and --rm");
            }
            host["AutoRemove"] = true;
        }
        if (f.Value("log-driver") is not null || f.List("log-opt").Count > 0)
        {
            host["LogConfig"] = new JsonObject
            {
                ["Type"] = f.Value("log-driver", ""),
                ["Config"] = KeyValueFlags.Map(f.List("log-opt"), "log-opt", allowBare: false),
            };
        }
        var exposed = new JsonObject();
        foreach (var e in f.List("expose"))
        {
            exposed[e.Contains('/', StringComparison.Ordinal) ? e : e + "/tcp"] = new JsonObject();
        }
        var bindings = new JsonObject();
        foreach (var (port, hostIp, hostPort) in f.List("publish").SelectMany(Publish))
        {
            exposed[port] = new JsonObject();
            if (bindings[port] is not JsonArray list)
            {
                bindings[port] = list = [];
            }
            list.Add((JsonNode)new JsonObject { ["HostIp"] = hostIp, ["HostPort"] = hostPort });
        }
        if (exposed.Count > 0)
        {
            config["ExposedPorts"] = exposed;
        }
        if (bindings.Count > 0)
        {
            host["PortBindings"] = bindings;
        }
        if (f.Bool("publish-all"))
        {
            host["PublishAllPorts"] = true;
        }
        var aliases = f.List("network-alias");
        var ip = f.Value("ip");
        var mac = f.Value("mac-address");
        if (aliases.Count > 0 || ip is not null || mac is not null)
        {
            var network = f.Value("network") ?? f.Value("net") ?? "default";
            var endpoint = new JsonObject();
            if (aliases.Count > 0)
            {
                endpoint["Aliases"] = new JsonArray([.. aliases.Select(a => (JsonNode?)a)]);
            }
            if (ip is not null)
            {
                endpoint["IPAMConfig"] = new JsonObject { ["IPv4Address"] = ip };
            }
            if (mac is not null)
            {
                // Per endpoint since API 1.44; the container-wide field too, for daemons older than that.
                endpoint["MacAddress"] = mac;
                config["MacAddress"] = mac;
            }
            config["NetworkingConfig"] = new JsonObject { ["EndpointsConfig"] = new JsonObject { [network] = endpoint } };
        }
        return config;
    }

    public static JsonObject RestartPolicy(string value)
    {
        var parts = value.Split(':', 2);
        if (parts[0] is not ("no" or "always" or "unless-stopped" or "on-failure") || (parts.Length > 1 && parts[0] != "on-failure"))
        {
            throw new UsageException($"invalid restart policy '{value}': use no, always, unless-stopped or on-failure[:max-retries]");
        }
        var policy = new JsonObject { ["Name"] = parts[0] == "no" ? "" : parts[0] };
        if (parts.Length > 1)
        {
            policy["MaximumRetryCount"] = int.TryParse(parts[1], CultureInfo.InvariantCulture, out var n) && n >= 0
                ? n
                : throw new UsageException($"invalid restart policy '{value}': maximum retry count must be a non-negative number");
        }
        return policy;
    }

    private static JsonObject? Healthcheck(ParsedFlags f)
    {
        if (f.Bool("no-healthcheck"))
        {
            return new JsonObject { ["Test"] = new JsonArray("NONE") };
        }
        var any = false;
        var hc = new JsonObject();
        if (f.Value("health-cmd") is { } cmd)
        {
            hc["Test"] = new JsonArray("CMD-SHELL", cmd);
            any = true;
        }
        foreach (var (flag, field) in new[] { ("health-interval", "Interval"), ("health-timeout", "Timeout"), ("health-start-period", "StartPeriod") })
        {
            if (f.Value(flag) is { } d)
            {
                hc[field] = Units.ParseDurationNanos(d, "--" + flag);
                any = true;
            }
        }
        if (f.Int("health-retries") is { } retries)
        {
            hc["Retries"] = retries;
            any = true;
        }
        return any ? hc : null;
    }

    /// <summary>
    /// -e NAME=value, and -e NAME alone (taken from this process's environment, dropped when unset), as docker does;
    /// --env-file lines in the same forms, # comments skipped.
    /// </summary>
    public static List<string> Env(ParsedFlags f)
    {
        var result = new List<string>();
        foreach (var e in f.List("env-file").SelectMany(ReadLines).Concat(f.List("env")))
        {
            if (e.Length == 0 || e[0] == '=')
            {
                throw new UsageException($"invalid environment variable: '{e}'");
            }
            if (e.Contains('=', StringComparison.Ordinal))
            {
                result.Add(e);
            }
            else if (Environment.GetEnvironmentVariable(e) is { } value)
            {
                result.Add(e + "=" + value);
            }
        }
        return result;
    }

    private static IEnumerable<string> ReadLines(string file)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(file);
        }
        catch (IOException e)
        {
            throw new UsageException($"open {file}: {e.Message}");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UsageException($"open {file}: {e.Message}");
        }
        return lines.Select(l => l.TrimStart()).Where(l => l.Length > 0 && !l.StartsWith('#'));
    }

    /// <summary>
    /// -v forms: /host:/ctr[:opts], ./rel:/ctr (made absolute), name:/ctr (a named volume), /ctr alone (an
    /// anonymous volume). Returns the Binds entry, or the anonymous volume's path.
    /// </summary>
    public static (string? Bind, string? Anonymous) Volume(string spec)
    {
        var parts = spec.Split(':');
        if (spec.Length == 0 || parts.Any(p => p.Length == 0) || parts.Length > 3)
        {
            throw new UsageException($"invalid argument \"{spec}\" for \"-v, --volume\" flag: invalid spec: {spec}");
        }
        if (parts.Length == 1)
        {
            return parts[0].StartsWith('/') ? (null, parts[0]) : throw new UsageException($"invalid argument \"{spec}\" for \"-v, --volume\" flag: invalid volume specification: '{spec}': the container path must be absolute");
        }
        if (parts.Length == 3 && parts[2].Split(',').Any(o => o is not ("ro" or "rw" or "z" or "Z" or "shared" or "rshared" or "slave" or "rslave" or "private" or "rprivate" or "nocopy")))
        {
            throw new UsageException($"invalid argument \"{spec}\" for \"-v, --volume\" flag: invalid mode: {parts[2]}");
        }
        if (!parts[1].StartsWith('/'))
        {
            throw new UsageException($"invalid argument \"{spec}\" for \"-v, --volume\" flag: invalid volume specification: '{spec}': the container path must be absolute");
        }
        if (parts[0].StartsWith('.') || parts[0].StartsWith('~'))
        {
            parts[0] = Path.GetFullPath(parts[0].StartsWith('~') ? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) + parts[0][1..] : parts[0]);
        }
        return (string.Join(':', parts), null);
    }

    /// <summary>--mount type=bind,source=/a,target=/b,readonly (and volume, tmpfs with tmpfs-size/tmpfs-mode).</summary>
    public static JsonObject Mount(string spec)
    {
        var m = new JsonObject { ["Type"] = "volume" };
        foreach (var field in spec.Split(','))
        {
            var kv = field.Split('=', 2);
            var key = kv[0].Trim().ToLowerInvariant();
            var value = kv.Length > 1 ? kv[1] : null;
            switch (key)
            {
                case "type":
                    m["Type"] = value is "bind" or "volume" or "tmpfs" ? value : throw new UsageException($"invalid argument \"{spec}\" for \"--mount\" flag: invalid mount type '{value}' (bind, volume or tmpfs)");
                    break;
                case "source" or "src":
                    m["Source"] = value;
                    break;
                case "target" or "destination" or "dst":
                    m["Target"] = value;
                    break;
                case "readonly" or "ro":
                    m["ReadOnly"] = value is null or "true" or "1";
                    break;
                case "tmpfs-size":
                    (m["TmpfsOptions"] as JsonObject ?? (JsonObject)(m["TmpfsOptions"] = new JsonObject()))["SizeBytes"] = Units.ParseBytes(value ?? "", "--mount");
                    break;
                case "tmpfs-mode":
                    (m["TmpfsOptions"] as JsonObject ?? (JsonObject)(m["TmpfsOptions"] = new JsonObject()))["Mode"] = Convert.ToInt32(value ?? "0", 8);
                    break;
                case "bind-propagation":
                    m["BindOptions"] = new JsonObject { ["Propagation"] = value };
                    break;
                case "volume-nocopy":
                    VolumeOptions(m)["NoCopy"] = value is null or "true" or "1";
                    break;
                case "volume-label" or "volume-opt":
                    if (!KeyValueFlags.TrySplit(value ?? "", allowBare: false, out var k, out var v))
                    {
                        throw new UsageException($"invalid argument \"{spec}\" for \"--mount\" flag: invalid {key} '{value}': use key=value");
                    }
                    var target = key == "volume-label" ? VolumeOptions(m) : DriverConfig(m);
                    var name = key == "volume-label" ? "Labels" : "Options";
                    (target[name] as JsonObject ?? (JsonObject)(target[name] = new JsonObject()))[k] = v;
                    break;
                case "volume-driver":
                    DriverConfig(m)["Name"] = value;
                    break;
                case "volume-subpath":
                    VolumeOptions(m)["Subpath"] = value;
                    break;
                default:
                    throw new UsageException($"invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{key}' in '{field}'");
            }
        }
        if (m["Target"] is null)
        {
            throw new UsageException($"invalid argument \"{spec}\" for \"--mount\" flag: target is required");
        }
        if (m["Type"]!.GetValue<string>() == "bind" && m["Source"] is null)
        {
            throw new UsageException($"invalid argument \"{spec}\" for \"--mount\" flag: source is required when specifying bind mounts");
        }
        return m;
    }

    private static JsonObject VolumeOptions(JsonObject m) => m["VolumeOptions"] as JsonObject ?? (JsonObject)(m["VolumeOptions"] = new JsonObject());

    private static JsonObject DriverConfig(JsonObject m) => VolumeOptions(m)["DriverConfig"] as JsonObject ?? (JsonObject)(VolumeOptions(m)["DriverConfig"] = new JsonObject());

    /// <summary>
    /// -p [ip:][hostPort[-end]:]containerPort[-end][/proto], parsed once: a container port range becomes one binding
    /// per port, as the docker CLI sends them ("8080-8081:80-81" → 8080→80, 8081→81); a host range with one
    /// container port stays a range (the daemon picks a free port in it).
    /// </summary>
    public static IEnumerable<(string Port, string HostIp, string HostPort)> Publish(string spec)
    {
        UsageException Bad(string why) => new($"invalid argument \"{spec}\" for \"-p, --publish\" flag: {why}");
        var proto = "tcp";
        var s = spec;
        var slash = s.LastIndexOf('/');
        if (slash > 0)
        {
            proto = s[(slash + 1)..];
            s = s[..slash];
        }
        // [::1]:8080:80 — an IPv6 host address in brackets.
        var bracketIp = "";
        if (s.StartsWith('[') && s.IndexOf("]:", StringComparison.Ordinal) is var close and > 0)
        {
            bracketIp = s[1..close];
            s = "x" + s[(close + 1)..];
        }
        var parts = s.Split(':');
        if (bracketIp.Length > 0)
        {
            parts[0] = bracketIp;
        }
        var (ip, hostPorts, container) = parts.Length switch
        {
            1 => ("", "", parts[0]),
            2 => ("", parts[0], parts[1]),
            3 => (parts[0], parts[1], parts[2]),
            _ => throw Bad("invalid publish spec"),
        };
        var dash = container.IndexOf('-', StringComparison.Ordinal);
        var startText = dash < 0 ? container : container[..dash];
        var endText = dash < 0 ? container : container[(dash + 1)..];
        if (!int.TryParse(startText, CultureInfo.InvariantCulture, out var start) || !int.TryParse(endText, CultureInfo.InvariantCulture, out var end) ||
            end < start || start < 1 || end > 65535 || proto is not ("tcp" or "udp" or "sctp"))
        {
            throw Bad($"invalid containerPort: {container}");
        }
        if (start == end)
        {
            return [($"{start}/{proto}", ip, hostPorts)];
        }
        var hostStart = 0;
        if (hostPorts.Length > 0)
        {
            var hostDash = hostPorts.IndexOf('-', StringComparison.Ordinal);
            var hs = hostDash < 0 ? hostPorts : hostPorts[..hostDash];
            var he = hostDash < 0 ? hostPorts : hostPorts[(hostDash + 1)..];
            if (!int.TryParse(hs, CultureInfo.InvariantCulture, out hostStart) || !int.TryParse(he, CultureInfo.InvariantCulture, out var hostEnd) || hostEnd - hostStart != end - start)
            {
                throw Bad($"invalid ranges specified for container and host Ports: {container} and {hostPorts}");
            }
        }
        return [.. Enumerable.Range(start, end - start + 1).Select(p =>
            ($"{p}/{proto}", ip, hostPorts.Length == 0 ? "" : (hostStart + (p - start)).ToString(CultureInfo.InvariantCulture)))];
    }

    private static JsonObject Ulimit(string spec)
    {
        var kv = spec.Split('=', 2);
        var limits = kv.Length == 2 ? kv[1].Split(':') : [];
        if (kv.Length != 2 || limits.Length is < 1 or > 2 || !long.TryParse(limits[0], CultureInfo.InvariantCulture, out var soft))
        {
            throw new UsageException($"invalid argument \"{spec}\" for \"--ulimit\" flag: expected name=soft[:hard]");
        }
        var hard = limits.Length == 2 && long.TryParse(limits[1], CultureInfo.InvariantCulture, out var h) ? h : soft;
        return new JsonObject { ["Name"] = kv[0], ["Soft"] = soft, ["Hard"] = hard };
    }

    public static JsonArray Array(IEnumerable<string> items) => new([.. items.Select(i => (JsonNode?)JsonValue.Create(i))]);

    public static JsonArray Array(IEnumerable<JsonObject> items) => new([.. items.Cast<JsonNode?>()]);

    private static void SetIf(JsonObject o, string key, string? value)
    {
        if (value is not null)
        {
            o[key] = value;
        }
    }
}
