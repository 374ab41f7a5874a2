using System.Runtime.CompilerServices;
using Berth.Store;

namespace Berth.ApiServer.Tests;

/// <summary>
/// A test seam: an in-memory IClusterStore with etcd's semantics (one global revision, per-key version history,
/// compare-and-swap, watch from a revision, compaction with CompactedException). Lets API tests run without the
/// store implementations; the same API tests are meant to run on SQLite and etcd once they land.
/// </summary>
public sealed class InMemoryClusterStore : IClusterStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<(long Rev, KeyValue? Kv)>> _versions = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _keys = new(StringComparer.Ordinal);
    private readonly List<WatchEvent> _events = [];
    private long _revision = 1;
    private long _compacted;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ValueTask<long> CurrentRevisionAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(_revision);
        }
    }

    private KeyValue? Latest(string key) => _versions.TryGetValue(key, out var v) ? v[^1].Kv : null;

    public Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(Latest(key));
        }
    }

    public Task<RangeResult> ListAsync(string prefix, string? startAfter = null, long limit = 0, long revision = 0, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (revision > 0 && revision < _compacted)
            {
                throw new CompactedException(revision, _compacted);
            }
            var at = revision > 0 ? revision : _revision;
            var items = new List<KeyValue>();
            var more = false;
            foreach (var key in _keys.GetViewBetween(startAfter is not null && string.CompareOrdinal(startAfter, prefix) > 0 ? startAfter : prefix, prefix + '\uffff'))
            {
                var versions = _versions[key];
                if (!key.StartsWith(prefix, StringComparison.Ordinal) || (startAfter is not null && string.CompareOrdinal(key, startAfter) <= 0))
                {
                    continue;
                }
                KeyValue? kv = null;
                for (var i = versions.Count - 1; i >= 0; i--)
                {
                    if (versions[i].Rev <= at)
                    {
                        kv = versions[i].Kv;
                        break;
                    }
                }
                if (kv is null)
                {
                    continue;
                }
                if (limit > 0 && items.Count == limit)
                {
                    more = true;
                    break;
                }
                items.Add(kv);
            }
            return Task.FromResult(new RangeResult(items, at, more));
        }
    }

    public Task<long> CountAsync(string prefix, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult((long)_versions.Count(p => p.Key.StartsWith(prefix, StringComparison.Ordinal) && p.Value[^1].Kv is not null));
        }
    }

    private long Write(string key, ReadOnlyMemory<byte> value, bool delete)
    {
        var rev = ++_revision;
        var prev = Latest(key);
        KeyValue? kv = delete ? null : new KeyValue(key, value.ToArray(), prev?.CreateRevision ?? rev, rev);
        if (!_versions.TryGetValue(key, out var list))
        {
            _versions[key] = list = [];
            _keys.Add(key);
        }
        list.Add((rev, kv));
        _events.Add(delete
            ? new WatchEvent(WatchEventType.Delete, new KeyValue(key, ReadOnlyMemory<byte>.Empty, 0, rev), prev)
            : new WatchEvent(WatchEventType.Put, kv!, prev));
        _changed.TrySetResult();
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return rev;
    }

    public Task<long> CreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (Latest(key) is not null)
            {
                throw new KeyExistsException(key);
            }
            return Task.FromResult(Write(key, value, false));
        }
    }

    public Task<WriteResult> UpdateAsync(string key, ReadOnlyMemory<byte> value, long expectedRevision, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            var cur = Latest(key);
            if (cur is null)
            {
                return Task.FromResult(new WriteResult(WriteOutcome.NotFound, _revision, null));
            }
            if (cur.ModRevision != expectedRevision)
            {
                return Task.FromResult(new WriteResult(WriteOutcome.Conflict, _revision, cur));
            }
            var rev = Write(key, value, false);
            return Task.FromResult(new WriteResult(WriteOutcome.Succeeded, rev, Latest(key)));
        }
    }

    public Task<WriteResult> DeleteAsync(string key, long expectedRevision = 0, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            var cur = Latest(key);
            if (cur is null)
            {
                return Task.FromResult(new WriteResult(WriteOutcome.NotFound, _revision, null));
            }
            if (expectedRevision != 0 && cur.ModRevision != expectedRevision)
            {
                return Task.FromResult(new WriteResult(WriteOutcome.Conflict, _revision, cur));
            }
            var rev = Write(key, default, true);
            return Task.FromResult(new WriteResult(WriteOutcome.Succeeded, rev, null));
        }
    }

    public async IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long afterRevision, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var next = afterRevision;
        while (true)
        {
            List<WatchEvent> batch;
            Task changed;
            lock (_lock)
            {
                if (next < _compacted)
                {
                    throw new CompactedException(next, _compacted);
                }
                batch = _events.Where(e => e.Current.ModRevision > next && e.Current.Key.StartsWith(prefix, StringComparison.Ordinal)).ToList();
                next = Math.Max(next, _revision);
                changed = _changed.Task;
            }
            foreach (var e in batch)
            {
                yield return e;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public Task CompactAsync(long revision, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (revision <= _compacted)
            {
                return Task.CompletedTask;
            }
            _compacted = Math.Min(revision, _revision);
            _events.RemoveAll(e => e.Current.ModRevision <= _compacted);
            foreach (var key in _versions.Keys.ToList())
            {
                var list = _versions[key];
                var keepFrom = list.FindLastIndex(v => v.Rev <= _compacted);
                if (keepFrom > 0)
                {
                    list.RemoveRange(0, keepFrom);
                }
                if (list.Count == 1 && list[0].Kv is null && list[0].Rev <= _compacted)
                {
                    _versions.Remove(key);
                    _keys.Remove(key);
                }
            }
            return Task.CompletedTask;
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
