using Xunit.Abstractions;
using Berth.Testing;

namespace Berth.Shim.Tests;

/// <summary>One shim runs per container: it must stay small and single-threaded in use, not only when idle.</summary>
[Trait(Traits.Category, Traits.Privileged)]
public class FootprintTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TheShimStaysSmallAfterStreamingMegabytesToALogAndAClient()
    {
        Privileged.Require();
        const int lines = 300_000;
        const string line = "0123456789012345678901234567890123456789";
        await using var h = new ShimHarness(s => s.Process!.Args = ["sh", "-c", $"yes {line} | head -n {lines}; echo done >&2; sleep 100"]);
        var shim = await h.StartShimAsync(h.Options(logMaxSize: 4 << 20, logMaxFiles: 2));
        var idle = Memory(h.ShimPid);
        await using var stream = await shim.AttachAsync(false, true, true, ShimHarness.Timeout());
        await shim.StartAsync(ShimHarness.Timeout());
        long received = 0;
        var ct = ShimHarness.Timeout(60);
        var sawDone = false;
        while (!sawDone || received < lines * (line.Length + 1L))
        {
            ShimFrame? next;
            try
            {
                next = await stream.ReadAsync(ct);
            }
            catch (OperationCanceledException)
            {
                var logged = File.ReadLines(h.LogPath).Count() + (File.Exists(h.LogPath + ".1") ? File.ReadLines(h.LogPath + ".1").Count() : 0);
                throw new TimeoutException($"received {received} bytes of {lines * (line.Length + 1L)}, done={sawDone}, log lines {logged}");
            }
            var frame = next ?? throw new InvalidOperationException("stream ended early");
            if (frame.Stream == 2)
            {
                sawDone = true;
            }
            else
            {
                received += frame.Data.Length;
            }
        }
        Assert.Equal(lines * (line.Length + 1L), received);
        var process = new Oci.Runtime.Process { Args = ["true"], Env = ["PATH=/bin"], Cwd = "/" };
        await using (var exec = await shim.ExecAsync("x", process, false, ShimHarness.Timeout()))
        {
            await exec.StartAsync(ShimHarness.Timeout());
            Assert.Equal(0, await exec.WaitAsync(ShimHarness.Timeout()));
        }
        var busy = Memory(h.ShimPid);
        output.WriteLine($"berth-shim RSS idle {idle.RssKiB} KiB, after streaming {received} bytes and an exec {busy.RssKiB} KiB, {busy.Threads} threads");
        Assert.True(busy.RssKiB < 12 * 1024, $"berth-shim RSS {busy.RssKiB} KiB after streaming (idle {idle.RssKiB} KiB)");
        Assert.True(busy.Threads <= 2, $"berth-shim has {busy.Threads} threads");
        Assert.True(new FileInfo(h.LogPath).Length <= (4 << 20) + 200);
        Assert.True(File.Exists(h.LogPath + ".1"));
    }

    private static (long RssKiB, int Threads) Memory(int pid)
    {
        var status = File.ReadAllLines($"/proc/{pid}/status");
        long Field(string name) => long.Parse(status.Single(l => l.StartsWith(name + ":", StringComparison.Ordinal)).Split(':')[1].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        return (Field("VmRSS"), (int)Field("Threads"));
    }
}
