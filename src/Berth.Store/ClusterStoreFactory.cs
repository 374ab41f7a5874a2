using Berth.Core;

namespace Berth.Store;

/// <summary>
/// Opens the cluster store for `berth server`: etcd when an endpoint is given, otherwise SQLite in the data
/// directory. The implementations come with the store part; until they are merged this says so.
/// </summary>
public static class ClusterStore
{
    public static IClusterStore Open(string? datastoreEndpoint, string dataDir) =>
        throw BerthException.Unsupported(
            $"no cluster store implementation is built in yet (wanted {(datastoreEndpoint is null ? "SQLite in " + dataDir : "etcd at " + datastoreEndpoint)})");
}
