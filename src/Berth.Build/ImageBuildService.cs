using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Core;
using Berth.Images.Formats;
using Berth.Images.Layers;
using Berth.Images.Store;
using Berth.Oci.Image;

namespace Berth.Build;

/// <summary>What <c>docker build</c> / <c>POST /build</c> asks for.</summary>
public sealed class ImageBuildRequest
{
    /// <summary>The build context as a directory. Exactly one of this and <see cref="ContextTar"/>.</summary>
    public string? ContextDirectory { get; init; }

    /// <summary>The build context as a tar stream (plain, gzip or zstd), as the Engine API's POST /build body carries it.</summary>
    public Stream? ContextTar { get; init; }

    /// <summary>
    /// The Dockerfile: a path relative to the context root (the API's <c>dockerfile</c> parameter), or, with a context
    /// directory only, an absolute path (CLI <c>-f</c>). With a tar context every path resolves inside the context
    /// (symlinks included). Default <c>Dockerfile</c>.
    /// </summary>
    public string? Dockerfile { get; init; }

    /// <summary>Names for the image (<c>-t</c>, the API's <c>t</c>); normalized as Docker does (<c>app</c> = docker.io/library/app:latest).</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    public IReadOnlyDictionary<string, string> BuildArgs { get; init; } = new Dictionary<string, string>();

    /// <summary><c>--target</c>: the stage to build; only the stages it needs run.</summary>
    public string? Target { get; init; }

    /// <summary><c>--no-cache</c>: execute every step (results still go into the cache for later builds).</summary>
    public bool NoCache { get; init; }

    /// <summary><c>--label</c>s added to the image config.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public string Platform { get; init; } = "linux/amd64";

    /// <summary>The OCI runtime for RUN; null = the service's (berth-runtime next to the berth executable, else on the PATH).</summary>
    public string? RuntimePath { get; init; }
}

/// <summary>The image a build wrote: its ID (config digest), manifest, the names given to it, and the builder's result.</summary>
public sealed record ImageBuildResult(Digest ImageId, Descriptor Manifest, IReadOnlyList<string> Tags, BuildResult Build);

/// <summary>
/// Dockerfile → image, end to end: the library entry point behind <c>POST /build</c> and <c>berth images-dev build</c>.
/// Runs <see cref="Builder"/> over an <see cref="ImageStoreBackend"/> (overlay snapshots, RUN by an OCI runtime), with a
/// persistent <see cref="FileCacheStore"/>, then writes the image config and an OCI manifest into the image store's
/// content store and tags it. State: <c>stateDirectory/cache</c> (the layer cache), the rest as
/// <see cref="ImageStoreBackend"/> says. One service may run several builds at once.
/// </summary>
public sealed class ImageBuildService
{
    private readonly ImageStore _images;
    private readonly string _state;
    private readonly string? _runtime;
    private readonly TimeProvider _time;
    private readonly FileCacheStore _cache;

    /// <param name="images">Where base images come from and built images go.</param>
    /// <param name="stateDirectory">The builder's state, e.g. /var/lib/berth/build.</param>
    /// <param name="runtimePath">Default OCI runtime for RUN; null looks for berth-runtime (see <see cref="FindRuntime"/>).</param>
    public ImageBuildService(ImageStore images, string stateDirectory, string? runtimePath = null, TimeProvider? timeProvider = null)
    {
        _images = images;
        _state = Path.GetFullPath(stateDirectory);
        _runtime = runtimePath;
        _time = timeProvider ?? TimeProvider.System;
        Directory.CreateDirectory(_state);
        _cache = new FileCacheStore(Path.Combine(_state, "cache"));
    }

