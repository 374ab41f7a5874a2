using System.Net;
using System.Security.Cryptography;
using System.Text;
using Berth.Linux;
using Berth.Linux.Netlink;
using Berth.Networking.Cni;
using Berth.Networking.Nft;

namespace Berth.Networking.Plugins;

/// <summary>
/// The bridge plugin: a Linux bridge on the host, one veth pair per attachment with the container end created
/// directly inside the container's namespace as CNI_IFNAME, addresses from IPAM, routes, hairpin, MTU, the
/// gateway address on the bridge and masquerade for egress in Berth's nftables table. All over rtnetlink.
/// </summary>
public sealed class BridgePlugin : ICniPlugin
{
    public CniResult Add(CniInvocation invocation)
    {
        var config = Config(invocation);
        using var netns = OpenNetns(invocation);
        using var host = RtNetlink.Open();
        var bridge = EnsureBridge(host, config);
        var ipam = config.Ipam is { } ipamConfig ? Ipam.Run("ADD", invocation, ipamConfig.Type) : null;
        var hostVeth = HostVethName(invocation.ContainerId, invocation.IfName);
        try
        {
            if (host.FindLink(hostVeth) is not null)
            {
                // Left by an ADD that crashed: the name is ours (derived from container and interface).
                host.DeleteLink(hostVeth);
            }
            try
            {
                host.AddVeth(hostVeth, invocation.IfName, config.Mtu, netns, ContainerMac(config));
            }
            catch (LinuxSyscallException e) when (e.Errno == Errno.EEXIST)
            {
                throw new CniException(CniErrorCode.Generic,
                    $"bridge: interface {invocation.IfName} already exists in {invocation.NetNs}: pick another CNI_IFNAME or delete that attachment first");
            }
            var hv = host.GetLink(hostVeth);
            host.SetMaster(hv.Index, bridge.Index, hostVeth);
            if (config.HairpinMode)
            {
                host.SetHairpin(hv.Index, true, hostVeth);
            }
            host.SetUp(hv.Index, hostVeth);
            bridge = host.GetLink(config.Bridge); // a bridge takes its MAC from its ports

            var result = new CniResult
            {
                Interfaces =
                [
                    new CniInterface { Name = bridge.Name, Mac = bridge.Mac },
                    new CniInterface { Name = hostVeth, Mac = hv.Mac },
                ],
                Ips = [],
                Routes = ipam?.Routes is { } r ? [.. r] : null,
                Dns = ipam?.Dns,
            };
            using (var container = RtNetlink.OpenIn(netns))
            {
                var link = container.GetLink(invocation.IfName);
                result.Interfaces.Add(new CniInterface { Name = invocation.IfName, Mac = link.Mac, Sandbox = invocation.NetNs });
                foreach (var ip in ipam?.Ips ?? [])
                {
                    var prefix = Cidr(ip.Address);
                    container.AddAddress(link.Index, prefix.Address, prefix.Length, invocation.IfName);
                    result.Ips.Add(new CniIpConfig { Address = ip.Address, Gateway = ip.Gateway, Interface = 2 });
                }
                container.SetUp(link.Index, invocation.IfName);
                foreach (var route in ipam?.Routes ?? [])
                {
                    var dst = Cidr(route.Dst);
                    var gw = route.Gw is null ? FirstGateway(ipam!, dst.Address) : IPPrefix.ParseAddress(route.Gw, "route gw");
                    container.AddRoute(dst.Length == 0 ? null : dst.Address, dst.Length, gw, link.Index, invocation.IfName);
                }
                if (config.IsDefaultGateway && ipam is not null)
                {
                    foreach (var ip in ipam.Ips ?? [])
                    {
                        if (ip.Gateway is null || ip.Address.Contains(':', StringComparison.Ordinal))
                        {
                            continue;
                        }
                        container.AddRoute(null, 0, IPAddress.Parse(ip.Gateway), link.Index, invocation.IfName);
                        (result.Routes ??= []).Add(new CniRoute { Dst = "0.0.0.0/0", Gw = ip.Gateway });
                    }
                }
            }
            if (config.IsGateway)
            {
                foreach (var ip in ipam?.Ips ?? [])
                {
                    if (ip.Gateway is null)
                    {
                        continue;
                    }
                    var prefix = Cidr(ip.Address);
                    host.AddAddress(bridge.Index, IPAddress.Parse(ip.Gateway), prefix.Length, bridge.Name);
                    if (prefix.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
                    {
                        EnableForwarding();
                    }
                }
            }
            if (config.IpMasq)
            {
                foreach (var ip in ipam?.Ips ?? [])
                {
                    var prefix = Cidr(ip.Address);
                    if (prefix.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
                    {
                        new NftState(config.NftTable, config.StateDir).Put(new NftEntry
                        {
                            Kind = "masq",
                            Key = NftState.Key(invocation.NetworkName, invocation.ContainerId, invocation.IfName),
                            ContainerIp = prefix.Address.ToString(),
                            Subnet = IPPrefix.Parse(ip.Address, "address").ToString(),
                        });
                    }
                }
            }
            return result;
        }
        catch
        {
            // Leave nothing a retry or DEL would trip over: the veth (and its peer) and the reservation.
            try
            {
                host.DeleteLink(hostVeth);
            }
            catch (LinuxSyscallException)
            {
            }
            if (config.Ipam is { } i)
            {
                try
                {
                    Ipam.Run("DEL", invocation, i.Type);
                }
                catch (CniException)
                {
                }
            }
            throw;
        }
    }

    public void Delete(CniInvocation invocation)
    {
        var config = Config(invocation);
        CniTrace.Mark("bridge DEL: config");
        if (config.Ipam is { } ipam)
        {
            Ipam.Run("DEL", invocation, ipam.Type);
        }
        CniTrace.Mark("bridge DEL: ipam");
        if (invocation.NetNs is { } path && File.Exists(path))
        {
            try
            {
                using var netns = NetworkNamespace.Open(path);
                using var container = RtNetlink.OpenIn(netns);
                container.DeleteLink(invocation.IfName);
            }
            catch (LinuxSyscallException e) when (e.Errno is Errno.ENOENT or Errno.EINVAL)
            {
                // The namespace is gone (or not a namespace any more): its veth end went with it.
            }
        }
        CniTrace.Mark("bridge DEL: container link");
        using (var host = RtNetlink.Open())
        {
            host.DeleteLink(HostVethName(invocation.ContainerId, invocation.IfName));
        }
        CniTrace.Mark("bridge DEL: host link");
        new NftState(config.NftTable, config.StateDir).Remove("masq", NftState.Key(invocation.NetworkName, invocation.ContainerId, invocation.IfName));
    }

    public void Check(CniInvocation invocation)
    {
        var config = Config(invocation);
        var prev = invocation.PrevResult ?? throw new CniException(CniErrorCode.InvalidNetworkConfig, "bridge: CHECK needs prevResult in the configuration");
        using var netns = OpenNetns(invocation);
        using var host = RtNetlink.Open();
        var bridge = host.FindLink(config.Bridge) ?? throw Fail($"bridge {config.Bridge} does not exist");
        var hostVeth = HostVethName(invocation.ContainerId, invocation.IfName);
        var hv = host.FindLink(hostVeth) ?? throw Fail($"host veth {hostVeth} does not exist");
        if (hv.MasterIndex != bridge.Index)
        {
            throw Fail($"host veth {hostVeth} is not attached to bridge {config.Bridge}");
        }
        using var container = RtNetlink.OpenIn(netns);
        var link = container.FindLink(invocation.IfName) ?? throw Fail($"interface {invocation.IfName} does not exist in {invocation.NetNs}");
        if (!link.Up)
        {
            throw Fail($"interface {invocation.IfName} in {invocation.NetNs} is down");
        }
        var addresses = container.GetAddresses(link.Index);
        foreach (var ip in prev.Ips ?? [])
        {
            var want = Cidr(ip.Address);
            if (!addresses.Any(a => a.Address.Equals(want.Address) && a.PrefixLength == want.Length))
            {
                throw Fail($"interface {invocation.IfName} in {invocation.NetNs} lacks address {ip.Address}");
            }
        }
        if (config.Ipam is { } ipam)
        {
            Ipam.Run("CHECK", invocation, ipam.Type);
        }
        if (config.IpMasq && !new NftState(config.NftTable, config.StateDir).Has("masq", NftState.Key(invocation.NetworkName, invocation.ContainerId, invocation.IfName)))
        {
            throw Fail("masquerade entry is missing");
        }
    }

    /// <summary>veth + 11 hex digits of a hash of container and interface: stable, so DEL finds it even after a crashed ADD.</summary>
    public static string HostVethName(string containerId, string ifName) =>
        "veth" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(containerId + "/" + ifName)))[..11].ToLowerInvariant();

