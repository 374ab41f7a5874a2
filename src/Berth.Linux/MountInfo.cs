using System.Text;

namespace Berth.Linux;

/// <summary>
/// The calling process's mount table as the kernel reports it in <c>/proc/self/mountinfo</c>; mount points there
/// escape space, tab, newline and backslash as three octal digits (<c>\040</c>), undone here.
/// </summary>
public static class MountInfo
{
    private const string Path = "/proc/self/mountinfo";

    /// <summary>Whether something is mounted at <paramref name="path"/> (made absolute, compared as the kernel writes it).</summary>
    public static bool IsMountPoint(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        foreach (var line in File.ReadLines(Path))
        {
            if (MountPointOf(line) == full)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Every mount point, read once (for callers that test many paths).</summary>
    public static HashSet<string> MountPoints()
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(Path))
        {
            if (MountPointOf(line) is { } p)
            {
                set.Add(p);
            }
        }
        return set;
    }

    /// <summary>Field 5 of a mountinfo line, unescaped; null for a malformed line.</summary>
    public static string? MountPointOf(string line)
    {
        var fields = line.Split(' ');
        return fields.Length > 4 ? Unescape(fields[4]) : null;
    }

    /// <summary>Undoes the kernel's octal escapes (<c>\040</c> for a space, <c>\134</c> for a backslash).</summary>
    public static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }
        var sb = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                sb.Append((char)(((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) | (field[i + 3] - '0')));
                i += 3;
            }
            else
            {
                sb.Append(field[i]);
            }
        }
        return sb.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}
