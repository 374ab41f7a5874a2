using Berth.Core;

namespace Berth.Store.Tests;

/// <summary>The conformance suite against a real etcd v3.</summary>
public sealed class EtcdClusterStoreTests(EtcdServer etcd) : ClusterStoreConformance, IClassFixture<EtcdServer>
{
    protected override async Task<IClusterStore> OpenStoreAsync() => await etcd.ConnectAsync();

    [Fact]
    public async Task The_factory_opens_etcd_for_an_http_endpoint()
    {
        await using var store = await ClusterStore.OpenAsync(etcd.Endpoint, "/nonexistent-unused");
        Assert.IsType<EtcdClusterStore>(store);
        var rev = await store.CreateAsync(P + "via-factory", V("x"));
        Assert.Equal(rev, (await Store.GetAsync(P + "via-factory"))!.ModRevision);
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
