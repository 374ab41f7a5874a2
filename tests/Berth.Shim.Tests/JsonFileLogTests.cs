using System.Text;
using System.Text.Json;
using Berth.Shim.Server;
using Berth.Testing;

namespace Berth.Shim.Tests;

public class JsonFileLogTests
{
    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private static readonly DateTimeOffset At = new(2026, 11, 23, 5, 2, 6, TimeSpan.Zero);

    [Fact]
    public void EntriesAreDockersJsonFileFormat()
    {
        var into = new byte[1024];
        var n = JsonFileLog.Format(into, 1, "a \"q\" \\ <b>&\t\u0001é\u2028\n"u8, At.AddTicks(1234500));
        Assert.Equal("{\"log\":\"a \\\"q\\\" \\\\ \\u003cb\\u003e\\u0026\\t\\u0001é\\u2028\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-23T05:02:06.12345Z\"}\n",
            Encoding.UTF8.GetString(into, 0, n));
        n = JsonFileLog.Format(into, 2, [0xff, (byte)'x'], At);
        Assert.Equal("{\"log\":\"\\ufffdx\",\"stream\":\"stderr\",\"time\":\"2026-11-23T05:02:06Z\"}\n", Encoding.UTF8.GetString(into, 0, n));
    }

    [Fact]
    public void LinesSplitAtNewlinesAndLongOnesAt16KiBAndTheRestAtTheEnd()
    {
        using var dir = new TempDirectory("berth-jsonlog");
        var path = dir.Combine("log");
        using (var log = new JsonFileLog(path, 0, 1, new FixedTime(At)))
        {
            log.Write(1, "one\ntw"u8);
            log.Write(1, "o\n"u8);
            log.Write(2, Encoding.ASCII.GetBytes(new string('x', 20000) + "\nend"));
        }
        var logs = File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement).Select(e => (e.GetProperty("stream").GetString(), e.GetProperty("log").GetString())).ToArray();
        Assert.Equal([("stdout", "one\n"), ("stdout", "two\n"), ("stderr", new string('x', 16384)), ("stderr", new string('x', 20000 - 16384) + "\n"), ("stderr", "end")], logs);
    }

    [Fact]
    public void RotationKeepsMaxFilesAndMaxOneTruncates()
    {
        using var dir = new TempDirectory("berth-jsonlog");
        var path = dir.Combine("log");
        using (var log = new JsonFileLog(path, 300, 3, new FixedTime(At)))
        {
            for (var i = 0; i < 40; i++)
            {
                log.Write(1, Encoding.ASCII.GetBytes($"line {i}\n"));
            }
        }
        Assert.True(File.Exists(path + ".2"));
        Assert.False(File.Exists(path + ".3"));
        Assert.Contains("line 39", File.ReadAllText(path), StringComparison.Ordinal);
        var single = dir.Combine("single");
        using (var log = new JsonFileLog(single, 300, 1, new FixedTime(At)))
        {
            for (var i = 0; i < 40; i++)
            {
                log.Write(1, Encoding.ASCII.GetBytes($"line {i}\n"));
            }
        }
        Assert.False(File.Exists(single + ".1"));
        Assert.InRange(new FileInfo(single).Length, 1, 400);
        Assert.Contains("line 39", File.ReadAllText(single), StringComparison.Ordinal);
    }

    [Fact]
    public void TheReportOfTheShimBecomesTheError()
    {
        Assert.Null(ShimProcess.ParseReport("ok\n", "c", "/s"));
        var e = ShimProcess.ParseReport("error Internal\nexec: \"x\": executable file not found in $PATH\n", "c", "/s")!;
        Assert.Equal(Core.ErrorCode.Internal, e.Code);
        Assert.Equal("exec: \"x\": executable file not found in $PATH", e.Message);
        Assert.Contains("exited before reporting", ShimProcess.ParseReport("Unhandled exception", "c", "/s")!.Message, StringComparison.Ordinal);
    }
}
