using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Core;
using Berth.Engine.Api;
using Berth.Engine.Containers;
using Berth.Linux.Netlink;
using Berth.Networking.Cni;
using Berth.Networking.Dns;
using Berth.Oci.Runtime;

namespace Berth.Engine.Networks;

public sealed partial class NetworkManager
{
    /// <summary>
    /// Whether the container gets a network namespace of its own (set up and torn down here): not with the host or
    /// none network mode, not when it joins another container's (container:ID), nor without a mode recorded.
    /// </summary>
    internal static bool OwnsNetns(HostConfig h) =>
        h.NetworkMode is { } mode && mode is not ("host" or "none") && !mode.StartsWith("container:", StringComparison.Ordinal);

    private string StatePath(string containerId) => Path.Combine(_engine.Options.ContainersDirectory, containerId, "network.json");

    internal ContainerNetworkState State(Container c)
    {
        lock (_lock)
        {
            if (_states.TryGetValue(c.Id, out var st))
            {
                return st;
            }
            var path = StatePath(c.Id);
            st = new ContainerNetworkState();
            if (File.Exists(path))
            {
                try
                {
                    st = JsonSerializer.Deserialize(File.ReadAllBytes(path), NetworkJsonContext.Default.ContainerNetworkState) ?? st;
                }
                catch (JsonException e)
                {
                    Log.UnreadableRecord(Logger, path, e.Message);
                }
            }
            _states[c.Id] = st;
            return st;
        }
    }

    private void SaveState(string containerId, ContainerNetworkState st)
    {
        var dir = Path.Combine(_engine.Options.ContainersDirectory, containerId);
        if (System.IO.Directory.Exists(dir))
        {
            AtomicFile.WriteAllBytes(StatePath(containerId), JsonSerializer.SerializeToUtf8Bytes(st, NetworkJsonContext.Default.ContainerNetworkState));
        }
    }

    /// <summary>Drops the cached state of a removed container (its network.json goes with its directory).</summary>
    internal void Forget(string containerId)
    {
        lock (_lock)
        {
            _states.Remove(containerId);
        }
    }

    /// <summary>Whether state of the container is cached (tests check removal forgets it).</summary>
    internal bool Tracks(string containerId)
    {
        lock (_lock)
        {
            return _states.ContainsKey(containerId);
        }
    }

