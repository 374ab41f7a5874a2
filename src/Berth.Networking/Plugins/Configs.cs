using System.Text.Json.Serialization;
using Berth.Networking.Cni;

namespace Berth.Networking.Plugins;

/// <summary>The "ipam" object of a network configuration, as the reference host-local plugin reads it.</summary>
public sealed class IpamConfig
{
    [JsonPropertyName("type")]
    public string Type { get; set; } = "";

    [JsonPropertyName("ranges")]
    public List<List<RangeConfig>>? Ranges { get; set; }

    // The older single-range form.
    [JsonPropertyName("subnet")]
    public string? Subnet { get; set; }

    [JsonPropertyName("rangeStart")]
    public string? RangeStart { get; set; }

    [JsonPropertyName("rangeEnd")]
    public string? RangeEnd { get; set; }

    [JsonPropertyName("gateway")]
    public string? Gateway { get; set; }

    [JsonPropertyName("routes")]
    public List<CniRoute>? Routes { get; set; }

    [JsonPropertyName("dataDir")]
    public string? DataDir { get; set; }

    [JsonPropertyName("resolvConf")]
    public string? ResolvConf { get; set; }
}

public sealed class RangeConfig
{
    [JsonPropertyName("subnet")]
    public string? Subnet { get; set; }

    [JsonPropertyName("rangeStart")]
    public string? RangeStart { get; set; }

    [JsonPropertyName("rangeEnd")]
    public string? RangeEnd { get; set; }

    [JsonPropertyName("gateway")]
    public string? Gateway { get; set; }
}

/// <summary>The bridge plugin's configuration (field names and defaults of the reference bridge plugin).</summary>
public sealed class BridgeConfig
{
    [JsonPropertyName("bridge")]
    public string Bridge { get; set; } = "cni0";

    [JsonPropertyName("isGateway")]
    public bool IsGateway { get; set; }

    [JsonPropertyName("isDefaultGateway")]
    public bool IsDefaultGateway { get; set; }

    [JsonPropertyName("ipMasq")]
    public bool IpMasq { get; set; }

    [JsonPropertyName("mtu")]
    public int Mtu { get; set; }

    [JsonPropertyName("hairpinMode")]
    public bool HairpinMode { get; set; }

    [JsonPropertyName("ipam")]
    public IpamConfig? Ipam { get; set; }

    /// <summary>Berth's nftables table and its state directory (see <see cref="Nft.NftState"/>).</summary>
    [JsonPropertyName("nftTable")]
    public string? NftTable { get; set; }

    [JsonPropertyName("stateDir")]
    public string? StateDir { get; set; }

    /// <summary>Capability arguments from the runtime: "mac" (declared as a capability in the conflist).</summary>
    [JsonPropertyName("runtimeConfig")]
    public BridgeRuntimeConfig? RuntimeConfig { get; set; }
}

public sealed class BridgeRuntimeConfig
{
    /// <summary>The container interface's hardware address, "aa:bb:cc:dd:ee:ff".</summary>
    [JsonPropertyName("mac")]
    public string? Mac { get; set; }
}
