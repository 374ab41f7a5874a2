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
}
