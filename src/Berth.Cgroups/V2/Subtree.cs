using System.Text;

namespace Berth.Cgroups.V2;

/// <summary>cgroup.subtree_control handling: a controller reaches a cgroup only if every ancestor enables it.</summary>
internal static class Subtree
{
    /// <summary>The controllers a cgroup2 directory offers (its cgroup.controllers).</summary>
    public static string[] Available(string dir)
    {
        var text = CgroupFs.TryRead(dir + "/cgroup.controllers", out _) ?? "";
        return text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>
    /// Enables <paramref name="wanted"/> (null: everything available) in every ancestor of <paramref name="leaf"/>
    /// from <paramref name="root"/> down, writing only where something is missing. Returns the controllers that
    /// could not be enabled (left to the resource writes to report if the spec needs them).
    /// </summary>
    public static List<string> Enable(string root, string leaf, IReadOnlyCollection<string>? wanted)
    {
        var failed = new List<string>();
        var dir = root;
        var rest = leaf.Length > root.Length ? leaf[(root.Length + 1)..] : "";
        var parts = rest.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            EnableIn(dir, wanted, failed);
            dir = dir + "/" + parts[i];
        }
        return failed;
    }

    private static void EnableIn(string dir, IReadOnlyCollection<string>? wanted, List<string> failed)
    {
        var available = Available(dir);
        var enabledText = CgroupFs.TryRead(dir + "/cgroup.subtree_control", out _) ?? "";
        var enabled = enabledText.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var missing = new List<string>();
        foreach (var c in wanted ?? (IReadOnlyCollection<string>)available)
        {
            if (Array.IndexOf(available, c) >= 0 && Array.IndexOf(enabled, c) < 0 && !failed.Contains(c))
            {
                missing.Add(c);
            }
        }
        if (missing.Count == 0)
        {
            return;
        }
        var line = new StringBuilder();
        foreach (var c in missing)
        {
            line.Append(line.Length == 0 ? "+" : " +").Append(c);
        }
        var file = dir + "/cgroup.subtree_control";
        if (CgroupFs.TryWrite(file, line.ToString()) == 0)
        {
            return;
        }
        // One refused controller fails the whole write; enable the rest one by one.
        foreach (var c in missing)
        {
            if (CgroupFs.TryWrite(file, "+" + c) != 0)
            {
                failed.Add(c);
            }
        }
    }
}
