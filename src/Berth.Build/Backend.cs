namespace Berth.Build;

/// <summary>
/// What the builder needs from the outside world. The host wires it to the image library (images, layers,
/// overlay snapshots) and to berth-runtime (RUN). Layers are opaque ids the backend chooses (a chainID is the
/// natural choice): the id of the top layer names the whole stack below it; null is the empty filesystem.
/// </summary>
public interface IBuildBackend
{
    /// <summary>Finds (pulling or loading if needed) an image by reference for a platform such as "linux/amd64".
    /// Throws BerthException NotFound with the reference when there is no such image.</summary>
    Task<BaseImage> ResolveImageAsync(string reference, string platform, CancellationToken cancellationToken);

    /// <summary>
    /// A filesystem holding <paramref name="layer"/>'s stack with a writable layer on top (an overlay mount, or
    /// a copy). Disposing it without <see cref="CommitAsync"/> throws the changes away. <paramref name="readOnly"/>
    /// is a hint: the builder only reads (COPY --from) and never commits such a mount.
    /// </summary>
    Task<IBuildMount> MountAsync(string? layer, bool readOnly, CancellationToken cancellationToken);

    /// <summary>
    /// Runs a RUN step's process in a container whose rootfs is <paramref name="mount"/>: the given argv, env,
    /// working directory (created if missing), user (a name or uid[:gid] resolved in the rootfs) and network.
    /// Output (stdout and stderr interleaved) goes to <paramref name="output"/> line by line. Returns the exit code.
    /// </summary>
    Task<int> RunAsync(IBuildMount mount, RunSpec spec, Action<string> output, CancellationToken cancellationToken);

    /// <summary>Records the mount's changes as a new layer on top of its base and returns the new layer's id.</summary>
    Task<string> CommitAsync(IBuildMount mount, CancellationToken cancellationToken);

    /// <summary>True when a layer id remembered by the cache still exists (a collected layer is a cache miss).</summary>
    Task<bool> LayerExistsAsync(string layer, CancellationToken cancellationToken);
}

/// <summary>A base image: <see cref="Id"/> identifies its content (the config digest), <see cref="Layer"/> its top layer.</summary>
public sealed record BaseImage(string Id, ImageConfigDraft Config, string? Layer);

/// <summary>A working filesystem of a build step.</summary>
public interface IBuildMount : IAsyncDisposable
{
    /// <summary>Where the filesystem is visible on the host; the builder writes COPY/ADD results here.</summary>
    string RootPath { get; }

    /// <summary>The layer the mount was made from.</summary>
    string? BaseLayer { get; }
}

/// <summary>One RUN process.</summary>
public sealed record RunSpec(
    IReadOnlyList<string> Args,
    IReadOnlyList<string> Env,
    string WorkingDir,
    string? User,
    RunNetwork Network);

/// <summary>
/// Ownership of files on the host, without following symlinks (lchown/lstat). Separate from the backend because
/// .NET has no portable API for it: the host wires it to Berth.Linux's syscalls.
/// </summary>
public interface IFileOwnership
{
    (int Uid, int Gid) GetOwner(string path);

    void SetOwner(string path, int uid, int gid);
}

/// <summary>Results of earlier steps, by cache key.</summary>
public interface ICacheStore
{
    Task<CacheEntry?> GetAsync(string key, CancellationToken cancellationToken);

    Task PutAsync(string key, CacheEntry entry, CancellationToken cancellationToken);
}

/// <summary>What a step produced: the layer after it (null = empty filesystem) and the image config after it.</summary>
public sealed record CacheEntry(string? Layer, string ConfigJson);
