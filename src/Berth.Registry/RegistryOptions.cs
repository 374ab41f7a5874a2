namespace Berth.Registry;

/// <summary>Settings of one registry instance. Only <see cref="RootDirectory"/> is required.</summary>
public sealed class RegistryOptions
{
    /// <summary>Where blobs, repositories and upload sessions live (see docs/design/registry.md for the layout).</summary>
    public required string RootDirectory { get; init; }

    /// <summary>Address to listen on, "host:port"; port 0 picks a free one (see <see cref="RegistryServer.BaseAddress"/>).</summary>
    public string ListenAddress { get; init; } = "127.0.0.1:5000";

    /// <summary>An htpasswd file with bcrypt entries ("user:$2y$..."). Without it and without a token signer, nothing is authenticated.</summary>
    public string? HtpasswdFile { get; init; }

    /// <summary>
    /// Per-repository permissions: lines of "subject repository-pattern actions", e.g. "alice team/* pull,push".
    /// Without it, every authenticated user may do everything and anonymous users only what <see cref="AnonymousPull"/> allows.
    /// </summary>
    public string? AccessFile { get; init; }

    /// <summary>Lets clients without credentials pull every repository (the access file can grant finer anonymous rights).</summary>
    public bool AnonymousPull { get; init; }

    /// <summary>When set, clients authenticate with Bearer tokens from the token endpoint instead of Basic auth.</summary>
    public RegistryTokenOptions? Token { get; init; }

    /// <summary>PEM certificate and key for HTTPS; both or neither.</summary>
    public string? TlsCertificateFile { get; init; }

    public string? TlsKeyFile { get; init; }

    /// <summary>Manifests larger than this are refused (413 SIZE_INVALID).</summary>
    public long MaxManifestBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Garbage collection never deletes a blob written or referenced more recently than this.</summary>
    public TimeSpan GcGracePeriod { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Upload sessions untouched for longer than this are removed by garbage collection.</summary>
    public TimeSpan UploadExpiry { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Adds log providers to the host; null keeps the registry quiet.</summary>
    public Action<Microsoft.Extensions.Logging.ILoggingBuilder>? Logging { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>The Bearer token flow (the "Docker registry v2 token" scheme).</summary>
public sealed class RegistryTokenOptions
{
    /// <summary>The name clients pass as ?service= and that tokens carry as their audience.</summary>
    public string Service { get; init; } = "berth-registry";

    public string Issuer { get; init; } = "berth-registry-token-issuer";

    /// <summary>The URL clients fetch tokens from; null means this registry's own /token endpoint.</summary>
    public string? Realm { get; init; }

    /// <summary>A PEM file with the ECDSA P-256 key that signs tokens; created when missing. Null keeps a key in memory only.</summary>
    public string? SigningKeyFile { get; init; }

    public TimeSpan Lifetime { get; init; } = TimeSpan.FromMinutes(15);
}
