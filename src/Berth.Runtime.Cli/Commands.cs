using System.Globalization;
using System.Text;
using System.Text.Json;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime.Cli;

/// <summary>The verbs, each parsing its own flags and calling <see cref="ContainerRuntime"/>.</summary>
internal sealed class Commands(ContainerRuntime runtime, RuntimeLog log)
{
    public const string Usage = """
        berth-runtime: an OCI container runtime with runc's command line

        Usage: berth-runtime [global flags] <command> [flags] <container-id> [args]

        Commands:
          spec      write a default config.json into the bundle
          create    create a container (init waits for start)
          start     start the user process of a created container
          run       create and start a container, wait for it and delete it (unless --detach)
          state     print the OCI state of a container as JSON
          kill      send a signal (default SIGTERM) to the container's init, or with --all to every process
          delete    delete a container (--force kills a running one)
          exec      run another process in a running container
          list      list containers
          ps        list the processes of a container
          pause     freeze every process of a container
          resume    thaw a paused container
          update    change the resource limits of a container
          events    print a container's stats (--stats) or OOM events
          features  print what this runtime supports, as JSON

        Global flags:
          --root DIR          state directory (default /run/berth-runtime)
          --log FILE          also write errors (and --debug lines) to FILE
          --log-format FMT    text or json
          --debug             log debug lines
          --version           print the version

        """;

    public static string Version() => "berth-runtime version 0.1.0\nspec: 1.2.0\n";

    public int Dispatch(string[] argv, int verbIndex)
    {
        var verb = argv[verbIndex];
        var start = verbIndex + 1;
        log.Debug("berth-runtime " + string.Join(' ', argv));
        if (argv.Skip(start).Take(1).Any(a => a is "--help" or "-h"))
        {
            Console.Out.Write(Usage);
            return 0;
        }
        return verb switch
        {
            "spec" => Spec(Args.Parse(argv, start, verb, ["bundle|b"], ["rootless"])),
            "create" => Create(Args.Parse(argv, start, verb, ["bundle|b", "pid-file", "console-socket", "preserve-fds"], ["no-pivot", "no-new-keyring"])),
            "start" => Start(Args.Parse(argv, start, verb, [], [])),
            "run" => Run(Args.Parse(argv, start, verb, ["bundle|b", "pid-file", "console-socket", "preserve-fds"], ["detach|d", "no-pivot", "no-new-keyring", "keep"])),
            "state" => State(Args.Parse(argv, start, verb, [], [])),
            "kill" => Kill(Args.Parse(argv, start, verb, [], ["all|a"])),
            "delete" => Delete(Args.Parse(argv, start, verb, [], ["force|f"])),
            "exec" => Exec(argv, start),
            "list" or "ls" => List(Args.Parse(argv, start, verb, ["format|f"], ["quiet|q"])),
            "ps" => Ps(Args.Parse(argv, start, verb, ["format|f"], [], stopAtFirstPositionalAfter: true, stopAfterPositionals: 1)),
            "pause" => Simple(Args.Parse(argv, start, verb, [], []), runtime.Pause, verb),
            "resume" => Simple(Args.Parse(argv, start, verb, [], []), runtime.Resume, verb),
            "update" => Update(Args.Parse(argv, start, verb,
                ["resources|r", "memory", "memory-reservation", "memory-swap", "kernel-memory", "kernel-memory-tcp", "cpu-shares", "cpu-quota", "cpu-period",
                    "cpu-rt-runtime", "cpu-rt-period", "cpuset-cpus", "cpuset-mems", "pids-limit", "blkio-weight", "l3-cache-schema", "mem-bw-schema"], [])),
            "events" => Events(Args.Parse(argv, start, verb, ["interval"], ["stats"])),
            "features" => Features(),
            "checkpoint" or "restore" => throw BerthException.Unsupported(verb + " (no CRIU support)"),
            _ => throw BerthException.InvalidArgument($"unknown command \"{verb}\"; see `berth-runtime --help`"),
        };
    }

