using System.Globalization;
using Berth.Core;

namespace Berth.Engine.Containers;

/// <summary>Signal names as Docker accepts them: "SIGTERM", "TERM", "15", any case.</summary>
public static class Signals
{
    private static readonly string[] Names =
    [
        "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",
        "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];

    public static int Parse(string signal)
    {
        if (int.TryParse(signal, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return n is > 0 and <= 64 ? n : throw BerthException.InvalidArgument($"invalid signal: {signal}");
        }
        var name = signal.ToUpperInvariant();
        name = name.StartsWith("SIG", StringComparison.Ordinal) ? name[3..] : name;
        if (name == "IOT")
        {
            return 6;
        }
        if (name == "CLD")
        {
            return 17;
        }
        if (name.StartsWith("RTMIN", StringComparison.Ordinal))
        {
            return 34 + (name.Length > 5 ? int.Parse(name[5..], CultureInfo.InvariantCulture) : 0);
        }
        var i = Array.IndexOf(Names, name);
        return i > 0 ? i : throw BerthException.InvalidArgument($"invalid signal: {signal}; use a name such as SIGTERM or a number");
    }
}
