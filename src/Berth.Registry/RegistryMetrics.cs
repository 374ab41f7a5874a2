using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Berth.Registry;

/// <summary>Counters exposed at /metrics in the Prometheus text format (version 0.0.4).</summary>
internal sealed class RegistryMetrics
{
    private readonly ConcurrentDictionary<(string Method, int Status), long> _requests = new();
    private long _bytesServed;
    private long _bytesReceived;
    private long _uploadsStarted;
    private long _uploadsCompleted;
    private long _uploadsFailed;
    private long _uploadsCancelled;
    private long _mounts;
    private long _manifestsPushed;
    private long _gcRuns;
    private long _gcBlobsDeleted;

    public void Request(string method, int status) => _requests.AddOrUpdate((method, status), 1, (_, n) => n + 1);

    public void Served(long bytes) => Interlocked.Add(ref _bytesServed, bytes);

    public void Received(long bytes) => Interlocked.Add(ref _bytesReceived, bytes);

    public void UploadStarted() => Interlocked.Increment(ref _uploadsStarted);

    public void UploadCompleted() => Interlocked.Increment(ref _uploadsCompleted);

    public void UploadFailed() => Interlocked.Increment(ref _uploadsFailed);

    public void UploadCancelled() => Interlocked.Increment(ref _uploadsCancelled);

    public void Mounted() => Interlocked.Increment(ref _mounts);

    public void ManifestPushed() => Interlocked.Increment(ref _manifestsPushed);

    public void GarbageCollected(GarbageCollectionResult result)
    {
        Interlocked.Increment(ref _gcRuns);
        Interlocked.Add(ref _gcBlobsDeleted, result.BlobsDeleted);
    }

    public string Render()
    {
        var sb = new StringBuilder();
        sb.Append("# HELP berth_registry_http_requests_total HTTP requests by method and status code.\n");
        sb.Append("# TYPE berth_registry_http_requests_total counter\n");
        foreach (var ((method, status), count) in _requests.OrderBy(kv => kv.Key.Method, StringComparer.Ordinal).ThenBy(kv => kv.Key.Status))
        {
            sb.Append(CultureInfo.InvariantCulture, $"berth_registry_http_requests_total{{method=\"{method}\",code=\"{status}\"}} {count}\n");
        }
        Counter(sb, "berth_registry_bytes_served_total", "Bytes of blobs and manifests sent to clients.", Volatile.Read(ref _bytesServed));
        Counter(sb, "berth_registry_bytes_received_total", "Bytes of blob uploads received.", Volatile.Read(ref _bytesReceived));
        sb.Append("# HELP berth_registry_uploads_total Blob uploads by outcome.\n");
        sb.Append("# TYPE berth_registry_uploads_total counter\n");
        sb.Append(CultureInfo.InvariantCulture, $"berth_registry_uploads_total{{result=\"started\"}} {Volatile.Read(ref _uploadsStarted)}\n");
        sb.Append(CultureInfo.InvariantCulture, $"berth_registry_uploads_total{{result=\"completed\"}} {Volatile.Read(ref _uploadsCompleted)}\n");
        sb.Append(CultureInfo.InvariantCulture, $"berth_registry_uploads_total{{result=\"failed\"}} {Volatile.Read(ref _uploadsFailed)}\n");
        sb.Append(CultureInfo.InvariantCulture, $"berth_registry_uploads_total{{result=\"cancelled\"}} {Volatile.Read(ref _uploadsCancelled)}\n");
        Counter(sb, "berth_registry_blob_mounts_total", "Cross-repository blob mounts.", Volatile.Read(ref _mounts));
        Counter(sb, "berth_registry_manifests_pushed_total", "Manifests stored.", Volatile.Read(ref _manifestsPushed));
        Counter(sb, "berth_registry_gc_runs_total", "Garbage collections run by this process.", Volatile.Read(ref _gcRuns));
        Counter(sb, "berth_registry_gc_blobs_deleted_total", "Blobs deleted by garbage collection.", Volatile.Read(ref _gcBlobsDeleted));
        return sb.ToString();
    }

    private static void Counter(StringBuilder sb, string name, string help, long value)
    {
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
    }
}
