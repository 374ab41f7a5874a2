using System.Text.Json.Serialization;

namespace Berth.Engine.Networks;

/// <summary>One network as stored in <c>&lt;data-root&gt;/networks/&lt;id&gt;.json</c> (temp + rename).</summary>
public sealed class NetworkRecord
{
    public string Id { get; set; } = "";

    public string Name { get; set; } = "";

    /// <summary>bridge, host or null (Docker's names).</summary>
    public string Driver { get; set; } = "bridge";

    public DateTimeOffset Created { get; set; }

    public bool Internal { get; set; }

    public bool Attachable { get; set; }

    public Dictionary<string, string> Labels { get; set; } = [];

    public Dictionary<string, string> Options { get; set; } = [];

    /// <summary>IPv4 subnet (bridge driver only).</summary>
    public string? Subnet { get; set; }

    public string? Gateway { get; set; }

    public string? IpRange { get; set; }

    /// <summary>The Linux bridge device (berth0 for the default network, br-&lt;id12&gt; otherwise).</summary>
    public string? Bridge { get; set; }

    /// <summary>True for bridge, host and none: they exist from daemon start and cannot be removed.</summary>
    public bool Predefined { get; set; }

    /// <summary>The user asked for this subnet (IPAM.Config), rather than the daemon picking one from the pools.</summary>
    public bool SubnetGiven { get; set; }

    /// <summary>--aux-address name → address, reserved in the network's IPAM directory.</summary>
    public Dictionary<string, string>? AuxAddresses { get; set; }

    [JsonIgnore]
    public bool IsBridge => Driver == "bridge";
}

/// <summary>A container's networking as stored in <c>&lt;data-root&gt;/containers/&lt;id&gt;/network.json</c>.</summary>
public sealed class ContainerNetworkState
{
    /// <summary>Endpoints by network ID: the requested settings (kept) and, while attached, what CNI gave.</summary>
    public Dictionary<string, EndpointState> Endpoints { get; set; } = [];

    /// <summary>The pinned network namespace while the container runs.</summary>
    public string? SandboxKey { get; set; }

    /// <summary>Host ports actually bound while running (ephemeral ones chosen at start), "80/tcp" → bindings.</summary>
    public Dictionary<string, List<PortBinding>> Ports { get; set; } = [];
}

public sealed class EndpointState
{
    public string NetworkId { get; set; } = "";

    public string NetworkName { get; set; } = "";

    public List<string> Aliases { get; set; } = [];

    /// <summary>--ip / IPAMConfig.IPv4Address.</summary>
    public string? RequestedIPv4 { get; set; }

    /// <summary>--mac-address / EndpointSettings.MacAddress, normalized to lower-case "aa:bb:cc:dd:ee:ff".</summary>
    public string? RequestedMac { get; set; }

    /// <summary>Order of connection: eth0 is the first network, eth1 the next ...</summary>
    public int Order { get; set; }

    public string? EndpointId { get; set; }

    public string? IfName { get; set; }

    public string? IPAddress { get; set; }

    public int IPPrefixLen { get; set; }

    public string? Gateway { get; set; }

    public string? MacAddress { get; set; }
}

public sealed class PortBinding
{
    public string HostIp { get; set; } = "";

    public string HostPort { get; set; } = "";
}

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(NetworkRecord))]
[JsonSerializable(typeof(ContainerNetworkState))]
internal sealed partial class NetworkJsonContext : JsonSerializerContext;
