using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Berth.Networking.Dns;

/// <summary>How the server answers one query for one container.</summary>
public enum DnsOutcome
{
    /// <summary>The name is this container's to know: answer with the records (none = NOERROR/NODATA).</summary>
    Answer,

    /// <summary>Not a name of any network the container is on: ask the upstream servers.</summary>
    Forward,
}

/// <summary>
/// One container's view of a <see cref="DnsZone"/>: it resolves names only on the networks the container is
/// attached to, at the moment of the query. Resolution follows Docker's embedded server: "name" on any of its
/// networks (in the order they were connected), then "name.network" forms; an A query for a name that exists
/// only with IPv6 (or the reverse) gets NOERROR with no answer, not NXDOMAIN; PTR for a container address
/// answers "container.network".
/// </summary>
public sealed class DnsView
{
    private const string ReverseV4 = ".in-addr.arpa";
    private const string ReverseV6 = ".ip6.arpa";

    internal DnsView(DnsZone zone, string containerId, IReadOnlyList<IPEndPoint>? upstreams, bool forwardExternal)
    {
        ArgumentException.ThrowIfNullOrEmpty(containerId);
        Zone = zone;
        ContainerId = containerId;
        Upstreams = upstreams;
        ForwardExternal = forwardExternal;
    }

    public DnsZone Zone { get; }

    public string ContainerId { get; }

    /// <summary>Servers to forward other names to (the container's --dns); null = the host's resolv.conf.</summary>
    public IReadOnlyList<IPEndPoint>? Upstreams { get; }

    /// <summary>False for a container without external access (an --internal network): other names get SERVFAIL.</summary>
    public bool ForwardExternal { get; }