    private static CniException Fail(string what) => new(CniErrorCode.Generic, "bridge CHECK: " + what);

    /// <summary>runtimeConfig.mac as 6 bytes, or null for a random address; validated in <see cref="Config"/>.</summary>
    private static byte[]? ContainerMac(BridgeConfig config) =>
        config.RuntimeConfig?.Mac is { Length: > 0 } mac
            ? MacAddress.TryParse(mac, out var error) ?? throw new CniException(CniErrorCode.InvalidNetworkConfig, "bridge: runtimeConfig.mac: " + error)
            : null;

    private static BridgeConfig Config(CniInvocation invocation)
    {
        var config = PluginHost.Decode(invocation.Config, CniJsonContext.Default.BridgeConfig, "bridge configuration");
        if (config.IsDefaultGateway)
        {
            config.IsGateway = true;
        }
        if (config.Bridge.Length is 0 or > 15)
        {
            throw new CniException(CniErrorCode.InvalidNetworkConfig, $"bridge name '{config.Bridge}' must be 1 to 15 characters");
        }
        if (config.Mtu < 0 || config.Mtu is > 0 and < 68)
        {
            throw new CniException(CniErrorCode.InvalidNetworkConfig, $"mtu {config.Mtu} is invalid: use 68 or more (or leave it out)");
        }
        _ = ContainerMac(config);
        if (config.Ipam is { } ipam && ipam.Type.Length == 0)
        {
            throw new CniException(CniErrorCode.InvalidNetworkConfig, "\"ipam\" needs a \"type\" (for example host-local)");
        }
        return config;
    }

