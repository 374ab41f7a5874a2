using System.Text.Json.Nodes;
using Berth.ApiServer.Registry;
using Berth.Store;
using Microsoft.Extensions.Logging;

namespace Berth.ApiServer.Storage;

/// <summary>
/// Every object under one storage prefix (say all namespaces, or all ResourceQuotas), kept in memory from a list and
/// then the watch hub, like a Kubernetes informer: admission asks it instead of the store on every create. Writes this
/// server makes through <see cref="ObjectStore"/> are applied at once (read-your-writes: a namespace this server just
/// marked for deletion refuses new content straight away); events from the hub bring other servers' writes in
/// within milliseconds. Each key keeps the revision it was last set at (tombstones too), so an older event never
/// overwrites a newer state whichever path delivered it first. Objects handed out are shared: do not modify them.
/// </summary>
public sealed partial class ResourceCache : IAsyncDisposable
{
    private readonly ObjectStore _store;
    private readonly WatchHub _hub;
    private readonly Lock _lock = new();
    private readonly ILogger _logger;
    private Dictionary<string, (JsonObject? Object, long Revision)> _items = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private volatile bool _synced;

    /// <summary>Made by <see cref="ObjectStore.AddCache"/>, which tells it about this server's writes and disposes it.</summary>
    internal ResourceCache(ObjectStore store, WatchHub hub, string prefix, ILogger logger)
    {
        _store = store;
        _hub = hub;
        _logger = logger;
        Prefix = prefix;
    }

    public string Prefix { get; }

    /// <summary>Whether the contents follow the store (listed, and the watch since then unbroken); lookups go to the store otherwise.</summary>
    internal bool Synced => _synced;

    /// <summary>Lists the prefix, then follows the hub from the list's revision.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        var from = await FillAsync(ct).ConfigureAwait(false);
        _loop = Task.Run(() => FollowAsync(from, _stop.Token), CancellationToken.None);
    }

    /// <summary>
    /// Lists the prefix and replaces the contents with it, so keys deleted while the watch was down are dropped too.
    /// Entries newer than the list (this server's writes that landed meanwhile) are kept.
    /// </summary>
    private async Task<long> FillAsync(CancellationToken ct)
    {
        var fresh = new Dictionary<string, (JsonObject? Object, long Revision)>(StringComparer.Ordinal);
        string? after = null;
        long revision = 0;
        while (true)
        {
            var page = await _store.Store.ListAsync(Prefix, after, 500, revision, ct).ConfigureAwait(false);
            revision = page.Revision;
            foreach (var kv in page.Items)
            {
                fresh[kv.Key] = (DecodedEvent.Materialize(ObjectStore.Decode(kv)), kv.ModRevision);
            }
            if (!page.More || page.Items.Count == 0)
            {
                break;
            }
            after = page.Items[^1].Key;
        }
        lock (_lock)
        {
            foreach (var (key, known) in _items)
            {
                if (known.Revision > revision)
                {
                    fresh[key] = known;
                }
            }
            _items = fresh;
        }
        _synced = true;
        return revision;
    }

    private async Task FollowAsync(long from, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (!_synced)
                {
                    from = await FillAsync(ct).ConfigureAwait(false);
                }
                await foreach (var e in _hub.WatchAsync(Prefix, from, ct).ConfigureAwait(false))
                {
                    from = e.Current.ModRevision;
                    var decoded = DecodedEvent.For(e);
                    Observe(e.Current.Key, e.Type == WatchEventType.Delete ? null : decoded.Object, e.Current.ModRevision);
                }
                // The hub ended the watch (its store watch broke): it may have missed events, so list again.
                _synced = false;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // CompactedException or an unavailable store: list again once it answers; until then lookups go to the store.
                _synced = false;
                LogFollowFailed(_logger, Prefix, e);
                try
                {
                    await Task.Delay(200, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Records the state of <paramref name="key"/> at <paramref name="revision"/> (null: deleted), unless a newer one is known.</summary>
    public void Observe(string key, JsonObject? obj, long revision)
    {
        if (!key.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return;
        }
        lock (_lock)
        {
            SetLocked(key, obj, revision);
        }
    }

    private void SetLocked(string key, JsonObject? obj, long revision)
    {
        if (_items.TryGetValue(key, out var known) && known.Revision >= revision)
        {
            return;
        }
        _items[key] = (obj, revision);
    }

    /// <summary>The object at <paramref name="key"/>, or null when it does not exist; from the store while the cache is not in sync.</summary>
    public async ValueTask<JsonObject?> GetAsync(string key, CancellationToken ct)
    {
        if (_synced)
        {
            lock (_lock)
            {
                if (_items.TryGetValue(key, out var known))
                {
                    return known.Object;
                }
            }
        }
        // Not seen (yet): the store decides, and what it says is remembered.
        var kv = await _store.Store.GetAsync(key, ct).ConfigureAwait(false);
        if (kv is null)
        {
            return null;
        }
        var obj = DecodedEvent.Materialize(ObjectStore.Decode(kv));
        Observe(key, obj, kv.ModRevision);
        return obj;
    }

    /// <summary>Every live object of <paramref name="def"/> in <paramref name="ns"/> (under this cache's prefix); from the store while not in sync.</summary>
    public async ValueTask<List<JsonObject>> ListAsync(ResourceDefinition def, string? ns, CancellationToken ct)
    {
        var prefix = def.ListPrefix(ns);
        if (_synced)
        {
            lock (_lock)
            {
                return [.. _items.Where(x => x.Value.Object is not null && x.Key.StartsWith(prefix, StringComparison.Ordinal)).Select(x => x.Value.Object!)];
            }
        }
        return (await _store.ListAsync(def, ns, 0, null, 0, _ => true, ct).ConfigureAwait(false)).Items;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        _stop.Dispose();
    }

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Cache of {Prefix} lost the watch; listing again")]
    private static partial void LogFollowFailed(ILogger logger, string prefix, Exception exception);
}
