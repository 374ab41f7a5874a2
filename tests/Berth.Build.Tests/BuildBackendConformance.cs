namespace Berth.Build.Tests;

/// <summary>
/// The contract every <see cref="IBuildBackend"/> must keep, as one suite each implementation runs by subclassing:
/// the recording backend here, and the real one (image library + berth-runtime) once the host wires it.
/// </summary>
public abstract class BuildBackendConformance
{
    /// <summary>The backend under test.</summary>
    protected abstract IBuildBackend Backend { get; }

    /// <summary>An image the backend can resolve whose rootfs has a POSIX shell at /bin/sh and the file /etc/passwd.</summary>
    protected abstract string ImageWithShell { get; }

    private static async Task<string> CommitWithFileAsync(IBuildBackend backend, string? layer, string path, string content)
    {
        var mount = await backend.MountAsync(layer, readOnly: false, CancellationToken.None);
        await using (mount)
        {
            var full = Path.Combine(mount.RootPath, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            await File.WriteAllTextAsync(full, content);
            return await backend.CommitAsync(mount, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Empty_mount_is_an_empty_directory()
    {
        var mount = await Backend.MountAsync(null, readOnly: false, CancellationToken.None);
        await using (mount)
        {
            Assert.True(Directory.Exists(mount.RootPath));
            Assert.Empty(Directory.EnumerateFileSystemEntries(mount.RootPath));
            Assert.Null(mount.BaseLayer);
        }
    }

    [Fact]
    public async Task Committed_changes_show_in_later_mounts_and_stack()
    {
        var first = await CommitWithFileAsync(Backend, null, "a/one.txt", "1");
        var second = await CommitWithFileAsync(Backend, first, "a/two.txt", "2");
        Assert.NotEqual(first, second);
        Assert.True(await Backend.LayerExistsAsync(first, CancellationToken.None));
        Assert.True(await Backend.LayerExistsAsync(second, CancellationToken.None));

        var mount = await Backend.MountAsync(second, readOnly: true, CancellationToken.None);
        await using (mount)
        {
            Assert.Equal(second, mount.BaseLayer);
            Assert.Equal("1", await File.ReadAllTextAsync(Path.Combine(mount.RootPath, "a/one.txt")));
            Assert.Equal("2", await File.ReadAllTextAsync(Path.Combine(mount.RootPath, "a/two.txt")));
        }
    }

    [Fact]
    public async Task Disposing_without_commit_discards_changes()
    {
        var layer = await CommitWithFileAsync(Backend, null, "kept.txt", "k");
        var mount = await Backend.MountAsync(layer, readOnly: false, CancellationToken.None);
        await using (mount)
        {
            await File.WriteAllTextAsync(Path.Combine(mount.RootPath, "dropped.txt"), "d");
        }
        var again = await Backend.MountAsync(layer, readOnly: true, CancellationToken.None);
        await using (again)
        {
            Assert.True(File.Exists(Path.Combine(again.RootPath, "kept.txt")));
            Assert.False(File.Exists(Path.Combine(again.RootPath, "dropped.txt")));
        }
    }

    [Fact]
    public async Task Unknown_layers_do_not_exist()
    {
        Assert.False(await Backend.LayerExistsAsync("sha256:" + new string('0', 64), CancellationToken.None));
    }

    [Fact]
    public async Task Resolving_a_missing_image_is_not_found()
    {
        var e = await Assert.ThrowsAnyAsync<Berth.Core.BerthException>(() =>
            Backend.ResolveImageAsync("berth-conformance/no-such-image:never", "linux/amd64", CancellationToken.None));
        Assert.Equal(Berth.Core.ErrorCode.NotFound, e.Code);
    }

    [Fact]
    public async Task Run_reports_output_and_exit_code()
    {
        var image = await Backend.ResolveImageAsync(ImageWithShell, "linux/amd64", CancellationToken.None);
        Assert.StartsWith("sha256:", image.Id, StringComparison.Ordinal);
        var mount = await Backend.MountAsync(image.Layer, readOnly: false, CancellationToken.None);
        await using (mount)
        {
            Assert.True(File.Exists(Path.Combine(mount.RootPath, "etc/passwd")));
            var lines = new List<string>();
            var exit = await Backend.RunAsync(mount, new RunSpec(["/bin/sh", "-c", "echo hello && exit 3"], ["PATH=" + Builder.DefaultPath], "/", null, RunNetwork.None),
                line => lines.Add(line), CancellationToken.None);
            Assert.Equal(3, exit);
            Assert.Equal(["hello"], lines);
        }
    }
}

/// <summary>The recording backend keeps the contract the engine tests rely on.</summary>
public sealed class RecordingBackendConformance : BuildBackendConformance, IDisposable
{
    private readonly RecordingBackend _backend = new();

    public RecordingBackendConformance()
    {
        _backend.AddImage("shell", new Dictionary<string, string> { ["bin/sh"] = "#!", ["etc/passwd"] = "root:x:0:0::/:/bin/sh\n" });
    }

    protected override IBuildBackend Backend => _backend;

    protected override string ImageWithShell => "shell";

    public void Dispose() => _backend.Dispose();
}
