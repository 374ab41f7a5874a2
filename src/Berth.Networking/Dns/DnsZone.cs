using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;

namespace Berth.Networking.Dns;

/// <summary>
/// A container's attachment to one network as DNS sees it: the names it answers to there (its name, its
/// network-scoped aliases, its 12-character short id) and its addresses on that network.
/// </summary>
public sealed record DnsEndpoint(
    string NetworkId,
    string NetworkName,
    string ContainerId,
    string ContainerName,
    IReadOnlyList<string> Aliases,
    IPAddress? IPv4,
    IPAddress? IPv6);

/// <summary>
/// The records the engine publishes: every container endpoint on every network with embedded DNS. Writers
/// (the engine, on create/connect/disconnect/remove) take a lock and publish a new immutable snapshot; readers
/// (the servers, on every query) read the current snapshot without locking, so a change is visible to the next
/// query and a query never sees half of one.
/// </summary>
public sealed class DnsZone
{
    private readonly Lock gate = new();
    private volatile Snapshot current = Snapshot.Empty;

    internal Snapshot Current => current;

    /// <summary>Adds an endpoint, or replaces the one of the same container on the same network.</summary>
    public void AddEndpoint(DnsEndpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        Validate(endpoint);
        lock (gate)
        {
            var snap = current;
            var network = snap.Networks.TryGetValue(endpoint.NetworkId, out var n) ? n : NetworkIndex.Empty(endpoint.NetworkId);
            var networks = snap.Networks.SetItem(endpoint.NetworkId, network.With(endpoint));
            var order = snap.ContainerNetworks.TryGetValue(endpoint.ContainerId, out var list) ? list : [];
            if (!order.Contains(endpoint.NetworkId))
            {
                order = order.Add(endpoint.NetworkId);
            }
            current = new Snapshot(networks, snap.ContainerNetworks.SetItem(endpoint.ContainerId, order));
        }
    }

    /// <summary>Removes a container's endpoint on a network; false when there was none.</summary>
    public bool RemoveEndpoint(string networkId, string containerId)
    {
        lock (gate)
        {
            var snap = current;
            if (!snap.Networks.TryGetValue(networkId, out var network) || !network.Endpoints.ContainsKey(containerId))
            {
                return false;
            }
            var remaining = network.Without(containerId);
            var networks = remaining.Endpoints.IsEmpty ? snap.Networks.Remove(networkId) : snap.Networks.SetItem(networkId, remaining);
            var order = snap.ContainerNetworks[containerId].Remove(networkId);
            var containers = order.IsEmpty ? snap.ContainerNetworks.Remove(containerId) : snap.ContainerNetworks.SetItem(containerId, order);
            current = new Snapshot(networks, containers);
            return true;
        }
    }

    /// <summary>
    /// Gives every endpoint of a container its new name (docker rename) in one snapshot: the next query finds the new
    /// name and no longer the old one. False when the container has no endpoint here.
    /// </summary>
    public bool RenameContainer(string containerId, string newName)
    {
        ArgumentException.ThrowIfNullOrEmpty(containerId);
        ArgumentNullException.ThrowIfNull(newName);
        lock (gate)
        {
            var snap = current;
            if (!snap.ContainerNetworks.TryGetValue(containerId, out var networkIds))
            {
                return false;
            }
            var networks = snap.Networks;
            foreach (var id in networkIds)
            {
                if (networks.TryGetValue(id, out var network) && network.Endpoints.TryGetValue(containerId, out var e))
                {
                    networks = networks.SetItem(id, network.With(e with { ContainerName = newName }));
                }
            }
            current = snap with { Networks = networks };
            return true;
        }
    }

    /// <summary>Removes every endpoint of a container; the number removed.</summary>
    public int RemoveContainer(string containerId)
    {
        var networks = current.ContainerNetworks.TryGetValue(containerId, out var list) ? list : [];
        return networks.Count(n => RemoveEndpoint(n, containerId));
    }

    /// <summary>
    /// What <paramref name="containerId"/> sees: names on the networks it is attached to at query time (a later
    /// connect or disconnect changes the view with no further call). Other names go to <paramref name="upstreams"/>
    /// (the container's --dns servers; null = the server's default, the host's resolv.conf), or get SERVFAIL when
    /// <paramref name="forwardExternal"/> is false (a container only on --internal networks).
    /// </summary>
    public DnsView ViewOf(string containerId, IReadOnlyList<IPEndPoint>? upstreams = null, bool forwardExternal = true) =>
        new(this, containerId, upstreams, forwardExternal);

