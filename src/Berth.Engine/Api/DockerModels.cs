using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Berth.Engine.Api;

// Docker Engine API shapes (PascalCase on the wire, as Docker's Go structs). Only the fields Berth reads or
// reports are declared; unknown request fields are ignored, as dockerd does.

public sealed class ContainerCreateRequest
{
    public string? Hostname { get; set; }
    public string? Domainname { get; set; }

    /// <summary>Deprecated since API 1.44 (now per endpoint, EndpointSettings.MacAddress); older clients still send it here.</summary>
    public string? MacAddress { get; set; }
    public string? User { get; set; }
    public bool AttachStdin { get; set; }
    public bool AttachStdout { get; set; }
    public bool AttachStderr { get; set; }
    public bool Tty { get; set; }
    public bool OpenStdin { get; set; }
    public bool StdinOnce { get; set; }
    public List<string>? Env { get; set; }
    public List<string>? Cmd { get; set; }
    public HealthcheckConfig? Healthcheck { get; set; }
    public string? Image { get; set; }
    public string? WorkingDir { get; set; }
    public List<string>? Entrypoint { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    public string? StopSignal { get; set; }
    public int? StopTimeout { get; set; }
    public Dictionary<string, JsonObject>? ExposedPorts { get; set; }
    public Dictionary<string, JsonObject>? Volumes { get; set; }
    public HostConfig? HostConfig { get; set; }
    public Networks.NetworkingConfig? NetworkingConfig { get; set; }
}

public sealed class HealthcheckConfig
{
    public List<string>? Test { get; set; }
    public long Interval { get; set; }
    public long Timeout { get; set; }
    public long StartPeriod { get; set; }
    public long StartInterval { get; set; }
    public int Retries { get; set; }
}

public sealed class HostConfig
{
    public List<string>? Binds { get; set; }
    public LogConfig? LogConfig { get; set; }
    public string? NetworkMode { get; set; }
    public JsonObject? PortBindings { get; set; }
    public bool PublishAllPorts { get; set; }
    public RestartPolicy? RestartPolicy { get; set; }
    public bool AutoRemove { get; set; }
    public List<string>? CapAdd { get; set; }
    public List<string>? CapDrop { get; set; }
    public List<string>? Dns { get; set; }
    public List<string>? DnsOptions { get; set; }
    public List<string>? DnsSearch { get; set; }
    public List<string>? ExtraHosts { get; set; }
    public bool? Init { get; set; }
    public bool Privileged { get; set; }
    public bool ReadonlyRootfs { get; set; }
    public Dictionary<string, string>? Tmpfs { get; set; }
    public long Memory { get; set; }
    public long MemorySwap { get; set; }
    public long NanoCpus { get; set; }
    public long CpuShares { get; set; }
    public long CpuQuota { get; set; }
    public long CpuPeriod { get; set; }
    public string? CpusetCpus { get; set; }
    public long? PidsLimit { get; set; }
    public long ShmSize { get; set; }
    public List<MountSpec>? Mounts { get; set; }
    public Dictionary<string, string>? Sysctls { get; set; }
    public List<string>? SecurityOpt { get; set; }
    public string? PidMode { get; set; }
    public string? IpcMode { get; set; }
    public string? UTSMode { get; set; }
    public string? UsernsMode { get; set; }
    public List<string>? VolumesFrom { get; set; }
    public List<int>? ConsoleSize { get; set; }
}

public sealed class LogConfig
{
    public string? Type { get; set; }
    public Dictionary<string, string>? Config { get; set; }
}

public sealed class RestartPolicy
{
    public string? Name { get; set; }
    public int MaximumRetryCount { get; set; }
}

public sealed class MountSpec
{
    public string? Type { get; set; }
    public string? Source { get; set; }
    public string? Target { get; set; }
    public bool ReadOnly { get; set; }
    public TmpfsOptions? TmpfsOptions { get; set; }
    public BindOptions? BindOptions { get; set; }
    public VolumeOptions? VolumeOptions { get; set; }
}

public sealed class TmpfsOptions
{
    public long SizeBytes { get; set; }
    public int Mode { get; set; }
}

public sealed class BindOptions
{
    public string? Propagation { get; set; }
}

public sealed class ContainerCreateResponse
{
    public string Id { get; set; } = "";
    public List<string> Warnings { get; set; } = [];
}

public sealed class ErrorResponse
{
    [JsonPropertyName("message")]
    public string Message { get; set; } = "";
}

public sealed class WaitResponse
{
    public int StatusCode { get; set; }
    public WaitError? Error { get; set; }
}

public sealed class WaitError
{
    public string Message { get; set; } = "";
}

public sealed class ExecCreateRequest
{
    public bool AttachStdin { get; set; }
    public bool AttachStdout { get; set; }
    public bool AttachStderr { get; set; }
    public bool Tty { get; set; }
    public List<string>? Env { get; set; }
    public List<string>? Cmd { get; set; }
    public string? User { get; set; }
    public string? WorkingDir { get; set; }
    public bool Privileged { get; set; }
    public List<int>? ConsoleSize { get; set; }
    public string? DetachKeys { get; set; }
}

public sealed class ExecStartRequest
{
    public bool Detach { get; set; }
    public bool Tty { get; set; }
    public List<int>? ConsoleSize { get; set; }
}

public sealed class IdResponse
{
    public string Id { get; set; } = "";
}

public sealed class RenameRequest;

public sealed class UpdateRequest
{
    public long Memory { get; set; }
    public long MemorySwap { get; set; }
    public long NanoCpus { get; set; }
    public long CpuShares { get; set; }
    public long CpuQuota { get; set; }
    public long CpuPeriod { get; set; }
    public long? PidsLimit { get; set; }
    public RestartPolicy? RestartPolicy { get; set; }
}

[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true, NumberHandling = JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(ContainerCreateRequest))]
[JsonSerializable(typeof(ContainerCreateResponse))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(WaitResponse))]
[JsonSerializable(typeof(ExecCreateRequest))]
[JsonSerializable(typeof(ExecStartRequest))]
[JsonSerializable(typeof(IdResponse))]
[JsonSerializable(typeof(UpdateRequest))]
[JsonSerializable(typeof(VolumeCreateRequest))]
[JsonSerializable(typeof(NetworkCreateRequest))]
[JsonSerializable(typeof(NetworkConnectRequest))]
[JsonSerializable(typeof(JsonNode))]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(JsonArray))]
internal sealed partial class DockerJsonContext : JsonSerializerContext;
