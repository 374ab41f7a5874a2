using Berth.Core;

namespace Berth.Runtime.Cli;

/// <summary>
/// runc-style command-line parsing: flags as --name value, --name=value or -x value; flags may come before or between
/// positional arguments; "--" ends flags. Each verb declares which flags take a value and which are switches.
/// </summary>
internal sealed class Args
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _switches = new(StringComparer.Ordinal);

    public List<string> Positional { get; } = [];

    public static Args Parse(IReadOnlyList<string> argv, int start, string verb, string[] valueFlags, string[] switchFlags, bool stopAtFirstPositionalAfter = false, int stopAfterPositionals = int.MaxValue)
    {
        var args = new Args();
        var i = start;
        while (i < argv.Count)
        {
            var a = argv[i];
            if (a == "--")
            {
                args.Positional.AddRange(argv.Skip(i + 1));
                break;
            }
            if (a.StartsWith('-') && a.Length > 1 && args.Positional.Count < stopAfterPositionals)
            {
                var name = a.TrimStart('-');
                string? inline = null;
                var eq = name.IndexOf('=', StringComparison.Ordinal);
                if (eq >= 0)
                {
                    inline = name[(eq + 1)..];
                    name = name[..eq];
                }
                var canonical = Canonical(name, valueFlags) ?? Canonical(name, switchFlags);
                if (canonical is null)
                {
                    throw BerthException.InvalidArgument($"{verb}: unknown flag {a}; see `berth-runtime {verb} --help`");
                }
                if (Canonical(name, valueFlags) is { } valueFlag)
                {
                    var value = inline ?? (i + 1 < argv.Count ? argv[++i] : throw BerthException.InvalidArgument($"{verb}: flag {a} needs a value"));
                    if (!args._values.TryGetValue(valueFlag, out var list))
                    {
                        args._values[valueFlag] = list = [];
                    }
                    list.Add(value);
                }
                else if (inline is null || inline is "true" or "1")
                {
                    args._switches.Add(canonical);
                }
                else if (inline is not ("false" or "0"))
                {
                    throw BerthException.InvalidArgument($"{verb}: flag --{name} takes true or false, not \"{inline}\"");
                }
                i++;
                continue;
            }
            args.Positional.Add(a);
            i++;
            if (stopAtFirstPositionalAfter && args.Positional.Count >= stopAfterPositionals)
            {
                args.Positional.AddRange(argv.Skip(i));
                break;
            }
        }
        return args;
    }

    /// <summary>Flags are declared as "bundle|b": the first name is canonical, the rest are aliases.</summary>
    private static string? Canonical(string name, string[] declared)
    {
        foreach (var d in declared)
        {
            var names = d.Split('|');
            if (Array.IndexOf(names, name) >= 0)
            {
                return names[0];
            }
        }
        return null;
    }

    public string? Value(string name) => _values.TryGetValue(name, out var list) ? list[^1] : null;

    public IReadOnlyList<string> Values(string name) => _values.TryGetValue(name, out var list) ? list : [];

    public bool Has(string name) => _switches.Contains(name);

    public int Int(string name, int fallback)
    {
        var v = Value(name);
        if (v is null)
        {
            return fallback;
        }
        return int.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? n
            : throw BerthException.InvalidArgument($"--{name}: \"{v}\" is not a number");
    }

    /// <summary>Exactly one positional argument: the container id.</summary>
    public string Id(string verb)
    {
        if (Positional.Count == 0)
        {
            throw BerthException.InvalidArgument($"{verb}: missing the container id; usage: berth-runtime {verb} [flags] <container-id>");
        }
        return Positional[0];
    }
}
