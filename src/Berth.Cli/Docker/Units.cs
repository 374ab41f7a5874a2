using System.Globalization;
using Berth.Core;

namespace Berth.Cli.Docker;

/// <summary>Docker's units: sizes in flags (512m = 512 MiB), human sizes in tables, durations and CPU counts.</summary>
public static class Units
{
    /// <summary>"512m", "1g", "100k", "2048", "1.5g", "512mb" → bytes (binary multiples, like docker's RAMInBytes).</summary>
    public static long ParseBytes(string value, string flag)
    {
        var s = value.Trim().ToLowerInvariant();
        var i = 0;
        while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
        {
            i++;
        }
        if (i == 0 || !double.TryParse(s[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
        {
            throw new UsageException($"invalid argument \"{value}\" for \"{flag}\" flag: invalid size: '{value}'");
        }
        var unit = s[i..];
        if (unit.Length == 2 && unit[1] == 'b')
        {
            unit = unit[..1];
        }
        else if (unit.Length == 3 && unit.EndsWith("ib", StringComparison.Ordinal))
        {
            unit = unit[..1];
        }
        long multiplier = unit switch
        {
            "" or "b" => 1,
            "k" => 1L << 10,
            "m" => 1L << 20,
            "g" => 1L << 30,
            "t" => 1L << 40,
            "p" => 1L << 50,
            _ => throw new UsageException($"invalid argument \"{value}\" for \"{flag}\" flag: invalid suffix: '{unit}'"),
        };
        return (long)(number * multiplier);
    }

    /// <summary>"1.5" CPUs → 1500000000 NanoCPUs.</summary>
    public static long ParseNanoCpus(string value)
    {
        if (!decimal.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var cpus) || cpus < 0)
        {
            throw new UsageException($"invalid argument \"{value}\" for \"--cpus\" flag: failed to parse {value} as a rational number");
        }
        var nano = cpus * 1_000_000_000m;
        if (nano != decimal.Truncate(nano))
        {
            throw new UsageException($"invalid argument \"{value}\" for \"--cpus\" flag: value is too precise");
        }
        return (long)nano;
    }

    /// <summary>Go durations as docker's flags take them: "30s", "1m30s", "500ms", "1h" → nanoseconds.</summary>
    public static long ParseDurationNanos(string value, string flag)
    {
        if (value == "0")
        {
            return 0;
        }
        double total = 0;
        var i = 0;
        var s = value.Trim();
        if (s.Length == 0)
        {
            throw new UsageException($"invalid argument \"{value}\" for \"{flag}\" flag: time: invalid duration \"{value}\"");
        }
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }
            var unitStart = i;
            while (i < s.Length && !char.IsAsciiDigit(s[i]) && s[i] != '.')
            {
                i++;
            }
            if (unitStart == start || !double.TryParse(s[start..unitStart], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n))
            {
                throw new UsageException($"invalid argument \"{value}\" for \"{flag}\" flag: time: invalid duration \"{value}\"");
            }
            total += s[unitStart..i] switch
            {
                "ns" => n,
                "us" or "µs" => n * 1e3,
                "ms" => n * 1e6,
                "s" => n * 1e9,
                "m" => n * 60e9,
                "h" => n * 3600e9,
                _ => throw new UsageException($"invalid argument \"{value}\" for \"{flag}\" flag: time: missing or unknown unit in duration \"{value}\""),
            };
        }
        return (long)total;
    }

    /// <summary>Decimal sizes with 3 significant digits, as `docker images` shows them ("4.26MB").</summary>
    public static string HumanSize(double size, int precision = 3)
    {
        string[] units = ["B", "kB", "MB", "GB", "TB", "PB"];
        var i = 0;
        while (size >= 1000 && i < units.Length - 1)
        {
            size /= 1000;
            i++;
        }
        return FormatG(size, precision) + units[i];
    }

    /// <summary>Binary sizes, as `docker stats` shows memory ("1.5MiB").</summary>
    public static string BytesSize(double size)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        var i = 0;
        while (size >= 1024 && i < units.Length - 1)
        {
            size /= 1024;
            i++;
        }
        return FormatG(size, 4) + units[i];
    }

    /// <summary>Go's %.Ng: N significant digits, trailing zeros dropped.</summary>
    private static string FormatG(double value, int digits)
    {
        if (value == 0)
        {
            return "0";
        }
        var magnitude = (int)Math.Floor(Math.Log10(Math.Abs(value))) + 1;
        var decimals = Math.Max(0, digits - magnitude);
        return Math.Round(value, decimals).ToString("0." + new string('#', Math.Max(decimals, 1)), CultureInfo.InvariantCulture);
    }

    /// <summary>Docker's "About a minute", "3 hours", used as "… ago".</summary>
    public static string HumanDuration(TimeSpan d)
    {
        var seconds = (long)d.TotalSeconds;
        if (seconds < 1)
        {
            return "Less than a second";
        }
        if (seconds == 1)
        {
            return "1 second";
        }
        if (seconds < 60)
        {
            return $"{seconds} seconds";
        }
        var minutes = (long)d.TotalMinutes;
        if (minutes == 1)
        {
            return "About a minute";
        }
        if (minutes < 60)
        {
            return $"{minutes} minutes";
        }
        var hours = (long)Math.Round(d.TotalHours);
        if (hours == 1)
        {
            return "About an hour";
        }
        if (hours < 48)
        {
            return $"{hours} hours";
        }
        if (hours < 24 * 7 * 2)
        {
            return $"{hours / 24} days";
        }
        if (hours < 24 * 30 * 2)
        {
            return $"{hours / 24 / 7} weeks";
        }
        if (hours < 24 * 365 * 2)
        {
            return $"{hours / 24 / 30} months";
        }
        return $"{hours / 24 / 365} years";
    }
}

/// <summary>A command-line mistake: printed with a pointer to --help, exit code 125 like docker's.</summary>
public sealed class UsageException(string message) : BerthException(ErrorCode.InvalidArgument, message);
