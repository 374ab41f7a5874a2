using Berth.Core;
using Microsoft.Extensions.Time.Testing;

namespace Berth.Store.Tests;

/// <summary>The conformance suite against a real etcd v3.</summary>
public sealed class EtcdClusterStoreTests(EtcdServer etcd) : ClusterStoreConformance, IClassFixture<EtcdServer>
{
    protected override async Task<IClusterStore> OpenStoreAsync() => await etcd.ConnectAsync();

    protected override async Task WaitUntilWatchingAsync(int watchers, CancellationToken cancellationToken)
    {
        while (((EtcdClusterStore)Store).WatcherCount < watchers)
        {
            await Task.Delay(10, cancellationToken);
        }
        // Registered here; give etcd a moment to have created them all.
        await Task.Delay(500, cancellationToken);
    }

    [Fact]
    public async Task The_factory_opens_etcd_for_an_http_endpoint()
    {
        await using var store = await ClusterStore.OpenAsync(etcd.Endpoint, "/nonexistent-unused");
        Assert.IsType<EtcdClusterStore>(store);
        var rev = await store.CreateAsync(P + "via-factory", V("x"));
        Assert.Equal(rev, (await Store.GetAsync(P + "via-factory"))!.ModRevision);
    }

    [Fact]
    public async Task Background_compaction_compacts_etcd_keeping_the_configured_revisions()
    {
        var clock = new FakeTimeProvider();
        await using var store = await etcd.ConnectAsync(new ClusterStoreOptions
        {
            CompactionInterval = TimeSpan.FromMinutes(5),
            CompactionRetainedRevisions = 10,
            TimeProvider = clock,
        });
        var rev = await store.CreateAsync(P + "k", V("0"));
        for (var i = 1; i < 30; i++)
        {
            rev = (await store.UpdateAsync(P + "k", V("x"), rev)).Revision;
        }
        clock.Advance(TimeSpan.FromMinutes(5));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        CompactedException? compacted = null;
        while (compacted is null && DateTime.UtcNow < deadline)
        {
            try
            {
                await store.ListAsync(P, revision: rev - 20);
                await Task.Delay(50);
            }
            catch (CompactedException e)
            {
                compacted = e;
            }
        }
        Assert.NotNull(compacted);
        Assert.Equal(rev - 10, compacted.CompactedRevision);
        Assert.Single((await store.ListAsync(P, revision: rev - 10)).Items);
        Assert.Null(store.LastCompactionError);
    }

    [Fact]
    public async Task An_unreachable_endpoint_fails_with_a_clear_error()
    {
        var port = EtcdServer.FreePort();
        var e = await Assert.ThrowsAsync<BerthException>(() => EtcdClusterStore.ConnectAsync($"http://127.0.0.1:{port}"));
        Assert.Equal(ErrorCode.Unavailable, e.Code);
        Assert.Contains($"127.0.0.1:{port}", e.Message, StringComparison.Ordinal);
        Assert.Contains("--datastore-endpoint", e.Message, StringComparison.Ordinal);
    }
}
