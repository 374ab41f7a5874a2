using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Berth.Cgroups.Tests;

/// <summary>
/// A unique parent cgroup (/berth-test-XXXX) for one privileged test, removed with everything below it in every
/// hierarchy on dispose; plus helpers to run processes inside a cgroup from their first instruction.
/// </summary>
public sealed partial class TestCgroups : IDisposable
{
    private readonly List<Process> processes = [];

    public TestCgroups(CgroupLayout? layout = null)
    {
        Layout = layout ?? CgroupLayout.Detect();
        Parent = "/berth-test-" + Guid.NewGuid().ToString("N")[..10];
    }

    public CgroupLayout Layout { get; }

    public string Parent { get; }

    public string PathOf(string name) => Parent + "/" + name;

    public ICgroupManager Manager(string name, CgroupOptions? options = null) => CgroupManager.For(Layout, PathOf(name), name, options);

    /// <summary>Every directory of <paramref name="cgroupPath"/> across the layout's hierarchies.</summary>
    public IEnumerable<string> DirectoriesOf(string cgroupPath) => Layout.All.Select(h => h.DirectoryOf(cgroupPath));

    /// <summary>
    /// Starts <c>sh -c SCRIPT</c> stopped (it SIGSTOPs itself first), moves it into <paramref name="cgroup"/>, and
    /// continues it, so everything the script does happens inside the cgroup.
    /// </summary>
    public Process StartInside(ICgroupManager cgroup, string script)
    {
        var p = new Process
        {
            StartInfo = new ProcessStartInfo("/bin/sh")
            {
                ArgumentList = { "-c", "kill -STOP $$; " + script },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            },
        };
        p.Start();
        processes.Add(p);
        WaitForState(p.Id, 'T');
        cgroup.Apply(p.Id);
        Assert.Equal(0, Kill(p.Id, 18)); // SIGCONT
        return p;
    }

    public Process StartSleep(ICgroupManager cgroup) => StartInside(cgroup, "exec sleep 1000");

    public static char State(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[stat.LastIndexOf(')') + 2];
    }

    public static void WaitForState(int pid, char state)
    {
        var sw = Stopwatch.StartNew();
        while (State(pid) != state)
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"process {pid} did not reach state {state} (is {State(pid)})");
            Thread.Sleep(5);
        }
    }

    public void Dispose()
    {
        foreach (var p in processes)
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill(entireProcessTree: true);
                }
                p.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }
            p.Dispose();
        }
        foreach (var h in Layout.All)
        {
            var dir = h.DirectoryOf(Parent);
            if (!Directory.Exists(dir))
            {
                continue;
            }
            // Thaw anything a failed test left frozen, kill what is left, then remove deepest first.
            foreach (var sub in Directory.GetDirectories(dir, "*", SearchOption.AllDirectories).Append(dir).OrderByDescending(d => d.Length))
            {
                var freezer = Path.Combine(sub, "freezer.state");
                if (File.Exists(freezer))
                {
                    CgroupFs.TryWrite(freezer, "THAWED");
                }
                var pids = new List<int>();
                CgroupFs.ReadPids(Path.Combine(sub, "cgroup.procs"), pids);
                foreach (var pid in pids)
                {
                    Kill(pid, 9);
                }
                for (var i = 0; i < 100 && CgroupFs.TryRemoveDirectory(sub) != 0; i++)
                {
                    Thread.Sleep(20);
                }
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    public static partial int Kill(int pid, int signal);
}