    private static void Validate(DnsEndpoint e)
    {
        if (string.IsNullOrEmpty(e.NetworkId) || string.IsNullOrEmpty(e.NetworkName) || string.IsNullOrEmpty(e.ContainerId))
        {
            throw new ArgumentException($"DNS endpoint of container '{e.ContainerName}' needs a network id, network name and container id", nameof(e));
        }
        if (e.IPv4 is { AddressFamily: not AddressFamily.InterNetwork })
        {
            throw new ArgumentException($"DNS endpoint of container '{e.ContainerName}': {e.IPv4} is not an IPv4 address", nameof(e));
        }
        if (e.IPv6 is { AddressFamily: not AddressFamily.InterNetworkV6 })
        {
            throw new ArgumentException($"DNS endpoint of container '{e.ContainerName}': {e.IPv6} is not an IPv6 address", nameof(e));
        }
    }

    /// <summary>A name as the index keys it: lower case, no leading '/' (Docker's stored names), no trailing dot.</summary>
    internal static string Normalize(string name) => name.Trim().TrimStart('/').TrimEnd('.').ToLowerInvariant();

    /// <summary>True when every label is 1..63 bytes of printable ASCII without dots, so it can be a DNS name at all.</summary>
    internal static bool IsDnsName(string name)
    {
        if (name.Length is 0 or > 253)
        {
            return false;
        }
        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > DnsWire.MaxLabelLength || label.Any(c => c is <= ' ' or >= (char)0x7F or '\\'))
            {
                return false;
            }
        }
        return true;
    }

    internal sealed record Snapshot(
        ImmutableDictionary<string, NetworkIndex> Networks,
        ImmutableDictionary<string, ImmutableList<string>> ContainerNetworks)
    {
        public static readonly Snapshot Empty = new(
            ImmutableDictionary<string, NetworkIndex>.Empty, ImmutableDictionary<string, ImmutableList<string>>.Empty);
    }

    /// <summary>One network's records: endpoints by container, by name (names, aliases, short ids) and by address.</summary>
    internal sealed class NetworkIndex
    {
        private NetworkIndex(string id, string name, ImmutableDictionary<string, DnsEndpoint> endpoints)
        {
            Id = id;
            Name = name;
            Endpoints = endpoints;
            var byName = new Dictionary<string, List<DnsEndpoint>>(StringComparer.Ordinal);
            var byAddress = new Dictionary<IPAddress, DnsEndpoint>();
            foreach (var e in endpoints.Values.OrderBy(e => e.ContainerId, StringComparer.Ordinal))
            {
                foreach (var n in NamesOf(e))
                {
                    if (!byName.TryGetValue(n, out var list))
                    {
                        byName[n] = list = [];
                    }
                    if (!list.Contains(e))
                    {
                        list.Add(e);
                    }
                }
                if (e.IPv4 is not null)
                {
                    byAddress.TryAdd(e.IPv4, e);
                }
                if (e.IPv6 is not null)
                {
                    byAddress.TryAdd(e.IPv6, e);
                }
            }
            ByName = byName.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal);
            ByAddress = byAddress;
        }

        public string Id { get; }

        /// <summary>Normalized network name, as used in "container.network" and PTR answers.</summary>
        public string Name { get; }

        public ImmutableDictionary<string, DnsEndpoint> Endpoints { get; }

        public IReadOnlyDictionary<string, DnsEndpoint[]> ByName { get; }

        public IReadOnlyDictionary<IPAddress, DnsEndpoint> ByAddress { get; }

        public static NetworkIndex Empty(string id) => new(id, "", ImmutableDictionary<string, DnsEndpoint>.Empty);

        public NetworkIndex With(DnsEndpoint e) => new(Id, Normalize(e.NetworkName), Endpoints.SetItem(e.ContainerId, e));

        public NetworkIndex Without(string containerId) => new(Id, Name, Endpoints.Remove(containerId));

        private static IEnumerable<string> NamesOf(DnsEndpoint e)
        {
            if (!string.IsNullOrWhiteSpace(e.ContainerName))
            {
                yield return Normalize(e.ContainerName);
            }
            foreach (var alias in e.Aliases)
            {
                if (!string.IsNullOrWhiteSpace(alias))
                {
                    yield return Normalize(alias);
                }
            }
            if (e.ContainerId.Length >= 12)
            {
                yield return e.ContainerId[..12].ToLowerInvariant();
            }
        }
    }
}
