using Berth.Images.BaseImages;
using Berth.Images.Content;
using Berth.Images.Formats;
using Berth.Images.Snapshots;
using Berth.Images.Store;
using Berth.Oci.Image;
using Berth.Testing;

namespace Berth.Build.Tests;

/// <summary>
/// A Berth state root in a temp dir for tests of the real build path: content store, overlay snapshotter, image
/// store with a busybox image made from the host's busybox-static, and an <see cref="ImageBuildService"/> running RUN
/// with out/berth-runtime (or <paramref name="runtime"/>).
/// </summary>
internal sealed class RealBuildRoot : IDisposable
{
    private readonly TempDirectory _root = new("berth-build-root");

    public RealBuildRoot(string? runtime = null)
    {
        Runtime = runtime ?? Repo.Executable("berth-runtime");
        Content = new LocalContentStore(_root.Combine("content"));
        Snapshotter = new OverlaySnapshotter(_root.Combine("overlay"));
        Images = new ImageStore(Content, Snapshotter, _root.Combine("images"));
        var busybox = BaseImageBuilder.BuildBusyboxAsync(Content).GetAwaiter().GetResult();
        Images.TagAsync("busybox", busybox).GetAwaiter().GetResult();
        Service = new ImageBuildService(Images, BuildState, Runtime);
        Context = _root.Combine("context");
        Directory.CreateDirectory(Context);
    }

    public string Runtime { get; }

    public string Path => _root.Path;

    public string BuildState => _root.Combine("build");

    public string Context { get; }

    public LocalContentStore Content { get; }

    public OverlaySnapshotter Snapshotter { get; }

    public ImageStore Images { get; }

    public ImageBuildService Service { get; }

    public void Write(string relative, string content)
    {
        var path = System.IO.Path.Combine(Context, relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    public async Task<(ImageBuildResult Result, RecordingProgress Progress)> BuildAsync(string dockerfile, string? target = null, bool noCache = false,
        IReadOnlyList<string>? tags = null, IReadOnlyDictionary<string, string>? buildArgs = null)
    {
        Write("Dockerfile", dockerfile);
        var progress = new RecordingProgress();
        var result = await Service.BuildAsync(new ImageBuildRequest
        {
            ContextDirectory = Context,
            Target = target,
            NoCache = noCache,
            Tags = tags ?? [],
            BuildArgs = buildArgs ?? new Dictionary<string, string>(),
        }, progress, CancellationToken.None);
        return (result, progress);
    }

    /// <summary>The image flattened into a fresh directory (every layer applied with its whiteouts).</summary>
    public async Task<string> UnpackAsync(ImageBuildResult result)
    {
        var manifest = await Content.ReadJsonAsync(result.Manifest.Digest, ImageJsonContext.Default.ImageManifest);
        var dir = _root.Combine("unpacked-" + Guid.NewGuid().ToString("N")[..8]);
        await ImageUnpacker.UnpackAsync(Content, manifest, dir);
        return dir;
    }

    /// <summary>Runs the image's entrypoint+cmd with the OCI runtime on its unpacked rootfs; returns exit code and output.</summary>
    public async Task<(int Exit, List<string> Output)> RunImageAsync(ImageBuildResult result)
    {
        var rootfs = await UnpackAsync(result);
        var manifest = await Content.ReadJsonAsync(result.Manifest.Digest, ImageJsonContext.Default.ImageManifest);
        var config = await Content.ReadJsonAsync(manifest.Config.Digest, ImageJsonContext.Default.ImageConfig);
        var argv = (config.Config?.Entrypoint ?? []).Concat(config.Config?.Cmd ?? []).ToList();
        var runner = new RuntimeRunner(Runtime, _root.Combine("run-bundles"), _root.Combine("run-state"));
        var output = new List<string>();
        var exit = await runner.RunAsync(rootfs, new RunSpec(argv, [.. config.Config?.Env ?? []], config.Config?.WorkingDir ?? "/", config.Config?.User, RunNetwork.None),
            output.Add, CancellationToken.None);
        return (exit, output);
    }

    /// <summary>What a build may leave behind: snapshots, blobs, cache entries, layer records, mounts, scratch files.</summary>
    public async Task<StateCounts> CountAsync()
    {
        var snapshots = 0;
        await foreach (var _ in Snapshotter.WalkAsync())
        {
            snapshots++;
        }
        var blobs = 0;
        await foreach (var _ in Content.WalkAsync())
        {
            blobs++;
        }
        int Files(string dir) => Directory.Exists(dir) ? Directory.EnumerateFileSystemEntries(dir).Count() : 0;
        var mounts = File.ReadAllLines("/proc/self/mountinfo").Count(l => l.Contains(_root.Path, StringComparison.Ordinal));
        var scratch = Files(System.IO.Path.Combine(BuildState, "mounts")) + Files(System.IO.Path.Combine(BuildState, "tmp"))
            + Files(System.IO.Path.Combine(BuildState, "runs")) + Files(System.IO.Path.Combine(BuildState, "runtime"));
        var snapshotDirs = Files(_root.Combine("overlay", "snapshots"));
        return new StateCounts(snapshots, snapshotDirs, blobs, Files(System.IO.Path.Combine(BuildState, "cache")), Files(System.IO.Path.Combine(BuildState, "layers")), mounts, scratch,
            (await Images.ListAsync()).Count);
    }

    public void Dispose() => _root.Dispose();
}

internal sealed record StateCounts(int Snapshots, int SnapshotDirs, int Blobs, int CacheEntries, int LayerRecords, int Mounts, int ScratchEntries, int Images);
