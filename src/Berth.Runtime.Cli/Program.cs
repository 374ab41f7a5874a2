using System.Globalization;
using System.Text.Json;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime.Cli;

/// <summary>berth-runtime: an OCI runtime whose command line matches runc's.</summary>
public static class Program
{
    private static readonly string[] GlobalValueFlags = ["root", "log", "log-format", "criu", "rootless"];
    private static readonly string[] GlobalSwitches = ["debug", "systemd-cgroup", "help|h", "version|v"];

    public static int Main(string[] argv)
    {
        PhaseTimer.Mark("main");
        // The container-side modes come first and skip all parsing: they are on the start-up hot path.
        if (argv.Length > 0 && argv[0] == "init")
        {
            return ContainerInit.Run(argv);
        }
        if (argv.Length > 0 && argv[0] == "exec-init")
        {
            return ExecInit.Run(argv);
        }
        var log = new RuntimeLog();
        try
        {
            var verbIndex = 0;
            var global = ParseGlobal(argv, ref verbIndex);
            log.Configure(global.Value("log"), global.Value("log-format") ?? "text", global.Has("debug"));
            if (global.Has("version"))
            {
                Console.Out.Write(Commands.Version());
                return 0;
            }
            if (verbIndex >= argv.Length || global.Has("help"))
            {
                Console.Out.Write(Commands.Usage);
                return verbIndex >= argv.Length && !global.Has("help") ? 1 : 0;
            }
            if (global.Has("systemd-cgroup"))
            {
                throw BerthException.Unsupported("--systemd-cgroup: berth-runtime manages cgroups through cgroupfs; drop the flag (podman: cgroup_manager = \"cgroupfs\")");
            }
            if (global.Value("rootless") is { } rootless && rootless is not ("false" or "auto"))
            {
                throw BerthException.Unsupported("--rootless=" + rootless + ": run berth-runtime as root");
            }
            var runtime = new ContainerRuntime(new StateDirectory(global.Value("root") ?? StateDirectory.DefaultRoot), Environment.ProcessPath!)
            {
                Warn = log.Warn,
            };
            return new Commands(runtime, log).Dispatch(argv, verbIndex);
        }
        catch (BerthException e)
        {
            log.Error(e.Message);
            return 1;
        }
        catch (LinuxSyscallException e)
        {
            log.Error(e.Message);
            return 1;
        }
        catch (IOException e)
        {
            log.Error(e.Message);
            return 1;
        }
        catch (UnauthorizedAccessException e)
        {
            log.Error(e.Message);
            return 1;
        }
    }

    private static Args ParseGlobal(string[] argv, ref int verbIndex)
    {
        var prefix = new List<string>();
        while (verbIndex < argv.Length && argv[verbIndex].StartsWith('-'))
        {
            var a = argv[verbIndex];
            prefix.Add(a);
            verbIndex++;
            var name = a.TrimStart('-');
            if (!name.Contains('=', StringComparison.Ordinal) && Array.Exists(GlobalValueFlags, f => f == name) && verbIndex < argv.Length)
            {
                prefix.Add(argv[verbIndex]);
                verbIndex++;
            }
        }
        return Args.Parse(prefix, 0, "berth-runtime", GlobalValueFlags, GlobalSwitches);
    }
}

/// <summary>Errors and warnings to stderr and, with --log, to a file in runc's formats (podman reads the JSON one).</summary>
internal sealed class RuntimeLog
{
    private string? _file;
    private bool _json;
    private bool _debug;

    public void Configure(string? file, string format, bool debug)
    {
        if (format is not ("text" or "json"))
        {
            throw BerthException.InvalidArgument($"--log-format: \"{format}\" is invalid; use text or json");
        }
        _file = file;
        _json = format == "json";
        _debug = debug;
    }

    public void Error(string message)
    {
        Console.Error.WriteLine("berth-runtime: " + message);
        Write("error", message);
    }

    public void Warn(string message)
    {
        Console.Error.WriteLine("berth-runtime: warning: " + message);
        Write("warning", message);
    }

    public void Debug(string message)
    {
        if (_debug)
        {
            Write("debug", message);
        }
    }

    private void Write(string level, string message)
    {
        if (_file is null)
        {
            return;
        }
        var time = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture);
        string line;
        if (_json)
        {
            line = "{\"level\":\"" + level + "\",\"msg\":" + JsonSerializer.Serialize(message, CliJsonContext.Default.String) + ",\"time\":\"" + time + "\"}";
        }
        else
        {
            line = $"time=\"{time}\" level={level} msg=\"{message.Replace("\"", "\\\"", StringComparison.Ordinal)}\"";
        }
        try
        {
            File.AppendAllText(_file, line + "\n");
        }
        catch (IOException)
        {
        }
    }
}
