using System.Text;
using Berth.Core;
using Berth.Images.Content;
using Berth.Testing;

namespace Berth.Images.Tests;

/// <summary>What every IContentStore must do; each implementation runs this suite.</summary>
public abstract class ContentStoreConformance : IDisposable
{
    protected TempDirectory Temp { get; } = new("berth-content");

    protected abstract IContentStore Create();

    public void Dispose()
    {
        Temp.Dispose();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task Stores_and_reads_back_content_by_digest()
    {
        var store = Create();
        var data = Encoding.UTF8.GetBytes("hello layers");
        var info = await store.WriteBytesAsync(data);
        Assert.Equal(Digest.Compute(data), info.Digest);
        Assert.Equal(data.Length, info.Size);
        Assert.Equal(data, await store.ReadBytesAsync(info.Digest));
        Assert.Equal(data.Length, (await store.InfoAsync(info.Digest))!.Size);
    }

    [Fact]
    public async Task A_corrupt_blob_fails_its_digest_check_and_is_not_stored()
    {
        var store = Create();
        var claimed = Digest.Compute("the real content"u8);
        var e = await Assert.ThrowsAsync<BerthException>(async () => await store.WriteBytesAsync("tampered content"u8.ToArray(), claimed));
        Assert.Equal(ErrorCode.FailedPrecondition, e.Code);
        Assert.Contains(claimed.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Null(await store.InfoAsync(claimed));
        Assert.Null(await store.InfoAsync(Digest.Compute("tampered content"u8)));
        Assert.Empty(await ToListAsync(store.WalkAsync()));
    }

    [Fact]
    public async Task A_truncated_blob_fails_its_size_check_and_is_not_stored()
    {
        var store = Create();
        var full = new byte[10000];
        Random.Shared.NextBytes(full);
        var digest = Digest.Compute(full);
        var e = await Assert.ThrowsAsync<BerthException>(async () => await store.WriteAsync(new MemoryStream(full[..5000]), full.Length, digest));
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
        Assert.Null(await store.InfoAsync(digest));
    }

    [Fact]
    public async Task A_blob_larger_than_announced_is_refused()
    {
        var store = Create();
        var data = new byte[4096];
        await Assert.ThrowsAsync<BerthException>(async () => await store.WriteAsync(new MemoryStream(data), 100, Digest.Compute(data)));
        Assert.Null(await store.InfoAsync(Digest.Compute(data)));
    }

    [Fact]
    public async Task Sha512_digests_are_accepted()
    {
        var store = Create();
        var data = "sha512 content"u8.ToArray();
        var digest = Digest.Compute(data, Digest.Sha512);
        var info = await store.WriteBytesAsync(data, digest);
        Assert.Equal(digest, info.Digest);
        Assert.Equal(data, await store.ReadBytesAsync(digest));
    }

    [Fact]
    public async Task An_uncommitted_ingest_is_invisible_and_discarded_on_dispose()
    {
        var store = Create();
        var data = "partial"u8.ToArray();
        await using (var writer = await store.OpenWriterAsync())
        {
            await writer.WriteAsync(data);
            Assert.Null(await store.InfoAsync(Digest.Compute(data)));
        }
        Assert.Null(await store.InfoAsync(Digest.Compute(data)));
        Assert.Empty(await ToListAsync(store.WalkAsync()));
    }

    [Fact]
    public async Task Writing_existing_content_again_succeeds_and_merges_labels()
    {
        var store = Create();
        var data = "same"u8.ToArray();
        await store.WriteBytesAsync(data, labels: new Dictionary<string, string> { ["a"] = "1" });
        var info = await store.WriteBytesAsync(data, labels: new Dictionary<string, string> { ["b"] = "2" });
        Assert.Equal("1", info.Labels["a"]);
        Assert.Equal("2", info.Labels["b"]);
    }

    [Fact]
    public async Task Labels_are_set_and_removed()
    {
        var store = Create();
        var info = await store.WriteBytesAsync("labelled"u8.ToArray());
        await store.UpdateLabelsAsync(info.Digest, new Dictionary<string, string?> { [ContentLabels.GcRefContentPrefix + "0"] = "sha256:" + new string('a', 64), ["x"] = "y" });
        var updated = await store.UpdateLabelsAsync(info.Digest, new Dictionary<string, string?> { ["x"] = null });
        Assert.Single(updated.Labels);
        Assert.True(updated.Labels.ContainsKey(ContentLabels.GcRefContentPrefix + "0"));
        Assert.Equal(updated.Labels, (await store.InfoAsync(info.Digest))!.Labels);
    }

    [Fact]
    public async Task Walk_lists_every_blob_and_delete_removes_one()
    {
        var store = Create();
        var a = await store.WriteBytesAsync("a"u8.ToArray());
        var b = await store.WriteBytesAsync("b"u8.ToArray());
        var all = (await ToListAsync(store.WalkAsync())).Select(i => i.Digest).ToHashSet();
        Assert.Equal(new HashSet<Digest> { a.Digest, b.Digest }, all);
        Assert.True(await store.DeleteAsync(a.Digest));
        Assert.False(await store.DeleteAsync(a.Digest));
        Assert.Null(await store.InfoAsync(a.Digest));
        var e = await Assert.ThrowsAsync<BerthException>(async () => await store.OpenReadAsync(a.Digest));
        Assert.Equal(ErrorCode.NotFound, e.Code);
    }

    private static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items)
        {
            list.Add(item);
        }
        return list;
    }
}

public sealed class LocalContentStoreTests : ContentStoreConformance
{
    protected override IContentStore Create() => new LocalContentStore(Temp.Path);

    [Fact]
    public async Task A_failed_ingest_leaves_no_temp_file_behind()
    {
        var store = new LocalContentStore(Temp.Path);
        await Assert.ThrowsAsync<BerthException>(async () => await store.WriteBytesAsync("x"u8.ToArray(), Digest.Compute("y"u8)));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(Temp.Path, "ingest")));
    }
}