    /// <summary>
    /// At create: the network mode as stored (no --network means the default bridge, as in Docker), checked
    /// against the networks that exist, and the endpoints the container will be attached to when it starts.
    /// </summary>
    internal ContainerNetworkState ResolveForCreate(ContainerCreateRequest request, HostConfig h)
    {
        var mode = h.NetworkMode;
        var requested = mode ?? "";
        if (mode is null or "" or "default")
        {
            mode = TryGet(DefaultBridgeNetwork) is not null ? DefaultBridgeNetwork : "none";
        }
        var endpoints = request.NetworkingConfig?.EndpointsConfig ?? [];
        var st = new ContainerNetworkState();
        _ = PublishedPorts.Requests(h, request);
        if (mode.StartsWith("container:", StringComparison.Ordinal))
        {
            var target = mode["container:".Length..];
            // dockerd's checks of a container network mode, in its order and words.
            string? conflict = target.Length == 0 ? "Invalid network mode: invalid container format container:<name|id>"
                : !string.IsNullOrEmpty(request.Hostname) ? "conflicting options: hostname and the network mode"
                : h.Dns is { Count: > 0 } ? "conflicting options: dns and the network mode"
                : h.ExtraHosts is { Count: > 0 } ? "conflicting options: custom host-to-IP mapping and the network mode"
                : h.PortBindings is { Count: > 0 } || h.PublishAllPorts ? "conflicting options: port publishing and the container type network mode"
                : request.ExposedPorts is { Count: > 0 } ? "conflicting options: port exposing and the container type network mode"
                : null;
            if (conflict is not null)
            {
                throw BerthException.InvalidArgument(conflict);
            }
            // Stored by ID when the container exists, so a rename of it changes nothing; as dockerd, a container that
            // does not exist (yet) is an error of the start, not of the create.
            if (_engine.TryGet(target) is { } other)
            {
                h.NetworkMode = "container:" + other.Id;
            }
            return st;
        }
        var n = Get(mode);
        h.NetworkMode = n.Name == mode || n.Predefined ? n.Name : mode;
        if (!n.IsBridge)
        {
            if (endpoints.Keys.Any(k => k != mode && k != n.Name && k != requested))
            {
                throw BerthException.InvalidArgument($"conflicting options: the {n.Name} network mode and other networks");
            }
            if (n.Driver == "host" && (h.PortBindings is { Count: > 0 } || h.PublishAllPorts))
            {
                // As Docker: published ports are ignored with the host network (the container's ports are the host's).
                h.PortBindings = null;
                h.PublishAllPorts = false;
            }
            h.NetworkMode = n.Name;
            return st;
        }
        var order = 0;
        void AddEndpoint(NetworkRecord net, EndpointSettings? settings)
        {
            var ip = settings?.IPAMConfig?.IPv4Address;
            if (!string.IsNullOrEmpty(ip))
            {
                CheckStaticIp(net, ip);
            }
            if (settings?.Aliases is { Count: > 0 } && net.Name == DefaultBridgeNetwork)
            {
                throw BerthException.InvalidArgument("network-scoped alias is supported only for containers in user defined networks");
            }
            // API < 1.44 clients send --mac-address as Config.MacAddress; it belongs to the first network.
            var mac = settings?.MacAddress is { Length: > 0 } given ? given : order == 0 ? request.MacAddress : null;
            st.Endpoints[net.Id] = new EndpointState
            {
                NetworkId = net.Id,
                NetworkName = net.Name,
                Aliases = settings?.Aliases?.Distinct(StringComparer.Ordinal).ToList() ?? [],
                RequestedIPv4 = string.IsNullOrEmpty(ip) ? null : ip,
                RequestedMac = string.IsNullOrEmpty(mac) ? null : Berth.Networking.MacAddress.Format(
                    Berth.Networking.MacAddress.TryParse(mac, out var macError) ?? throw BerthException.InvalidArgument(macError)),
                Order = order++,
            };
        }
        AddEndpoint(n, endpoints.TryGetValue(mode, out var s0) ? s0 : endpoints.TryGetValue(n.Name, out var s1) ? s1 : endpoints.TryGetValue(requested, out var s2) ? s2 : null);
        foreach (var (name, settings) in endpoints)
        {
            if (name == requested)
            {
                continue;
            }
            var other = Get(name);
            if (other.Id == n.Id)
            {
                continue;
            }
            if (!other.IsBridge)
            {
                throw BerthException.InvalidArgument($"conflicting options: the {other.Name} network and a bridge network");
            }
            AddEndpoint(other, settings);
        }
        return st;
    }

    private static void CheckStaticIp(NetworkRecord n, string ip)
    {
        if (!n.SubnetGiven || n.Predefined)
        {
            throw BerthException.InvalidArgument(n.Predefined
                ? "user specified IP address is supported on user defined networks only"
                : "user specified IP address is supported only when connecting to networks with user configured subnets");
        }
        if (!IPAddress.TryParse(ip, out var a) || a.AddressFamily != AddressFamily.InterNetwork)
        {
            throw BerthException.InvalidArgument($"invalid IPv4 address: {ip}");
        }
        if (!Berth.Networking.Plugins.IPPrefix.Parse(n.Subnet, "subnet").Contains(a))
        {
            throw BerthException.InvalidArgument($"no configured subnet contains IP address {ip}");
        }
    }

    internal void SaveCreated(string containerId, ContainerNetworkState st)
    {
        lock (_lock)
        {
            _states[containerId] = st;
        }
        SaveState(containerId, st);
    }

