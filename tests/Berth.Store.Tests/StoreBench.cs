using System.Diagnostics;
using System.Globalization;

namespace Berth.Store.Tests;

/// <summary>
/// bench/store.sh's load generator: the same operations on the SQLite store and on etcd, in the same run.
/// Prints medians, p99 and throughput per store and the etcd/Berth ratio.
/// </summary>
internal static class StoreBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length < 2)
        {
            await Console.Error.WriteLineAsync("usage: bench DB-DIR ETCD-URL [OPS]");
            return 2;
        }
        var ops = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2000;
        var options = new ClusterStoreOptions { CompactionInterval = TimeSpan.Zero };
        var results = new List<(string Test, Result Berth, Result Etcd)>();
        await using var sqlite = await ClusterStore.OpenAsync(null, args[0], options);
        await using var etcd = await ClusterStore.OpenAsync(args[1], args[0], options);
        // One prefix for every phase: gets and lists read what the create phase wrote.
        var prefix = $"/bench/{Guid.NewGuid():N}/";
        var value = new byte[1024];
        Random.Shared.NextBytes(value);

        foreach (var (name, run) in new (string, Func<IClusterStore, string, Task<Result>>)[]
        {
            ("create, 1 client", (s, p) => Sequential(ops, i => s.CreateAsync($"{p}seq/{i:D6}", value))),
            ("update (CAS), 64 clients", (s, p) => ConcurrentUpdates(s, p, 64, ops * 2, value)),
            ("get, 16 clients", (s, p) => Concurrent(16, ops * 10, i => s.GetAsync($"{p}seq/{i % ops:D6}"))),
            ("list 500 keys, 4 clients", (s, p) => Concurrent(4, Math.Max(ops / 20, 20), _ => s.ListAsync($"{p}seq/", limit: 500))),
        })
        {
            var b = await run(sqlite, prefix);
            var e = await run(etcd, prefix);
            results.Add((name, b, e));
        }

        var berthWatch = await WatchDelivery(sqlite, prefix + "watch/", 1000);
        var etcdWatch = await WatchDelivery(etcd, prefix + "watch/", 1000);

        var check = await sqlite.ListAsync(prefix + "seq/", limit: 500);
        if (check.Items.Count != Math.Min(500, ops) || (await etcd.CountAsync(prefix + "seq/")) != ops)
        {
            throw new InvalidOperationException("the create phase did not leave the expected keys");
        }
        Console.WriteLine($"{"operation",-28} {"store",-7} {"ops/s",9} {"p50 ms",8} {"p99 ms",8}");
        foreach (var (test, b, e) in results)
        {
            Console.WriteLine($"{test,-28} {"berth",-7} {b.Throughput,9:F0} {b.P50,8:F2} {b.P99,8:F2}");
            Console.WriteLine($"{"",-28} {"etcd",-7} {e.Throughput,9:F0} {e.P50,8:F2} {e.P99,8:F2}");
            Console.WriteLine($"{"",-28} {"ratio",-7} {b.Throughput / e.Throughput,8:F2}x {"(berth/etcd throughput)",20}");
        }
        Console.WriteLine($"{"1 update -> 1000 watchers",-28} {"berth",-7} {"",9} {berthWatch.P50,8:F2} {berthWatch.P99,8:F2}");
        Console.WriteLine($"{"",-28} {"etcd",-7} {"",9} {etcdWatch.P50,8:F2} {etcdWatch.P99,8:F2}");
        Console.WriteLine($"{"",-28} {"ratio",-7} {etcdWatch.P99 / berthWatch.P99,8:F2}x {"(etcd/berth p99 delivery)",20}");
        return 0;
    }

    /// <summary>Delivery latency of one update to many watchers of the same prefix, median of 5 updates' p50/p99.</summary>
    private static async Task<Result> WatchDelivery(IClusterStore store, string prefix, int watchers)
    {
        const int updates = 5;
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var rev = await store.CreateAsync(prefix + "k", new byte[100]);
        var received = new long[updates, watchers];
        var from = rev;
        var ready = 0;
        var tasks = Enumerable.Range(0, watchers).Select(w => Task.Run(async () =>
        {
            var n = 0;
            await using var events = store.WatchAsync(prefix, from, cts.Token).GetAsyncEnumerator(cts.Token);
            var next = events.MoveNextAsync();
            Interlocked.Increment(ref ready);
            while (await next)
            {
                received[n++, w] = Stopwatch.GetTimestamp();
                if (n == updates)
                {
                    return;
                }
                next = events.MoveNextAsync();
            }
        })).ToArray();
        while (Volatile.Read(ref ready) < watchers)
        {
            await Task.Delay(10);
        }
        await Task.Delay(1000);
        var p50s = new List<double>();
        var p99s = new List<double>();
        for (var u = 0; u < updates; u++)
        {
            var sent = Stopwatch.GetTimestamp();
            rev = (await store.UpdateAsync(prefix + "k", new byte[100], rev)).Revision;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (Enumerable.Range(0, watchers).Any(w => Volatile.Read(ref received[u, w]) == 0) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(5);
            }
            if (Enumerable.Range(0, watchers).Any(w => Volatile.Read(ref received[u, w]) == 0))
            {
                throw new InvalidOperationException($"update {u} did not reach every watcher within 30 s");
            }
            var delays = Enumerable.Range(0, watchers).Select(w => Stopwatch.GetElapsedTime(sent, received[u, w]).TotalMilliseconds).Order().ToArray();
            p50s.Add(delays[watchers / 2]);
            p99s.Add(delays[(int)(watchers * 0.99) - 1]);
            await Task.Delay(200);
        }
        await Task.WhenAll(tasks);
        return new Result(0, p50s.Order().ElementAt(updates / 2), p99s.Order().ElementAt(updates / 2));
    }

    private static Task<Result> Sequential(int count, Func<int, Task> op) => Concurrent(1, count, op);

    private static async Task<Result> Concurrent(int clients, int count, Func<int, Task> op)
    {
        var latencies = new double[count];
        var next = -1;
        var total = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var start = Stopwatch.GetTimestamp();
                await op(i);
                latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        })));
        return Result.From(latencies, total.Elapsed);
    }

    private static async Task<Result> ConcurrentUpdates(IClusterStore store, string prefix, int clients, int count, byte[] value)
    {
        var revisions = new long[clients];
        for (var c = 0; c < clients; c++)
        {
            revisions[c] = await store.CreateAsync($"{prefix}upd/{c}", value);
        }
        var latencies = new double[count];
        var next = -1;
        var total = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var start = Stopwatch.GetTimestamp();
                var result = await store.UpdateAsync($"{prefix}upd/{c}", value, revisions[c]);
                latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (result.Outcome != WriteOutcome.Succeeded)
                {
                    throw new InvalidOperationException($"unexpected {result.Outcome} on {prefix}upd/{c}");
                }
                revisions[c] = result.Revision;
            }
        })));
        return Result.From(latencies, total.Elapsed);
    }

    private sealed record Result(double Throughput, double P50, double P99)
    {
        public static Result From(double[] latencies, TimeSpan elapsed)
        {
            var sorted = latencies.Order().ToArray();
            return new Result(sorted.Length / elapsed.TotalSeconds, sorted[sorted.Length / 2], sorted[Math.Max(0, (int)(sorted.Length * 0.99) - 1)]);
        }
    }
}
