using System.Text.Json.Serialization;
using Berth.Engine.Api;

namespace Berth.Engine.Containers;

/// <summary>Lifecycle states as Docker reports them in State.Status.</summary>
public enum ContainerStatus
{
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

/// <summary>
/// One container as stored in <c>&lt;data-root&gt;/containers/&lt;id&gt;/config.v2.json</c> (temp + rename on every change).
/// <see cref="Config"/> is the merged configuration (request over image), <see cref="HostConfig"/> the request's.
/// </summary>
public sealed class ContainerRecord
{
    public string Id { get; set; } = "";

    public string Name { get; set; } = "";

    public DateTimeOffset Created { get; set; }

    /// <summary>The image ID (config digest).</summary>
    public string Image { get; set; } = "";

    /// <summary>The image as the user named it (Config.Image).</summary>
    public string ImageName { get; set; } = "";

    public string Path { get; set; } = "";

    public List<string> Args { get; set; } = [];

    public ContainerCreateRequest Config { get; set; } = new();

    public HostConfig HostConfig { get; set; } = new();

    /// <summary>The volumes mounted into the container, resolved at create (Docker's MountPoints of type volume).</summary>
    public List<Berth.Engine.Volumes.VolumeMountPoint>? Volumes { get; set; }

    public ContainerState State { get; set; } = new();

    public int RestartCount { get; set; }

    public string LogPath { get; set; } = "";

    /// <summary>True after an explicit stop: unless-stopped does not restart it when the daemon comes back.</summary>
    public bool StoppedByUser { get; set; }
}

public sealed class ContainerState
{
    [JsonConverter(typeof(JsonStringEnumConverter<ContainerStatus>))]
    public ContainerStatus Status { get; set; } = ContainerStatus.Created;

    public int Pid { get; set; }

    public int ExitCode { get; set; }

    public bool OomKilled { get; set; }

    public string Error { get; set; } = "";

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }

    public HealthState? Health { get; set; }
}

public sealed class HealthState
{
    public string Status { get; set; } = "starting";

    public int FailingStreak { get; set; }

    public List<HealthLogEntry> Log { get; set; } = [];
}

public sealed class HealthLogEntry
{
    public DateTimeOffset Start { get; set; }

    public DateTimeOffset End { get; set; }

    public int ExitCode { get; set; }

    public string Output { get; set; } = "";
}

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ContainerRecord))]
internal sealed partial class EngineJsonContext : JsonSerializerContext;
