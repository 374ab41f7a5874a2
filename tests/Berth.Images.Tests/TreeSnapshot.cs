using System.Diagnostics;
using System.Security.Cryptography;

namespace Berth.Images.Tests;

/// <summary>A comparable description of a directory tree: names, types, modes, owners, sizes, link targets, content.</summary>
internal static class TreeSnapshot
{
    public static SortedDictionary<string, string> Take(string root, bool withOwners = true)
    {
        // stat(1) prints type, mode (octal incl. special bits), owners, size, device numbers, link target.
        var psi = new ProcessStartInfo("find", [root, "-mindepth", "1", "-printf", "%P\\t%y\\t%#m\\t%U:%G\\t%s\\t%l\\n"]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('\t');
            var path = f[0];
            var type = f[1];
            var size = type == "d" ? "-" : f[4];
            var content = type == "f" ? Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(root, path))))[..16] : "";
            var rdev = type is "c" or "b" ? DeviceNumbers(Path.Combine(root, path)) : "";
            result[path] = $"{type} {f[2]} {(withOwners ? f[3] : "")} {size} {f[5]} {content}{rdev}";
        }
        return result;
    }

    private static string DeviceNumbers(string path)
    {
        var psi = new ProcessStartInfo("stat", ["-c", "%t:%T", path]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var s = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return " dev=" + s;
    }

    public static string Diff(SortedDictionary<string, string> expected, SortedDictionary<string, string> actual)
    {
        var lines = new List<string>();
        foreach (var key in expected.Keys.Union(actual.Keys).Order(StringComparer.Ordinal))
        {
            expected.TryGetValue(key, out var e);
            actual.TryGetValue(key, out var a);
            if (e != a)
            {
                lines.Add($"{key}: expected [{e ?? "missing"}] actual [{a ?? "missing"}]");
            }
        }
        return string.Join('\n', lines);
    }
}
