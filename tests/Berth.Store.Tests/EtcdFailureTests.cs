using Berth.Core;

namespace Berth.Store.Tests;

/// <summary>What callers see when etcd goes away and comes back (its own etcd: this class kills it).</summary>
public sealed class EtcdFailureTests(EtcdServer etcd) : IClassFixture<EtcdServer>
{
    [Fact]
    public async Task Watches_and_calls_fail_as_unavailable_while_etcd_is_down_and_work_again_after()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var store = await etcd.ConnectAsync();
        var rev = await store.CreateAsync("/failure/a", "1"u8.ToArray());
        await using var events = store.WatchAsync("/failure/", rev, cts.Token).GetAsyncEnumerator(cts.Token);
        var next = events.MoveNextAsync().AsTask();
        while (store.WatcherCount == 0)
        {
            await Task.Delay(10, cts.Token);
        }
        await Task.Delay(300, cts.Token);

        await etcd.KillAsync();
        var watchError = await Assert.ThrowsAsync<BerthException>(() => next.WaitAsync(cts.Token));
        Assert.Equal(ErrorCode.Unavailable, watchError.Code);
        Assert.Contains(etcd.Endpoint.Replace("http://", "", StringComparison.Ordinal), watchError.Message, StringComparison.Ordinal);
        var getError = await Assert.ThrowsAsync<BerthException>(() => store.GetAsync("/failure/a", cts.Token));
        Assert.Equal(ErrorCode.Unavailable, getError.Code);

        await etcd.StartAsync();
        // The channel reconnects on its own within its (short) backoff; calls in that moment still fail fast.
        KeyValue? found = null;
        for (var deadline = DateTime.UtcNow.AddSeconds(10); found is null; await Task.Delay(50, cts.Token))
        {
            try
            {
                found = await store.GetAsync("/failure/a", cts.Token);
            }
            catch (BerthException e) when (e.Code == ErrorCode.Unavailable && DateTime.UtcNow < deadline)
            {
            }
        }
        Assert.Equal(rev, found.ModRevision);
        // A new watch opens a new stream and resumes from a revision.
        await using var again = store.WatchAsync("/failure/", rev, cts.Token).GetAsyncEnumerator(cts.Token);
        var resumed = again.MoveNextAsync();
        var update = await store.UpdateAsync("/failure/a", "2"u8.ToArray(), rev, cts.Token);
        Assert.True(await resumed);
        Assert.Equal(update.Revision, again.Current.Current.ModRevision);
    }
}
