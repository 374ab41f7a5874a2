using Berth.Store;

namespace Berth.ApiServer.Storage;

/// <summary>
/// The stored bytes and revision of keys this server recently wrote or read, so an update can start from them
/// instead of reading the key back from the store first (one store round trip per update; on etcd a gRPC call and
/// etcd's own work). Like Kubernetes' cached existing object: a value here may be stale (another server wrote
/// since), which is safe because the update is a compare-and-swap on the exact revision and a conflict hands back
/// the value now stored. Bounded by entries and bytes; an older revision never replaces a newer one.
/// </summary>
internal sealed class RecentValues
{
    private const int MaxEntries = 8192;
    private const long MaxBytes = 16 * 1024 * 1024;
    private const int MaxValueBytes = 256 * 1024;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, KeyValue> _items = new(StringComparer.Ordinal);
    private long _bytes;

    public KeyValue? Get(string key)
    {
        lock (_lock)
        {
            return _items.GetValueOrDefault(key);
        }
    }

    /// <summary>Remembers <paramref name="kv"/> unless a newer revision of its key is already known.</summary>
    public void Set(KeyValue kv)
    {
        lock (_lock)
        {
            if (_items.TryGetValue(kv.Key, out var known))
            {
                if (known.ModRevision >= kv.ModRevision)
                {
                    return;
                }
                _items.Remove(kv.Key);
                _bytes -= known.Value.Length;
            }
            if (kv.Value.Length > MaxValueBytes)
            {
                return;
            }
            if (_items.Count >= MaxEntries || _bytes + kv.Value.Length > MaxBytes)
            {
                // Drop the oldest quarter (a dictionary without removals enumerates in insertion order, roughly so after).
                foreach (var old in _items.Take(Math.Max(1, _items.Count / 4)).ToList())
                {
                    _items.Remove(old.Key);
                    _bytes -= old.Value.Value.Length;
                }
            }
            _items[kv.Key] = kv;
            _bytes += kv.Value.Length;
        }
    }

    /// <summary>Forgets <paramref name="key"/> (deleted, or found missing).</summary>
    public void Remove(string key)
    {
        lock (_lock)
        {
            if (_items.Remove(key, out var known))
            {
                _bytes -= known.Value.Length;
            }
        }
    }
}
