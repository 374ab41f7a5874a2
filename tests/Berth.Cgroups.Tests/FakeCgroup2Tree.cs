using Berth.Testing;

namespace Berth.Cgroups.Tests;

/// <summary>
/// A cgroup2 hierarchy as plain files in a temp directory: each cgroup a directory with its interface files,
/// empty except cgroup.controllers. Writes land in the files, so a test sees exactly which file got which value.
/// </summary>
public sealed class FakeCgroup2Tree : IDisposable
{
    public const string Controllers = "cpuset cpu io memory hugetlb pids";

    private static readonly string[] LeafFiles =
    [
        "cgroup.procs", "cgroup.subtree_control", "cgroup.freeze", "cgroup.events", "cgroup.kill",
        "memory.max", "memory.low", "memory.high", "memory.swap.max", "memory.current", "memory.peak", "memory.events", "memory.swap.current",
        "cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpu.stat",
        "cpuset.cpus", "cpuset.mems", "pids.max", "pids.current", "io.weight", "hugetlb.2MB.max", "hugetlb.1GB.max",
    ];

    private readonly TempDirectory temp = new("berth-fake-cgroup2");

    public FakeCgroup2Tree()
    {
        AddCgroup("/");
    }

    public string Root => temp.Path;

    public CgroupLayout Layout(string ownPath = "/") => CgroupLayout.ForUnified(Root, ownPath);

    /// <summary>Makes the cgroup (and its ancestors) with every interface file.</summary>
    public void AddCgroup(string cgroupPath, bool withControllerFiles = true)
    {
        var dir = Dir(cgroupPath);
        Directory.CreateDirectory(dir);
        File.WriteAllText(System.IO.Path.Combine(dir, "cgroup.controllers"), Controllers + "\n");
        foreach (var f in LeafFiles)
        {
            if (withControllerFiles || f.StartsWith("cgroup.", StringComparison.Ordinal))
            {
                File.WriteAllText(System.IO.Path.Combine(dir, f), "");
            }
        }
        var parent = System.IO.Path.GetDirectoryName(cgroupPath.TrimEnd('/'));
        if (!string.IsNullOrEmpty(parent) && parent != "/" && !File.Exists(System.IO.Path.Combine(Dir(parent), "cgroup.controllers")))
        {
            AddCgroup(parent, withControllerFiles);
        }
    }

    public string Dir(string cgroupPath) => cgroupPath == "/" ? Root : Root + cgroupPath;

    public string Read(string cgroupPath, string file) => File.ReadAllText(System.IO.Path.Combine(Dir(cgroupPath), file));

    public void Set(string cgroupPath, string file, string content) => File.WriteAllText(System.IO.Path.Combine(Dir(cgroupPath), file), content);

    /// <summary>Every non-empty file except cgroup.controllers, as "relative/path" → content.</summary>
    public SortedDictionary<string, string> Written()
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories))
        {
            if (System.IO.Path.GetFileName(f) == "cgroup.controllers")
            {
                continue;
            }
            var content = File.ReadAllText(f);
            if (content.Length > 0)
            {
                result[System.IO.Path.GetRelativePath(Root, f)] = content;
            }
        }
        return result;
    }

    public void Dispose() => temp.Dispose();
}
