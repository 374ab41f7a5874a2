using System.Runtime.CompilerServices;
using System.Text;
using Berth.ApiServer.Registry;
using Berth.ApiServer.Storage;
using Berth.Store;
using Berth.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.ApiServer.Tests;

/// <summary>
/// The admission cache over a real SQLite store, with a seam that breaks the store watch (as an etcd restart or a
/// network blip does) and fails lists: what was deleted while the watch was down must be gone after the re-list.
/// </summary>
public sealed class ResourceCacheTests
{
    private static readonly ResourceDefinition Namespaces = new ResourceRegistry().FindAnyVersion("", "namespaces")!;
    private static readonly string Prefix = Namespaces.StoragePrefix;

    [Fact]
    public async Task A_key_deleted_while_the_watch_was_broken_is_gone_after_the_relist()
    {
        await using var env = await CacheEnv.StartAsync();
        Assert.True(env.Cache.Synced);
        Assert.NotNull(await env.Cache.GetAsync(Prefix + "a", default));

        // The delete's event never reaches the hub: the store watch breaks on it.
        env.Store.BreakWatchOnNextEvent();
        await env.Store.Inner.DeleteAsync(Prefix + "a");

        await env.WaitSyncedWithoutAsync("a");
        Assert.Null(await env.Cache.GetAsync(Prefix + "a", default));
        Assert.NotNull(await env.Cache.GetAsync(Prefix + "b", default));
        Assert.Equal(["b"], (await env.Cache.ListAsync(Namespaces, null, default)).Select(o => o.Name()).ToArray());
    }

    [Fact]
    public async Task Failed_relists_are_retried_until_the_cache_is_in_sync_again()
    {
        await using var env = await CacheEnv.StartAsync();
        env.Store.FailLists(3);
        env.Store.BreakWatchOnNextEvent();
        await env.Store.Inner.DeleteAsync(Prefix + "a");

        await env.WaitSyncedWithoutAsync("a");
        Assert.Equal(0, env.Store.ListFailuresLeft);
        // And it follows the hub again: a later create arrives through the watch.
        await env.Store.Inner.CreateAsync(Prefix + "c", Namespace("c"));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await env.Cache.ListAsync(Namespaces, null, default)).Count != 2 || !env.Cache.Synced)
        {
            Assert.True(DateTime.UtcNow < deadline, "the cache never saw namespace c");
            await Task.Delay(20);
        }
        Assert.Equal(["b", "c"], (await env.Cache.ListAsync(Namespaces, null, default)).Select(o => o.Name()).Order(StringComparer.Ordinal).ToArray());
    }

    private static byte[] Namespace(string name) => Encoding.UTF8.GetBytes("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" + name + "\"}}");

    private sealed class CacheEnv : IAsyncDisposable
    {
        private readonly TempDirectory _dir;

        private readonly ObjectStore _objects;

        private CacheEnv(TempDirectory dir, BreakableStore store, WatchHub hub, ObjectStore objects, ResourceCache cache)
        {
            _dir = dir;
            _objects = objects;
            Store = store;
            Hub = hub;
            Cache = cache;
        }

        public BreakableStore Store { get; }

        public WatchHub Hub { get; }

        public ResourceCache Cache { get; }

        public static async Task<CacheEnv> StartAsync()
        {
            var dir = new TempDirectory("berth-cache");
            var store = new BreakableStore(ClusterStore.Open(null, dir.Path));
            await store.Inner.CreateAsync(Prefix + "a", Namespace("a"));
            await store.Inner.CreateAsync(Prefix + "b", Namespace("b"));
            var hub = new WatchHub(store, NullLogger.Instance);
            await hub.StartAsync(default);
            var objects = new ObjectStore(store);
            var cache = objects.AddCache(hub, Prefix, NullLogger.Instance);
            await cache.StartAsync(default);
            return new CacheEnv(dir, store, hub, objects, cache);
        }

        /// <summary>Waits until the cache answers from memory again and no longer holds <paramref name="name"/>.</summary>
        public async Task WaitSyncedWithoutAsync(string name)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (true)
            {
                try
                {
                    if (Cache.Synced && !(await Cache.ListAsync(Namespaces, null, default)).Any(o => o.Name() == name) && Cache.Synced)
                    {
                        return;
                    }
                }
                catch (IOException)
                {
                    // Unsynced between the two checks: the list went to the store while it was failing on purpose.
                }
                Assert.True(DateTime.UtcNow < deadline, $"the cache still holds namespace {name} (synced: {Cache.Synced})");
                await Task.Delay(20);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _objects.DisposeAsync();
            await Hub.DisposeAsync();
            await Store.DisposeAsync();
            _dir.Dispose();
        }
    }

    /// <summary>A real store whose watch can be made to fail on its next event and whose next lists can be made to fail.</summary>
    private sealed class BreakableStore(IClusterStore inner) : IClusterStore
    {
        private int _breakWatch;
        private int _failLists;

        public IClusterStore Inner { get; } = inner;

        public int ListFailuresLeft => Volatile.Read(ref _failLists);

        public void BreakWatchOnNextEvent() => Volatile.Write(ref _breakWatch, 1);

        public void FailLists(int count) => Volatile.Write(ref _failLists, count);

        public ValueTask<long> CurrentRevisionAsync(CancellationToken cancellationToken = default) => Inner.CurrentRevisionAsync(cancellationToken);

        public Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default) => Inner.GetAsync(key, cancellationToken);

        public Task<RangeResult> ListAsync(string prefix, string? startAfter = null, long limit = 0, long revision = 0, CancellationToken cancellationToken = default)
        {
            while (Volatile.Read(ref _failLists) is var left && left > 0)
            {
                if (Interlocked.CompareExchange(ref _failLists, left - 1, left) == left)
                {
                    throw new IOException("store unavailable (test)");
                }
            }
            return Inner.ListAsync(prefix, startAfter, limit, revision, cancellationToken);
        }

        public Task<long> CountAsync(string prefix, CancellationToken cancellationToken = default) => Inner.CountAsync(prefix, cancellationToken);

        public Task<long> CreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) => Inner.CreateAsync(key, value, cancellationToken);

        public Task<WriteResult> UpdateAsync(string key, ReadOnlyMemory<byte> value, long expectedRevision, CancellationToken cancellationToken = default) =>
            Inner.UpdateAsync(key, value, expectedRevision, cancellationToken);

        public Task<WriteResult> DeleteAsync(string key, long expectedRevision = 0, CancellationToken cancellationToken = default) => Inner.DeleteAsync(key, expectedRevision, cancellationToken);

        public async IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long afterRevision, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await foreach (var e in Inner.WatchAsync(prefix, afterRevision, cancellationToken).ConfigureAwait(false))
            {
                if (Interlocked.Exchange(ref _breakWatch, 0) == 1)
                {
                    throw new IOException("store watch broken (test)");
                }
                yield return e;
            }
        }

        public Task CompactAsync(long revision, CancellationToken cancellationToken = default) => Inner.CompactAsync(revision, cancellationToken);

        public ValueTask DisposeAsync() => Inner.DisposeAsync();
    }
}
