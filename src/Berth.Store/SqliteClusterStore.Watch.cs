using System.Runtime.CompilerServices;

namespace Berth.Store;

public sealed partial class SqliteClusterStore
{
    private const int HistoryPage = 1000;

    /// <summary>
    /// Subscribes to the in-process feed first, then replays history from the database, then follows the feed;
    /// events the replay already produced are skipped by revision. A watcher whose queue overflowed re-reads
    /// history from its last revision, so a slow watcher never blocks writers and never misses an event (or gets
    /// <see cref="CompactedException"/> when it fell behind past the compaction window, like etcd).
    /// </summary>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long afterRevision, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfNegative(afterRevision);
        ThrowIfDisposed();
        var subscriber = hub.Subscribe(prefix);
        try
        {
            var last = afterRevision;
            var replay = true;
            while (true)
            {
                if (replay || subscriber.ConsumeLagged())
                {
                    replay = false;
                    List<WatchEvent> page;
                    do
                    {
                        page = await ReadHistoryAsync(prefix, last, HistoryPage, cancellationToken).ConfigureAwait(false);
                        foreach (var e in page)
                        {
                            yield return e;
                            last = e.Current.ModRevision;
                        }
                    }
                    while (page.Count == HistoryPage);
                    continue;
                }
                if (!subscriber.Reader.TryRead(out var next))
                {
                    if (!await subscriber.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        yield break;
                    }
                    continue;
                }
                if (next.Current.ModRevision <= last)
                {
                    continue;
                }
                yield return next;
                last = next.Current.ModRevision;
            }
        }
        finally
        {
            hub.Unsubscribe(subscriber);
        }
    }
}
