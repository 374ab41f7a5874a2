namespace Berth.Engine;

/// <summary>Where the engine keeps its state and which executables it runs.</summary>
public sealed class EngineOptions
{
    /// <summary>unix:///run/berth/berth.sock by default.</summary>
    public string SocketPath { get; init; } = "/run/berth/berth.sock";

    /// <summary>Persistent state: content, snapshots, images, containers (with their logs).</summary>
    public string DataRoot { get; init; } = "/var/lib/berth";

    /// <summary>Runtime state: shim state dirs, bundles, the runtime's --root.</summary>
    public string ExecRoot { get; init; } = "/run/berth";

    /// <summary>berth-runtime, runc or crun (the same CLI).</summary>
    public required string RuntimePath { get; init; }

    public required string ShimPath { get; init; }

    /// <summary>berth-init, bind-mounted at /sbin/docker-init for --init.</summary>
    public string? InitPath { get; init; }

    /// <summary>Log rotation when the request sets none: Docker's json-file keeps growing; Berth rotates by default.</summary>
    public long DefaultLogMaxSize { get; init; } = 10 * 1024 * 1024;

    public int DefaultLogMaxFiles { get; init; } = 3;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>CNI plugins (bridge, host-local, portmap): Berth's in cni/ next to the runtime by default, or e.g. /usr/lib/cni.</summary>
    public string? CniPluginDirectory { get; init; }

    /// <summary>The default bridge network's device (Docker's docker0); "none" means no default bridge network.</summary>
    public string DefaultBridge { get; init; } = "berth0";

    public string ContainersDirectory => Path.Combine(DataRoot, "containers");

    /// <summary>
    /// The shim's state dir, named by the first 32 hex digits of the ID (128 bits): its shim.sock must fit the
    /// 107-byte unix socket path limit even under a long --exec-root.
    /// </summary>
    public string ShimStateDirectory(string id) => Path.Combine(ExecRoot, "containers", id.Length > 32 ? id[..32] : id);

    public string BundleDirectory(string id) => Path.Combine(ExecRoot, "bundles", id.Length > 32 ? id[..32] : id);

    public string RuntimeRoot => Path.Combine(ExecRoot, "runtime");
}
