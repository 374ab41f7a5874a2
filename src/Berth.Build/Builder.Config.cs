using System.Globalization;
using System.Text.Json;

namespace Berth.Build;

public sealed partial class Builder
{
    /// <summary>Instructions that change only the image config (no layer).</summary>
    private static StepWork PrepareMetadata(BuildRun run, StageState state, Instruction instruction)
    {
        var env = state.ExpansionEnv();
        string Expand(string word) => run.Lex.ProcessWord(word, env);
        var shell = state.Config.Config.Shell is { Count: > 0 } s ? s : ["/bin/sh", "-c"];
        Action<ContainerConfigDraft> apply;
        string history;
        Action? after = null;

        switch (instruction)
        {
            case EnvInstruction e:
                {
                    // Every value on the line expands with the environment from before the line.
                    var pairs = e.Pairs.Select(p => (Key: Expand(p.Key), Value: Expand(p.Value))).ToList();
                    apply = c =>
                    {
                        foreach (var (k, v) in pairs)
                        {
                            c.SetEnv(k, v);
                        }
                    };
                    history = "ENV " + string.Join(' ', pairs.Select(p => p.Key + "=" + p.Value));
                    break;
                }
            case LabelInstruction l:
                {
                    var pairs = l.Pairs.Select(p => (Key: Expand(p.Key), Value: Expand(p.Value))).ToList();
                    apply = c =>
                    {
                        c.Labels ??= [];
                        foreach (var (k, v) in pairs)
                        {
                            c.Labels[k] = v;
                        }
                    };
                    history = "LABEL " + string.Join(' ', pairs.Select(p => p.Key + "=" + p.Value));
                    break;
                }
            case CmdInstruction cmd:
                {
                    var argv = cmd.Command.ToArgv(shell).ToList();
                    apply = c => c.Cmd = argv;
                    history = "CMD " + Json(argv);
                    after = () => state.CmdSet = true;
                    break;
                }
            case EntrypointInstruction ep:
                {
                    var argv = ep.Command.ToArgv(shell).ToList();
                    var resetCmd = !state.CmdSet;
                    apply = c =>
                    {
                        c.Entrypoint = argv;
                        if (resetCmd)
                        {
                            // A CMD inherited from the base makes no sense with a new ENTRYPOINT.
                            c.Cmd = null;
                        }
                    };
                    history = "ENTRYPOINT " + Json(argv);
                    break;
                }
            case ShellInstruction sh:
                {
                    var argv = sh.Shell.ToList();
                    apply = c => c.Shell = argv;
                    history = "SHELL " + Json(argv);
                    break;
                }
            case ExposeInstruction ex:
                {
                    var ports = new List<string>();
                    foreach (var raw in ex.Ports)
                    {
                        foreach (var word in run.Lex.ProcessWords(raw, env))
                        {
                            ports.AddRange(ParsePorts(word, instruction));
                        }
                    }
                    apply = c =>
                    {
                        c.ExposedPorts ??= [];
                        foreach (var p in ports)
                        {
                            c.ExposedPorts[p] = new EmptyObject();
                        }
                    };
                    history = "EXPOSE " + string.Join(' ', ports);
                    break;
                }
            case VolumeInstruction v:
                {
                    var paths = v.Paths.Select(Expand).ToList();
                    if (paths.Any(p => p.Trim().Length == 0))
                    {
                        throw Error(instruction, "VOLUME specified can not be an empty string");
                    }
                    apply = c =>
                    {
                        c.Volumes ??= [];
                        foreach (var p in paths)
                        {
                            c.Volumes[p] = new EmptyObject();
                        }
                    };
                    history = "VOLUME " + Json(paths);
                    break;
                }
            case UserInstruction u:
                {
                    var user = Expand(u.User);
                    if (user.Length == 0)
                    {
                        throw Error(instruction, "USER expands to an empty string");
                    }
                    apply = c => c.User = user;
                    history = "USER " + user;
                    break;
                }
            case StopSignalInstruction ss:
                {
                    var signal = Expand(ss.Signal);
                    if (!IsValidSignal(signal))
                    {
                        throw Error(instruction, $"STOPSIGNAL: invalid signal \"{signal}\" (use a name such as SIGTERM or a number)");
                    }
                    apply = c => c.StopSignal = signal;
                    history = "STOPSIGNAL " + signal;
                    break;
                }
            case HealthcheckInstruction hc:
                {
                    var health = hc.Healthcheck;
                    apply = c => c.Healthcheck = new HealthcheckDraft
                    {
                        Test = [.. health.Test],
                        Interval = health.Interval,
                        Timeout = health.Timeout,
                        StartPeriod = health.StartPeriod,
                        StartInterval = health.StartInterval,
                        Retries = health.Retries,
                    };
                    history = "HEALTHCHECK " + Json(health.Test) + string.Create(CultureInfo.InvariantCulture,
                        $" interval={health.Interval} timeout={health.Timeout} start-period={health.StartPeriod} start-interval={health.StartInterval} retries={health.Retries}");
                    break;
                }
            case MaintainerInstruction m:
                {
                    var author = m.Maintainer;
                    return new StepWork
                    {
                        Descriptor = "MAINTAINER\0" + author,
                        History = "MAINTAINER " + author,
                        Execute = (_, _) =>
                        {
                            var config = state.Config.Clone();
                            config.Author = author;
                            return Task.FromResult((config, state.Layer));
                        },
                    };
                }
            case OnBuildInstruction ob:
                {
                    var trigger = ob.Trigger;
                    apply = c => (c.OnBuild ??= []).Add(trigger);
                    history = "ONBUILD " + trigger;
                    break;
                }
            default:
                throw Error(instruction, $"{instruction.Keyword} cannot be executed here");
        }

        return new StepWork
        {
            Descriptor = instruction.Keyword + "\0" + history,
            History = history,
            AfterState = after,
            Execute = (_, _) =>
            {
                var config = state.Config.Clone();
                apply(config.Config);
                return Task.FromResult((config, state.Layer));
            },
        };
    }

