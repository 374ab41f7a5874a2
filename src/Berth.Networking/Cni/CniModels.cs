using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Berth.Networking.Cni;

/// <summary>A CNI result (spec 1.0 "Success"): interfaces, IPs, routes and DNS.</summary>
public sealed class CniResult
{
    [JsonPropertyName("cniVersion")]
    public string CniVersion { get; set; } = CniVersions.Current;

    [JsonPropertyName("interfaces")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<CniInterface>? Interfaces { get; set; }

    [JsonPropertyName("ips")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<CniIpConfig>? Ips { get; set; }

    [JsonPropertyName("routes")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<CniRoute>? Routes { get; set; }

    [JsonPropertyName("dns")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public CniDns? Dns { get; set; }

    public static CniResult Parse(JsonNode node) =>
        node.Deserialize(CniJsonContext.Default.CniResult) ?? throw new CniException(CniErrorCode.DecodingFailure, "result is null");

    /// <summary>The JSON for <paramref name="version"/>: results before 1.0.0 carry "version" on each IP.</summary>
    public JsonObject ToJson(string version)
    {
        var node = JsonSerializer.SerializeToNode(this, CniJsonContext.Default.CniResult)!.AsObject();
        node["cniVersion"] = version;
        if (version.StartsWith("0.", StringComparison.Ordinal) && node["ips"] is JsonArray ips)
        {
            foreach (var ip in ips.OfType<JsonObject>())
            {
                ip["version"] = (ip["address"]?.GetValue<string>() ?? "").Contains(':', StringComparison.Ordinal) ? "6" : "4";
            }
        }
        return node;
    }
}

public sealed class CniInterface
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("mac")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Mac { get; set; }

    [JsonPropertyName("sandbox")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Sandbox { get; set; }
}

public sealed class CniIpConfig
{
    /// <summary>CIDR notation: "10.88.0.2/16".</summary>
    [JsonPropertyName("address")]
    public string Address { get; set; } = "";

    [JsonPropertyName("gateway")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Gateway { get; set; }

    [JsonPropertyName("interface")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Interface { get; set; }
}

public sealed class CniRoute
{
    [JsonPropertyName("dst")]
    public string Dst { get; set; } = "";

    [JsonPropertyName("gw")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Gw { get; set; }
}

public sealed class CniDns
{
    [JsonPropertyName("nameservers")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Nameservers { get; set; }

    [JsonPropertyName("domain")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Domain { get; set; }

    [JsonPropertyName("search")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Search { get; set; }

    [JsonPropertyName("options")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Options { get; set; }
}

/// <summary>The spec's error object, written to stdout with a non-zero exit.</summary>
public sealed class CniError
{
    [JsonPropertyName("cniVersion")]
    public string CniVersion { get; set; } = CniVersions.Current;

    [JsonPropertyName("code")]
    public int Code { get; set; }

    [JsonPropertyName("msg")]
    public string Msg { get; set; } = "";

    [JsonPropertyName("details")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Details { get; set; }
}

/// <summary>The VERSION answer.</summary>
public sealed class CniVersionInfo
{
    [JsonPropertyName("cniVersion")]
    public string CniVersion { get; set; } = CniVersions.Current;

    [JsonPropertyName("supportedVersions")]
    public List<string> SupportedVersions { get; set; } = [];
}

/// <summary>One entry of the portMappings capability (runtimeConfig.portMappings).</summary>
public sealed class PortMapping
{
    [JsonPropertyName("hostPort")]
    public int HostPort { get; set; }

    [JsonPropertyName("containerPort")]
    public int ContainerPort { get; set; }

    [JsonPropertyName("protocol")]
    public string Protocol { get; set; } = "tcp";

    [JsonPropertyName("hostIP")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? HostIP { get; set; }
}

/// <summary>The cache file libcni writes per attachment, so DEL gets the ADD's result and arguments back.</summary>
public sealed class CniCacheEntry
{
    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "cniCacheV1";

    [JsonPropertyName("containerId")]
    public string ContainerId { get; set; } = "";

    [JsonPropertyName("config")]
    public byte[] Config { get; set; } = [];

    [JsonPropertyName("ifName")]
    public string IfName { get; set; } = "";

    [JsonPropertyName("networkName")]
    public string NetworkName { get; set; } = "";

    [JsonPropertyName("netns")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? NetNs { get; set; }

    [JsonPropertyName("cniArgs")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<List<string>>? CniArgs { get; set; }

    [JsonPropertyName("capabilityArgs")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonObject? CapabilityArgs { get; set; }

    [JsonPropertyName("result")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonObject? Result { get; set; }
}

public static class CniVersions
{
    public const string Current = "1.0.0";

    public static readonly IReadOnlyList<string> Supported = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"];
}

[JsonSourceGenerationOptions(WriteIndented = false, PropertyNameCaseInsensitive = false, ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(CniResult))]
[JsonSerializable(typeof(CniError))]
[JsonSerializable(typeof(CniVersionInfo))]
[JsonSerializable(typeof(CniCacheEntry))]
[JsonSerializable(typeof(List<PortMapping>))]
[JsonSerializable(typeof(Plugins.BridgeConfig))]
[JsonSerializable(typeof(Plugins.IpamConfig))]
[JsonSerializable(typeof(Nft.NftEntry))]
public sealed partial class CniJsonContext : JsonSerializerContext;
