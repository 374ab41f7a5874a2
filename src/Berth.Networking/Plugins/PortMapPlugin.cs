using System.Text.Json.Nodes;
using Berth.Networking.Cni;
using Berth.Networking.Nft;

namespace Berth.Networking.Plugins;

/// <summary>
/// The portmap plugin (chained after bridge): DNAT from host ports to the container address for the
/// portMappings capability, TCP and UDP, optionally bound to one host IP; reachable from other hosts
/// (prerouting), from the host itself including 127.0.0.1 (output chain, route_localnet on the bridge plus
/// masquerade) and from containers on the same bridge (hairpin masquerade).
/// </summary>
public sealed class PortMapPlugin : ICniPlugin
{
    public CniResult Add(CniInvocation invocation)
    {
        var prev = invocation.PrevResult ?? throw new CniException(CniErrorCode.InvalidNetworkConfig,
            "portmap must be chained after an interface plugin: the configuration has no prevResult");
        var mappings = Mappings(invocation);
        if (mappings.Count == 0)
        {
            return prev;
        }
        var (state, key) = State(invocation);
        var ip = (prev.Ips ?? []).Select(i => i.Address).FirstOrDefault(a => !a.Contains(':', StringComparison.Ordinal))
            ?? throw new CniException(CniErrorCode.InvalidNetworkConfig, "portmap: prevResult has no IPv4 address to forward to");
        var prefix = IPPrefix.Parse(ip, "prevResult address");
        var bridge = prev.Interfaces?.FirstOrDefault(i => i.Sandbox is null)?.Name;
        if (bridge is not null && Directory.Exists($"/proc/sys/net/ipv4/conf/{bridge}"))
        {
            // Lets connections to 127.0.0.1 be DNATed out of the host through this bridge (then masqueraded).
            File.WriteAllText($"/proc/sys/net/ipv4/conf/{bridge}/route_localnet", "1");
        }
        state.Put(new NftEntry
        {
            Kind = "ports",
            Key = key,
            ContainerIp = ip[..ip.IndexOf('/', StringComparison.Ordinal)],
            Subnet = prefix.ToString(),
            PortMappings = mappings,
        }, others =>
        {
            foreach (var m in mappings)
            {
                foreach (var o in others.Where(o => o.Kind == "ports"))
                {
                    if (o.PortMappings?.FirstOrDefault(x => x.Protocol == m.Protocol && x.HostPort == m.HostPort && HostIpsClash(x.HostIP, m.HostIP)) is { } clash)
                    {
                        throw new CniException(CniErrorCode.Generic,
                            $"portmap: host port {m.Protocol}/{m.HostPort} is already published by {o.Key} (to {o.ContainerIp}:{clash.ContainerPort}): choose another host port");
                    }
                }
            }
        });
        return prev;
    }

    public void Delete(CniInvocation invocation)
    {
        var (state, key) = State(invocation);
        state.Remove("ports", key);
    }

    public void Check(CniInvocation invocation)
    {
        if (Mappings(invocation).Count == 0)
        {
            return;
        }
        var (state, key) = State(invocation);
        if (!state.Has("ports", key) || !state.ListTable().Contains("\"" + key + "\"", StringComparison.Ordinal))
        {
            throw new CniException(CniErrorCode.Generic, $"portmap CHECK: the port mappings of {key} are missing from table ip {state.Table}");
        }
    }

    private static (NftState State, string Key) State(CniInvocation invocation) =>
        (new NftState(invocation.Config["nftTable"]?.GetValue<string>(), invocation.Config["stateDir"]?.GetValue<string>()),
         NftState.Key(invocation.NetworkName, invocation.ContainerId, invocation.IfName));

    private static bool HostIpsClash(string? a, string? b) =>
        string.IsNullOrEmpty(a) || a == "0.0.0.0" || string.IsNullOrEmpty(b) || b == "0.0.0.0" || a == b;

    private static List<PortMapping> Mappings(CniInvocation invocation)
    {
        if (invocation.Config["runtimeConfig"] is not JsonObject rc || rc["portMappings"] is not JsonArray array)
        {
            return [];
        }
        var list = PluginHost.Decode(array, CniJsonContext.Default.ListPortMapping, "runtimeConfig.portMappings");
        foreach (var m in list)
        {
            m.Protocol = m.Protocol.ToLowerInvariant();
            if (m.Protocol is not ("tcp" or "udp"))
            {
                throw new CniException(CniErrorCode.InvalidNetworkConfig, $"portmap: protocol '{m.Protocol}' is not supported: use tcp or udp");
            }
            if (m.HostPort is < 1 or > 65535 || m.ContainerPort is < 1 or > 65535)
            {
                throw new CniException(CniErrorCode.InvalidNetworkConfig, $"portmap: port mapping {m.HostPort}->{m.ContainerPort} is out of range 1-65535");
            }
            NftState.ValidateHostIp(m.HostIP);
        }
        return list;
    }
}
