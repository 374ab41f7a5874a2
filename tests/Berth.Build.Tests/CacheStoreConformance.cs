using Berth.Testing;

namespace Berth.Build.Tests;

/// <summary>The <see cref="ICacheStore"/> contract, run by every implementation.</summary>
public abstract class CacheStoreConformance
{
    protected abstract ICacheStore Store { get; }

    private static string Key(char c) => "sha256:" + new string(c, 64);

    [Fact]
    public async Task Missing_keys_are_null()
    {
        Assert.Null(await Store.GetAsync(Key('1'), CancellationToken.None));
    }

    [Fact]
    public async Task Put_then_get_round_trips_and_overwrites()
    {
        var entry = new CacheEntry("layer-a", new ImageConfigDraft { Config = { Env = ["A=1"] } }.ToJson());
        await Store.PutAsync(Key('2'), entry, CancellationToken.None);
        Assert.Equal(entry, await Store.GetAsync(Key('2'), CancellationToken.None));
        var replaced = new CacheEntry(null, "{}");
        await Store.PutAsync(Key('2'), replaced, CancellationToken.None);
        Assert.Equal(replaced, await Store.GetAsync(Key('2'), CancellationToken.None));
    }

    [Fact]
    public async Task Keys_that_are_not_digests_work_too()
    {
        await Store.PutAsync("../odd key/\0", new CacheEntry("l", "{}"), CancellationToken.None);
        Assert.Equal("l", (await Store.GetAsync("../odd key/\0", CancellationToken.None))!.Layer);
    }
}

public sealed class InMemoryCacheStoreConformance : CacheStoreConformance
{
    protected override ICacheStore Store { get; } = new InMemoryCacheStore();
}

public sealed class FileCacheStoreConformance : CacheStoreConformance, IDisposable
{
    private readonly TempDirectory _dir = new("berth-build-cache");

    public FileCacheStoreConformance() => Store = new FileCacheStore(_dir.Path);

    protected override ICacheStore Store { get; }

    public void Dispose() => _dir.Dispose();
}