    private static string Json(IReadOnlyList<string> values) =>
        "[" + string.Join(',', values.Select(v => JsonSerializer.Serialize(v, BuildJsonContext.Default.String))) + "]";

    private static DockerfileException Error(Instruction instruction, string message) =>
        new(new DockerfileError(instruction.Location.File, instruction.Location.Line, message));

    /// <summary><c>80</c>, <c>80/udp</c>, <c>8000-8010/tcp</c> to "port/proto" keys, as Docker's nat.ParsePortSpecs.</summary>
    internal static IEnumerable<string> ParsePorts(string spec, Instruction instruction)
    {
        var slash = spec.IndexOf('/', StringComparison.Ordinal);
        var range = slash < 0 ? spec : spec[..slash];
        var proto = slash < 0 ? "tcp" : spec[(slash + 1)..].ToLowerInvariant();
        if (proto is not ("tcp" or "udp" or "sctp"))
        {
            throw Error(instruction, $"EXPOSE: invalid protocol \"{spec[(slash + 1)..]}\" in \"{spec}\" (use tcp, udp or sctp)");
        }
        var dash = range.IndexOf('-', StringComparison.Ordinal);
        var startText = dash < 0 ? range : range[..dash];
        var endText = dash < 0 ? range : range[(dash + 1)..];
        if (!ushort.TryParse(startText, NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            || !ushort.TryParse(endText, NumberStyles.None, CultureInfo.InvariantCulture, out var end) || start == 0 || end < start)
        {
            throw Error(instruction, $"EXPOSE: invalid port \"{spec}\" (use port[/protocol] or start-end[/protocol], ports 1-65535)");
        }
        for (int p = start; p <= end; p++)
        {
            yield return p.ToString(CultureInfo.InvariantCulture) + "/" + proto;
        }
    }

    private static readonly HashSet<string> SignalNames =
    [
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL",
        "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1",
        "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
    ];

    /// <summary>A signal Docker's signal.ParseSignal accepts: a number 1-64 or a name with or without SIG.</summary>
    internal static bool IsValidSignal(string signal)
    {
        if (int.TryParse(signal, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return number is >= 1 and <= 64;
        }
        var name = signal.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal))
        {
            name = name[3..];
        }
        if (SignalNames.Contains(name))
        {
            return true;
        }
        foreach (var (prefix, sign) in new[] { ("RTMIN+", 1), ("RTMAX-", -1) })
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal)
                && int.TryParse(name.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
            {
                var value = (sign > 0 ? 34 : 64) + (sign * offset);
                return value is >= 34 and <= 64;
            }
        }
        return false;
    }
}
