using System.Globalization;
using System.Text.Json.Nodes;
using Berth.Engine.Containers;

namespace Berth.Engine.Networks;

public sealed partial class NetworkManager
{
    /// <summary>GET /networks/{id} (and each entry of GET /networks), as dockerd shapes it.</summary>
    internal JsonObject Inspect(NetworkRecord n, bool withContainers = true)
    {
        var config = new JsonArray();
        if (n.Subnet is not null)
        {
            var c = new JsonObject { ["Subnet"] = n.Subnet };
            if (n.IpRange is not null)
            {
                c["IPRange"] = n.IpRange;
            }
            c["Gateway"] = n.Gateway;
            if (n.AuxAddresses is { Count: > 0 } aux)
            {
                var a = new JsonObject();
                foreach (var (name, ip) in aux)
                {
                    a[name] = ip;
                }
                c["AuxiliaryAddresses"] = a;
            }
            config.Add((JsonNode)c);
        }
        var containers = new JsonObject();
        if (withContainers)
        {
            foreach (var (c, ep) in Endpoints(n))
            {
                containers[c.Id] = new JsonObject
                {
                    ["Name"] = c.Record.Name.TrimStart('/'),
                    ["EndpointID"] = ep.EndpointId ?? "",
                    ["MacAddress"] = ep.MacAddress ?? "",
                    ["IPv4Address"] = ep.IPAddress is null ? "" : ep.IPAddress + "/" + ep.IPPrefixLen.ToString(CultureInfo.InvariantCulture),
                    ["IPv6Address"] = "",
                };
            }
        }
        return new JsonObject
        {
            ["Name"] = n.Name,
            ["Id"] = n.Id,
            ["Created"] = EngineFormat.Time(n.Created),
            ["Scope"] = "local",
            ["Driver"] = n.Driver,
            ["EnableIPv4"] = true,
            ["EnableIPv6"] = false,
            ["IPAM"] = new JsonObject { ["Driver"] = "default", ["Options"] = null, ["Config"] = config },
            ["Internal"] = n.Internal,
            ["Attachable"] = n.Attachable,
            ["Ingress"] = false,
            ["ConfigFrom"] = new JsonObject { ["Network"] = "" },
            ["ConfigOnly"] = false,
            ["Containers"] = containers,
            ["Options"] = EngineFormat.StringMap(n.Options),
            ["Labels"] = EngineFormat.StringMap(n.Labels),
        };
    }

    /// <summary>NetworkSettings of GET /containers/{id}/json.</summary>
    internal JsonObject ContainerSettings(Container c)
    {
        var st = State(c);
        var networks = NetworksJson(c, st);
        // The top-level fields repeat the default bridge's endpoint, as dockerd's do.
        var bridgeEp = networks[DefaultBridgeNetwork] as JsonObject;
        var settings = new JsonObject
        {
            ["Bridge"] = "",
            ["SandboxID"] = st.SandboxKey is null ? "" : c.Id,
            ["SandboxKey"] = st.SandboxKey ?? "",
            ["HairpinMode"] = false,
            ["LinkLocalIPv6Address"] = "",
            ["LinkLocalIPv6PrefixLen"] = 0,
            ["Ports"] = PortsJson(c, st),
            ["SecondaryIPAddresses"] = null,
            ["SecondaryIPv6Addresses"] = null,
            ["EndpointID"] = bridgeEp?["EndpointID"]?.DeepClone() ?? "",
            ["Gateway"] = bridgeEp?["Gateway"]?.DeepClone() ?? "",
            ["GlobalIPv6Address"] = "",
            ["GlobalIPv6PrefixLen"] = 0,
            ["IPAddress"] = bridgeEp?["IPAddress"]?.DeepClone() ?? "",
            ["IPPrefixLen"] = bridgeEp?["IPPrefixLen"]?.DeepClone() ?? 0,
            ["IPv6Gateway"] = "",
            ["MacAddress"] = bridgeEp?["MacAddress"]?.DeepClone() ?? "",
            ["Networks"] = networks,
        };
        return settings;
    }

