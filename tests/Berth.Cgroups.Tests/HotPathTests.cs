using System.Diagnostics;
using Berth.Oci.Runtime;
using Berth.Testing;
using Xunit.Abstractions;

namespace Berth.Cgroups.Tests;

/// <summary>
/// What the container start path pays for cgroups on this host: detection, Create with the limits a typical
/// `run` asks for, Apply, Destroy. Printed for the report; bounded loosely so a regression (say, walking whole
/// hierarchies) fails while a loaded machine does not.
/// </summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class HotPathTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestCgroups cg = new();

    public void Dispose() => cg.Dispose();

    [Fact]
    public void Create_apply_destroy_costs_a_few_hundred_microseconds()
    {
        Privileged.Require();
        var resources = new Resources
        {
            Memory = new MemoryResources { Limit = 64 << 20 },
            Pids = new PidsResources { Limit = 100 },
            Devices = DeviceRules.ForContainer(new Berth.Oci.Runtime.Linux { Resources = new Resources { Devices = [new DeviceCgroup { Allow = false, Access = "rwm" }] } }),
        };
        var sleeper = cg.Manager("holder");
        sleeper.Create(null);
        var sleep = cg.StartSleep(sleeper);

        const int n = 40;
        var detect = new double[n];
        var create = new double[n];
        var apply = new double[n];
        var destroy = new double[n];
        for (var i = 0; i < n + 5; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            var layout = CgroupLayout.Detect();
            var t1 = Stopwatch.GetTimestamp();
            var m = CgroupManager.For(layout, cg.PathOf("c" + i), "c" + i);
            m.Create(resources);
            var t2 = Stopwatch.GetTimestamp();
            m.Apply(sleep.Id);
            var t3 = Stopwatch.GetTimestamp();
            sleeper.Apply(sleep.Id);
            var t4 = Stopwatch.GetTimestamp();
            m.Destroy();
            var t5 = Stopwatch.GetTimestamp();
            if (i >= 5)
            {
                detect[i - 5] = Stopwatch.GetElapsedTime(t0, t1).TotalMicroseconds;
                create[i - 5] = Stopwatch.GetElapsedTime(t1, t2).TotalMicroseconds;
                apply[i - 5] = Stopwatch.GetElapsedTime(t2, t3).TotalMicroseconds;
                destroy[i - 5] = Stopwatch.GetElapsedTime(t4, t5).TotalMicroseconds;
            }
        }
        output.WriteLine($"hierarchies {cg.Layout.All.Count()}; median/p95 µs: detect {Median(detect):0}/{P95(detect):0}, create {Median(create):0}/{P95(create):0}, apply {Median(apply):0}/{P95(apply):0}, destroy {Median(destroy):0}/{P95(destroy):0}");
        Assert.True(Median(detect) + Median(create) + Median(apply) + Median(destroy) < 20_000, "cgroup hot path over 20 ms");
    }

    [Fact]
    public void Warm_up_migration_leaves_us_where_we_were_and_makes_the_next_move_cheap()
    {
        Privileged.Require();
        var before = File.ReadAllText("/proc/self/cgroup");
        var layout = CgroupLayout.Detect();
        var m = cg.Manager("c1");
        m.Create(null);
        var sleep = cg.StartSleep(m);
        var back = cg.Manager("back");
        back.Create(null);
        Thread.Sleep(200); // let the kernel's migration lock fall back to reader mode

        var t0 = Stopwatch.GetTimestamp();
        Assert.True(layout.WarmUpMigration());
        var warm = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        var t1 = Stopwatch.GetTimestamp();
        back.Apply(sleep.Id);
        var move = Stopwatch.GetElapsedTime(t1).TotalMilliseconds;

        Assert.Equal(before, File.ReadAllText("/proc/self/cgroup"));
        Assert.Equal([sleep.Id], back.GetPids());
        output.WriteLine($"warm-up {warm:0.0} ms, then a move into 10 hierarchies {move:0.00} ms");
    }

    private static double Median(double[] xs) => xs.Order().ElementAt(xs.Length / 2);

    private static double P95(double[] xs) => xs.Order().ElementAt((int)(xs.Length * 0.95) - 1);
}