    /// <summary>
    /// Before the shim starts the container: a pinned network namespace, CNI ADD on every network (ports on the
    /// first), /etc/hosts and /etc/resolv.conf. Anything half-done is undone before the error is thrown.
    /// </summary>
    internal async Task SetupAsync(Container c, CancellationToken cancellationToken)
    {
        if (JoinTarget(c) is { } target)
        {
            // As dockerd: the container takes the hostname (and domain name) of the one whose namespaces it shares.
            c.Record.Config.Hostname = SpecGenerator.Hostname(target.Record, target.Record.HostConfig.NetworkMode == "host");
            c.Record.Config.Domainname = target.Record.Config.Domainname;
            return;
        }
        if (!OwnsNetns(c.Record.HostConfig))
        {
            return;
        }
        await _attachGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        var st = State(c);
        try
        {
            await TeardownLockedAsync(c, st).ConfigureAwait(false);
            var ns = Path.Combine(NetnsDirectory, c.Id);
            st.SandboxKey = ns;
            PersistentNetworkNamespace.Create(ns);
            var ports = AllocatePorts(c, st);
            var attach = new List<(EndpointState Endpoint, NetworkRecord Network)>();
            foreach (var ep in st.Endpoints.Values.OrderBy(e => e.Order).ToList())
            {
                var n = TryGet(ep.NetworkId) ?? TryGet(ep.NetworkName)
                    ?? throw BerthException.NotFound($"failed to set up container networking: network {ep.NetworkName} not found");
                PrepareEndpoint(ep, n, "eth" + attach.Count.ToString(CultureInfo.InvariantCulture));
                attach.Add((ep, n));
            }
            // Saved once before any ADD: a daemon killed part-way through leaves the interfaces recorded and the next
            // start's ReconcileAsync DELs them (the CNI cache only has completed ADDs; pinned namespaces of containers
            // that do not run are removed there too).
            SaveState(c.Id, st);
            for (var i = 0; i < attach.Count; i++)
            {
                await AddEndpointAsync(c, st, attach[i].Endpoint, attach[i].Network, i == 0 ? ports : null, cancellationToken).ConfigureAwait(false);
            }
            WriteFiles(c, st);
            SaveState(c.Id, st);
            await AttachDnsAsync(c, st, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await TeardownLockedAsync(c, st).ConfigureAwait(false);
            throw;
        }
        finally
        {
            _attachGate.Release();
        }
    }

    /// <summary>
    /// The running container whose network namespace <paramref name="c"/> joins (--network container:NAME|ID), null
    /// for other network modes; dockerd's errors when it does not exist or does not run.
    /// </summary>
    internal Container? JoinTarget(Container c)
    {
        var mode = c.Record.HostConfig.NetworkMode ?? "";
        if (!mode.StartsWith("container:", StringComparison.Ordinal))
        {
            return null;
        }
        var target = mode["container:".Length..];
        var other = _engine.TryGet(target) ?? throw BerthException.NotFound($"No such container: {target}");
        if (other.Id == c.Id)
        {
            throw BerthException.InvalidArgument("cannot join own network");
        }
        if (!other.IsRunning)
        {
            throw new BerthException(ErrorCode.Conflict, $"cannot join network of a non running container: {target}");
        }
        return other;
    }

    /// <summary>The namespace path and the hosts/resolv.conf bind mounts in the OCI spec.</summary>
    internal void ApplyToSpec(Container c, Spec spec)
    {
        var netns = spec.Linux?.Namespaces?.FirstOrDefault(n => n.Type == "network");
        Container source = c;
        if (JoinTarget(c) is { } other)
        {
            if (netns is not null)
            {
                netns.Path = State(other).SandboxKey ?? $"/proc/{other.Record.State.Pid}/ns/net";
            }
            // The files of the container that owns the namespace: the target, or the one it joined in turn.
            source = other;
            for (var hops = 0; hops < 8 && OwnerOf(source) is { } next; hops++)
            {
                source = next;
            }
        }
        else
        {
            var st = State(c);
            if (st.SandboxKey is null)
            {
                return;
            }
            if (netns is not null)
            {
                netns.Path = st.SandboxKey;
            }
        }
        var dir = Path.Combine(_engine.Options.ContainersDirectory, source.Id);
        spec.Mounts ??= [];
        foreach (var (file, target) in new[] { ("hosts", "/etc/hosts"), ("resolv.conf", "/etc/resolv.conf") })
        {
            var path = Path.Combine(dir, file);
            if (File.Exists(path))
            {
                spec.Mounts.RemoveAll(m => m.Destination == target);
                spec.Mounts.Add(new Mount { Destination = target, Type = "bind", Source = path, Options = ["rbind", "rprivate"] });
            }
        }
    }

    private Container? OwnerOf(Container c) =>
        c.Record.HostConfig.NetworkMode is { } m && m.StartsWith("container:", StringComparison.Ordinal) ? _engine.TryGet(m["container:".Length..]) : null;

    /// <summary>The interface and endpoint id an attachment will get, recorded (and saved by the caller) before its CNI ADD.</summary>
    private static void PrepareEndpoint(EndpointState ep, NetworkRecord n, string ifName)
    {
        if (!n.IsBridge)
        {
            throw BerthException.InvalidArgument($"network {n.Name} ({n.Driver}) cannot be combined with other networks");
        }
        ep.IfName = ifName;
        ep.EndpointId = EngineFormat.NewId();
        ep.NetworkId = n.Id;
        ep.NetworkName = n.Name;
    }

    /// <summary>CNI ADD of a prepared endpoint; the result lands in <paramref name="ep"/>, which the caller saves.</summary>
    private async Task AddEndpointAsync(Container c, ContainerNetworkState st, EndpointState ep, NetworkRecord n, JsonObject? ports, CancellationToken cancellationToken)
    {
        var ifName = ep.IfName!;
        var rt = Runtime(c.Id, st.SandboxKey!, ifName, ep.RequestedIPv4, Capabilities(ports, ep));
        CniResult result;
        try
        {
            result = await Cni.AddAsync(ConfList(n), rt, cancellationToken).ConfigureAwait(false);
        }
        catch (CniException e)
        {
            throw new BerthException(ErrorCode.Internal, $"failed to set up container networking on network {n.Name}: {e.Message}");
        }
        var ip = result.Ips?.FirstOrDefault(x => !x.Address.Contains(':', StringComparison.Ordinal))
            ?? throw new BerthException(ErrorCode.Internal, $"network {n.Name}: the CNI result has no IPv4 address");
        var slash = ip.Address.IndexOf('/', StringComparison.Ordinal);
        ep.IPAddress = ip.Address[..slash];
        ep.IPPrefixLen = int.Parse(ip.Address[(slash + 1)..], CultureInfo.InvariantCulture);
        ep.Gateway = ip.Gateway ?? n.Gateway;
        ep.MacAddress = result.Interfaces?.FirstOrDefault(x => x.Name == ifName && x.Sandbox is not null)?.Mac
            ?? result.Interfaces?.FirstOrDefault(x => x.Sandbox is not null)?.Mac;
    }

    private static RuntimeConf Runtime(string containerId, string netns, string ifName, string? staticIp, JsonObject? capabilities) => new()
    {
        ContainerId = containerId,
        NetNs = netns,
        IfName = ifName,
        Args = staticIp is null ? [] : [new("IgnoreUnknown", "1"), new("IP", staticIp)],
        CapabilityArgs = capabilities,
    };

    /// <summary>The CNI capability arguments of one attachment: its published ports and its requested MAC address.</summary>
    private static JsonObject? Capabilities(JsonObject? ports, EndpointState ep)
    {
        if (ep.RequestedMac is null)
        {
            return ports;
        }
        var caps = (JsonObject?)ports?.DeepClone() ?? [];
        caps["mac"] = ep.RequestedMac;
        return caps;
    }

    /// <summary>CNI DEL of every attachment and the namespace removed, after the container stopped (or a failed start).</summary>
    internal async Task TeardownAsync(Container c)
    {
        if (!OwnsNetns(c.Record.HostConfig))
        {
            return;
        }
        await _attachGate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            await TeardownLockedAsync(c, State(c)).ConfigureAwait(false);
        }
        finally
        {
            _attachGate.Release();
        }
    }

