using Berth.Core;
using Microsoft.Data.Sqlite;

namespace Berth.Store;

public sealed partial class SqliteClusterStore
{
    private async Task<SqliteConnection> OpenReaderAsync(CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var connection = new SqliteConnection(readConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }

    /// <summary>
    /// A read connection with its statements prepared once. Gets and lists of the newest state are most of the
    /// store's traffic; preparing their SQL on every call (parse, plan) cost more CPU than running it.
    /// </summary>
    private sealed class Reader : IDisposable
    {
        private SqliteCommand? get;
        private SqliteCommand? meta;
        private SqliteCommand? listTo;
        private SqliteCommand? listAll;
        private SqliteCommand? historyTo;
        private SqliteCommand? historyAll;

        public Reader(string connectionString)
        {
            Connection = new SqliteConnection(connectionString);
            Connection.Open();
        }

        public SqliteConnection Connection { get; }

        // Each statement is prepared the first time this connection needs it.
        public SqliteCommand Get => get ??= Command("SELECT l.create_rev, l.rev, l.value FROM cur c JOIN log l ON l.rev = c.rev WHERE c.key = $key", "$key");

        public SqliteCommand Meta => meta ??= Command(MetaSql);

        /// <summary>The newest state of [start, end), in key order.</summary>
        public SqliteCommand ListTo => listTo ??= Command("""
            SELECT c.key, l.create_rev, l.rev, l.value FROM cur c JOIN log l ON l.rev = c.rev
            WHERE c.key >= $start AND c.key < $end ORDER BY c.key LIMIT $limit
            """, "$start", "$end", "$limit");

        /// <summary>The newest state from start on (a prefix with no end: the whole key space).</summary>
        public SqliteCommand ListAll => listAll ??= Command("""
            SELECT c.key, l.create_rev, l.rev, l.value FROM cur c JOIN log l ON l.rev = c.rev
            WHERE c.key >= $start ORDER BY c.key LIMIT $limit
            """, "$start", "$limit");

        /// <summary>The state of [start, end) as of $at: the newest row of each key at or before it, unless that row is a tombstone.</summary>
        public SqliteCommand HistoryTo => historyTo ??= Command("""
            SELECT l.key, l.create_rev, l.rev, l.value FROM log l
            WHERE l.key >= $start AND l.key < $end AND l.rev <= $at AND l.deleted = 0
              AND l.rev = (SELECT max(x.rev) FROM log x WHERE x.key = l.key AND x.rev <= $at)
            ORDER BY l.key LIMIT $limit
            """, "$start", "$end", "$at", "$limit");

        /// <summary>As <see cref="HistoryTo"/>, from start on.</summary>
        public SqliteCommand HistoryAll => historyAll ??= Command("""
            SELECT l.key, l.create_rev, l.rev, l.value FROM log l
            WHERE l.key >= $start AND l.rev <= $at AND l.deleted = 0
              AND l.rev = (SELECT max(x.rev) FROM log x WHERE x.key = l.key AND x.rev <= $at)
            ORDER BY l.key LIMIT $limit
            """, "$start", "$at", "$limit");

        private SqliteCommand Command(string sql, params string[] parameters)
        {
            var command = Connection.CreateCommand();
            command.CommandText = sql;
            foreach (var p in parameters)
            {
                command.Parameters.Add(p, p is "$limit" or "$at" ? SqliteType.Integer : SqliteType.Blob);
            }
            command.Prepare();
            return command;
        }

        public void Dispose()
        {
            get?.Dispose();
            meta?.Dispose();
            listTo?.Dispose();
            listAll?.Dispose();
            historyTo?.Dispose();
            historyAll?.Dispose();
            Connection.Dispose();
        }
    }

    // Reads run synchronously, so no more readers are ever out at once than threads reading; keeping them all
    // (a cap of 8 made every burst above it open and prepare readers only to throw them away, a cost that grew
    // with the backlog and sometimes tipped the server into a collapse at 500 writes/s) costs one connection each.
    private const int IdleReaders = 64;

    private Reader RentReader()
    {
        ThrowIfDisposed();
        return idleReaders.TryTake(out var reader) ? reader : new Reader(readConnectionString);
    }

    private void ReturnReader(Reader reader)
    {
        if (Volatile.Read(ref disposed) != 0 || idleReaders.Count >= IdleReaders)
        {
            reader.Dispose();
            return;
        }
        idleReaders.Add(reader);
    }

    public Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        KeyRange.ValidateKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        var r = RentReader();
        try
        {
            r.Get.Parameters[0].Value = KeyRange.Encode(key);
            using var reader = r.Get.ExecuteReader();
            return Task.FromResult(reader.Read() ? new KeyValue(key, (byte[])reader.GetValue(2), reader.GetInt64(0), reader.GetInt64(1)) : null);
        }
        finally
        {
            ReturnReader(r);
        }
    }

