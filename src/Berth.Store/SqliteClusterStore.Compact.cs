using Berth.Core;
using Microsoft.Data.Sqlite;

namespace Berth.Store;

public sealed partial class SqliteClusterStore
{
    /// <summary>Revisions compacted per transaction, so compaction never holds the writer for long.</summary>
    private const long CompactStep = 10_000;

    /// <summary>
    /// Deletes every row a reader at <paramref name="revision"/> or later can no longer see: values replaced at or
    /// before it and tombstones at or before it. The newest value of each key as of <paramref name="revision"/>
    /// stays, so lists at that revision and watches from it still work. Then frees the pages
    /// (incremental_vacuum) and truncates the WAL, so the file shrinks back instead of only growing.
    /// </summary>
    public async Task CompactAsync(long revision, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var current = Volatile.Read(ref this.revision);
        if (revision > current)
        {
            throw BerthException.InvalidArgument($"cannot compact at revision {revision}: the store's revision is {current}");
        }
        var done = Volatile.Read(ref compactedRevision);
        if (revision <= done)
        {
            return;
        }
        while (done < revision)
        {
            var to = Math.Min(revision, done + CompactStep);
            await EnqueueMaintenanceAsync(connection => CompactStepOn(connection, to), cancellationToken).ConfigureAwait(false);
            done = to;
        }
        await EnqueueMaintenanceAsync(connection =>
        {
            Execute(connection, "PRAGMA incremental_vacuum");
            Execute(connection, "PRAGMA wal_checkpoint(TRUNCATE)");
            return null!;
        }, cancellationToken).ConfigureAwait(false);
    }

    private object CompactStepOn(SqliteConnection connection, long to)
    {
        using var tx = connection.BeginTransaction(deferred: false);
        var (_, from) = ReadMeta(connection, tx);
        if (to <= from)
        {
            return null!;
        }
        using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            // A row is superseded exactly when a later row of the same key names it as prev_rev; rows at or
            // before 'from' were handled by earlier compactions, so only the window (from, to] is scanned.
            command.CommandText = """
                DELETE FROM log WHERE rev IN (SELECT prev_rev FROM log WHERE rev > $from AND rev <= $to AND prev_rev > 0);
                DELETE FROM log WHERE rev > $from AND rev <= $to AND deleted = 1;
                UPDATE meta SET value = $to WHERE name = 'compacted';
                """;
            command.Parameters.AddWithValue("$from", from);
            command.Parameters.AddWithValue("$to", to);
            command.ExecuteNonQuery();
        }
        tx.Commit();
        Volatile.Write(ref compactedRevision, to);
        return null!;
    }

    private Task<object> EnqueueMaintenanceAsync(Func<SqliteConnection, object> work, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var pending = new PendingWrite(work);
        if (!writes.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(SqliteClusterStore));
        }
        return pending.Done.Task.WaitAsync(cancellationToken);
    }

    private async Task CompactLoopAsync()
    {
        using var timer = new PeriodicTimer(options.CompactionInterval, options.TimeProvider);
        while (await timer.WaitForNextTickAsync(disposing.Token).ConfigureAwait(false))
        {
            var target = Volatile.Read(ref revision) - options.CompactionRetainedRevisions;
            if (target <= Volatile.Read(ref compactedRevision))
            {
                continue;
            }
            try
            {
                await CompactAsync(target, disposing.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The next tick retries; a failing compaction must not take the server down.
                LastCompactionError = e;
            }
        }
    }

    /// <summary>The last background compaction failure, if any (surfaced by health checks).</summary>
    public Exception? LastCompactionError { get; private set; }
}