    private async Task TeardownLockedAsync(Container c, ContainerNetworkState st)
    {
        await DetachDnsAsync(c).ConfigureAwait(false);
        if (st.SandboxKey is null && st.Endpoints.Values.All(e => e.IfName is null) && st.Ports.Count == 0)
        {
            return;
        }
        foreach (var ep in st.Endpoints.Values.Where(e => e.IfName is not null).OrderByDescending(e => e.Order).ToList())
        {
            await DelEndpointAsync(c.Id, st, ep).ConfigureAwait(false);
        }
        if (st.SandboxKey is { } ns)
        {
            PersistentNetworkNamespace.Remove(ns);
            st.SandboxKey = null;
        }
        st.Ports.Clear();
        SaveState(c.Id, st);
    }

    /// <summary>CNI DEL of one endpoint (idempotent, so a teardown cut short is simply run again); the caller saves.</summary>
    private async Task DelEndpointAsync(string containerId, ContainerNetworkState st, EndpointState ep)
    {
        var rt = Runtime(containerId, st.SandboxKey ?? "", ep.IfName!, null, null);
        NetworkConfigList? list = null;
        if (TryGet(ep.NetworkId) is { } n)
        {
            list = ConfList(n);
        }
        else if (Cni.CachedAttachments().FirstOrDefault(a => a.ContainerId == containerId && a.IfName == ep.IfName) is { } cached)
        {
            list = NetworkConfigList.Parse(cached.Config, "cached network configuration");
        }
        if (list is not null)
        {
            try
            {
                await Cni.DelAsync(list, rt, CancellationToken.None).ConfigureAwait(false);
            }
            catch (CniException e)
            {
                // The cache stays, so the next daemon start retries the DEL.
                Log.ContainerWarning(Logger, containerId, $"CNI DEL on network {ep.NetworkName}: {e.Message}");
            }
        }
        ep.IfName = null;
        ep.EndpointId = null;
        ep.IPAddress = null;
        ep.IPPrefixLen = 0;
        ep.Gateway = null;
        ep.MacAddress = null;
    }

