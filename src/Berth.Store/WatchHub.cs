using System.Threading.Channels;

namespace Berth.Store;

/// <summary>
/// In-process fan-out of committed events to watchers. The single publisher (the store's writer, or nothing for
/// etcd) calls <see cref="Publish"/> once per committed batch; each subscriber has a bounded queue. A subscriber
/// that falls behind is marked lagged instead of blocking the writer or growing without bound, and re-reads the
/// events it missed from the store's history (see <see cref="SqliteClusterStore"/>'s watch).
/// </summary>
internal sealed class WatchHub
{
    public const int QueueCapacity = 1024;

    private readonly Lock gate = new();
    private Subscriber[] subscribers = [];

    public int Count => Volatile.Read(ref subscribers).Length;

    public Subscriber Subscribe(string prefix)
    {
        var subscriber = new Subscriber(prefix);
        lock (gate)
        {
            subscribers = [.. subscribers, subscriber];
        }
        return subscriber;
    }

    public void Unsubscribe(Subscriber subscriber)
    {
        lock (gate)
        {
            subscribers = Array.FindAll(subscribers, s => !ReferenceEquals(s, subscriber));
        }
        subscriber.Complete();
    }

    public void Publish(List<WatchEvent> events)
    {
        if (events.Count == 0)
        {
            return;
        }
        foreach (var subscriber in Volatile.Read(ref subscribers))
        {
            foreach (var e in events)
            {
                if (e.Current.Key.StartsWith(subscriber.Prefix, StringComparison.Ordinal) && !subscriber.TryWrite(e))
                {
                    break;
                }
            }
        }
    }

    /// <summary>Ends every watch (the store is being disposed).</summary>
    public void CompleteAll()
    {
        Subscriber[] all;
        lock (gate)
        {
            all = subscribers;
            subscribers = [];
        }
        foreach (var s in all)
        {
            s.Complete();
        }
    }

    internal sealed class Subscriber(string prefix)
    {
        private readonly Channel<WatchEvent> queue = Channel.CreateBounded<WatchEvent>(new BoundedChannelOptions(QueueCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });

        private volatile bool lagged;

        public string Prefix { get; } = prefix;

        public ChannelReader<WatchEvent> Reader => queue.Reader;

        /// <summary>Once lagged, nothing more is queued until the reader has noticed and caught up from history.</summary>
        public bool TryWrite(WatchEvent e)
        {
            if (lagged)
            {
                return false;
            }
            if (queue.Writer.TryWrite(e))
            {
                return true;
            }
            lagged = true;
            return false;
        }

        /// <summary>True once after events were dropped; the caller must then re-read history from its last revision.</summary>
        public bool ConsumeLagged()
        {
            if (!lagged)
            {
                return false;
            }
            lagged = false;
            return true;
        }

        public void Complete() => queue.Writer.TryComplete();
    }
}
