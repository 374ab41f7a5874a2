using System.Globalization;

namespace Berth.Runtime;

/// <summary>The two facts of /proc/PID/stat the runtime needs: the process state letter and its start time.</summary>
internal readonly record struct ProcStat(char State, ulong StartTime)
{
    public bool IsZombieOrDead => State is 'Z' or 'X' or 'x';

    public static ProcStat? Read(int pid)
    {
        if (pid <= 0)
        {
            return null;
        }
        string text;
        try
        {
            text = File.ReadAllText("/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        // comm may contain spaces and parentheses: fields start after the last ')'.
        var close = text.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }
        var fields = text[(close + 2)..].Split(' ');
        // fields[0] is field 3 (state); start time is field 22 => fields[19]
        return fields.Length > 19 && ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            ? new ProcStat(fields[0][0], start)
            : null;
    }
}
