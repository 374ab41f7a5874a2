using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Berth.Store;

namespace Berth.ApiServer.Diagnostics;

/// <summary>
/// Where a request's time goes, for performance work: with BERTH_APISERVER_TIMINGS=1 the server records named
/// durations (requests, store calls, watch delivery) and prints count/p50/p99/max per name to stderr every
/// 5 seconds, with the thread pool's size and backlog. Off by default, and then every call is one branch.
/// </summary>
public static class Timings
{
    private static readonly Dictionary<string, List<double>> Samples = new(StringComparer.Ordinal);
    private static readonly ConditionalWeakTable<WatchEvent, StrongBox<long>> Published = new();
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<long, long> Written = new();
    private static readonly Lock Gate = new();
#pragma warning disable IDE0052 // kept alive: it prints the summaries
    private static readonly Timer? Printer;
#pragma warning restore IDE0052

    static Timings()
    {
        Enabled = Environment.GetEnvironmentVariable("BERTH_APISERVER_TIMINGS") is "1" or "true";
        if (Enabled)
        {
            Printer = new Timer(_ => Print(), null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
        }
    }

    public static bool Enabled { get; }

    /// <summary>A start mark for <see cref="Record(string, long)"/> (0 when disabled).</summary>
    public static long Start() => Enabled ? Stopwatch.GetTimestamp() : 0;

    public static void Record(string name, long start)
    {
        if (!Enabled)
        {
            return;
        }
        var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        lock (Gate)
        {
            if (!Samples.TryGetValue(name, out var list))
            {
                Samples[name] = list = [];
            }
            list.Add(ms);
        }
    }

    /// <summary>Marks when a write at <paramref name="revision"/> was acknowledged by the store.</summary>
    public static void MarkWritten(long revision)
    {
        if (Enabled)
        {
            if (Written.Count > 100_000)
            {
                Written.Clear();
            }
            Written[revision] = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>Records the time from the store's acknowledgement of <paramref name="revision"/> until now.</summary>
    public static void RecordSinceWritten(string name, long revision)
    {
        if (Enabled && Written.TryRemove(revision, out var at))
        {
            Record(name, at);
        }
    }

    /// <summary>Marks when the hub handed an event to its watchers.</summary>
    public static void MarkPublished(WatchEvent e)
    {
        if (Enabled)
        {
            Published.AddOrUpdate(e, new StrongBox<long>(Stopwatch.GetTimestamp()));
        }
    }

    /// <summary>Records the time from the hub's hand-off of <paramref name="e"/> until now under <paramref name="name"/>.</summary>
    public static void RecordSincePublished(string name, WatchEvent e)
    {
        if (Enabled && Published.TryGetValue(e, out var at))
        {
            Record(name, at.Value);
        }
    }

    private static int lastGen0, lastGen1, lastGen2;
    private static TimeSpan lastPause, lastCpu;
    private static long lastAllocated;

    private static void Print()
    {
        Dictionary<string, List<double>> taken;
        lock (Gate)
        {
            if (Samples.Count == 0)
            {
                return;
            }
            taken = new Dictionary<string, List<double>>(Samples, StringComparer.Ordinal);
            Samples.Clear();
        }
        var text = new StringBuilder();
        ThreadPool.GetMinThreads(out var minWorkers, out _);
        text.Append(CultureInfo.InvariantCulture, $"timings: threads {ThreadPool.ThreadCount} (min {minWorkers}) queued {ThreadPool.PendingWorkItemCount}\n");
        var allocated = GC.GetTotalAllocatedBytes();
        var pause = GC.GetTotalPauseDuration();
        text.Append(CultureInfo.InvariantCulture,
            $"timings: gc gen0 {GC.CollectionCount(0) - lastGen0} gen1 {GC.CollectionCount(1) - lastGen1} gen2 {GC.CollectionCount(2) - lastGen2} pause {(pause - lastPause).TotalMilliseconds:0} ms allocated {(allocated - lastAllocated) / 1048576.0:0.0} MB cpu {(Environment.CpuUsage.TotalTime - lastCpu).TotalMilliseconds:0} ms\n");
        (lastGen0, lastGen1, lastGen2, lastPause, lastAllocated, lastCpu) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), pause, allocated, Environment.CpuUsage.TotalTime);
        foreach (var (name, list) in taken.OrderBy(x => x.Key, StringComparer.Ordinal))
        {
            list.Sort();
            double P(double q) => list[Math.Min(list.Count - 1, (int)(q * list.Count))];
            text.Append(CultureInfo.InvariantCulture, $"timings: {name,-28} n={list.Count,6} p50={P(0.5),8:0.00} p99={P(0.99),8:0.00} max={list[^1],8:0.00} ms\n");
        }
        Console.Error.Write(text.ToString());
    }
}
