using Berth.Cli.Commands;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Berth.Server.Cli;

/// <summary>
/// `berth bench-apiserver` (hidden): a KubernetesClient load generator. N clients do creates, updates, gets and
/// lists for a duration (paced to --write-rate when given); then W watchers each wait for one update and the
/// delivery latency is measured. With --etcd URL it also times puts/ranges straight against etcd's v3 HTTP
/// gateway, the peer the store latency is compared with. Prints one line per figure.
/// </summary>
public sealed class BenchApiServerCommand : ICommand
{
    public string Name => "bench-apiserver";

    public string Summary => "load-test a Kubernetes API server (benchmarks)";

    public bool Hidden => true;

    public async Task<int> RunAsync(CommandArgs args, CancellationToken cancellationToken)
    {
        var kubeconfig = args.Option("kubeconfig");
        var clients = args.Int("clients", 16);
        var seconds = args.Int("duration", 10);
        var watchers = args.Int("watchers", 1000);
        var writeRate = args.Int("write-rate", 0);
        var etcd = args.Option("etcd");
        var label = args.Option("label", "berth");
        var serverPid = args.Int("server-pid", 0);
        args.EnsureAllUsed();
        if (kubeconfig is null)
        {
            if (etcd is null)
            {
                throw Berth.Core.BerthException.InvalidArgument("bench-apiserver: give --kubeconfig (an API server) and/or --etcd (the peer)");
            }
            await EtcdDirectAsync(etcd, clients, seconds, cancellationToken).ConfigureAwait(false);
            return 0;
        }

        var config = KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig);
        using var client = new Kubernetes(config);
        var ns = "bench-" + Guid.NewGuid().ToString("N")[..6];
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } }, cancellationToken: cancellationToken).ConfigureAwait(false);
        Print(label, "idle_rss_mb", Rss(serverPid));

        var mutating = new List<double>();
        var reads = new List<double>();
        var lists = new List<double>();
        var ops = 0L;
        var writes = 0L;
        var sw = Stopwatch.StartNew();
        var end = TimeSpan.FromSeconds(seconds);
        async Task Worker(int id)
        {
            using var c = new Kubernetes(config);
            var i = 0;
            while (sw.Elapsed < end && !cancellationToken.IsCancellationRequested)
            {
                if (writeRate > 0)
                {
                    // Each iteration does two writes; spread the target rate over the clients.
                    await Task.Delay(TimeSpan.FromSeconds(clients * 2.0 / writeRate), cancellationToken).ConfigureAwait(false);
                }
                var name = $"c{id}-{i++}";
                var t = Stopwatch.GetTimestamp();
                var cm = await c.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = name }, Data = new Dictionary<string, string> { ["v"] = "0" } }, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
                Add(mutating, t);
                t = Stopwatch.GetTimestamp();
                cm.Data["v"] = "1";
                await c.CoreV1.ReplaceNamespacedConfigMapAsync(cm, name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
                Add(mutating, t);
                t = Stopwatch.GetTimestamp();
                await c.CoreV1.ReadNamespacedConfigMapAsync(name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
                Add(reads, t);
                t = Stopwatch.GetTimestamp();
                await c.CoreV1.ListNamespacedConfigMapAsync(ns, limit: 50, cancellationToken: cancellationToken).ConfigureAwait(false);
                Add(lists, t);
                Interlocked.Add(ref ops, 4);
                Interlocked.Add(ref writes, 2);
            }
        }
        await Task.WhenAll(Enumerable.Range(0, clients).Select(Worker)).ConfigureAwait(false);
        var elapsed = sw.Elapsed.TotalSeconds;
        Print(label, "ops_per_s", ops / elapsed);
        Print(label, "writes_per_s", writes / elapsed);
        Report(label, "mutating", mutating);
        Report(label, "get", reads);
        Report(label, "list50", lists);
        Print(label, "loaded_rss_mb", Rss(serverPid));

        if (watchers > 0)
        {
            await WatchDeliveryAsync(config, ns, watchers, label, serverPid, cancellationToken).ConfigureAwait(false);
        }
        await client.CoreV1.DeleteNamespaceAsync(ns, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (etcd is not null)
        {
            await EtcdDirectAsync(etcd, clients, seconds, cancellationToken).ConfigureAwait(false);
        }
        return 0;
    }

    private static async Task WatchDeliveryAsync(KubernetesClientConfiguration config, string ns, int watchers, string label, int serverPid, CancellationToken ct)
    {
        using var client = new Kubernetes(config);
        var cm = await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "watched" }, Data = new Dictionary<string, string> { ["v"] = "0" } }, ns, cancellationToken: ct).ConfigureAwait(false);
        // Watchers share a few HTTP/2 connections, as many informers in one process do.
        var pool = Enumerable.Range(0, Math.Max(1, watchers / 100)).Select(_ => new Kubernetes(config)).ToList();
        var ready = 0;
        var sent = 0L;
        var delivered = new double[watchers];
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(TimeSpan.FromSeconds(120));
        var tasks = Enumerable.Range(0, watchers).Select(async w =>
        {
            var c = pool[w % pool.Count];
            await foreach (var (type, item) in c.CoreV1.WatchListNamespacedConfigMapAsync(ns, fieldSelector: "metadata.name=watched", resourceVersion: cm.Metadata.ResourceVersion,
                               allowWatchBookmarks: false, timeoutSeconds: 120, onError: _ => { }, cancellationToken: cts.Token).ConfigureAwait(false))
            {
                if (item.Data?["v"] == "1")
                {
                    delivered[w] = (Stopwatch.GetTimestamp() - Interlocked.Read(ref sent)) * 1000.0 / Stopwatch.Frequency;
                    return;
                }
            }
        }).ToList();
        // Let every watch reach the server before the update.
        var waitStart = Stopwatch.StartNew();
        while (waitStart.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(500, ct).ConfigureAwait(false);
            ready++;
            if (ready > Math.Max(4, watchers / 100))
            {
                break;
            }
        }
        Print(label, "watchers_rss_mb", Rss(serverPid));
        cm.Data["v"] = "1";
        Interlocked.Exchange(ref sent, Stopwatch.GetTimestamp());
        await client.CoreV1.ReplaceNamespacedConfigMapAsync(cm, "watched", ns, cancellationToken: ct).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        await cts.CancelAsync().ConfigureAwait(false);
        var got = delivered.Where(d => d > 0).ToList();
        Print(label, "watchers", watchers);
        Print(label, "watch_delivered", got.Count);
        Report(label, "watch_delivery", got);
        foreach (var c in pool)
        {
            c.Dispose();
        }
    }

    private static async Task EtcdDirectAsync(string endpoint, int clients, int seconds, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = new Uri(endpoint.TrimEnd('/') + "/") };
        var puts = new List<double>();
        var gets = new List<double>();
        var sw = Stopwatch.StartNew();
        static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));
        async Task Worker(int id)
        {
            var i = 0;
            while (sw.Elapsed < TimeSpan.FromSeconds(seconds) && !ct.IsCancellationRequested)
            {
                var key = B64($"/bench/{id}/{i++}");
                var value = B64(new string('x', 300));
                var t = Stopwatch.GetTimestamp();
                (await http.PostAsJsonAsync("v3/kv/put", new JsonObject { ["key"] = key, ["value"] = value }, ct).ConfigureAwait(false)).EnsureSuccessStatusCode();
                Add(puts, t);
                t = Stopwatch.GetTimestamp();
                (await http.PostAsJsonAsync("v3/kv/range", new JsonObject { ["key"] = key }, ct).ConfigureAwait(false)).EnsureSuccessStatusCode();
                Add(gets, t);
            }
        }
        await Task.WhenAll(Enumerable.Range(0, clients).Select(Worker)).ConfigureAwait(false);
        Print("etcd", "puts_per_s", puts.Count / sw.Elapsed.TotalSeconds);
        Report("etcd", "put", puts);
        Report("etcd", "range", gets);
    }

    private static void Add(List<double> list, long start)
    {
        var ms = (Stopwatch.GetTimestamp() - start) * 1000.0 / Stopwatch.Frequency;
        lock (list)
        {
            list.Add(ms);
        }
    }

    private static double Rss(int pid)
    {
        if (pid <= 0 || !File.Exists($"/proc/{pid}/status"))
        {
            return double.NaN;
        }
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
            }
        }
        return double.NaN;
    }

    private static void Report(string label, string what, List<double> samples)
    {
        if (samples.Count == 0)
        {
            Print(label, what + "_count", 0);
            return;
        }
        samples.Sort();
        double P(double q) => samples[Math.Min(samples.Count - 1, (int)(q * samples.Count))];
        Print(label, what + "_count", samples.Count);
        Print(label, what + "_p50_ms", P(0.50));
        Print(label, what + "_p95_ms", P(0.95));
        Print(label, what + "_p99_ms", P(0.99));
    }

    private static void Print(string label, string key, double value) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label} {key} {value:0.##}"));
}
