using Berth.Core;
using Berth.Testing;

namespace Berth.Core.Tests;

public class AtomicFileTests
{
    [Fact]
    public void WriteReplacesContentAndLeavesNoTempFile()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("state.json");
        AtomicFile.WriteAllText(path, "one");
        AtomicFile.WriteAllText(path, "two");
        Assert.Equal("two", File.ReadAllText(path));
        Assert.Equal(["state.json"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void ConcurrentWritesOfOneFileAllSucceedAndOneWins()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("record.json");
        var contents = Enumerable.Range(0, 16).Select(i => new string((char)('a' + i), 4096)).ToList();
        Parallel.ForEach(contents, new ParallelOptions { MaxDegreeOfParallelism = 8 }, c =>
        {
            for (var i = 0; i < 20; i++)
            {
                AtomicFile.WriteAllText(path, c);
            }
        });
        Assert.Contains(File.ReadAllText(path), contents);
        Assert.Equal(["record.json"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }
}
