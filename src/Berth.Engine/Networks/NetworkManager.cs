using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Core;
using Berth.Linux.Netlink;
using Berth.Networking;
using Berth.Networking.Cni;
using Berth.Networking.Nft;
using Berth.Networking.Plugins;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Networks;

/// <summary>
/// The engine's networks: the predefined bridge, host and none, user-defined bridge networks, and every
/// container's attachments to them through CNI (<see cref="CniRunner"/>) with Berth's plugins or the reference ones.
/// Records live in <c>&lt;data-root&gt;/networks/&lt;id&gt;.json</c>; IPAM reservations, the CNI result cache and the
/// plugins' nftables state live below <c>&lt;data-root&gt;/networks/</c> too.
/// </summary>
public sealed partial class NetworkManager
{
    public const string DefaultBridgeNetwork = "bridge";

    /// <summary>A network's default host address for published ports given without one.</summary>
    internal const string HostBindingOption = "com.docker.network.bridge.host_binding_ipv4";

    /// <summary>Docker's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s.</summary>
    private static readonly IReadOnlyList<IPPrefix> Pools = BuildPools();

    private readonly Dictionary<string, NetworkRecord> _networks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ContainerNetworkState> _states = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Networks reserved by a create still making their bridge and record (under <see cref="_lock"/>).</summary>
    private readonly Dictionary<string, NetworkRecord> _creating = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _attachGate = new(1, 1);

    /// <summary>Serializes loads of the isolation table, so the last one loaded holds the latest set of networks.</summary>
    private readonly Lock _isolationGate = new();
    private readonly ContainerEngine _engine;

    internal NetworkManager(ContainerEngine engine)
    {
        _engine = engine;
        var o = engine.Options;
        Directory = Path.Combine(o.DataRoot, "networks");
        PluginDirectory = o.CniPluginDirectory ?? Path.Combine(Path.GetDirectoryName(o.RuntimePath)!, "cni");
        Cni = new CniRunner([PluginDirectory], Path.Combine(Directory, "cni-cache"));
        // One nftables table per daemon: Berth's portmap/bridge plugins rebuild their table from their own state dir.
        NftTable = NftTableFor(o.DataRoot);
        IsolationTable = NftTable + "-isolation";
    }

