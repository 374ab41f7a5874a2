using System.Globalization;
using System.Text;

namespace Berth.Store.Tests;

/// <summary>
/// Entry point used only by <see cref="SqliteDurabilityTests"/>: <c>dotnet Berth.Store.Tests.dll durability-writer
/// DB WRITERS</c> writes keys from several concurrent loops and prints "ACK key revision ." after each write the
/// store acknowledged, until it is killed. <c>bench</c> is bench/store.sh's load generator (<see cref="StoreBench"/>).
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args is ["bench", .. var benchArgs])
        {
            return await StoreBench.RunAsync(benchArgs);
        }
        if (args.Length != 3 || args[0] != "durability-writer")
        {
            await Console.Error.WriteLineAsync("usage: Berth.Store.Tests durability-writer DB WRITERS | bench DB-DIR ETCD-URL [OPS] (tests are run with dotnet test)");
            return 2;
        }
        var writers = int.Parse(args[2], CultureInfo.InvariantCulture);
        var store = await SqliteClusterStore.OpenAsync(args[1], new ClusterStoreOptions { CompactionInterval = TimeSpan.Zero });
        var stdout = Console.OpenStandardOutput();
        var gate = new Lock();
        var run = Guid.NewGuid().ToString("N")[..8];
        await Console.Out.FlushAsync();
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var counter = $"/durable/counter-{w}";
            long counterRevision = 0;
            for (var i = 0; ; i++)
            {
                var key = $"/durable/{run}/{w}/{i}";
                var rev = await store.CreateAsync(key, Encoding.UTF8.GetBytes("value-" + i));
                Ack(key, rev);
                // CAS updates of one key per writer too: the acknowledged revision must be the one found after the crash
                // unless a later acknowledged update replaced it.
                var result = counterRevision == 0
                    ? await CreateOrReadAsync(store, counter)
                    : await store.UpdateAsync(counter, Encoding.UTF8.GetBytes("n" + i), counterRevision);
                if (result.Outcome == WriteOutcome.Succeeded)
                {
                    counterRevision = result.Revision;
                    Ack(counter, result.Revision);
                }
                else
                {
                    counterRevision = result.Current!.ModRevision;
                }
            }
        })));
        return 0;

        void Ack(string key, long rev)
        {
            var line = Encoding.UTF8.GetBytes($"ACK {key} {rev} .\n");
            lock (gate)
            {
                stdout.Write(line);
                stdout.Flush();
            }
        }
    }

    private static async Task<WriteResult> CreateOrReadAsync(SqliteClusterStore store, string key)
    {
        try
        {
            var rev = await store.CreateAsync(key, Encoding.UTF8.GetBytes("n0"));
            return new WriteResult(WriteOutcome.Succeeded, rev, null);
        }
        catch (KeyExistsException)
        {
            return new WriteResult(WriteOutcome.Conflict, 0, await store.GetAsync(key));
        }
    }
}
