namespace Berth.Cli.Docker;

public enum FlagKind
{
    /// <summary>--rm, --rm=false, combinable short form (-it).</summary>
    Bool,

    /// <summary>--name NAME, --name=NAME, -n NAME, -nNAME; the last one wins.</summary>
    Value,

    /// <summary>-e A -e B: every occurrence kept.</summary>
    List,
}

public sealed record Flag(string Name, char? Short, FlagKind Kind, string Help);

/// <summary>
/// Docker's (pflag's) command-line rules: long and short flags, combined short booleans (-dit), values after a
/// space, after '=' or glued to a short flag (-eFOO=1); for run/create/exec parsing stops at the first positional
/// (the image or container) so the container's own flags pass through untouched.
/// </summary>
public sealed class FlagSet(string command, string usage, bool interspersed, params Flag[] flags)
{
    public string Command => command;

    public string Usage => usage;

    public IReadOnlyList<Flag> Flags => flags;

    public ParsedFlags Parse(IReadOnlyList<string> args)
    {
        var result = new ParsedFlags(this);
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a == "--")
            {
                result.Positionals.AddRange(args.Skip(i + 1));
                break;
            }
            if (a == "--help" || (a == "-h" && !flags.Any(f => f.Short == 'h')))
            {
                result.Help = true;
                continue;
            }
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                var eq = a.IndexOf('=', StringComparison.Ordinal);
                var name = eq > 0 ? a[2..eq] : a[2..];
                var flag = flags.FirstOrDefault(f => f.Name == name) ?? throw new UsageException($"unknown flag: --{name}");
                string? value = eq > 0 ? a[(eq + 1)..] : null;
                if (flag.Kind == FlagKind.Bool)
                {
                    result.Set(flag, value ?? "true");
                }
                else
                {
                    if (value is null)
                    {
                        if (i + 1 >= args.Count)
                        {
                            throw new UsageException($"flag needs an argument: --{name}");
                        }
                        value = args[++i];
                    }
                    result.Set(flag, value);
                }
                continue;
            }
            if (a.Length > 1 && a[0] == '-')
            {
                for (var j = 1; j < a.Length; j++)
                {
                    var c = a[j];
                    var flag = flags.FirstOrDefault(f => f.Short == c) ?? throw new UsageException($"unknown shorthand flag: '{c}' in {a}");
                    if (flag.Kind == FlagKind.Bool)
                    {
                        if (j + 1 < a.Length && a[j + 1] == '=')
                        {
                            result.Set(flag, a[(j + 2)..]);
                            break;
                        }
                        result.Set(flag, "true");
                        continue;
                    }
                    string value;
                    if (j + 1 < a.Length)
                    {
                        value = a[j + 1] == '=' ? a[(j + 2)..] : a[(j + 1)..];
                    }
                    else if (i + 1 < args.Count)
                    {
                        value = args[++i];
                    }
                    else
                    {
                        throw new UsageException($"flag needs an argument: '{c}' in -{c}");
                    }
                    result.Set(flag, value);
                    break;
                }
                continue;
            }
            result.Positionals.Add(a);
            if (!interspersed)
            {
                result.Positionals.AddRange(args.Skip(i + 1));
                break;
            }
        }
        return result;
    }

    public string HelpText()
    {
        var lines = new List<string> { "Usage:  berth " + usage, "", "Options:" };
        foreach (var f in flags)
        {
            var left = (f.Short is { } s ? $"-{s}, " : "    ") + "--" + f.Name + (f.Kind == FlagKind.Bool ? "" : f.Kind == FlagKind.List ? " list" : " string");
            lines.Add($"  {left,-28} {f.Help}");
        }
        return string.Join('\n', lines) + "\n";
    }
}

public sealed class ParsedFlags(FlagSet set)
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = [];

    public bool Help { get; set; }

    public FlagSet FlagSet => set;

    internal void Set(Flag flag, string value)
    {
        if (flag.Kind == FlagKind.Bool && value is not ("true" or "false" or "1" or "0"))
        {
            throw new UsageException($"invalid argument \"{value}\" for \"--{flag.Name}\" flag: strconv.ParseBool: parsing \"{value}\": invalid syntax");
        }
        (_values.TryGetValue(flag.Name, out var l) ? l : _values[flag.Name] = []).Add(value);
    }

    public bool Has(string name) => _values.ContainsKey(name);

    public bool Bool(string name) => _values.TryGetValue(name, out var v) && v[^1] is "true" or "1";

    public string? Value(string name) => _values.TryGetValue(name, out var v) ? v[^1] : null;

    public string Value(string name, string defaultValue) => Value(name) ?? defaultValue;

    public IReadOnlyList<string> List(string name) => _values.TryGetValue(name, out var v) ? v : [];

    public int? Int(string name)
    {
        var v = Value(name);
        if (v is null)
        {
            return null;
        }
        return int.TryParse(v, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new UsageException($"invalid argument \"{v}\" for \"--{name}\" flag: strconv.ParseInt: parsing \"{v}\": invalid syntax");
    }

    public long? Long(string name)
    {
        var v = Value(name);
        if (v is null)
        {
            return null;
        }
        return long.TryParse(v, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new UsageException($"invalid argument \"{v}\" for \"--{name}\" flag: strconv.ParseInt: parsing \"{v}\": invalid syntax");
    }

    /// <summary>Checks the number of positionals: "berth rm" requires at least 1 argument.</summary>
    public ParsedFlags Require(int min, int max = int.MaxValue)
    {
        if (Positionals.Count < min || Positionals.Count > max)
        {
            var what = min == max ? $"exactly {min} argument{(min == 1 ? "" : "s")}" :
                max == int.MaxValue ? $"at least {min} argument{(min == 1 ? "" : "s")}" :
                min == 0 ? $"at most {max} argument{(max == 1 ? "" : "s")}" : $"at least {min} and at most {max} arguments";
            throw new UsageException($"\"berth {set.Command}\" requires {what}.\nUsage:  berth {set.Usage}");
        }
        return this;
    }
}
