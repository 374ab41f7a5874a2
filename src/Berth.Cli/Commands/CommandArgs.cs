using Berth.Core;

namespace Berth.Cli.Commands;

/// <summary>
/// GNU-style options (--name value, --name=value, --flag) and positionals. Every option a command reads is
/// consumed; <see cref="EnsureAllUsed"/> rejects the rest, so a typo is an error instead of being ignored.
/// </summary>
public sealed class CommandArgs
{
    private readonly Dictionary<string, List<string?>> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public CommandArgs(string command, IEnumerable<string> args)
    {
        Command = command;
        var list = args.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (a == "--")
            {
                Positionals.AddRange(list.Skip(i + 1));
                break;
            }
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                var eq = a.IndexOf('=', StringComparison.Ordinal);
                string name;
                string? value = null;
                if (eq > 0)
                {
                    name = a[2..eq];
                    value = a[(eq + 1)..];
                }
                else
                {
                    name = a[2..];
                    if (i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal))
                    {
                        value = list[++i];
                    }
                }
                (_options.TryGetValue(name, out var l) ? l : _options[name] = []).Add(value);
            }
            else
            {
                Positionals.Add(a);
            }
        }
    }

    public string Command { get; }

    public List<string> Positionals { get; } = [];

    public bool Debug => Flag("debug");

    public string? Option(string name)
    {
        _used.Add(name);
        if (!_options.TryGetValue(name, out var values))
        {
            return null;
        }
        return values[^1] ?? throw BerthException.InvalidArgument($"{Command}: --{name} needs a value");
    }

    public string Option(string name, string defaultValue) => Option(name) ?? defaultValue;

    public int Int(string name, int defaultValue)
    {
        var v = Option(name);
        if (v is null)
        {
            return defaultValue;
        }
        return int.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? n
            : throw BerthException.InvalidArgument($"{Command}: --{name} must be a number, got '{v}'");
    }

    public bool Flag(string name)
    {
        _used.Add(name);
        if (!_options.TryGetValue(name, out var values))
        {
            return false;
        }
        var v = values[^1];
        return v is null or "true" or "1";
    }

    public void EnsureAllUsed()
    {
        var unknown = _options.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            throw BerthException.InvalidArgument($"{Command}: unknown option --{unknown[0]}; see 'berth {Command} --help'");
        }
    }
}
