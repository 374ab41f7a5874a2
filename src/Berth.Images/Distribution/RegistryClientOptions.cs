using Berth.Core;
using Berth.Oci.Image;

namespace Berth.Images.Distribution;

/// <summary>Settings of a <see cref="RegistryClient"/>; all have defaults.</summary>
public sealed class RegistryClientOptions
{
    /// <summary>
    /// Registries (host or host:port) that may be reached over plain HTTP or HTTPS without certificate checks,
    /// like docker's insecure-registries. Loopback registries (localhost, 127.0.0.0/8, ::1) are always allowed.
    /// </summary>
    public IReadOnlyCollection<string> InsecureRegistries { get; init; } = [];

    /// <summary>Where credentials come from and where login saves them; null means anonymous unless a call passes credentials.</summary>
    public CredentialStore? Credentials { get; init; }

    /// <summary>Blobs downloaded at once per pull (6, as skopeo/containers-image; docker uses 3).</summary>
    public int MaxConcurrentDownloads { get; init; } = 6;

    /// <summary>Blobs uploaded at once per push (6, as skopeo/containers-image; docker uses 5).</summary>
    public int MaxConcurrentUploads { get; init; } = 6;

    /// <summary>Tries per request or blob before a transient failure (connection reset, 5xx, 429) is reported.</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>First retry delay; doubled each attempt, at most 10 s.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>A download that receives nothing for this long is dropped and resumed (counts as a failed attempt).</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Null uploads each blob in one PUT (monolithic); a size uploads it in PATCH chunks of that many bytes.</summary>
    public long? UploadChunkSize { get; init; }

    /// <summary>Manifests and indexes larger than this are refused (the registry spec's usual 4 MiB).</summary>
    public long MaxManifestBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>The platform picked from an index when a call names none.</summary>
    public Platform DefaultPlatform { get; init; } = Platform.LinuxAmd64;

    public string UserAgent { get; init; } = "berth/0.1";

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>Per-call settings of a pull.</summary>
public sealed class PullOptions
{
    /// <summary>The platform to pick from an index; null means <see cref="RegistryClientOptions.DefaultPlatform"/>.</summary>
    public Platform? Platform { get; init; }

    /// <summary>Credentials for this call (e.g. the Docker API's X-Registry-Auth); null means the credential store.</summary>
    public RegistryCredentials? Credentials { get; init; }

    /// <summary>Whether to name the image in the image store (true) or only fetch its content (false).</summary>
    public bool Record { get; init; } = true;
}

/// <summary>Per-call settings of a push.</summary>
public sealed class PushOptions
{
    /// <summary>Push only this platform's manifest of a local index (null pushes the whole index).</summary>
    public Platform? Platform { get; init; }

    public RegistryCredentials? Credentials { get; init; }
}

/// <summary>
/// What a pull stored. <see cref="Target"/> is what the reference names (an index or a manifest), <see cref="Manifest"/>
/// the platform manifest picked from it, <see cref="ImageId"/> the config digest (docker's image ID).
/// <see cref="Downloaded"/> is false when every blob was already present ("Image is up to date").
/// </summary>
public sealed record PullResult(ImageReference Reference, Descriptor Target, Descriptor Manifest, Digest ImageId, bool Downloaded);

/// <summary>What a push sent: the descriptor the remote reference now names, and the bytes uploaded (mounts and existing blobs excluded).</summary>
public sealed record PushResult(ImageReference Reference, Descriptor Target, long BytesUploaded);