    /// <summary>Host ports for this start: explicit ones checked against other containers and host sockets, free ones picked.</summary>
    private JsonObject? AllocatePorts(Container c, ContainerNetworkState st)
    {
        var requests = PublishedPorts.Requests(c.Record.HostConfig, c.Record.Config);
        st.Ports.Clear();
        if (requests.Count == 0)
        {
            return null;
        }
        var taken = new List<(string Ip, int Port, string Proto)>();
        foreach (var other in _engine.List().Where(x => x.Id != c.Id && x.IsRunning))
        {
            foreach (var (key, bindings) in State(other).Ports)
            {
                var proto = key[(key.IndexOf('/', StringComparison.Ordinal) + 1)..];
                taken.AddRange(bindings.Select(b => (b.HostIp, int.Parse(b.HostPort, CultureInfo.InvariantCulture), proto)));
            }
        }
        bool Clashes(string ip, int port, string proto) =>
            taken.Any(t => t.Port == port && t.Proto == proto && (t.Ip is "0.0.0.0" or "" || ip is "0.0.0.0" or "" || t.Ip == ip));
        // The network's default host address (-o com.docker.network.bridge.host_binding_ipv4) for -p without one.
        var first = st.Endpoints.Values.OrderBy(e => e.Order).FirstOrDefault() is { } ep0 ? TryGet(ep0.NetworkId) : null;
        var defaultHostIp = first?.Options.GetValueOrDefault(HostBindingOption) is { Length: > 0 } b && b != "0.0.0.0" ? b : "";
        var mappings = new JsonArray();
        foreach (var request in requests)
        {
            var r = request.HostIp.Length == 0 ? request with { HostIp = defaultHostIp } : request;
            var shown = r.HostIp.Length == 0 ? "0.0.0.0" : r.HostIp;
            int port;
            if (r.HostPortStart == 0)
            {
                port = PublishedPorts.FreeEphemeralPort(r.HostIp, r.Protocol, p => Clashes(r.HostIp, p, r.Protocol));
            }
            else
            {
                port = 0;
                for (var p = r.HostPortStart; p <= r.HostPortEnd && port == 0; p++)
                {
                    if (!Clashes(r.HostIp, p, r.Protocol) && !PublishedPorts.InUseOnHost(r.HostIp, p, r.Protocol))
                    {
                        port = p;
                    }
                }
                if (port == 0)
                {
                    var what = r.HostPortStart == r.HostPortEnd ? r.HostPortStart.ToString(CultureInfo.InvariantCulture) : $"{r.HostPortStart}-{r.HostPortEnd}";
                    if (r.HostPortStart == r.HostPortEnd && !Clashes(r.HostIp, r.HostPortStart, r.Protocol))
                    {
                        throw new BerthException(ErrorCode.Internal, $"driver failed programming external connectivity on endpoint {c.Record.Name.TrimStart('/')} ({c.Id}): failed to bind host port for {shown}:{what}:{r.Key}: address already in use");
                    }
                    throw new BerthException(ErrorCode.Internal, $"driver failed programming external connectivity on endpoint {c.Record.Name.TrimStart('/')} ({c.Id}): Bind for {shown}:{what} failed: port is already allocated");
                }
            }
            taken.Add((r.HostIp, port, r.Protocol));
            if (!st.Ports.TryGetValue(r.Key, out var list))
            {
                st.Ports[r.Key] = list = [];
            }
            list.Add(new PortBinding { HostIp = shown, HostPort = port.ToString(CultureInfo.InvariantCulture) });
            var m = new JsonObject { ["hostPort"] = port, ["containerPort"] = r.ContainerPort, ["protocol"] = r.Protocol };
            if (r.HostIp.Length > 0)
            {
                m["hostIP"] = r.HostIp;
            }
            mappings.Add((JsonNode)m);
        }
        return new JsonObject { ["portMappings"] = mappings };
    }