    /// <summary>Decides a query: local records, or forward.</summary>
    public DnsOutcome Resolve(DnsQuery query, List<DnsRecord> answers)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(answers);
        answers.Clear();
        if (!query.NameIsPlain || query.Class is not (DnsClass.IN or DnsClass.Any))
        {
            return DnsOutcome.Forward;
        }
        var snap = Zone.Current;
        if (!snap.ContainerNetworks.TryGetValue(ContainerId, out var networkIds) || networkIds.IsEmpty)
        {
            return DnsOutcome.Forward;
        }
        var name = query.Name;
        switch (query.Type)
        {
            case DnsType.A:
                return Addresses(snap, networkIds, name, AddressFamily.InterNetwork, answers) ? DnsOutcome.Answer : DnsOutcome.Forward;
            case DnsType.Aaaa:
                return Addresses(snap, networkIds, name, AddressFamily.InterNetworkV6, answers) ? DnsOutcome.Answer : DnsOutcome.Forward;
            case DnsType.Ptr:
                var target = ReverseLookup(snap, networkIds, name);
                if (target is null)
                {
                    return DnsOutcome.Forward;
                }
                answers.Add(DnsRecord.ForPtr(target));
                return DnsOutcome.Answer;
            case DnsType.Any:
                var known = Addresses(snap, networkIds, name, AddressFamily.InterNetwork, answers);
                var v6 = new List<DnsRecord>();
                known |= Addresses(snap, networkIds, name, AddressFamily.InterNetworkV6, v6);
                answers.AddRange(v6);
                return known ? DnsOutcome.Answer : DnsOutcome.Forward;
            default:
                // MX, SRV, TXT... for a container name: the name exists and has no such records, so NOERROR with
                // nothing, never a leak of the name to the host's resolvers (Docker does this for MX; here for all).
                return Addresses(snap, networkIds, name, AddressFamily.Unspecified, answers) ? Clear(answers) : DnsOutcome.Forward;
        }
    }

    private static DnsOutcome Clear(List<DnsRecord> answers)
    {
        answers.Clear();
        return DnsOutcome.Answer;
    }

    /// <summary>
    /// Fills <paramref name="answers"/> with the addresses of <paramref name="name"/> of one family (both for
    /// Unspecified); true when the name is known on some network of the view, even with no address of that family.
    /// </summary>
    private static bool Addresses(DnsZone.Snapshot snap, IReadOnlyList<string> networkIds, string name, AddressFamily family, List<DnsRecord> answers)
    {
        // "a.b.c" is tried as "a.b.c" on every network, then "a.b" on network "c", then "a" on network "b.c".
        if (Candidates(snap, networkIds, name, null, family, answers, out var known) || known)
        {
            return true;
        }
        for (var dot = name.LastIndexOf('.'); dot > 0; dot = name.LastIndexOf('.', dot - 1))
        {
            if (Candidates(snap, networkIds, name[..dot], name[(dot + 1)..], family, answers, out known) || known)
            {
                return true;
            }
        }
        return false;
    }

    private static bool Candidates(DnsZone.Snapshot snap, IReadOnlyList<string> networkIds, string name, string? networkName,
        AddressFamily family, List<DnsRecord> answers, out bool known)
    {
        known = false;
        foreach (var id in networkIds)
        {
            if (!snap.Networks.TryGetValue(id, out var network) || (networkName is not null && network.Name != networkName))
            {
                continue;
            }
            if (!network.ByName.TryGetValue(name, out var endpoints))
            {
                continue;
            }
            known = true;
            var start = answers.Count;
            foreach (var e in endpoints)
            {
                if (family is AddressFamily.InterNetwork or AddressFamily.Unspecified && e.IPv4 is not null)
                {
                    answers.Add(DnsRecord.ForAddress(e.IPv4));
                }
                if (family is AddressFamily.InterNetworkV6 or AddressFamily.Unspecified && e.IPv6 is not null)
                {
                    answers.Add(DnsRecord.ForAddress(e.IPv6));
                }
            }
            if (answers.Count > start)
            {
                Shuffle(answers, start);
                return true;
            }
        }
        return false;
    }

    private static void Shuffle(List<DnsRecord> list, int start)
    {
        for (var i = list.Count - 1; i > start; i--)
        {
            var j = start + Random.Shared.Next(i - start + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }

    private static string? ReverseLookup(DnsZone.Snapshot snap, IReadOnlyList<string> networkIds, string name)
    {
        var address = ParseReverseName(name);
        if (address is null)
        {
            return null;
        }
        foreach (var id in networkIds)
        {
            if (snap.Networks.TryGetValue(id, out var network) && network.ByAddress.TryGetValue(address, out var e))
            {
                var target = DnsZone.Normalize(e.ContainerName) + "." + network.Name;
                return DnsZone.IsDnsName(target) ? target : null;
            }
        }
        return null;
    }

    /// <summary>"4.3.2.1.in-addr.arpa" → 1.2.3.4; 32 nibbles + ".ip6.arpa" → the IPv6 address; else null.</summary>
    internal static IPAddress? ParseReverseName(string name)
    {
        if (name.EndsWith(ReverseV4, StringComparison.Ordinal))
        {
            var parts = name[..^ReverseV4.Length].Split('.');
            if (parts.Length != 4)
            {
                return null;
            }
            var bytes = new byte[4];
            for (var i = 0; i < 4; i++)
            {
                if (!byte.TryParse(parts[3 - i], NumberStyles.None, CultureInfo.InvariantCulture, out bytes[i]) || (parts[3 - i].Length > 1 && parts[3 - i][0] == '0'))
                {
                    return null;
                }
            }
            return new IPAddress(bytes);
        }
        if (name.EndsWith(ReverseV6, StringComparison.Ordinal))
        {
            var parts = name[..^ReverseV6.Length].Split('.');
            if (parts.Length != 32)
            {
                return null;
            }
            var bytes = new byte[16];
            for (var i = 0; i < 32; i++)
            {
                var p = parts[31 - i];
                if (p.Length != 1 || !Uri.IsHexDigit(p[0]))
                {
                    return null;
                }
                var nibble = Convert.ToByte(p, 16);
                bytes[i / 2] |= (byte)(i % 2 == 0 ? nibble << 4 : nibble);
            }
            return new IPAddress(bytes);
        }
        return null;
    }
}
