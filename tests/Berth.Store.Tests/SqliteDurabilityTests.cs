using System.Diagnostics;
using Berth.Testing;
using Microsoft.Data.Sqlite;

namespace Berth.Store.Tests;

/// <summary>
/// kill -9 of a process in the middle of writing: every write it acknowledged is there after reopening, and the
/// file is consistent (no half-applied write).
/// </summary>
public sealed class SqliteDurabilityTests
{
    // Needs no root: a child process and SIGKILL. Takes a few seconds.
    [Fact]
    public async Task Every_acknowledged_write_survives_kill_9()
    {
        using var dir = new TempDirectory("berth-durable");
        var db = dir.Combine("state.db");
        var acked = new Dictionary<string, long>();
        for (var crash = 0; crash < 5; crash++)
        {
            var lines = await RunWriterUntilKilledAsync(db, acksBeforeKill: 300 + (crash * 200));
            foreach (var line in lines)
            {
                var parts = line.Split(' ');
                if (parts is ["ACK", var key, var rev, "."])
                {
                    var revision = long.Parse(rev, System.Globalization.CultureInfo.InvariantCulture);
                    acked[key] = Math.Max(acked.GetValueOrDefault(key), revision);
                }
            }
            AssertConsistent(db);
            await using var store = await SqliteClusterStore.OpenAsync(db, new ClusterStoreOptions { CompactionInterval = TimeSpan.Zero });
            var current = await store.CurrentRevisionAsync();
            Assert.True(current >= acked.Values.Max());
            foreach (var (key, rev) in acked)
            {
                var kv = await store.GetAsync(key);
                Assert.True(kv is not null, $"acknowledged key {key} (revision {rev}) is missing after kill -9");
                if (key.Contains("/counter-", StringComparison.Ordinal))
                {
                    // A later update may have committed without its acknowledgement being printed before the kill.
                    Assert.True(kv.ModRevision >= rev, $"{key}: revision {kv.ModRevision} is older than the acknowledged {rev}");
                }
                else
                {
                    Assert.Equal(rev, kv.ModRevision);
                }
            }
            Assert.True(await store.CreateAsync($"/after-crash/{crash}", "x"u8.ToArray()) > current);
        }
        Assert.True(acked.Count > 500, $"only {acked.Count} acknowledged keys");
    }

    private static async Task<List<string>> RunWriterUntilKilledAsync(string db, int acksBeforeKill)
    {
        var assembly = typeof(Program).Assembly.Location;
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(assembly);
        info.ArgumentList.Add("durability-writer");
        info.ArgumentList.Add(db);
        info.ArgumentList.Add("8");
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var lines = new List<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        while (lines.Count < acksBeforeKill)
        {
            var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            if (line is null)
            {
                throw new InvalidOperationException($"the writer exited early ({lines.Count} acks): {await stderr}");
            }
            lines.Add(line);
        }
        // SIGKILL, while writes are in flight.
        process.Kill();
        // Whatever it printed before dying was acknowledged too.
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } rest)
        {
            lines.Add(rest);
        }
        await process.WaitForExitAsync(timeout.Token);
        Assert.Equal(137, process.ExitCode);
        return lines;
    }

    /// <summary>The invariants every committed transaction keeps, checked straight in the file.</summary>
    internal static void AssertConsistent(string db)
    {
        using var connection = new SqliteConnection($"Data Source={db};Pooling=False");
        connection.Open();
        long Scalar(string sql)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }
        Assert.Equal("ok", (string)new SqliteCommand("PRAGMA integrity_check", connection).ExecuteScalar()!);
        Assert.Equal(Scalar("SELECT coalesce(max(rev), 0) FROM log"), Scalar("SELECT value FROM meta WHERE name = 'revision'"));
        // Every live key points at its newest row, which is a put.
        Assert.Equal(0, Scalar("""
            SELECT count(*) FROM cur c LEFT JOIN log l ON l.rev = c.rev
            WHERE l.rev IS NULL OR l.deleted = 1 OR l.key != c.key
               OR l.rev != (SELECT max(rev) FROM log x WHERE x.key = c.key)
            """));
        // Every key whose newest row is a put is live.
        Assert.Equal(0, Scalar("""
            SELECT count(*) FROM log l WHERE l.deleted = 0
              AND l.rev = (SELECT max(rev) FROM log x WHERE x.key = l.key)
              AND NOT EXISTS (SELECT 1 FROM cur c WHERE c.key = l.key)
            """));
    }
}
