using Berth.Core;
using Microsoft.Data.Sqlite;

namespace Berth.Store;

public sealed partial class SqliteClusterStore
{
    private SqliteCommand lookup = null!;
    private SqliteCommand insertLog = null!;
    private SqliteCommand upsertCur = null!;
    private SqliteCommand deleteCur = null!;
    private SqliteCommand setRevision = null!;

    public async Task<long> CreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        KeyRange.ValidateKey(key);
        var bytes = value.ToArray();
        var result = await EnqueueAsync(batch =>
        {
            var keyBytes = KeyRange.Encode(key);
            if (batch.Lookup(keyBytes) is not null)
            {
                return new KeyExistsException(key);
            }
            return batch.Put(key, keyBytes, bytes, existing: null).ModRevision;
        }, cancellationToken).ConfigureAwait(false);
        return result is KeyExistsException exists ? throw exists : (long)result;
    }

    public async Task<WriteResult> UpdateAsync(string key, ReadOnlyMemory<byte> value, long expectedRevision, CancellationToken cancellationToken = default)
    {
        KeyRange.ValidateKey(key);
        var bytes = value.ToArray();
        var result = await EnqueueAsync(batch =>
        {
            var keyBytes = KeyRange.Encode(key);
            var existing = batch.Lookup(keyBytes);
            if (existing is null)
            {
                return new WriteResult(WriteOutcome.NotFound, batch.Revision, null);
            }
            var current = new KeyValue(key, existing.Value.Value, existing.Value.CreateRevision, existing.Value.ModRevision);
            if (existing.Value.ModRevision != expectedRevision)
            {
                return new WriteResult(WriteOutcome.Conflict, batch.Revision, current);
            }
            var written = batch.Put(key, keyBytes, bytes, existing);
            return new WriteResult(WriteOutcome.Succeeded, written.ModRevision, written) { Previous = current };
        }, cancellationToken).ConfigureAwait(false);
        return (WriteResult)result;
    }

    public async Task<WriteResult> DeleteAsync(string key, long expectedRevision = 0, CancellationToken cancellationToken = default)
    {
        KeyRange.ValidateKey(key);
        ArgumentOutOfRangeException.ThrowIfNegative(expectedRevision);
        var result = await EnqueueAsync(batch =>
        {
            var keyBytes = KeyRange.Encode(key);
            var existing = batch.Lookup(keyBytes);
            if (existing is null)
            {
                return new WriteResult(WriteOutcome.NotFound, batch.Revision, null);
            }
            var current = new KeyValue(key, existing.Value.Value, existing.Value.CreateRevision, existing.Value.ModRevision);
            if (expectedRevision != 0 && existing.Value.ModRevision != expectedRevision)
            {
                return new WriteResult(WriteOutcome.Conflict, batch.Revision, current);
            }
            var rev = batch.Delete(key, keyBytes, current);
            return new WriteResult(WriteOutcome.Succeeded, rev, null) { Previous = current };
        }, cancellationToken).ConfigureAwait(false);
        return (WriteResult)result;
    }

    private Task<object> EnqueueAsync(Func<Batch, object> apply, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        // Once queued a write is applied even if the caller stops waiting: cancelling cannot un-commit it.
        var pending = new PendingWrite(apply);
        if (!writes.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(SqliteClusterStore));
        }
        return pending.Done.Task.WaitAsync(cancellationToken);
    }

    private void PrepareWriterCommands()
    {
        lookup = writer.CreateCommand();
        lookup.CommandText = "SELECT l.rev, l.create_rev, l.value FROM cur c JOIN log l ON l.rev = c.rev WHERE c.key = $key";
        lookup.Parameters.Add("$key", SqliteType.Blob);

        insertLog = writer.CreateCommand();
        insertLog.CommandText = "INSERT INTO log(rev, key, deleted, create_rev, prev_rev, value) VALUES ($rev, $key, $deleted, $create, $prev, $value)";
        insertLog.Parameters.Add("$rev", SqliteType.Integer);
        insertLog.Parameters.Add("$key", SqliteType.Blob);
        insertLog.Parameters.Add("$deleted", SqliteType.Integer);
        insertLog.Parameters.Add("$create", SqliteType.Integer);
        insertLog.Parameters.Add("$prev", SqliteType.Integer);
        insertLog.Parameters.Add("$value", SqliteType.Blob);

        upsertCur = writer.CreateCommand();
        upsertCur.CommandText = "INSERT INTO cur(key, rev) VALUES ($key, $rev) ON CONFLICT(key) DO UPDATE SET rev = excluded.rev";
        upsertCur.Parameters.Add("$key", SqliteType.Blob);
        upsertCur.Parameters.Add("$rev", SqliteType.Integer);

        deleteCur = writer.CreateCommand();
        deleteCur.CommandText = "DELETE FROM cur WHERE key = $key";
        deleteCur.Parameters.Add("$key", SqliteType.Blob);

        setRevision = writer.CreateCommand();
        setRevision.CommandText = "UPDATE meta SET value = $rev WHERE name = 'revision'";
        setRevision.Parameters.Add("$rev", SqliteType.Integer);
    }

    /// <summary>
    /// The writer thread: takes every queued write, applies them in order inside one IMMEDIATE transaction,
    /// commits (one fsync), then makes the new revision visible, publishes the events and completes the callers.
    /// A failed commit rolls the whole batch back and fails every write in it, so nothing half-written is visible.
    /// </summary>
    private void WriterLoop()
    {
        var reader = writes.Reader;
        var pending = new List<PendingWrite>(MaxBatch);
        var results = new List<object>(MaxBatch);
        while (true)
        {
            if (!reader.TryRead(out var first))
            {
                // Block this dedicated thread until there is work or the store is closed.
                if (!reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                {
                    return;
                }
                continue;
            }
            pending.Clear();
            results.Clear();
            pending.Add(first);
            while (pending.Count < MaxBatch && reader.TryRead(out var next))
            {
                pending.Add(next);
            }
            if (pending.Count == 1 && first.Maintenance is not null)
            {
                RunMaintenance(first);
                continue;
            }
            var batch = new Batch(this, Volatile.Read(ref revision));
            var deferredMaintenance = new List<PendingWrite>();
            try
            {
                using var tx = writer.BeginTransaction(System.Data.IsolationLevel.Serializable, deferred: false);
                batch.Transaction = tx;
                foreach (var write in pending)
                {
                    if (write.Maintenance is not null)
                    {
                        deferredMaintenance.Add(write);
                        results.Add(null!);
                        continue;
                    }
                    results.Add(write.Apply!(batch));
                }
                if (batch.Revision != Volatile.Read(ref revision))
                {
                    setRevision.Transaction = tx;
                    setRevision.Parameters[0].Value = batch.Revision;
                    setRevision.ExecuteNonQuery();
                }
                tx.Commit();
            }
            catch (Exception e)
            {
                foreach (var write in pending)
                {
                    write.Done.TrySetException(new BerthException(ErrorCode.Unavailable,
                        $"write to store '{path}' failed and was rolled back: {e.Message}", e));
                }
                continue;
            }
            Volatile.Write(ref revision, batch.Revision);
            NoteCommitted(batch.Events.Count);
            hub.Publish(batch.Events);
            for (var i = 0; i < pending.Count; i++)
            {
                if (pending[i].Maintenance is null)
                {
                    pending[i].Done.TrySetResult(results[i]);
                }
            }
            foreach (var m in deferredMaintenance)
            {
                RunMaintenance(m);
            }
        }
    }

    private void RunMaintenance(PendingWrite write)
    {
        try
        {
            write.Done.TrySetResult(write.Maintenance!(writer));
        }
        catch (Exception e)
        {
            write.Done.TrySetException(e);
        }
    }

    private sealed class PendingWrite
    {
        public PendingWrite(Func<Batch, object> apply) => Apply = apply;

        public PendingWrite(Func<SqliteConnection, object> maintenance) => Maintenance = maintenance;

        public Func<Batch, object>? Apply { get; }

        /// <summary>Work that manages its own transactions (compaction, vacuum); runs alone on the writer connection.</summary>
        public Func<SqliteConnection, object>? Maintenance { get; }

        public TaskCompletionSource<object> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly record struct Row(long ModRevision, long CreateRevision, byte[] Value);

    /// <summary>The writes of one transaction; each successful one takes the next revision.</summary>
    private sealed class Batch(SqliteClusterStore store, long revision)
    {
        public long Revision { get; private set; } = revision;

        public SqliteTransaction Transaction { get; set; } = null!;

        public List<WatchEvent> Events { get; } = [];

        public Row? Lookup(byte[] key)
        {
            var command = store.lookup;
            command.Transaction = Transaction;
            command.Parameters[0].Value = key;
            using var reader = command.ExecuteReader();
            return reader.Read() ? new Row(reader.GetInt64(0), reader.GetInt64(1), (byte[])reader.GetValue(2)) : null;
        }

        public KeyValue Put(string key, byte[] keyBytes, byte[] value, Row? existing)
        {
            var rev = Revision + 1;
            var create = existing?.CreateRevision ?? rev;
            InsertLog(rev, keyBytes, deleted: false, create, existing?.ModRevision ?? 0, value);
            var upsert = store.upsertCur;
            upsert.Transaction = Transaction;
            upsert.Parameters[0].Value = keyBytes;
            upsert.Parameters[1].Value = rev;
            upsert.ExecuteNonQuery();
            Revision = rev;
            var written = new KeyValue(key, value, create, rev);
            Events.Add(new WatchEvent(WatchEventType.Put, written,
                existing is { } e ? new KeyValue(key, e.Value, e.CreateRevision, e.ModRevision) : null));
            return written;
        }

        public long Delete(string key, byte[] keyBytes, KeyValue existing)
        {
            var rev = Revision + 1;
            InsertLog(rev, keyBytes, deleted: true, existing.CreateRevision, existing.ModRevision, null);
            var delete = store.deleteCur;
            delete.Transaction = Transaction;
            delete.Parameters[0].Value = keyBytes;
            delete.ExecuteNonQuery();
            Revision = rev;
            Events.Add(new WatchEvent(WatchEventType.Delete, new KeyValue(key, Array.Empty<byte>(), existing.CreateRevision, rev), existing));
            return rev;
        }

        private void InsertLog(long rev, byte[] key, bool deleted, long create, long prev, byte[]? value)
        {
            var insert = store.insertLog;
            insert.Transaction = Transaction;
            insert.Parameters[0].Value = rev;
            insert.Parameters[1].Value = key;
            insert.Parameters[2].Value = deleted ? 1 : 0;
            insert.Parameters[3].Value = create;
            insert.Parameters[4].Value = prev;
            insert.Parameters[5].Value = (object?)value ?? DBNull.Value;
            insert.ExecuteNonQuery();
        }
    }
}
