using Berth.Core;
using Berth.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace Berth.Store.Tests;

/// <summary>The conformance suite on the embedded SQLite store, plus what only that store has to prove.</summary>
public sealed class SqliteClusterStoreTests : ClusterStoreConformance, IDisposable
{
    private readonly TempDirectory dir = new("berth-store");

    private string DbPath => dir.Combine("state.db");

    protected override async Task<IClusterStore> OpenStoreAsync()
        => await SqliteClusterStore.OpenAsync(DbPath, new ClusterStoreOptions { CompactionInterval = TimeSpan.Zero });

    private SqliteClusterStore Sqlite => (SqliteClusterStore)Store;

    public void Dispose() => dir.Dispose();

    [Fact]
    public async Task The_factory_opens_state_db_in_the_data_dir_when_no_endpoint_is_given()
    {
        using var other = new TempDirectory("berth-store");
        await using var store = await ClusterStore.OpenAsync(null, other.Path);
        var sqlite = Assert.IsType<SqliteClusterStore>(store);
        Assert.Equal(other.Combine("state.db"), sqlite.Path);
        await using var empty = await ClusterStore.OpenAsync("", other.Combine("b"));
        Assert.IsType<SqliteClusterStore>(empty);
        var bad = await Assert.ThrowsAsync<BerthException>(() => ClusterStore.OpenAsync("etcd.example:2379", other.Path));
        Assert.Equal(ErrorCode.InvalidArgument, bad.Code);
        Assert.Contains("http://127.0.0.1:2379", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_open_of_the_same_file_is_refused_while_the_first_is_open()
    {
        var e = await Assert.ThrowsAsync<BerthException>(() => SqliteClusterStore.OpenAsync(DbPath));
        Assert.Equal(ErrorCode.FailedPrecondition, e.Code);
        Assert.Contains("in use by another process", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_that_is_not_a_store_is_refused_with_its_path_and_left_alone()
    {
        using var other = new TempDirectory("berth-store");
        var path = other.Combine("state.db");
        var garbage = new byte[8192];
        Random.Shared.NextBytes(garbage);
        await File.WriteAllBytesAsync(path, garbage);
        var e = await Assert.ThrowsAsync<BerthException>(() => SqliteClusterStore.OpenAsync(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Equal(garbage, await File.ReadAllBytesAsync(path));
        // The lock was released: the same error again, not "in use".
        var again = await Assert.ThrowsAsync<BerthException>(() => SqliteClusterStore.OpenAsync(path));
        Assert.DoesNotContain("in use", again.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_store_written_by_a_newer_schema_is_refused()
    {
        await Store.DisposeAsync();
        using (var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "UPDATE meta SET value = 2 WHERE name = 'schema'";
            command.ExecuteNonQuery();
        }
        var e = await Assert.ThrowsAsync<BerthException>(() => SqliteClusterStore.OpenAsync(DbPath));
        Assert.Equal(ErrorCode.FailedPrecondition, e.Code);
        Assert.Contains("schema version 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Data_and_the_revision_counter_survive_a_restart()
    {
        var a = await Store.CreateAsync(P + "a", V("one"));
        var upd = await Store.UpdateAsync(P + "a", V("two"), a);
        await Store.CreateAsync(P + "b", V("b"));
        var del = await Store.DeleteAsync(P + "b");
        await Store.DisposeAsync();
        await using var reopened = await SqliteClusterStore.OpenAsync(DbPath, new ClusterStoreOptions { CompactionInterval = TimeSpan.Zero });
        Assert.Equal(del.Revision, await reopened.CurrentRevisionAsync());
        var kv = await reopened.GetAsync(P + "a");
        Assert.Equal("two", S(kv!.Value));
        Assert.Equal(upd.Revision, kv.ModRevision);
        Assert.Null(await reopened.GetAsync(P + "b"));
        Assert.Equal(del.Revision + 1, await reopened.CreateAsync(P + "c", V("c")));
    }

    [Fact]
    public async Task Compaction_keeps_the_file_bounded_when_the_same_keys_are_rewritten_many_times()
    {
        const int keys = 100;
        var value = new byte[2048];
        Random.Shared.NextBytes(value);
        var revisions = new long[keys];
        for (var k = 0; k < keys; k++)
        {
            revisions[k] = await Store.CreateAsync($"{P}{k}", value);
        }

        async Task RewriteAllAsync(int rounds)
        {
            // One task per key: concurrent writers, and with group commit they share fsyncs.
            await Task.WhenAll(Enumerable.Range(0, keys).Select(async k =>
            {
                for (var r = 0; r < rounds; r++)
                {
                    var result = await Store.UpdateAsync($"{P}{k}", value, revisions[k]);
                    Assert.Equal(WriteOutcome.Succeeded, result.Outcome);
                    revisions[k] = result.Revision;
                }
            }));
        }

        await RewriteAllAsync(40);
        Assert.Equal(keys * 41, CountRows("log"));
        var uncompacted = FileBytes();
        await Store.CompactAsync(await Store.CurrentRevisionAsync());
        Assert.Equal(keys, CountRows("log"));
        var first = FileBytes();
        Assert.True(first < uncompacted / 4, $"compaction should shrink the file: {uncompacted} -> {first} bytes");

        for (var cycle = 0; cycle < 3; cycle++)
        {
            await RewriteAllAsync(40);
            await Store.CompactAsync(await Store.CurrentRevisionAsync());
            Assert.Equal(keys, CountRows("log"));
            var size = FileBytes();
            Assert.True(size <= first * 1.5 + 65536, $"cycle {cycle}: file grew from {first} to {size} bytes although only {keys} keys are live");
        }
        Assert.Equal(keys, await Store.CountAsync(P));
        var list = await Store.ListAsync(P);
        Assert.All(list.Items, i => Assert.Equal(value, i.Value.ToArray()));
    }

    [Fact]
    public async Task Compaction_of_deleted_keys_leaves_no_tombstones()
    {
        for (var i = 0; i < 50; i++)
        {
            await Store.CreateAsync($"{P}{i}", V("x"));
            await Store.DeleteAsync($"{P}{i}");
        }
        await Store.CreateAsync(P + "live", V("y"));
        Assert.Equal(101, CountRows("log"));
        await Store.CompactAsync(await Store.CurrentRevisionAsync());
        Assert.Equal(1, CountRows("log"));
        Assert.Equal(1, CountRows("cur"));
    }

    [Fact]
    public async Task Background_compaction_keeps_the_configured_number_of_revisions()
    {
        await Store.DisposeAsync();
        var clock = new FakeTimeProvider();
        await using var store = await SqliteClusterStore.OpenAsync(DbPath, new ClusterStoreOptions
        {
            CompactionInterval = TimeSpan.FromMinutes(5),
            CompactionRetainedRevisions = 10,
            TimeProvider = clock,
        });
        var rev = await store.CreateAsync(P + "k", V("0"));
        for (var i = 1; i < 100; i++)
        {
            rev = (await store.UpdateAsync(P + "k", V(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), rev)).Revision;
        }
        Assert.Equal(0, store.CompactedRevision);
        clock.Advance(TimeSpan.FromMinutes(4));
        await Task.Delay(200);
        Assert.Equal(0, store.CompactedRevision);
        clock.Advance(TimeSpan.FromMinutes(1));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (store.CompactedRevision == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        Assert.Equal(rev - 10, store.CompactedRevision);
        Assert.Null(store.LastCompactionError);
        await Assert.ThrowsAsync<CompactedException>(() => store.ListAsync(P, revision: rev - 11));
        Assert.Single((await store.ListAsync(P, revision: rev - 10)).Items);
    }

    [Fact]
    public async Task A_watcher_that_falls_behind_catches_up_from_history_without_gaps()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var from = await Store.CurrentRevisionAsync();
        await using var events = Store.WatchAsync(P, from, cts.Token).GetAsyncEnumerator(cts.Token);
        var first = events.MoveNextAsync();
        const int writes = WatchHub.QueueCapacity * 3;
        var rev = await Store.CreateAsync(P + "k", V("0"));
        Assert.True(await first);
        // The watcher does not read while thousands of events are committed: its queue overflows.
        for (var i = 1; i < writes; i++)
        {
            rev = (await Store.UpdateAsync(P + "k", V(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), rev)).Revision;
        }
        var expected = events.Current.Current.ModRevision;
        var count = 1;
        while (count < writes)
        {
            Assert.True(await events.MoveNextAsync());
            Assert.Equal(expected + 1, events.Current.Current.ModRevision);
            Assert.Equal(expected, events.Current.Previous!.ModRevision);
            expected = events.Current.Current.ModRevision;
            count++;
        }
        Assert.Equal(rev, expected);
    }

    [Fact]
    public async Task Disposing_the_store_ends_open_watches()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var events = Store.WatchAsync(P, await Store.CurrentRevisionAsync(), cts.Token).GetAsyncEnumerator(cts.Token);
        var next = events.MoveNextAsync().AsTask();
        while (Sqlite.WatcherCount == 0)
        {
            await Task.Delay(10, cts.Token);
        }
        await Store.DisposeAsync();
        Assert.False(await next.WaitAsync(Timeout));
        await events.DisposeAsync();
    }

    protected override async Task WaitUntilWatchingAsync(int watchers, CancellationToken cancellationToken)
    {
        while (Sqlite.WatcherCount < watchers)
        {
            await Task.Delay(10, cancellationToken);
        }
    }

    private long CountRows(string table)
    {
        using var connection = new SqliteConnection($"Data Source={DbPath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT count(*) FROM {table}";
        return (long)command.ExecuteScalar()!;
    }

    private long FileBytes()
    {
        var wal = DbPath + "-wal";
        return new FileInfo(DbPath).Length + (File.Exists(wal) ? new FileInfo(wal).Length : 0);
    }
}