    /// <summary>berth-runtime next to the running executable (out/berth-runtime for out/berth), else "berth-runtime" on the PATH.</summary>
    public static string FindRuntime()
    {
        if (Environment.ProcessPath is { } exe)
        {
            var candidate = Path.Combine(Path.GetDirectoryName(exe)!, "berth-runtime");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return "berth-runtime";
    }

    public async Task<ImageBuildResult> BuildAsync(ImageBuildRequest request, IBuildProgress? progress, CancellationToken cancellationToken)
    {
        if ((request.ContextDirectory is null) == (request.ContextTar is null))
        {
            throw BerthException.InvalidArgument("a build needs exactly one context: a directory or a tar stream");
        }
        foreach (var tag in request.Tags)
        {
            // Bad names fail before any step runs.
            var name = ImageReference.Parse(tag);
            if (name.Digest is not null && name.Tag is null)
            {
                throw BerthException.InvalidArgument($"invalid tag \"{tag}\": a build names its image with a tag, not a digest");
            }
        }
        await using var buildLock = await EnterAsync(request.RuntimePath ?? _runtime ?? FindRuntime(), cancellationToken).ConfigureAwait(false);
        string? extracted = null;
        try
        {
            string context;
            if (request.ContextTar is { } tar)
            {
                extracted = Path.Combine(_state, "contexts", Guid.NewGuid().ToString("N"));
                Directory.CreateDirectory(extracted);
                // The caller owns the stream (a request body): the extractor must not close it.
                await LayerApplier.ApplyAsync(new LeaveOpenStream(tar), extracted, new LayerApplyOptions { IgnoreOwners = true }, cancellationToken).ConfigureAwait(false);
                context = extracted;
            }
            else
            {
                context = Path.GetFullPath(request.ContextDirectory!);
                if (!Directory.Exists(context))
                {
                    throw BerthException.NotFound($"build context {context} is not a directory");
                }
            }
            // A tar context comes from an API client: its Dockerfile path always resolves inside the context, so a
            // request cannot make the daemon read a host file. A local directory build may name any file (-f).
            var dockerfile = request.Dockerfile is { } d && Path.IsPathRooted(d) && request.ContextTar is null
                ? d
                : PathRules.SecureJoin(context, (request.Dockerfile ?? "Dockerfile").TrimStart('/'));

            using var backend = new ImageStoreBackend(_images, _state, request.RuntimePath ?? _runtime ?? FindRuntime());
            var builder = new Builder(backend, _cache, new HostFileOwnership(), _time);
            var result = await builder.BuildFileAsync(new BuildRequest
            {
                ContextDirectory = context,
                BuildArgs = request.BuildArgs,
                Target = request.Target,
                NoCache = request.NoCache,
                Labels = request.Labels,
                Platform = request.Platform,
            }, progress, cancellationToken, dockerfile).ConfigureAwait(false);

            var stack = backend.Stack(result.Layer);
            var config = ToImageConfig(result.Config, stack);
            // An OCI manifest: base layers that came from a Docker archive keep their blobs under the OCI media type.
            var layers = stack.Select(l => l.Blob with
            {
                MediaType = MediaTypes.LayerCompressionOf(l.Blob.MediaType) is { } c ? MediaTypes.OciLayerFor(c) : l.Blob.MediaType,
                Platform = null,
                Annotations = null,
            }).ToList();
            var manifest = await ImageWriter.WriteImageAsync(_images.Content, config, layers, cancellationToken: cancellationToken).ConfigureAwait(false);
            var tags = new List<string>();
            foreach (var tag in request.Tags)
            {
                var record = await _images.TagAsync(tag, manifest, cancellationToken).ConfigureAwait(false);
                tags.Add(record.Name);
            }
            if (tags.Count == 0)
            {
                // docker build without -t: the image has no name but is found by its ID and kept from GC.
                await _images.KeepUntaggedAsync(manifest, cancellationToken).ConfigureAwait(false);
            }
            var manifestDocument = await Images.Content.ContentStoreExtensions.ReadJsonAsync(_images.Content, manifest.Digest, ImageJsonContext.Default.ImageManifest, cancellationToken).ConfigureAwait(false);
            return new ImageBuildResult(manifestDocument.Config.Digest, manifest, tags, result);
        }
        finally
        {
            if (extracted is not null && Directory.Exists(extracted))
            {
                Directory.Delete(extracted, recursive: true);
            }
        }
    }

    /// <summary>
    /// Every build holds a shared lock on <c>stateDirectory/.lock</c> (flock, through FileShare) while it runs. Before
    /// taking it, a build that can get the lock exclusively — no other build, in this process or another, is running —
    /// first removes what killed builds left behind (<see cref="ImageStoreBackend.RecoverAsync"/>).
    /// </summary>
    private async Task<FileStream> EnterAsync(string runtimePath, CancellationToken cancellationToken)
    {
        var path = Path.Combine(_state, ".lock");
        FileStream? exclusive = null;
        try
        {
            exclusive = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            // Another build holds the lock: what is there is in use, not stale.
        }
        if (exclusive is not null)
        {
            await using (exclusive.ConfigureAwait(false))
            {
                await ImageStoreBackend.RecoverAsync(_images, _state, runtimePath, cancellationToken).ConfigureAwait(false);
            }
        }
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite);
            }
            catch (IOException)
            {
                // Another build is recovering right now; it takes moments.
                await Task.Delay(TimeSpan.FromMilliseconds(50), _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The builder's config draft (the same JSON names) plus rootfs.diff_ids from the layer stack.</summary>
    internal static ImageConfig ToImageConfig(ImageConfigDraft draft, IReadOnlyList<LayerRecord> stack)
    {
        var node = JsonNode.Parse(draft.ToJson())!.AsObject();
        var diffIds = new JsonArray();
        foreach (var layer in stack)
        {
            diffIds.Add((JsonNode)layer.DiffId);
        }
        node["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = diffIds };
        return JsonSerializer.Deserialize(node.ToJsonString(), ImageJsonContext.Default.ImageConfig)
            ?? throw new JsonException("image config is null");
    }
}

/// <summary><see cref="IFileOwnership"/> on the host: lstat and lchown (through the image library's syscalls).</summary>
public sealed class HostFileOwnership : IFileOwnership
{
    public (int Uid, int Gid) GetOwner(string path) => FileOwner.Get(path);

    public void SetOwner(string path, int uid, int gid) => FileOwner.Set(path, uid, gid);
}

/// <summary>A read-only view of a stream that leaves it open when disposed.</summary>
internal sealed class LeaveOpenStream(Stream inner) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override int Read(Span<byte> buffer) => inner.Read(buffer);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