    /// <summary>The plugins' nftables table of the daemon on this data root ("berth" for the default one).</summary>
    public static string NftTableFor(string dataRoot) =>
        dataRoot == "/var/lib/berth" ? "berth" : "berth-" + Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(dataRoot)))[..8].ToLowerInvariant();

    public string Directory { get; }

    public string PluginDirectory { get; }

    public string NftTable { get; }

    /// <summary>The engine's own table dropping traffic between its networks (<see cref="NetworkIsolation"/>).</summary>
    public string IsolationTable { get; }

    internal CniRunner Cni { get; }

    private ILogger Logger => _engine.Logger;

    internal string IpamDirectory => Path.Combine(Directory, "ipam");

    internal string NftStateDirectory => Path.Combine(Directory, "cni-state");

    internal string NetnsDirectory => Path.Combine(_engine.Options.ExecRoot, "netns");

    /// <summary>Loads the records, creates the predefined networks, brings their bridges up, finishes interrupted removals.</summary>
    internal void Load()
    {
        System.IO.Directory.CreateDirectory(Directory);
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.json.removing"))
        {
            try
            {
                if (JsonSerializer.Deserialize(File.ReadAllBytes(file), NetworkJsonContext.Default.NetworkRecord) is { } gone)
                {
                    DeleteNetworkArtifacts(gone);
                }
            }
            catch (JsonException)
            {
            }
            File.Delete(file);
        }
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.json"))
        {
            try
            {
                if (JsonSerializer.Deserialize(File.ReadAllBytes(file), NetworkJsonContext.Default.NetworkRecord) is { } n)
                {
                    _networks[n.Id] = n;
                }
            }
            catch (JsonException e)
            {
                Log.UnreadableRecord(Logger, file, e.Message);
            }
        }
        EnsurePredefined("host", "host");
        EnsurePredefined("none", "null");
        var bridgeName = _engine.Options.DefaultBridge;
        var existing = _networks.Values.FirstOrDefault(n => n.Name == DefaultBridgeNetwork);
        if (bridgeName is null or "none")
        {
            if (existing is not null)
            {
                _networks.Remove(existing.Id);
                File.Delete(RecordPath(existing.Id));
            }
        }
        else if (existing is null)
        {
            var subnet = PickSubnet(_networks.Values, HostRouteList());
            var n = new NetworkRecord
            {
                Id = EngineFormat.NewId(),
                Name = DefaultBridgeNetwork,
                Driver = "bridge",
                Created = _engine.Time.GetUtcNow(),
                Predefined = true,
                Subnet = subnet.ToString(),
                Gateway = DefaultGateway(subnet),
                Bridge = bridgeName,
                Options = new Dictionary<string, string>
                {
                    ["com.docker.network.bridge.default_bridge"] = "true",
                    ["com.docker.network.bridge.enable_icc"] = "true",
                    ["com.docker.network.bridge.enable_ip_masquerade"] = "true",
                    [HostBindingOption] = "0.0.0.0",
                    ["com.docker.network.bridge.name"] = bridgeName,
                    ["com.docker.network.driver.mtu"] = "1500",
                },
            };
            SaveRecord(n);
            _networks[n.Id] = n;
        }
        foreach (var n in _networks.Values.Where(n => n.IsBridge))
        {
            try
            {
                EnsureBridge(n);
            }
            catch (BerthException e)
            {
                Log.ContainerWarning(Logger, n.Name, "network bridge: " + e.Message);
            }
        }
        try
        {
            ApplyIsolation();
        }
        catch (CniException e)
        {
            Log.ContainerWarning(Logger, IsolationTable, "network isolation: " + e.Message);
        }
    }

    private void EnsurePredefined(string name, string driver)
    {
        if (_networks.Values.Any(n => n.Name == name))
        {
            return;
        }
        var n = new NetworkRecord { Id = EngineFormat.NewId(), Name = name, Driver = driver, Created = _engine.Time.GetUtcNow(), Predefined = true };
        SaveRecord(n);
        _networks[n.Id] = n;
    }

    /// <summary>A network's gateway when none is given: the subnet's first address, as in Docker.</summary>
    private static string DefaultGateway(IPPrefix subnet) => IPPrefix.FromNumber(subnet.First + 1, AddressFamily.InterNetwork).ToString();

    private string RecordPath(string id) => Path.Combine(Directory, id + ".json");

    private void SaveRecord(NetworkRecord n) =>
        AtomicFile.WriteAllBytes(RecordPath(n.Id), JsonSerializer.SerializeToUtf8Bytes(n, NetworkJsonContext.Default.NetworkRecord));

    public IReadOnlyList<NetworkRecord> List()
    {
        lock (_lock)
        {
            return [.. _networks.Values.OrderBy(n => n.Name, StringComparer.Ordinal)];
        }
    }

    /// <summary>Docker's lookup: full ID, then exact name, then a unique ID prefix.</summary>
    public NetworkRecord Get(string idOrName) =>
        TryGet(idOrName) ?? throw BerthException.NotFound($"network {idOrName} not found");

    public NetworkRecord? TryGet(string idOrName)
    {
        lock (_lock)
        {
            if (_networks.TryGetValue(idOrName, out var n))
            {
                return n;
            }
            n = _networks.Values.FirstOrDefault(x => x.Name == idOrName);
            if (n is not null)
            {
                return n;
            }
            var matches = _networks.Values.Where(x => x.Id.StartsWith(idOrName, StringComparison.Ordinal)).ToList();
            if (matches.Count > 1)
            {
                throw BerthException.InvalidArgument($"network {idOrName} is ambiguous ({matches.Count} matches found on ID prefix)");
            }
            return matches.FirstOrDefault();
        }
    }

    /// <summary>POST /networks/create.</summary>
    public NetworkRecord Create(NetworkCreateOptions request)
    {
        if (string.IsNullOrWhiteSpace(request.Name))
        {
            throw BerthException.InvalidArgument("network name is required: give a name for the network");
        }
        var driver = string.IsNullOrEmpty(request.Driver) ? "bridge" : request.Driver;
        if (driver is "host" or "null")
        {
            throw new BerthException(ErrorCode.PermissionDenied, $"only one instance of \"{driver}\" network is allowed");
        }
        if (driver != "bridge")
        {
            throw BerthException.NotFound($"plugin \"{driver}\" not found: Berth's engine serves the bridge driver (and the predefined host and none networks)");
        }
        if (request.EnableIPv6)
        {
            throw BerthException.Unsupported("IPv6 networks (--ipv6); create an IPv4 network");
        }
        if (request.Ipam.Count > 1)
        {
            throw BerthException.Unsupported("more than one IPAM pool per network; give one --subnet");
        }
        if (request.Options.TryGetValue("com.docker.network.bridge.enable_icc", out var icc) && icc == "false")
        {
            throw BerthException.Unsupported("com.docker.network.bridge.enable_icc=false (blocking traffic within one network needs br_netfilter on the host); use separate networks, which are isolated from each other");
        }
        if (request.Options.TryGetValue(HostBindingOption, out var hostBinding) &&
            (!IPAddress.TryParse(hostBinding, out var hb) || hb.AddressFamily != AddressFamily.InterNetwork))
        {
            throw BerthException.InvalidArgument($"invalid {HostBindingOption} {hostBinding}: give an IPv4 address of this host");
        }
        var mtu = 0;
        if (request.Options.TryGetValue("com.docker.network.driver.mtu", out var mtuText) &&
            (!int.TryParse(mtuText, System.Globalization.CultureInfo.InvariantCulture, out mtu) || mtu < 68))
        {
            throw BerthException.InvalidArgument($"invalid MTU {mtuText}: give a number of at least 68");
        }
        var pool = request.Ipam.FirstOrDefault();
        IPPrefix? given = null;
        string? gateway = null;
        string? ipRange = null;
        if (pool?.Subnet is { Length: > 0 } s)
        {
            var parsed = ParseCidr(s);
            if (parsed.Family != AddressFamily.InterNetwork)
            {
                throw BerthException.Unsupported($"IPv6 subnet {s}; give an IPv4 subnet");
            }
            given = parsed;
        }
        else if (pool?.Gateway is { Length: > 0 } || pool?.IPRange is { Length: > 0 })
        {
            throw BerthException.InvalidArgument("a gateway or ip range needs a subnet: give --subnet too");
        }
        if (pool?.Gateway is { Length: > 0 } g)
        {
            if (!IPAddress.TryParse(g, out var ga) || ga.AddressFamily != AddressFamily.InterNetwork)
            {
                throw BerthException.InvalidArgument($"invalid gateway address {g}: give an IPv4 address");
            }
            if (!given!.Value.Contains(ga))
            {
                throw BerthException.InvalidArgument($"no matching subnet for gateway {g}: it is not in {given.Value}");
            }
            gateway = ga.ToString();
        }
        if (pool?.IPRange is { Length: > 0 } r)
        {
            var range = ParseCidr(r);
            if (!given!.Value.Contains(range.Network) || range.Length < given.Value.Length)
            {
                throw BerthException.InvalidArgument($"no matching subnet for range {r}: it is not inside {given.Value}");
            }
            ipRange = range.ToString();
        }
        var aux = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (auxName, auxText) in pool?.AuxiliaryAddresses ?? [])
        {
            if (given is null || !IPAddress.TryParse(auxText, out var a) || a.AddressFamily != AddressFamily.InterNetwork || !given.Value.Contains(a))
            {
                throw BerthException.InvalidArgument($"no matching subnet for aux-address {auxText}" + (given is null ? ": give --subnet too" : $": it is not an IPv4 address in {given.Value}"));
            }
            if (a.ToString() == (gateway ?? DefaultGateway(given.Value)))
            {
                throw BerthException.InvalidArgument($"aux-address {auxName}={auxText} is the network's gateway: pick another address");
            }
            aux[auxName] = a.ToString();
        }
        var id = EngineFormat.NewId();
        var bridge = request.Options.TryGetValue("com.docker.network.bridge.name", out var bn) && bn.Length > 0 ? bn : "br-" + id[..12];
        if (bridge.Length > 15 || bridge.Contains('/', StringComparison.Ordinal) || bridge.Any(char.IsWhiteSpace))
        {
            throw BerthException.InvalidArgument($"invalid bridge name {bridge}: at most 15 characters, no '/' or spaces");
        }
        // The host's routes are read before the lock: a netlink dump needs no engine state, and inspect, ps and
        // start wait on the lock.
        var routes = given is null ? HostRouteList() : [];
        NetworkRecord record;
        lock (_lock)
        {
            // Networks being created count as existing: a concurrent create cannot take the same name, subnet or bridge.
            var existing = _networks.Values.Concat(_creating.Values).ToList();
            if (existing.Any(n => n.Name == request.Name))
            {
                throw new BerthException(ErrorCode.Conflict, $"network with name {request.Name} already exists");
            }
            IPPrefix subnet;
            if (given is { } wanted)
            {
                if (existing.FirstOrDefault(n => n.Subnet is not null && IPPrefix.Parse(n.Subnet, "subnet").Overlaps(wanted)) is { } clash)
                {
                    throw new BerthException(ErrorCode.PermissionDenied, $"invalid pool request: Pool overlaps with other one on this address space ({pool!.Subnet} overlaps network {clash.Name}'s {clash.Subnet})");
                }
                subnet = wanted;
            }
            else
            {
                subnet = PickSubnet(existing, routes);
            }
            if (existing.Any(n => n.Bridge == bridge))
            {
                throw new BerthException(ErrorCode.Conflict, $"bridge name {bridge} is already used by another network");
            }
            record = new NetworkRecord
            {
                Id = id,
                Name = request.Name,
                Driver = driver,
                Created = _engine.Time.GetUtcNow(),
                Internal = request.Internal,
                Attachable = request.Attachable,
                Labels = new Dictionary<string, string>(request.Labels),
                Options = new Dictionary<string, string>(request.Options),
                Subnet = subnet.ToString(),
                Gateway = gateway ?? DefaultGateway(subnet),
                IpRange = ipRange,
                Bridge = bridge,
                SubnetGiven = given is not null,
                AuxAddresses = aux.Count == 0 ? null : aux,
            };
            _creating[id] = record;
        }
        // The bridge and the fsync'd record are made outside the lock, on the reserved name, subnet and bridge.
        var isolated = false;
        try
        {
            // Validates the whole configuration (as the plugins will see it) before anything exists.
            _ = ConfList(record);
            EnsureBridge(record);
            try
            {
                ReserveAuxAddresses(record);
                // Isolated from the other networks before any container can attach (the record is in _creating).
                isolated = true;
                ApplyIsolation();
                SaveRecord(record);
            }
            catch
            {
                DeleteNetworkArtifacts(record);
                throw;
            }
        }
        catch (Exception e)
        {
            lock (_lock)
            {
                _creating.Remove(id);
            }
            if (isolated)
            {
                TryApplyIsolation();
            }
            if (e is CniException c)
            {
                throw new BerthException(ErrorCode.Internal, $"network {request.Name} was not created: {c.Message}", c);
            }
            throw;
        }
        lock (_lock)
        {
            _creating.Remove(id);
            _networks[id] = record;
        }
        _engine.Events.Publish("network", "create", id, new Dictionary<string, string> { ["name"] = record.Name, ["type"] = driver });
        return record;
    }

    private static IPPrefix ParseCidr(string text)
    {
        if (!IPPrefix.TryParseCidr(text, out _, out _))
        {
            throw BerthException.InvalidArgument($"invalid CIDR address: {text}");
        }
        return IPPrefix.Parse(text, "subnet");
    }

    /// <summary>DELETE /networks/{id}: refused for predefined networks and while a running container is attached.</summary>
    public void Remove(string idOrName)
    {
        var n = Get(idOrName);
        if (n.Predefined)
        {
            throw new BerthException(ErrorCode.PermissionDenied, $"{n.Name} is a pre-defined network and cannot be removed");
        }
        var users = Endpoints(n).ToList();
        if (users.Count > 0)
        {
            throw new BerthException(ErrorCode.PermissionDenied, $"error while removing network: network {n.Name} id {n.Id} has active endpoints ({string.Join(", ", users.Select(u => "name:\"" + u.Container.Record.Name.TrimStart('/') + "\" id:\"" + u.Container.Id[..12] + "\""))})");
        }
        lock (_lock)
        {
            // Marked first: a crash part-way is finished at the next start instead of leaving a bridge with no network.
            File.Move(RecordPath(n.Id), RecordPath(n.Id) + ".removing", overwrite: true);
            _networks.Remove(n.Id);
        }
        DeleteNetworkArtifacts(n);
        TryApplyIsolation();
        File.Delete(RecordPath(n.Id) + ".removing");
        _engine.Events.Publish("network", "destroy", n.Id, new Dictionary<string, string> { ["name"] = n.Name, ["type"] = n.Driver });
    }

    /// <summary>POST /networks/prune: user-defined networks with no running container attached.</summary>
    public List<string> Prune(Func<NetworkRecord, bool> filter)
    {
        var removed = new List<string>();
        foreach (var n in List().Where(n => !n.Predefined && filter(n)))
        {
            if (Endpoints(n).Any())
            {
                continue;
            }
            try
            {
                Remove(n.Id);
                removed.Add(n.Name);
            }
            catch (BerthException e)
            {
                Log.ContainerWarning(Logger, n.Name, "network prune: " + e.Message);
            }
        }
        return removed;
    }

    private void DeleteNetworkArtifacts(NetworkRecord n)
    {
        if (n.Bridge is { } bridge && n.IsBridge)
        {
            using var nl = RtNetlink.Open();
            nl.DeleteLink(bridge);
        }
        ContainerEngine.TryDeleteDirectory(Path.Combine(IpamDirectory, n.Name));
    }

    /// <summary>--aux-address: held in the network's host-local directory, so neither host-local plugin gives them out.</summary>
    private void ReserveAuxAddresses(NetworkRecord n)
    {
        if (n.AuxAddresses is { Count: > 0 } aux)
        {
            HostLocalIpam.ReserveFixed(IpamDirectory, n.Name, "aux-address", aux.Values.Select(IPAddress.Parse));
        }
    }

    /// <summary>
    /// Loads the isolation table for the engine's bridge networks, those being created included (a rule naming a
    /// bridge that does not exist yet matches nothing).
    /// </summary>
    private void ApplyIsolation()
    {
        lock (_isolationGate)
        {
            List<IsolatedBridge> bridges;
            lock (_lock)
            {
                bridges = [.. _networks.Values.Concat(_creating.Values).Where(n => n.IsBridge && n.Bridge is not null).Select(n => new IsolatedBridge(n.Bridge!, n.Internal))];
            }
            NetworkIsolation.Apply(IsolationTable, bridges);
        }
    }

    /// <summary>After a network went: a failure leaves a rule naming a bridge that no longer exists, which matches nothing.</summary>
    private void TryApplyIsolation()
    {
        try
        {
            ApplyIsolation();
        }
        catch (CniException e)
        {
            Log.ContainerWarning(Logger, IsolationTable, "network isolation: " + e.Message);
        }
    }

    /// <summary>The bridge device with the gateway address, as Docker has it from network creation on.</summary>
    private static void EnsureBridge(NetworkRecord n)
    {
        var prefix = IPPrefix.Parse(n.Subnet, "subnet");
        var gw = IPAddress.Parse(n.Gateway!);
        using var nl = RtNetlink.Open();
        var link = nl.FindLink(n.Bridge!);
        if (link is null)
        {
            nl.AddBridge(n.Bridge!, Mtu(n));
            link = nl.GetLink(n.Bridge!);
        }
        else if (link.Kind != "bridge")
        {
            throw new BerthException(ErrorCode.Conflict, $"{n.Bridge} exists on this host and is not a bridge: choose another bridge name");
        }
        nl.AddAddress(link.Index, gw, prefix.Length, n.Bridge!);
        nl.SetUp(link.Index, n.Bridge!);
    }

    private static int Mtu(NetworkRecord n) =>
        n.Options.TryGetValue("com.docker.network.driver.mtu", out var m) && int.TryParse(m, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : 0;

    /// <summary>The conflist of a bridge network: bridge + host-local (+ portmap), valid for Berth's and the reference plugins.</summary>
    internal NetworkConfigList ConfList(NetworkRecord n)
    {
        try
        {
            return BridgeNetwork.ConfList(new BridgeNetworkOptions
            {
                Name = n.Name,
                Bridge = n.Bridge!,
                Subnet = n.Subnet!,
                Gateway = n.Gateway,
                IpRange = n.IpRange,
                IpMasq = !n.Internal && (!n.Options.TryGetValue("com.docker.network.bridge.enable_ip_masquerade", out var m) || m != "false"),
                DefaultGateway = !n.Internal,
                Mtu = Mtu(n),
                PortMappings = !n.Internal,
                IpamDataDir = IpamDirectory,
                NftTable = NftTable,
                StateDir = NftStateDirectory,
            });
        }
        catch (CniException e)
        {
            throw BerthException.InvalidArgument(e.Message);
        }
    }

    /// <summary>The first pool that overlaps no other network and no host route.</summary>
    /// <summary>The first default pool that overlaps neither a network's subnet nor a route of the host.</summary>
    private static IPPrefix PickSubnet(IEnumerable<NetworkRecord> networks, IEnumerable<IPPrefix> routes)
    {
        var taken = networks.Where(n => n.Subnet is not null).Select(n => IPPrefix.Parse(n.Subnet, "subnet")).Concat(routes).ToList();
        foreach (var p in Pools)
        {
            if (!taken.Any(t => t.Overlaps(p)))
            {
                return p;
            }
        }
        throw new BerthException(ErrorCode.Unavailable, "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network: give --subnet");
    }

    private static List<IPPrefix> HostRouteList()
    {
        using var nl = RtNetlink.Open();
        return [.. nl.GetRoutes().Where(r => r.Destination is not null && r.PrefixLength > 0).Select(r => new IPPrefix(r.Destination!, r.PrefixLength))];
    }

    private static List<IPPrefix> BuildPools()
    {
        var list = new List<IPPrefix>();
        for (var i = 17; i <= 31; i++)
        {
            list.Add(IPPrefix.Parse($"172.{i}.0.0/16", "pool"));
        }
        for (var i = 0; i < 256; i += 16)
        {
            list.Add(IPPrefix.Parse($"192.168.{i}.0/20", "pool"));
        }
        return list;
    }
}

/// <summary>What POST /networks/create asks for.</summary>
public sealed class NetworkCreateOptions
{
    public string Name { get; set; } = "";

    public string? Driver { get; set; }

    public bool Internal { get; set; }

    public bool Attachable { get; set; }

    public bool EnableIPv6 { get; set; }

    public Dictionary<string, string> Labels { get; set; } = [];

    public Dictionary<string, string> Options { get; set; } = [];

    public List<IpamPool> Ipam { get; set; } = [];
}

public sealed class IpamPool
{
    public string? Subnet { get; set; }

    public string? Gateway { get; set; }

    public string? IPRange { get; set; }

    /// <summary>--aux-address name=ip: addresses the IPAM never gives to a container.</summary>
    public Dictionary<string, string>? AuxiliaryAddresses { get; set; }
}
