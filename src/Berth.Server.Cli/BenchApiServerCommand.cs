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
/// `berth bench-apiserver` (hidden): a KubernetesClient load generator. With --write-rate R, an open loop issues
/// creates and updates at R writes/s (plus a get and a list per two writes) whatever the latency, timing each from
/// its due time; without it, N clients run creates, updates, gets and lists back to back. Then W watchers each wait
/// for one update and the delivery latency is measured. With --etcd URL it also times puts/ranges straight against etcd's v3 HTTP
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
        var warmup = args.Int("warmup", 5);
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
        var errors = 0L;
        double elapsed;
        long ops, writes;
        var serverCpu = CpuSeconds(serverPid);
        var ownCpu = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        if (writeRate > 0)
        {
            // The targets are for a server in its steady state: the first seconds after start-up are spent compiling
            // (JIT) the request paths, so the same load runs unmeasured first. Its figures are printed apart.
            if (warmup > 0)
            {
                List<double> warmMutating = [], warmReads = [], warmLists = [];
                var (_, _, _, warmErrors) = await OpenLoopAsync(config, ns, "w", clients, warmup, writeRate, warmMutating, warmReads, warmLists, cancellationToken).ConfigureAwait(false);
                Print(label, "warmup_s", warmup);
                Print(label, "warmup_errors", warmErrors);
                Report(label, "warmup_mutating", warmMutating);
            }
            serverCpu = CpuSeconds(serverPid);
            ownCpu = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
            (elapsed, ops, writes, errors) = await OpenLoopAsync(config, ns, "m", clients, seconds, writeRate, mutating, reads, lists, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            (elapsed, ops, writes) = await ClosedLoopAsync(config, ns, clients, seconds, mutating, reads, lists, cancellationToken).ConfigureAwait(false);
        }
        Print(label, "ops_per_s", ops / elapsed);
        if (writeRate > 0)
        {
            Print(label, "writes_target_per_s", writeRate);
        }
        Print(label, "writes_per_s", writes / elapsed);
        Print(label, "errors", errors);
        // CPU per request is the figure least disturbed by other work on the machine.
        Print(label, "server_cpu_ms_per_op", (CpuSeconds(serverPid) - serverCpu) * 1000 / Math.Max(1, ops));
        Print(label, "generator_cpu_ms_per_op", (Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - ownCpu) * 1000 / Math.Max(1, ops));
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

    /// <summary>
    /// As fast as possible: each client runs create, update, get, list back to back (a closed loop, so the achieved
    /// rate is whatever the latency allows; latency is measured per request).
    /// </summary>
    private static async Task<(double Elapsed, long Ops, long Writes)> ClosedLoopAsync(KubernetesClientConfiguration config, string ns, int clients, int seconds,
        List<double> mutating, List<double> reads, List<double> lists, CancellationToken cancellationToken)
    {
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
        return (sw.Elapsed.TotalSeconds, ops, writes);
    }

    /// <summary>
    /// An open loop at <paramref name="writeRate"/> writes/s: write k is due at start + k/rate whatever the latency of
    /// the ones before it, alternating a create of a new ConfigMap and an unconditional update of one of a pool made
    /// beforehand; every second write also brings a get and a list of 50, due at the same time. Latency is measured
    /// from the due time, so time spent queued behind a slow server counts (no coordinated omission). Requests go
    /// round-robin over <paramref name="clients"/> clients. The achieved rate is the writes that succeeded over the
    /// time from the start until the last one finished.
    /// </summary>
    private static async Task<(double Elapsed, long Ops, long Writes, long Errors)> OpenLoopAsync(KubernetesClientConfiguration config, string ns, string phase, int clients, int seconds,
        int writeRate, List<double> mutating, List<double> reads, List<double> lists, CancellationToken cancellationToken)
    {
        var pool = Enumerable.Range(0, clients).Select(_ => new Kubernetes(config)).ToArray();
        try
        {
            // The objects the updates and gets go to, made before the clock starts.
            var targets = Math.Max(clients * 8, 64);
            await Task.WhenAll(Enumerable.Range(0, targets).Select(i => pool[i % clients].CoreV1.CreateNamespacedConfigMapAsync(
                new V1ConfigMap { Metadata = new V1ObjectMeta { Name = $"{phase}u{i}" }, Data = new Dictionary<string, string> { ["v"] = "0" } }, ns, cancellationToken: cancellationToken))).ConfigureAwait(false);
            var ops = 0L;
            var writes = 0L;
            var errors = 0L;
            var inflight = new List<Task>(seconds * writeRate * 2);
            // A server that falls far behind would otherwise pile up requests without bound in both processes:
            // past this many outstanding requests a due write is skipped, and counted as an error.
            const int MaxOutstanding = 2000;
            var outstanding = 0;
            var ticksPerWrite = (double)Stopwatch.Frequency / writeRate;
            var total = (long)seconds * writeRate;
            var start = Stopwatch.GetTimestamp();

            async Task Timed(List<double> into, long due, bool write, Func<Task> request)
            {
                if (Interlocked.Increment(ref outstanding) > MaxOutstanding)
                {
                    Interlocked.Decrement(ref outstanding);
                    Interlocked.Increment(ref errors);
                    return;
                }
                try
                {
                    await request().ConfigureAwait(false);
                    Add(into, due);
                    Interlocked.Increment(ref ops);
                    if (write)
                    {
                        Interlocked.Increment(ref writes);
                    }
                }
                catch (Exception e) when (e is HttpRequestException or k8s.Autorest.HttpOperationException or IOException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    Interlocked.Increment(ref errors);
                }
                finally
                {
                    Interlocked.Decrement(ref outstanding);
                }
            }

            for (var k = 0L; k < total && !cancellationToken.IsCancellationRequested;)
            {
                // Issue everything that is due by now, each stamped with its own due time, then sleep ~1 ms.
                var now = Stopwatch.GetTimestamp();
                for (; k < total && start + (long)(k * ticksPerWrite) <= now; k++)
                {
                    var due = start + (long)(k * ticksPerWrite);
                    var c = pool[k % clients];
                    var n = k / 2;
                    if (k % 2 == 0)
                    {
                        inflight.Add(Timed(mutating, due, true, () => c.CoreV1.CreateNamespacedConfigMapAsync(
                            new V1ConfigMap { Metadata = new V1ObjectMeta { Name = $"{phase}c{n}" }, Data = new Dictionary<string, string> { ["v"] = "0" } }, ns, cancellationToken: cancellationToken)));
                        continue;
                    }
                    var target = $"{phase}u{n % targets}";
                    inflight.Add(Timed(mutating, due, true, () => c.CoreV1.ReplaceNamespacedConfigMapAsync(
                        new V1ConfigMap { Metadata = new V1ObjectMeta { Name = target, NamespaceProperty = ns }, Data = new Dictionary<string, string> { ["v"] = n.ToString(CultureInfo.InvariantCulture) } },
                        target, ns, cancellationToken: cancellationToken)));
                    var reader = pool[(k + 1) % clients];
                    inflight.Add(Timed(reads, due, false, () => reader.CoreV1.ReadNamespacedConfigMapAsync($"{phase}u{(n + 1) % targets}", ns, cancellationToken: cancellationToken)));
                    inflight.Add(Timed(lists, due, false, () => reader.CoreV1.ListNamespacedConfigMapAsync(ns, limit: 50, cancellationToken: cancellationToken)));
                }
                await Task.Delay(1, cancellationToken).ConfigureAwait(false);
            }
            await Task.WhenAll(inflight).ConfigureAwait(false);
            return ((Stopwatch.GetTimestamp() - start) / (double)Stopwatch.Frequency, ops, writes, errors);
        }
        finally
        {
            foreach (var c in pool)
            {
                c.Dispose();
            }
        }
    }

    private static async Task WatchDeliveryAsync(KubernetesClientConfiguration config, string ns, int watchers, string label, int serverPid, CancellationToken ct)
    {
        using var client = new Kubernetes(config);
        var cm = await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "watched" }, Data = new Dictionary<string, string> { ["v"] = "0" } }, ns, cancellationToken: ct).ConfigureAwait(false);
        var handlers = Enumerable.Range(0, Math.Max(1, watchers / 100)).Select(_ => Handler(config)).ToList();
        var ready = 0;
        var sent = 0L;
        var delivered = new double[watchers];
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(TimeSpan.FromSeconds(120));
        // Each watcher reads its stream as bytes and stops at the first line holding the new value. Decoding every
        // event into a V1ConfigMap (the client's typed watch) for 1,000 watchers cost the generator ~450 ms of CPU
        // on the two cores it shares with the server, which had flushed all 1,000 lines within 15-55 ms; the
        // figure measured that, not delivery. The requests carry the kubeconfig's
        // credentials (client certificate via its CertUtils, CA, token) over HTTP/2, 100 watches per connection as
        // informers sharing a connection do.
        var marker = "\"v\":\"1\""u8.ToArray();
        var baseUri = new Uri(config.Host.TrimEnd('/') + "/");
        var tasks = Enumerable.Range(0, watchers).Select(async w =>
        {
            using var http = new HttpClient(handlers[w % handlers.Count], disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
            var uri = new Uri(baseUri, $"api/v1/namespaces/{ns}/configmaps?watch=true&fieldSelector=metadata.name%3Dwatched&resourceVersion={cm.Metadata.ResourceVersion}&timeoutSeconds=120");
            using var request = new HttpRequestMessage(HttpMethod.Get, uri) { Version = System.Net.HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionOrLower };
            if (!string.IsNullOrEmpty(config.AccessToken))
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", config.AccessToken);
            }
            try
            {
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
                response.EnsureSuccessStatusCode();
                await using var stream = await response.Content.ReadAsStreamAsync(cts.Token).ConfigureAwait(false);
                var buffer = new byte[16384];
                var filled = 0;
                while (true)
                {
                    if (filled == buffer.Length)
                    {
                        Array.Resize(ref buffer, buffer.Length * 2);
                    }
                    var n = await stream.ReadAsync(buffer.AsMemory(filled), cts.Token).ConfigureAwait(false);
                    if (n == 0)
                    {
                        return;
                    }
                    filled += n;
                    if (buffer.AsSpan(0, filled).IndexOf(marker) >= 0)
                    {
                        delivered[w] = (Stopwatch.GetTimestamp() - Interlocked.Read(ref sent)) * 1000.0 / Stopwatch.Frequency;
                        return;
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or HttpRequestException or IOException)
            {
                // Not delivered: counted by watch_delivered.
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
        // Delivery counts from the update's start, so it includes the write itself: printed apart to tell them apart.
        var updateMs = (Stopwatch.GetTimestamp() - Interlocked.Read(ref sent)) * 1000.0 / Stopwatch.Frequency;
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
        Print(label, "watch_update_ms", updateMs);
        Report(label, "watch_delivery", got);
        foreach (var h in handlers)
        {
            h.Dispose();
        }
    }

    /// <summary>An HTTP handler with the kubeconfig's client certificate that trusts its CA (one HTTP/2 connection).</summary>
    private static SocketsHttpHandler Handler(KubernetesClientConfiguration config)
    {
        var tls = new System.Net.Security.SslClientAuthenticationOptions();
        // KubernetesClient's CertUtils is internal in this version: the two kubeconfig forms are loaded here.
        if (!string.IsNullOrEmpty(config.ClientCertificateData) && !string.IsNullOrEmpty(config.ClientCertificateKeyData))
        {
            tls.ClientCertificates = [System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(
                Encoding.UTF8.GetString(Convert.FromBase64String(config.ClientCertificateData)), Encoding.UTF8.GetString(Convert.FromBase64String(config.ClientCertificateKeyData)))];
        }
        else if (!string.IsNullOrEmpty(config.ClientCertificateFilePath) && !string.IsNullOrEmpty(config.ClientKeyFilePath))
        {
            tls.ClientCertificates = [System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(config.ClientCertificateFilePath, config.ClientKeyFilePath)];
        }
        tls.RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
            config.SkipTlsVerify || (config.SslCaCerts is null
                ? errors == System.Net.Security.SslPolicyErrors.None
                : Kubernetes.CertificateValidationCallBack(sender, config.SslCaCerts, certificate!, chain!, errors));
        return new SocketsHttpHandler { SslOptions = tls, EnableMultipleHttp2Connections = false };
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

    /// <summary>User + system CPU time of the server process (NaN without --server-pid).</summary>
    private static double CpuSeconds(int pid) => Measure(pid, p => p.TotalProcessorTime.TotalSeconds);

    /// <summary>Resident memory of the server process in MiB (NaN without --server-pid).</summary>
    private static double Rss(int pid) => Measure(pid, p => p.WorkingSet64 / 1048576.0);

    private static double Measure(int pid, Func<Process, double> read)
    {
        if (pid <= 0)
        {
            return double.NaN;
        }
        try
        {
            using var process = Process.GetProcessById(pid);
            return read(process);
        }
        catch (ArgumentException)
        {
            return double.NaN; // the process has exited
        }
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