    /// <summary>/etc/hosts and /etc/resolv.conf for the container, next to its record (Docker keeps them there too).</summary>
    private void WriteFiles(Container c, ContainerNetworkState st)
    {
        var dir = Path.Combine(_engine.Options.ContainersDirectory, c.Id);
        var h = c.Record.HostConfig;
        var primary = st.Endpoints.Values.Where(e => e.IPAddress is not null).OrderBy(e => e.Order).FirstOrDefault();
        var gateway = HostGateway() ?? st.Endpoints.Values.OrderBy(e => e.Order).FirstOrDefault()?.Gateway;
        var hosts = ContainerDnsFiles.Hosts(c.Record, false, gateway, primary?.IPAddress, primary is not null && primary.NetworkName != DefaultBridgeNetwork);
        // User-defined networks are served by the embedded DNS server (NetworkManager.Dns); the default bridge is not.
        var embedded = st.Endpoints.Values.Any(e => e.NetworkName != DefaultBridgeNetwork);
        var resolv = ContainerDnsFiles.Resolv(ResolvConf.Load(ContainerDnsFiles.HostResolvConfPath), h, embedded, containerNamespace: true);
        AtomicFile.WriteAllBytes(Path.Combine(dir, "hosts"), Encoding.UTF8.GetBytes(hosts));
        AtomicFile.WriteAllBytes(Path.Combine(dir, "resolv.conf"), Encoding.UTF8.GetBytes(resolv));
    }

    /// <summary>What host-gateway in --add-host means: the default bridge's gateway, the host's address on it.</summary>
    public string? HostGateway() => TryGet(DefaultBridgeNetwork)?.Gateway;

    /// <summary>Running containers attached to <paramref name="n"/>.</summary>
    internal IEnumerable<(Container Container, EndpointState Endpoint)> Endpoints(NetworkRecord n)
    {
        foreach (var c in _engine.List())
        {
            if (!c.IsRunning)
            {
                continue;
            }
            if (State(c).Endpoints.TryGetValue(n.Id, out var ep) && ep.EndpointId is not null)
            {
                yield return (c, ep);
            }
            else if (!n.IsBridge && c.Record.HostConfig.NetworkMode == n.Name)
            {
                yield return (c, new EndpointState { NetworkId = n.Id, NetworkName = n.Name });
            }
        }
    }

