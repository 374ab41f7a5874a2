using System.Threading.Channels;
using Berth.Core;
using Microsoft.Data.Sqlite;

namespace Berth.Store;

/// <summary>
/// The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a write is acknowledged only after
/// its commit record is fsynced. Layout (see docs/design/store.md):
/// <list type="bullet">
/// <item><c>log</c>: one row per revision (put or tombstone), with the revision of the row it replaced;</item>
/// <item><c>cur</c>: live key → revision of its newest row;</item>
/// <item><c>meta</c>: the store revision and the compacted revision.</item>
/// </list>
/// All writes go through one writer thread that applies queued writes in order and commits them together
/// (group commit: one fsync for many writes), then publishes the committed events to in-process watchers.
/// Reads use pooled read connections and see a consistent snapshot.
/// </summary>
public sealed partial class SqliteClusterStore : IClusterStore
{
    private const int MaxBatch = 512;

    private readonly string path;
    private readonly string readConnectionString;
    private readonly FileStream lockFile;
    private readonly SqliteConnection writer;
    // Synchronous continuations: the writer thread blocks in WaitToReadAsync().GetResult(), so a write wakes it
    // directly instead of through a thread-pool work item, which under load waits behind every queued request.
    private readonly Channel<PendingWrite> writes = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = true });
    private readonly WatchHub hub = new();
    private readonly System.Collections.Concurrent.ConcurrentBag<Reader> idleReaders = [];
    private readonly Thread writerThread;
    private readonly ClusterStoreOptions options;
    private readonly CancellationTokenSource disposing = new();
    private readonly Task compactor;
    private readonly Thread checkpointer;
    private readonly SemaphoreSlim checkpointNeeded = new(0, 1);
    private int framesSinceCheckpoint;
    private long revision;
    private long compactedRevision;
    private int disposed;

    private SqliteClusterStore(string path, FileStream lockFile, SqliteConnection writer, ClusterStoreOptions options)
    {
        this.path = path;
        this.lockFile = lockFile;
        this.writer = writer;
        this.options = options;
        readConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = true,
        }.ToString();
        (revision, compactedRevision) = ReadMeta(writer);
        PrepareWriterCommands();
        writerThread = new Thread(WriterLoop) { IsBackground = true, Name = "berth-store-writer" };
        writerThread.Start();
        compactor = options.CompactionInterval > TimeSpan.Zero ? Task.Run(CompactLoopAsync) : Task.CompletedTask;
        checkpointer = new Thread(CheckpointLoop) { IsBackground = true, Name = "berth-store-checkpoint" };
        checkpointer.Start();
    }

    /// <summary>The database file.</summary>
    public string Path => path;

    /// <summary>Revisions at or below this one have been compacted away.</summary>
    public long CompactedRevision => Volatile.Read(ref compactedRevision);

    /// <summary>Number of watches currently subscribed (for tests and metrics).</summary>
    public int WatcherCount => hub.Count;

    /// <summary>
    /// Opens (creating when absent) the store in <paramref name="path"/>. Only one process may have a store file
    /// open; a second one gets a clear error instead of two writers racing on the revision counter.
    /// </summary>
    public static Task<SqliteClusterStore> OpenAsync(string path, ClusterStoreOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        cancellationToken.ThrowIfCancellationRequested();
        var full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        FileStream lockFile;
        try
        {
            // On Linux FileShare.None takes an flock(LOCK_EX|LOCK_NB), released by the kernel even on kill -9.
            lockFile = new FileStream(full + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new BerthException(ErrorCode.FailedPrecondition,
                $"store '{full}' is in use by another process (lock {full}.lock is held); stop the other berth server or use another --data-dir", e);
        }
        SqliteConnection? connection = null;
        try
        {
            connection = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = full,
                Mode = SqliteOpenMode.ReadWriteCreate,
                Pooling = false,
            }.ToString());
            connection.Open();
            InitializeSchema(connection);
            return Task.FromResult(new SqliteClusterStore(full, lockFile, connection, options ?? new ClusterStoreOptions()));
        }
        catch (SqliteException e)
        {
            connection?.Dispose();
            lockFile.Dispose();
            throw new BerthException(ErrorCode.Internal, $"cannot open store '{full}': {e.Message}; if the file is damaged, restore it from a backup", e);
        }
        catch
        {
            connection?.Dispose();
            lockFile.Dispose();
            throw;
        }
    }

    private static void InitializeSchema(SqliteConnection connection)
    {
        // auto_vacuum must be chosen before the first table exists; incremental lets compaction hand freed pages
        // back to the file system without a full VACUUM. Both pragmas are no-ops on an existing database.
        Execute(connection, "PRAGMA auto_vacuum = INCREMENTAL");
        Execute(connection, "PRAGMA journal_mode = WAL");
        // FULL: in WAL mode the WAL is fsynced at every commit, so an acknowledged write survives kill -9 and power loss.
        Execute(connection, "PRAGMA synchronous = FULL");
        // Caps the WAL file that stays behind after checkpoints (it is otherwise never truncated).
        Execute(connection, "PRAGMA journal_size_limit = 67108864");
        // Checkpoints (WAL -> database file, with its own fsyncs) run on a separate connection and thread, so a
        // commit never waits for one; see CheckpointLoop.
        Execute(connection, "PRAGMA wal_autocheckpoint = 0");
        Execute(connection, "PRAGMA foreign_keys = OFF");
        using var tx = connection.BeginTransaction();
        Execute(connection, """
            CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS log(
                rev INTEGER PRIMARY KEY,
                key BLOB NOT NULL,
                deleted INTEGER NOT NULL,
                create_rev INTEGER NOT NULL,
                prev_rev INTEGER NOT NULL,
                value BLOB);
            CREATE INDEX IF NOT EXISTS log_key_rev ON log(key, rev);
            CREATE TABLE IF NOT EXISTS cur(key BLOB PRIMARY KEY, rev INTEGER NOT NULL) WITHOUT ROWID;
            INSERT OR IGNORE INTO meta(name, value) VALUES ('schema', 1), ('revision', 0), ('compacted', 0);
            """, tx);
        using (var check = connection.CreateCommand())
        {
            check.Transaction = tx;
            check.CommandText = "SELECT value FROM meta WHERE name = 'schema'";
            var schema = (long)check.ExecuteScalar()!;
            if (schema != 1)
            {
                throw new BerthException(ErrorCode.FailedPrecondition,
                    $"store '{connection.DataSource}' has schema version {schema}, this berth understands 1; use the berth release that wrote it");
            }
        }
        tx.Commit();
    }

    /// <summary>The store's revision and compacted revision, in one row.</summary>
    private const string MetaSql = "SELECT (SELECT value FROM meta WHERE name = 'revision'), (SELECT value FROM meta WHERE name = 'compacted')";

    private static (long Revision, long Compacted) ReadMeta(SqliteConnection connection, SqliteTransaction? tx = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = MetaSql;
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public ValueTask<long> CurrentRevisionAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return ValueTask.FromResult(Volatile.Read(ref revision));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }
        await disposing.CancelAsync().ConfigureAwait(false);
        try
        {
            await compactor.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        writes.Writer.TryComplete();
        await Task.Run(writerThread.Join).ConfigureAwait(false);
        try
        {
            checkpointNeeded.Release();
        }
        catch (SemaphoreFullException)
        {
        }
        await Task.Run(checkpointer.Join).ConfigureAwait(false);
        hub.CompleteAll();
        writer.Dispose();
        while (idleReaders.TryTake(out var idle))
        {
            idle.Dispose();
        }
        SqliteConnection.ClearPool(new SqliteConnection(readConnectionString));
        lockFile.Dispose();
        disposing.Dispose();
        checkpointNeeded.Dispose();
    }

    /// <summary>Called by the writer after each commit; wakes the checkpointer once enough has accumulated.</summary>
    private void NoteCommitted(int writes)
    {
        if (Interlocked.Add(ref framesSinceCheckpoint, writes) >= CheckpointEveryWrites && checkpointNeeded.CurrentCount == 0)
        {
            try
            {
                checkpointNeeded.Release();
            }
            catch (SemaphoreFullException)
            {
            }
        }
    }

    private const int CheckpointEveryWrites = 1000;

    /// <summary>
    /// PASSIVE checkpoints from a connection of their own: they copy committed WAL frames into the database file
    /// while writes go on, and never block the writer or readers. SQLite restarts the WAL from its beginning once
    /// a checkpoint has caught up, so the WAL stays bounded; journal_size_limit truncates what is left.
    /// </summary>
    private void CheckpointLoop()
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
        }.ToString());
        connection.Open();
        Execute(connection, "PRAGMA synchronous = FULL");
        while (true)
        {
            checkpointNeeded.Wait(TimeSpan.FromSeconds(10));
            var stopping = Volatile.Read(ref disposed) != 0;
            if (Interlocked.Exchange(ref framesSinceCheckpoint, 0) > 0 || stopping)
            {
                try
                {
                    Execute(connection, stopping ? "PRAGMA wal_checkpoint(TRUNCATE)" : "PRAGMA wal_checkpoint(PASSIVE)");
                }
                catch (SqliteException)
                {
                    // Busy (another checkpoint, or a TRUNCATE racing readers): the next round does it.
                }
            }
            if (stopping)
            {
                return;
            }
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
}