    private static int Spec(Args args)
    {
        if (args.Has("rootless"))
        {
            throw BerthException.Unsupported("spec --rootless: berth-runtime runs containers as root");
        }
        var bundle = args.Value("bundle") ?? ".";
        var path = Path.Combine(bundle, "config.json");
        if (File.Exists(path))
        {
            throw BerthException.AlreadyExists($"{path} exists; remove it first");
        }
        AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(DefaultSpec.Create(), OciJsonContext.Default.Spec));
        return 0;
    }

    private static CreateOptions CreateOptionsFrom(Args args, string verb) => new(
        args.Id(verb),
        args.Value("bundle") ?? ".",
        args.Value("pid-file"),
        args.Value("console-socket"),
        args.Int("preserve-fds", 0));

    private int Create(Args args)
    {
        runtime.Create(CreateOptionsFrom(args, "create"));
        return 0;
    }

    private int Start(Args args)
    {
        runtime.Start(args.Id("start"));
        return 0;
    }

    private int Run(Args args) => runtime.Run(CreateOptionsFrom(args, "run"), args.Has("detach"));

    private int State(Args args)
    {
        Console.Out.WriteLine(ContainerRuntime.StateJson(runtime.GetState(args.Id("state"))));
        return 0;
    }

    private int Kill(Args args)
    {
        var id = args.Id("kill");
        var signalText = args.Positional.Count > 1 ? args.Positional[1] : "SIGTERM";
        var signal = Signals.Parse(signalText);
        if (signal < 0)
        {
            throw BerthException.InvalidArgument($"kill: unknown signal \"{signalText}\"; use a name such as SIGTERM or KILL, or a number");
        }
        runtime.Kill(id, signal, args.Has("all"));
        return 0;
    }

    private int Delete(Args args)
    {
        runtime.Delete(args.Id("delete"), args.Has("force"));
        return 0;
    }

    private int Exec(string[] argv, int start)
    {
        var args = Args.Parse(argv, start, "exec",
            ["process|p", "pid-file", "console-socket", "env|e", "cwd", "user|u", "additional-gids|g", "cap|c", "preserve-fds", "process-label", "apparmor", "cgroup"],
            ["tty|t", "detach|d", "no-new-privs", "ignore-paused"],
            stopAtFirstPositionalAfter: true, stopAfterPositionals: 1);
        var id = args.Id("exec");
        Process process;
        if (args.Value("process") is { } processFile)
        {
            try
            {
                var bytes = File.ReadAllBytes(processFile);
                try
                {
                    process = SpecReader.ReadProcess(bytes);
                }
                catch (JsonException e)
                {
                    throw BerthException.InvalidArgument($"{processFile}: process {SpecLoader.Describe(e, bytes)}");
                }
            }
            catch (FileNotFoundException)
            {
                throw BerthException.NotFound($"process file {processFile} does not exist");
            }
        }
        else
        {
            process = runtime.BaseProcess(id);
            process.Args = [.. args.Positional.Skip(1)];
            process.Terminal = args.Has("tty");
            process.ConsoleSize = null;
        }
        if (args.Values("env") is { Count: > 0 } env)
        {
            process.Env = [.. process.Env ?? [], .. env];
        }
        if (args.Value("cwd") is { } cwd)
        {
            process.Cwd = cwd;
        }
        if (args.Value("user") is { } user)
        {
            var parts = user.Split(':');
            process.User = new User
            {
                Uid = ParseId(parts[0], "--user"),
                Gid = parts.Length > 1 ? ParseId(parts[1], "--user") : 0,
            };
        }
        foreach (var g in args.Values("additional-gids"))
        {
            process.User.AdditionalGids = [.. process.User.AdditionalGids ?? [], ParseId(g, "--additional-gids")];
        }
        if (args.Values("cap") is { Count: > 0 } extraCaps && process.Capabilities is { } caps)
        {
            caps.Bounding = [.. caps.Bounding ?? [], .. extraCaps];
            caps.Effective = [.. caps.Effective ?? [], .. extraCaps];
            caps.Permitted = [.. caps.Permitted ?? [], .. extraCaps];
        }
        if (args.Has("no-new-privs"))
        {
            process.NoNewPrivileges = true;
        }
        if (args.Has("tty"))
        {
            process.Terminal = true;
        }
        return runtime.Exec(new ExecOptions(id, process, args.Has("detach"), args.Value("pid-file"), args.Value("console-socket"), args.Int("preserve-fds", 0)));
    }

    private static uint ParseId(string text, string flag) =>
        uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw BerthException.InvalidArgument($"{flag}: \"{text}\" is not a numeric id (names are not resolved by the runtime)");

    private int List(Args args)
    {
        var states = runtime.List().ToList();
        if (args.Has("quiet"))
        {
            foreach (var s in states)
            {
                Console.Out.WriteLine(s.Id);
            }
            return 0;
        }
        var format = args.Value("format") ?? "table";
        if (format == "json")
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(states, CliJsonContext.Default.ListState));
            return 0;
        }
        if (format != "table")
        {
            throw BerthException.InvalidArgument($"list --format: \"{format}\" is invalid; use table or json");
        }
        var sb = new StringBuilder();
        sb.AppendLine("ID          PID         STATUS      BUNDLE                                   CREATED                          OWNER");
        foreach (var s in states)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{s.Id,-12}{s.Pid,-12}{s.Status,-12}{s.Bundle,-41}{s.Created:O}     {s.Owner}\n");
        }
        Console.Out.Write(sb.ToString());
        return 0;
    }

    private int Ps(Args args)
    {
        var id = args.Id("ps");
        var pids = runtime.Pids(id);
        var format = args.Value("format") ?? "table";
        if (format == "json")
        {
            Console.Out.WriteLine("[" + string.Join(",", pids) + "]");
            return 0;
        }
        if (format != "table")
        {
            throw BerthException.InvalidArgument($"ps --format: \"{format}\" is invalid; use table or json");
        }
        // Like runc: run ps(1) with the caller's options and keep the header plus the container's lines.
        var psArgs = args.Positional.Count > 1 ? args.Positional.Skip(1).ToList() : ["-ef"];
        var (outRead, outWrite) = Sys.Pipe(cloexec: true);
        var psPid = Spawn.Start("/bin/ps", ["ps", .. psArgs], Spawn.CurrentEnvironment(), (-1, outWrite, -1));
        Sys.Close(outWrite);
        var output = new MemoryStream();
        var buffer = new byte[8192];
        int n;
        while ((n = Sys.Read(outRead, buffer)) > 0)
        {
            output.Write(buffer, 0, n);
        }
        Sys.Close(outRead);
        Sys.WaitPid(psPid, noHang: false, out _);
        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0)
        {
            return 1;
        }
        var header = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var pidColumn = Array.IndexOf(header, "PID");
        if (pidColumn < 0)
        {
            throw BerthException.InvalidArgument("ps: the ps options must include the PID column");
        }
        var set = pids.ToHashSet();
        Console.Out.WriteLine(lines[0]);
        foreach (var line in lines.Skip(1))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > pidColumn && int.TryParse(fields[pidColumn], CultureInfo.InvariantCulture, out var pid) && set.Contains(pid))
            {
                Console.Out.WriteLine(line);
            }
        }
        return 0;
    }

    private static int Simple(Args args, Action<string> action, string verb)
    {
        action(args.Id(verb));
        return 0;
    }

    private int Update(Args args)
    {
        var id = args.Id("update");
        Resources resources;
        if (args.Value("resources") is { } file)
        {
            var bytes = file == "-" ? ReadStdin() : File.ReadAllBytes(file);
            try
            {
                resources = SpecReader.ReadResources(bytes);
            }
            catch (JsonException e)
            {
                throw BerthException.InvalidArgument($"update --resources {(file == "-" ? "(stdin)" : file)}: resources {SpecLoader.Describe(e, bytes)}");
            }
        }
        else
        {
            resources = new Resources();
        }
        if (Bytes(args, "memory") is { } memory)
        {
            (resources.Memory ??= new MemoryResources()).Limit = memory;
        }
        if (Bytes(args, "memory-reservation") is { } reservation)
        {
            (resources.Memory ??= new MemoryResources()).Reservation = reservation;
        }
        if (Bytes(args, "memory-swap") is { } swap)
        {
            (resources.Memory ??= new MemoryResources()).Swap = swap;
        }
        if (Number(args, "cpu-shares") is { } shares)
        {
            (resources.Cpu ??= new CpuResources()).Shares = (ulong)shares;
        }
        if (Number(args, "cpu-quota") is { } quota)
        {
            (resources.Cpu ??= new CpuResources()).Quota = quota;
        }
        if (Number(args, "cpu-period") is { } period)
        {
            (resources.Cpu ??= new CpuResources()).Period = (ulong)period;
        }
        if (args.Value("cpuset-cpus") is { } cpus)
        {
            (resources.Cpu ??= new CpuResources()).Cpus = cpus;
        }
        if (args.Value("cpuset-mems") is { } mems)
        {
            (resources.Cpu ??= new CpuResources()).Mems = mems;
        }
        if (Number(args, "pids-limit") is { } pids)
        {
            resources.Pids = new PidsResources { Limit = pids };
        }
        if (Number(args, "blkio-weight") is { } weight)
        {
            resources.BlockIO = new BlockIoResources { Weight = (ushort)weight };
        }
        foreach (var unsupported in new[] { "kernel-memory", "kernel-memory-tcp", "cpu-rt-runtime", "cpu-rt-period", "l3-cache-schema", "mem-bw-schema" })
        {
            if (args.Value(unsupported) is not null)
            {
                throw BerthException.Unsupported("update --" + unsupported);
            }
        }
        runtime.Update(id, resources);
        return 0;
    }

    private static byte[] ReadStdin()
    {
        using var stdin = Console.OpenStandardInput();
        using var ms = new MemoryStream();
        stdin.CopyTo(ms);
        return ms.ToArray();
    }

    private static long? Number(Args args, string name)
    {
        var v = args.Value(name);
        if (v is null)
        {
            return null;
        }
        return long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw BerthException.InvalidArgument($"update --{name}: \"{v}\" is not a number");
    }

    /// <summary>Bytes with optional k/m/g/t suffix (binary units, as runc and docker read them); -1 means unlimited.</summary>
    internal static long? Bytes(Args args, string name)
    {
        var v = args.Value(name);
        if (v is null)
        {
            return null;
        }
        var text = v.Trim().ToLowerInvariant();
        if (text == "-1")
        {
            return -1;
        }
        if (text.EndsWith('b'))
        {
            text = text[..^1];
        }
        long multiplier = 1;
        if (text.Length > 0 && "kmgt".Contains(text[^1], StringComparison.Ordinal))
        {
            multiplier = text[^1] switch { 'k' => 1L << 10, 'm' => 1L << 20, 'g' => 1L << 30, _ => 1L << 40 };
            text = text[..^1];
        }
        return decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number) && number >= 0
            ? (long)(number * multiplier)
            : throw BerthException.InvalidArgument($"update --{name}: \"{v}\" is not a size; use bytes or a number with k, m, g or t");
    }

    private int Events(Args args)
    {
        var id = args.Id("events");
        if (args.Has("stats"))
        {
            Console.Out.WriteLine(StatsJson(id));
            return 0;
        }
        var interval = TimeSpan.FromSeconds(5);
        if (args.Value("interval") is { } text)
        {
            interval = ParseDuration(text);
        }
        var lastOom = runtime.Stats(id).OomKills;
        var nextStats = DateTime.UtcNow;
        while (runtime.GetState(id).Status != "stopped")
        {
            var stats = runtime.Stats(id);
            if (stats.OomKills > lastOom)
            {
                lastOom = stats.OomKills;
                Console.Out.WriteLine("{\"type\":\"oom\",\"id\":" + JsonSerializer.Serialize(id, CliJsonContext.Default.String) + "}");
            }
            if (DateTime.UtcNow >= nextStats)
            {
                Console.Out.WriteLine(StatsJson(id));
                nextStats = DateTime.UtcNow + interval;
            }
            Console.Out.Flush();
            Thread.Sleep(200);
        }
        return 0;
    }

    private static TimeSpan ParseDuration(string text)
    {
        var units = new (string Suffix, double Seconds)[] { ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600) };
        foreach (var (suffix, seconds) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(text[..^suffix.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var v) && v > 0)
            {
                return TimeSpan.FromSeconds(v * seconds);
            }
        }
        throw BerthException.InvalidArgument($"events --interval: \"{text}\" is not a duration such as 5s or 500ms");
    }

    private string StatsJson(string id)
    {
        var s = runtime.Stats(id);
        var sb = new StringBuilder();
        sb.Append("{\"type\":\"stats\",\"id\":").Append(JsonSerializer.Serialize(id, CliJsonContext.Default.String)).Append(",\"data\":{");
        var parts = new List<string>();
        if (s.Cpu is { } cpu)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture,
                $"\"cpu\":{{\"usage\":{{\"total\":{cpu.UsageNanoseconds},\"kernel\":{cpu.SystemNanoseconds},\"user\":{cpu.UserNanoseconds}}},\"throttling\":{{\"periods\":{cpu.Periods},\"throttledPeriods\":{cpu.ThrottledPeriods},\"throttledTime\":{cpu.ThrottledNanoseconds}}}}}"));
        }
        if (s.Memory is { } mem)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture,
                $"\"memory\":{{\"usage\":{{\"usage\":{mem.Usage},\"max\":{mem.MaxUsage},\"limit\":{mem.Limit},\"failcnt\":{mem.Failcnt}}},\"oom_kills\":{s.OomKills}}}"));
        }
        if (s.Pids is { } pids)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"\"pids\":{{\"current\":{pids.Current},\"limit\":{pids.Limit}}}"));
        }
        sb.Append(string.Join(",", parts)).Append("}}");
        return sb.ToString();
    }

    private static int Features()
    {
        var mountOptions = new[]
        {
            "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "lazytime", "mand", "noatime", "nodev",
            "nodiratime", "noexec", "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private", "rbind", "relatime", "remount",
            "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "silent", "slave", "strictatime", "suid", "sync", "unbindable",
        };
        var json = new StringBuilder();
        json.Append("{\"ociVersionMin\":\"1.0.0\",\"ociVersionMax\":\"1.2.0\",");
        json.Append("\"hooks\":[\"prestart\",\"createRuntime\",\"createContainer\",\"startContainer\",\"poststart\",\"poststop\"],");
        json.Append("\"mountOptions\":[").Append(string.Join(",", mountOptions.Select(o => "\"" + o + "\""))).Append("],");
        json.Append("\"linux\":{\"namespaces\":[\"cgroup\",\"ipc\",\"mount\",\"network\",\"pid\",\"time\",\"uts\"],");
        json.Append("\"capabilities\":[").Append(string.Join(",", Capability.All.Select(c => "\"" + c + "\""))).Append("],");
        json.Append("\"cgroup\":{\"v1\":true,\"v2\":true,\"systemd\":false,\"systemdUser\":false},");
        json.Append("\"seccomp\":{\"enabled\":true,\"actions\":[\"SCMP_ACT_ALLOW\",\"SCMP_ACT_ERRNO\",\"SCMP_ACT_KILL\",\"SCMP_ACT_KILL_PROCESS\",\"SCMP_ACT_KILL_THREAD\",\"SCMP_ACT_LOG\",\"SCMP_ACT_TRACE\",\"SCMP_ACT_TRAP\"],");
        json.Append("\"operators\":[\"SCMP_CMP_EQ\",\"SCMP_CMP_GE\",\"SCMP_CMP_GT\",\"SCMP_CMP_LE\",\"SCMP_CMP_LT\",\"SCMP_CMP_MASKED_EQ\",\"SCMP_CMP_NE\"],");
        json.Append("\"archs\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\",\"SCMP_ARCH_AARCH64\"]},");
        json.Append("\"apparmor\":{\"enabled\":false},\"selinux\":{\"enabled\":false}},");
        json.Append("\"annotations\":{\"org.opencontainers.runtime-spec.features\":\"berth-runtime\"}}");
        Console.Out.WriteLine(json.ToString());
        return 0;
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(
    PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
[System.Text.Json.Serialization.JsonSerializable(typeof(List<State>), TypeInfoPropertyName = "ListState")]
internal sealed partial class CliJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