    /// <summary>POST /networks/{id}/connect: recorded for a stopped container, attached (eth1, eth2 ...) to a running one.</summary>
    public async Task ConnectAsync(Container c, NetworkRecord n, List<string>? aliases, string? ipv4, CancellationToken cancellationToken)
    {
        if (!n.IsBridge)
        {
            throw new BerthException(ErrorCode.PermissionDenied, $"container cannot be disconnected from host network or connected to host network");
        }
        if (c.Record.HostConfig.NetworkMode == "none")
        {
            throw new BerthException(ErrorCode.PermissionDenied, "container cannot be connected to multiple networks with one of the networks in private (none) mode");
        }
        if (!OwnsNetns(c.Record.HostConfig))
        {
            throw new BerthException(ErrorCode.PermissionDenied, $"container sharing network namespace with another container or host cannot be connected to any other network");
        }
        if (!string.IsNullOrEmpty(ipv4))
        {
            CheckStaticIp(n, ipv4);
        }
        if (aliases is { Count: > 0 } && n.Name == DefaultBridgeNetwork)
        {
            throw BerthException.InvalidArgument("network-scoped alias is supported only for containers in user defined networks");
        }
        await _attachGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var st = State(c);
            if (st.Endpoints.ContainsKey(n.Id))
            {
                if (!c.IsRunning)
                {
                    // As dockerd: connecting a stopped container again keeps the first configuration and succeeds.
                    return;
                }
                throw new BerthException(ErrorCode.PermissionDenied, $"endpoint with name {c.Record.Name.TrimStart('/')} already exists in network {n.Name}");
            }
            var ep = new EndpointState
            {
                NetworkId = n.Id,
                NetworkName = n.Name,
                Aliases = aliases ?? [],
                RequestedIPv4 = string.IsNullOrEmpty(ipv4) ? null : ipv4,
                Order = st.Endpoints.Count == 0 ? 0 : st.Endpoints.Values.Max(e => e.Order) + 1,
            };
            st.Endpoints[n.Id] = ep;
            if (c.IsRunning && st.SandboxKey is not null)
            {
                var used = st.Endpoints.Values.Select(e => e.IfName).Where(x => x is not null).ToHashSet(StringComparer.Ordinal);
                var index = 0;
                while (used.Contains("eth" + index.ToString(CultureInfo.InvariantCulture)))
                {
                    index++;
                }
                try
                {
                    PrepareEndpoint(ep, n, "eth" + index.ToString(CultureInfo.InvariantCulture));
                    SaveState(c.Id, st);
                    await AddEndpointAsync(c, st, ep, n, null, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    st.Endpoints.Remove(n.Id);
                    SaveState(c.Id, st);
                    throw;
                }
                WriteFiles(c, st);
                if (HasDns(ep))
                {
                    if (Dns.Attached.Contains(c.Id))
                    {
                        Publish(c, ep);
                    }
                    else
                    {
                        await AttachDnsAsync(c, st, cancellationToken).ConfigureAwait(false);
                    }
                }
            }
            SaveState(c.Id, st);
        }
        finally
        {
            _attachGate.Release();
        }
        _engine.Events.Publish("network", "connect", n.Id, new Dictionary<string, string> { ["container"] = c.Id, ["name"] = n.Name, ["type"] = n.Driver });
    }

    /// <summary>POST /networks/{id}/disconnect.</summary>
    public async Task DisconnectAsync(Container c, NetworkRecord n, CancellationToken cancellationToken)
    {
        await _attachGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var st = State(c);
            if (!n.IsBridge || !st.Endpoints.TryGetValue(n.Id, out var ep))
            {
                throw new BerthException(ErrorCode.PermissionDenied, $"container {c.Id} is not connected to network {n.Name}");
            }
            Zone.RemoveEndpoint(n.Id, c.Id);
            if (ep.IfName is not null)
            {
                await DelEndpointAsync(c.Id, st, ep).ConfigureAwait(false);
            }
            st.Endpoints.Remove(n.Id);
            if (c.IsRunning && st.SandboxKey is not null)
            {
                WriteFiles(c, st);
            }
            SaveState(c.Id, st);
        }
        finally
        {
            _attachGate.Release();
        }
        _engine.Events.Publish("network", "disconnect", n.Id, new Dictionary<string, string> { ["container"] = c.Id, ["name"] = n.Name, ["type"] = n.Driver });
    }
}

/// <summary>NetworkingConfig of POST /containers/create.</summary>
public sealed class NetworkingConfig
{
    public Dictionary<string, EndpointSettings>? EndpointsConfig { get; set; }
}

public sealed class EndpointSettings
{
    public EndpointIpamConfig? IPAMConfig { get; set; }

    public List<string>? Aliases { get; set; }

    public List<string>? Links { get; set; }

    public string? MacAddress { get; set; }
}

public sealed class EndpointIpamConfig
{
    public string? IPv4Address { get; set; }

    public string? IPv6Address { get; set; }
}
