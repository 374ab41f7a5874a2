using System.Text.Json.Serialization;

namespace Berth.Runtime;

/// <summary>What the runtime keeps about a container in its state dir (state.json), written atomically.</summary>
public sealed class ContainerRecord
{
    public string Id { get; set; } = "";

    public int Pid { get; set; }

    /// <summary>Start time of the init process in clock ticks (/proc/PID/stat field 22), to detect PID reuse.</summary>
    public ulong PidStartTime { get; set; }

    public string Bundle { get; set; } = "";

    public string Rootfs { get; set; } = "";

    public DateTimeOffset Created { get; set; }

    public string Owner { get; set; } = "";

    /// <summary>What Berth.Cgroups needs to find the container's cgroup again (ICgroupManager.SavedPath).</summary>
    public string CgroupPath { get; set; } = "";

    public Dictionary<string, string>? Annotations { get; set; }

    /// <summary>The OCI types of the namespaces the container has (new or joined); exec joins the same ones.</summary>
    public List<string> Namespaces { get; set; } = [];

    /// <summary>Set once `start` has run the poststart hooks; `delete` runs poststop for started containers.</summary>
    public bool Started { get; set; }

    /// <summary>The spec's poststart and poststop hooks as they were at create, so start and delete need not re-read config.json.</summary>
    public List<Oci.Runtime.Hook>? Poststart { get; set; }

    public List<Oci.Runtime.Hook>? Poststop { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ContainerRecord))]
internal sealed partial class RuntimeJsonContext : JsonSerializerContext;
