using Berth.Core;

namespace Berth.Store;

/// <summary>Opens the store a server was configured with.</summary>
public static class ClusterStore
{
    /// <summary>
    /// No endpoint: the embedded SQLite store in <c>dataDir/state.db</c>. An <c>http://host:port</c> endpoint
    /// (several may be given, comma-separated): etcd v3 there.
    /// </summary>
    public static async Task<IClusterStore> OpenAsync(string? datastoreEndpoint, string dataDir, ClusterStoreOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(datastoreEndpoint))
        {
            ArgumentException.ThrowIfNullOrEmpty(dataDir);
            return await SqliteClusterStore.OpenAsync(Path.Combine(dataDir, "state.db"), options, cancellationToken).ConfigureAwait(false);
        }
        if (datastoreEndpoint.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            return await EtcdClusterStore.ConnectAsync(datastoreEndpoint, options, cancellationToken).ConfigureAwait(false);
        }
        if (datastoreEndpoint.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            throw BerthException.Unsupported($"datastore endpoint '{datastoreEndpoint}': etcd over TLS; use an http:// endpoint on a trusted network");
        }
        throw BerthException.InvalidArgument(
            $"datastore endpoint '{datastoreEndpoint}' is not understood; leave it empty for the embedded SQLite store or give an etcd URL such as http://127.0.0.1:2379");
    }

    /// <summary>Synchronous form of <see cref="OpenAsync"/> for hosts wiring services at startup.</summary>
    public static IClusterStore Open(string? datastoreEndpoint, string dataDir, ClusterStoreOptions? options = null)
        => OpenAsync(datastoreEndpoint, dataDir, options).GetAwaiter().GetResult();
}