    private static NetworkNamespace OpenNetns(CniInvocation invocation)
    {
        try
        {
            return NetworkNamespace.Open(invocation.NetNs!);
        }
        catch (LinuxSyscallException e)
        {
            throw new CniException(CniErrorCode.UnknownContainer,
                $"network namespace {invocation.NetNs} cannot be opened ({Errno.Name(e.Errno)}): the container is gone or CNI_NETNS is wrong");
        }
    }

    private static LinkInfo EnsureBridge(RtNetlink host, BridgeConfig config)
    {
        var link = host.FindLink(config.Bridge);
        if (link is null)
        {
            try
            {
                host.AddBridge(config.Bridge, config.Mtu);
            }
            catch (LinuxSyscallException e) when (e.Errno == Errno.EEXIST)
            {
                // A concurrent ADD created it first.
            }
            link = host.GetLink(config.Bridge);
        }
        if (link.Kind != "bridge")
        {
            throw new CniException(CniErrorCode.InvalidNetworkConfig,
                $"link {config.Bridge} exists but is a {link.Kind ?? "plain"} device, not a bridge: choose another \"bridge\" name");
        }
        if (!link.Up)
        {
            host.SetUp(link.Index, config.Bridge);
        }
        return link;
    }

    private static (IPAddress Address, int Length) Cidr(string text) =>
        IPPrefix.TryParseCidr(text, out var a, out var l) ? (a, l)
            : throw new CniException(CniErrorCode.InvalidNetworkConfig, $"'{text}' is not a CIDR address");

    private static IPAddress? FirstGateway(CniResult ipam, IPAddress dst) =>
        ipam.Ips?.Where(i => i.Gateway is not null && i.Address.Contains(':', StringComparison.Ordinal) == (dst.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6))
            .Select(i => IPAddress.Parse(i.Gateway!)).FirstOrDefault();

    private static void EnableForwarding()
    {
        const string path = "/proc/sys/net/ipv4/ip_forward";
        if (File.ReadAllText(path).Trim() != "1")
        {
            File.WriteAllText(path, "1");
        }
    }
}