    public Task<RangeResult> ListAsync(string prefix, string? startAfter = null, long limit = 0, long revision = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        ArgumentOutOfRangeException.ThrowIfNegative(revision);
        var prefixBytes = KeyRange.Encode(prefix);
        var end = KeyRange.PrefixEnd(prefixBytes);
        var start = KeyRange.Start(prefixBytes, startAfter);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(ListAt(revision, start, end, limit));
    }

    /// <summary>
    /// A range as of <paramref name="revision"/> (0: the newest) on a pooled reader, with prepared statements: the
    /// store's revisions and the rows come from one read transaction.
    /// </summary>
    private RangeResult ListAt(long revision, byte[] start, byte[]? end, long limit)
    {
        var r = RentReader();
        try
        {
            using var tx = r.Connection.BeginTransaction(deferred: true);
            r.Meta.Transaction = tx;
            long current, compacted;
            using (var meta = r.Meta.ExecuteReader())
            {
                meta.Read();
                (current, compacted) = (meta.GetInt64(0), meta.GetInt64(1));
            }
            if (revision > current)
            {
                throw BerthException.InvalidArgument($"revision {revision} is newer than the store's revision {current}; list at revision 0 for the newest state");
            }
            if (revision != 0 && revision < compacted)
            {
                throw new CompactedException(revision, compacted);
            }
            var at = revision == 0 ? current : revision;
            var command = at == current ? end is null ? r.ListAll : r.ListTo : end is null ? r.HistoryAll : r.HistoryTo;
            command.Transaction = tx;
            command.Parameters["$start"].Value = start;
            if (end is not null)
            {
                command.Parameters["$end"].Value = end;
            }
            if (at != current)
            {
                command.Parameters["$at"].Value = at;
            }
            command.Parameters["$limit"].Value = limit == 0 ? -1 : limit + 1;
            var items = new List<KeyValue>();
            var more = false;
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    if (limit != 0 && items.Count == limit)
                    {
                        more = true;
                        break;
                    }
                    items.Add(new KeyValue(KeyRange.Decode((byte[])reader.GetValue(0)), (byte[])reader.GetValue(3), reader.GetInt64(1), reader.GetInt64(2)));
                }
            }
            tx.Commit();
            return new RangeResult(items, at, more);
        }
        finally
        {
            ReturnReader(r);
        }
    }

    public async Task<long> CountAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var prefixBytes = KeyRange.Encode(prefix);
        var end = KeyRange.PrefixEnd(prefixBytes);
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = end is null
            ? "SELECT count(*) FROM cur WHERE key >= $start"
            : "SELECT count(*) FROM cur WHERE key >= $start AND key < $end";
        command.Parameters.AddWithValue("$start", prefixBytes);
        if (end is not null)
        {
            command.Parameters.AddWithValue("$end", end);
        }
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>
    /// Committed events after <paramref name="afterRevision"/> under a prefix, oldest first, at most
    /// <paramref name="max"/>; fails with <see cref="CompactedException"/> when that history is gone.
    /// </summary>
    internal async Task<List<WatchEvent>> ReadHistoryAsync(string prefix, long afterRevision, int max, CancellationToken cancellationToken)
    {
        var prefixBytes = KeyRange.Encode(prefix);
        var end = KeyRange.PrefixEnd(prefixBytes);
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = connection.BeginTransaction(deferred: true);
        var (_, compacted) = ReadMeta(connection, tx);
        if (afterRevision < compacted)
        {
            throw new CompactedException(afterRevision, compacted);
        }
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        // '+l.key' keeps SQLite on the revision range (a watch replays a few recent revisions) instead of the
        // (key, rev) index, which would read every revision of every key under the prefix and sort them.
        command.CommandText = $"""
            SELECT l.rev, l.key, l.deleted, l.create_rev, l.value, p.create_rev, p.rev, p.value
            FROM log l LEFT JOIN log p ON p.rev = l.prev_rev AND l.prev_rev > 0
            WHERE l.rev > $after AND +l.key >= $start{(end is null ? "" : " AND +l.key < $end")}
            ORDER BY l.rev LIMIT $max
            """;
        command.Parameters.AddWithValue("$after", afterRevision);
        command.Parameters.AddWithValue("$start", prefixBytes);
        if (end is not null)
        {
            command.Parameters.AddWithValue("$end", end);
        }
        command.Parameters.AddWithValue("$max", max);
        var events = new List<WatchEvent>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var key = KeyRange.Decode((byte[])reader.GetValue(1));
            var previous = reader.IsDBNull(6) ? null : new KeyValue(key, (byte[])reader.GetValue(7), reader.GetInt64(5), reader.GetInt64(6));
            var deleted = reader.GetInt64(2) != 0;
            var current = new KeyValue(key, deleted ? Array.Empty<byte>() : (byte[])reader.GetValue(4), reader.GetInt64(3), reader.GetInt64(0));
            events.Add(new WatchEvent(deleted ? WatchEventType.Delete : WatchEventType.Put, current, previous));
        }
        return events;
    }
}
