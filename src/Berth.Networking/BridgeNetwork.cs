using System.Text;
using System.Text.Json.Nodes;
using Berth.Networking.Cni;
using Berth.Networking.Plugins;

namespace Berth.Networking;

/// <summary>What a bridge network is made of: the names and addresses an engine network maps to.</summary>
public sealed record BridgeNetworkOptions
{
    public required string Name { get; init; }

    public required string Bridge { get; init; }

    public required string Subnet { get; init; }

    public string? Gateway { get; init; }

    public string? IpRange { get; init; }

    public bool IpMasq { get; init; } = true;

    /// <summary>False for an internal network: the bridge holds the gateway address but containers get no default route.</summary>
    public bool DefaultGateway { get; init; } = true;

    public int Mtu { get; init; }

    public bool PortMappings { get; init; } = true;

    public string? IpamDataDir { get; init; }

    public string? NftTable { get; init; }

    public string? StateDir { get; init; }
}

/// <summary>Builds the conflist for a bridge network (bridge + host-local [+ portmap]), valid for Berth's and the reference plugins.</summary>
public static class BridgeNetwork
{
    public static NetworkConfigList ConfList(BridgeNetworkOptions o)
    {
        // Validate here so a bad subnet is reported when the network is created, not at the first container.
        var subnet = IPPrefix.Parse(o.Subnet, "subnet");
        var range = new JsonObject { ["subnet"] = subnet.ToString() };
        if (o.Gateway is not null)
        {
            range["gateway"] = IPPrefix.ParseAddress(o.Gateway, "gateway").ToString();
        }
        if (o.IpRange is not null)
        {
            var r = IPPrefix.Parse(o.IpRange, "ip range");
            if (!subnet.Contains(r.Network) || r.Length < subnet.Length)
            {
                throw new CniException(CniErrorCode.InvalidNetworkConfig, $"ip range {r} is not inside subnet {subnet}");
            }
            range["rangeStart"] = IPPrefix.FromNumber(r.First == subnet.First ? r.First + 1 : r.First, r.Family).ToString();
            range["rangeEnd"] = IPPrefix.FromNumber(r.Last == subnet.Last ? r.Last - 1 : r.Last, r.Family).ToString();
        }
        _ = IpRange.From(new RangeConfig
        {
            Subnet = range["subnet"]!.GetValue<string>(),
            Gateway = range["gateway"]?.GetValue<string>(),
            RangeStart = range["rangeStart"]?.GetValue<string>(),
            RangeEnd = range["rangeEnd"]?.GetValue<string>(),
        });
        var ipam = new JsonObject { ["type"] = "host-local", ["ranges"] = new JsonArray(new JsonArray(range)) };
        if (o.IpamDataDir is not null)
        {
            ipam["dataDir"] = o.IpamDataDir;
        }
        var bridge = new JsonObject
        {
            ["type"] = "bridge",
            ["bridge"] = o.Bridge,
            ["isGateway"] = true,
            ["isDefaultGateway"] = o.DefaultGateway,
            ["ipMasq"] = o.IpMasq,
            ["hairpinMode"] = true,
            ["ipam"] = ipam,
            // runtimeConfig.mac: a container's --mac-address (Berth's and the reference bridge plugin read it).
            ["capabilities"] = new JsonObject { ["mac"] = true },
        };
        if (o.Mtu > 0)
        {
            bridge["mtu"] = o.Mtu;
        }
        var plugins = new JsonArray(bridge);
        if (o.PortMappings)
        {
            plugins.Add((JsonNode)new JsonObject { ["type"] = "portmap", ["capabilities"] = new JsonObject { ["portMappings"] = true }, ["snat"] = true });
        }
        foreach (var p in plugins.OfType<JsonObject>())
        {
            if (o.NftTable is not null)
            {
                p["nftTable"] = o.NftTable;
            }
            if (o.StateDir is not null)
            {
                p["stateDir"] = o.StateDir;
            }
        }
        var list = new JsonObject { ["cniVersion"] = CniVersions.Current, ["name"] = o.Name, ["plugins"] = plugins };
        return NetworkConfigList.Parse(Encoding.UTF8.GetBytes(list.ToJsonString()), "network " + o.Name);
    }
}
