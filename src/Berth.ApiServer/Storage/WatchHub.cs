using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Berth.Store;
using Microsoft.Extensions.Logging;

namespace Berth.ApiServer.Storage;

/// <summary>
/// One store watch on the whole registry, fanned out to every API watch (like the Kubernetes watch cache), with a
/// window of recent events so a watch can resume from a recent resourceVersion without touching the store. A watch
/// older than the window goes to the store directly, which answers with its history or a CompactedException (410).
/// </summary>
public sealed partial class WatchHub : IAsyncDisposable
{
    // Events stay alive (with their decoded form, see DecodedEvent) while in the window: bounded memory.
    private const int HistoryCapacity = 10_000;
    private const int SubscriberBuffer = 10_000;

    private readonly IClusterStore _store;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly LinkedList<WatchEvent> _history = new();
    private readonly List<Subscriber> _subscribers = [];
    private readonly CancellationTokenSource _stop = new();
    private long _windowStart = long.MaxValue;
    private long _lastRevision;
    private Task? _pump;

    public WatchHub(IClusterStore store, ILogger logger)
    {
        _store = store;
        _logger = logger;
    }

    /// <summary>The newest revision the hub has seen (what bookmarks report).</summary>
    public long LastRevision => Interlocked.Read(ref _lastRevision);

    public int SubscriberCount
    {
        get
        {
            lock (_lock)
            {
                return _subscribers.Count;
            }
        }
    }

    public async Task StartAsync(CancellationToken ct)
    {
        var rev = await _store.CurrentRevisionAsync(ct).ConfigureAwait(false);
        _windowStart = rev;
        _lastRevision = rev;
        _pump = Task.Run(() => PumpAsync(rev, _stop.Token), CancellationToken.None);
    }

    private async Task PumpAsync(long from, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await foreach (var e in _store.WatchAsync("/registry/", from, ct).ConfigureAwait(false))
                {
                    from = e.Current.ModRevision;
                    Publish(e);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogPumpFailed(_logger, e);
                // The hub may have missed events: end every watch (clients resume and get history or 410).
                long current;
                try
                {
                    current = await _store.CurrentRevisionAsync(ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (Exception)
                {
                    await Task.Delay(500, ct).ConfigureAwait(false);
                    continue;
                }
                lock (_lock)
                {
                    foreach (var s in _subscribers)
                    {
                        s.Channel.Writer.TryComplete();
                    }
                    _subscribers.Clear();
                    _history.Clear();
                    _windowStart = current;
                    _lastRevision = current;
                }
                from = current;
            }
        }
    }

    private void Publish(WatchEvent e)
    {
        Diagnostics.Timings.RecordSinceWritten("watch.ack-to-hub", e.Current.ModRevision);
        Diagnostics.Timings.MarkPublished(e);
        var mark = Diagnostics.Timings.Start();
        lock (_lock)
        {
            _history.AddLast(e);
            if (_history.Count > HistoryCapacity)
            {
                _windowStart = _history.First!.Value.Current.ModRevision;
                _history.RemoveFirst();
            }
            Interlocked.Exchange(ref _lastRevision, e.Current.ModRevision);
            for (var i = _subscribers.Count - 1; i >= 0; i--)
            {
                var s = _subscribers[i];
                if (!e.Current.Key.StartsWith(s.Prefix, StringComparison.Ordinal))
                {
                    continue;
                }
                if (!s.Channel.Writer.TryWrite(e))
                {
                    // A watcher that cannot keep up is closed, as Kubernetes does; it resumes from its last revision.
                    s.Channel.Writer.TryComplete();
                    _subscribers.RemoveAt(i);
                }
            }
        }
        Diagnostics.Timings.Record("hub.publish", mark);
    }

    /// <summary>Forgets events up to <paramref name="revision"/> after the store compacted them: older watches get 410.</summary>
    public void Trim(long revision)
    {
        lock (_lock)
        {
            while (_history.First is { } first && first.Value.Current.ModRevision <= revision)
            {
                _history.RemoveFirst();
            }
            _windowStart = Math.Max(_windowStart, revision);
        }
    }

    /// <summary>Events under <paramref name="prefix"/> after <paramref name="afterRevision"/>, until cancelled or the hub drops the watcher.</summary>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long afterRevision, [EnumeratorCancellation] CancellationToken ct)
    {
        Subscriber? sub = null;
        lock (_lock)
        {
            if (_pump is not null && afterRevision >= _windowStart)
            {
                var replay = _history.Where(e => e.Current.ModRevision > afterRevision && e.Current.Key.StartsWith(prefix, StringComparison.Ordinal)).ToList();
                if (replay.Count < SubscriberBuffer / 2)
                {
                    sub = new Subscriber(prefix, Channel.CreateBounded<WatchEvent>(new BoundedChannelOptions(SubscriberBuffer) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait }));
                    foreach (var e in replay)
                    {
                        sub.Channel.Writer.TryWrite(e);
                    }
                    _subscribers.Add(sub);
                }
            }
        }
        if (sub is null)
        {
            await foreach (var e in _store.WatchAsync(prefix, afterRevision, ct).ConfigureAwait(false))
            {
                yield return e;
            }
            yield break;
        }
        try
        {
            await foreach (var e in sub.Channel.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                yield return e;
            }
        }
        finally
        {
            lock (_lock)
            {
                _subscribers.Remove(sub);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_pump is not null)
        {
            try
            {
                await _pump.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        _stop.Dispose();
    }

    private sealed record Subscriber(string Prefix, Channel<WatchEvent> Channel);

    [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "Store watch failed; ending all API watches so clients resume")]
    private static partial void LogPumpFailed(ILogger logger, Exception exception);
}
