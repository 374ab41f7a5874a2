using System.Text.Json;
using Berth.Testing;

namespace Berth.Cli.Tests;

/// <summary>`berth volume ...` and `-v`/`--mount` against dockerd and against berth daemon: the same expectations for both.</summary>
[Collection(EngineCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class VolumeCommandsTests(EngineFixture engine)
{
    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public void Create_inspect_ls_rm()
    {
        var vol = Unique("v");
        Assert.Equal(vol + "\n", engine.Berth("volume", "create", "--label", "team=a", vol).Ok().Stdout);
        var v = JsonDocument.Parse(engine.Berth("volume", "inspect", vol).Ok().Stdout).RootElement;
        Assert.Equal(JsonValueKind.Array, v.ValueKind);
        Assert.Equal(vol, v[0].GetProperty("Name").GetString());
        Assert.Equal("local", v[0].GetProperty("Driver").GetString());
        Assert.Equal("local", v[0].GetProperty("Scope").GetString());
        Assert.Equal("a", v[0].GetProperty("Labels").GetProperty("team").GetString());
        Assert.EndsWith("/volumes/" + vol + "/_data", v[0].GetProperty("Mountpoint").GetString(), StringComparison.Ordinal);
        Assert.Equal(vol + "\n", engine.Berth("volume", "inspect", "-f", "{{.Name}}", vol).Ok().Stdout);

        var table = engine.Berth("volume", "ls", "--filter", "label=team=a").Ok().Stdout;
        Assert.Matches($"^DRIVER +VOLUME NAME\nlocal +{vol}\n$", table);
        Assert.Equal(vol + "\n", engine.Berth("volume", "ls", "-q", "--filter", "name=" + vol).Ok().Stdout);
        Assert.Equal($"{vol} local\n", engine.Berth("volume", "ls", "--filter", "name=" + vol, "--format", "{{.Name}} {{.Driver}}").Ok().Stdout);
        Assert.Contains(vol, engine.Berth("volume", "ls", "-q", "--filter", "dangling=true").Ok().Stdout, StringComparison.Ordinal);
        Assert.Equal(vol + "\n", engine.Berth("volume", "rm", vol).Ok().Stdout);
        Assert.Equal("", engine.Berth("volume", "ls", "-q", "--filter", "name=" + vol).Ok().Stdout);
    }

    [Fact]
    public void Errors_are_one_line_with_dockers_words()
    {
        var bad = engine.Berth("volume", "create", "bad/name");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("\"bad/name\" includes invalid characters for a local volume name", bad.Stderr, StringComparison.Ordinal);
        var opt = engine.Berth("volume", "create", "-o", "colour=red", Unique("o"));
        Assert.Equal(1, opt.ExitCode);
        Assert.Contains("invalid option: \"colour\"", opt.Stderr, StringComparison.Ordinal);
        var missing = engine.Berth("volume", "rm", "no-such-volume");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("get no-such-volume: no such volume", missing.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, engine.Berth("volume", "rm", "-f", "no-such-volume").ExitCode);
        var inspect = engine.Berth("volume", "inspect", "no-such-volume");
        Assert.Equal(1, inspect.ExitCode);
        Assert.Contains("no such volume", inspect.Stderr, StringComparison.Ordinal);
        var filter = engine.Berth("volume", "ls", "--filter", "bogus=1");
        Assert.Equal(1, filter.ExitCode);
        Assert.Contains("Invalid filter 'bogus'", filter.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Data_outlives_the_container_and_a_used_volume_cannot_be_removed()
    {
        var vol = Unique("data");
        engine.Berth("run", "--rm", "--network", "none", "-v", vol + ":/data", "busybox", "sh", "-c", "echo kept > /data/f").Ok();
        Assert.Equal("kept\n", engine.Berth("run", "--rm", "--network", "none", "--mount", $"type=volume,src={vol},dst=/d,readonly", "busybox", "cat", "/d/f").Ok().Stdout);
        var name = Unique("user");
        engine.Berth("create", "--name", name, "--network", "none", "-v", vol + ":/data", "busybox", "true").Ok();
        var inUse = engine.Berth("volume", "rm", vol);
        Assert.Equal(1, inUse.ExitCode);
        Assert.Contains($"remove {vol}: volume is in use - [", inUse.Stderr, StringComparison.Ordinal);
        var mounts = JsonDocument.Parse(engine.Berth("inspect", "-f", "{{json .Mounts}}", name).Ok().Stdout).RootElement[0];
        Assert.Equal(("volume", vol, "/data", "local", "z", true), (mounts.GetProperty("Type").GetString(), mounts.GetProperty("Name").GetString(),
            mounts.GetProperty("Destination").GetString(), mounts.GetProperty("Driver").GetString(), mounts.GetProperty("Mode").GetString(), mounts.GetProperty("RW").GetBoolean()));
        engine.Berth("rm", "-v", name).Ok();
        Assert.Equal(vol + "\n", engine.Berth("volume", "ls", "-q", "--filter", "name=" + vol).Ok().Stdout); // rm -v keeps named volumes
        engine.Berth("volume", "rm", vol).Ok();
    }

    private string VolumeOf(string container) =>
        JsonDocument.Parse(engine.Berth("inspect", "-f", "{{json .Mounts}}", container).Ok().Stdout).RootElement[0].GetProperty("Name").GetString()!;

    [Fact]
    public void Prune_removes_unused_anonymous_volumes_and_keeps_used_ones()
    {
        var holder = Unique("holder");
        engine.Berth("create", "--name", holder, "--network", "none", "-v", "/held", "busybox", "true").Ok();
        var held = VolumeOf(holder);
        var gone = Unique("gone");
        engine.Berth("create", "--name", gone, "--network", "none", "-v", "/free", "busybox", "true").Ok();
        var free = VolumeOf(gone);
        engine.Berth("rm", gone).Ok();
        Assert.Matches("^[0-9a-f]{64}$", free);

        var pruned = engine.Berth("volume", "prune", "-f").Ok().Stdout;
        Assert.Contains("Deleted Volumes:\n", pruned, StringComparison.Ordinal);
        Assert.Contains(free + "\n", pruned, StringComparison.Ordinal);
        Assert.DoesNotContain(held, pruned, StringComparison.Ordinal);
        Assert.Contains("Total reclaimed space: ", pruned, StringComparison.Ordinal);
        engine.Berth("rm", "-v", holder).Ok();
        Assert.Equal("", engine.Berth("volume", "ls", "-q", "--filter", "name=" + held).Ok().Stdout);
    }
}
