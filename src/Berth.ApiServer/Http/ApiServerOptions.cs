namespace Berth.ApiServer.Http;

/// <summary>Settings of <c>berth server</c>.</summary>
public sealed class ApiServerOptions
{
    /// <summary>Where certificates, tokens and (for SQLite) the database live.</summary>
    public required string DataDir { get; init; }

    public string BindAddress { get; init; } = "127.0.0.1";

    /// <summary>0 picks a free port (tests).</summary>
    public int Port { get; init; } = 6443;

    /// <summary>Where to write the admin kubeconfig; null to skip.</summary>
    public string? KubeconfigPath { get; init; }

    /// <summary>A Kubernetes static token file (token,user,uid,"groups"); an admin token is generated when null.</summary>
    public string? TokenFile { get; init; }

    /// <summary>ClusterIPs are allocated from here; the first address is the kubernetes service's.</summary>
    public string ServiceCidr { get; init; } = "10.43.0.0/16";

    /// <summary>How often the store's history is compacted (0 = never), keeping <see cref="CompactionKeepRevisions"/>.</summary>
    public TimeSpan CompactionInterval { get; init; } = TimeSpan.FromMinutes(5);

    public long CompactionKeepRevisions { get; init; } = 10_000;
}
