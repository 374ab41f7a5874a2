namespace Berth.Linux;

/// <summary>Signal names and numbers (x86-64/aarch64 numbering), accepting "TERM", "SIGTERM" or "15" as runc does.</summary>
public static class Signals
{
    public const int SIGHUP = 1;
    public const int SIGINT = 2;
    public const int SIGQUIT = 3;
    public const int SIGKILL = 9;
    public const int SIGUSR1 = 10;
    public const int SIGTERM = 15;
    public const int SIGCHLD = 17;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;
    public const int SIGWINCH = 28;

    private static readonly string[] Names =
    [
        "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM",
        "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF",
        "WINCH", "IO", "PWR", "SYS",
    ];

    /// <summary>Parses a signal; returns -1 when unknown.</summary>
    public static int Parse(string text)
    {
        if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
        {
            return n is > 0 and <= 64 ? n : -1;
        }
        var name = text.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal))
        {
            name = name[3..];
        }
        if (name is "IOT")
        {
            return 6;
        }
        if (name is "POLL")
        {
            return 29;
        }
        if (name.StartsWith("RTMIN", StringComparison.Ordinal) || name.StartsWith("RTMAX", StringComparison.Ordinal))
        {
            var baseNr = name.StartsWith("RTMIN", StringComparison.Ordinal) ? 34 : 64;
            var rest = name[5..];
            if (rest.Length == 0)
            {
                return baseNr;
            }
            return int.TryParse(rest, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var off) && baseNr + off is >= 34 and <= 64 ? baseNr + off : -1;
        }
        var idx = Array.IndexOf(Names, name);
        return idx > 0 ? idx : -1;
    }
}