    private static JsonObject Endpoint(EndpointState ep, Container c, bool running)
    {
        var live = running && ep.EndpointId is not null;
        var dnsNames = new JsonArray();
        if (ep.NetworkName != DefaultBridgeNetwork && ep.NetworkName is not ("host" or "none"))
        {
            dnsNames.Add((JsonNode)c.Record.Name.TrimStart('/'));
            dnsNames.Add((JsonNode)c.Id[..12]);
            foreach (var a in ep.Aliases)
            {
                dnsNames.Add((JsonNode)a);
            }
        }
        return new JsonObject
        {
            ["IPAMConfig"] = ep.RequestedIPv4 is null ? null : new JsonObject { ["IPv4Address"] = ep.RequestedIPv4 },
            ["Links"] = null,
            ["Aliases"] = ep.Aliases.Count == 0 ? null : new JsonArray([.. ep.Aliases.Select(a => (JsonNode?)a)]),
            ["MacAddress"] = (live ? ep.MacAddress : null) ?? ep.RequestedMac ?? "",
            ["DriverOpts"] = null,
            ["GwPriority"] = 0,
            ["NetworkID"] = ep.NetworkId,
            ["EndpointID"] = live ? ep.EndpointId : "",
            ["Gateway"] = live ? ep.Gateway ?? "" : "",
            ["IPAddress"] = live ? ep.IPAddress ?? "" : "",
            ["IPPrefixLen"] = live ? ep.IPPrefixLen : 0,
            ["IPv6Gateway"] = "",
            ["GlobalIPv6Address"] = "",
            ["GlobalIPv6PrefixLen"] = 0,
            ["DNSNames"] = dnsNames.Count == 0 ? null : dnsNames,
        };
    }

    /// <summary>{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": null} — bound ports while running, exposed ones as null.</summary>
    private static JsonObject PortsJson(Container c, ContainerNetworkState st)
    {
        var o = new JsonObject();
        foreach (var key in c.Record.Config.ExposedPorts?.Keys ?? Enumerable.Empty<string>())
        {
            o[Normalize(key)] = null;
        }
        if (c.IsRunning)
        {
            foreach (var (key, bindings) in st.Ports)
            {
                o[key] = new JsonArray([.. bindings.Select(b => (JsonNode?)new JsonObject { ["HostIp"] = b.HostIp, ["HostPort"] = b.HostPort })]);
            }
        }
        return o;
    }

    private static string Normalize(string key) => key.Contains('/', StringComparison.Ordinal) ? key : key + "/tcp";

    /// <summary>Ports of GET /containers/json: published ones with their host side, exposed ones without.</summary>
    internal JsonArray SummaryPorts(Container c)
    {
        var st = State(c);
        var a = new JsonArray();
        var published = new HashSet<string>(StringComparer.Ordinal);
        if (c.IsRunning)
        {
            foreach (var (key, bindings) in st.Ports.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                var (port, proto) = PublishedPorts.ParseKey(key);
                published.Add(key);
                foreach (var b in bindings)
                {
                    a.Add((JsonNode)new JsonObject { ["IP"] = b.HostIp, ["PrivatePort"] = port, ["PublicPort"] = int.Parse(b.HostPort, CultureInfo.InvariantCulture), ["Type"] = proto });
                }
            }
        }
        foreach (var key in c.Record.Config.ExposedPorts?.Keys ?? Enumerable.Empty<string>())
        {
            if (!published.Contains(Normalize(key)))
            {
                var (port, proto) = PublishedPorts.ParseKey(key);
                a.Add((JsonNode)new JsonObject { ["PrivatePort"] = port, ["Type"] = proto });
            }
        }
        return a;
    }

    /// <summary>NetworkSettings.Networks of GET /containers/json.</summary>
    internal JsonObject SummaryNetworks(Container c) => NetworksJson(c, State(c));

    /// <summary>One entry per network the container is on (or its network mode's, before any endpoint).</summary>
    private JsonObject NetworksJson(Container c, ContainerNetworkState st)
    {
        var networks = new JsonObject();
        var mode = c.Record.HostConfig.NetworkMode ?? "none";
        if (st.Endpoints.Count == 0 && !mode.StartsWith("container:", StringComparison.Ordinal))
        {
            var n = TryGet(mode);
            networks[mode] = Endpoint(new EndpointState { NetworkId = n?.Id ?? "", NetworkName = mode }, c, c.IsRunning);
        }
        foreach (var ep in st.Endpoints.Values.OrderBy(e => e.Order))
        {
            networks[ep.NetworkName] = Endpoint(ep, c, c.IsRunning);
        }
        return networks;
    }
}
