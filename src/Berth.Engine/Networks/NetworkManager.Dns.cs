using System.Net;
using Berth.Engine.Containers;
using Berth.Networking.Dns;

namespace Berth.Engine.Networks;

/// <summary>
/// The embedded DNS server: containers on user-defined networks get "nameserver 127.0.0.11", answered inside
/// their namespace with container names, network aliases and short ids of the networks they are on; other names
/// are forwarded (to --dns if given, else the host's resolvers). The default bridge has no name resolution, as in Docker.
/// </summary>
public sealed partial class NetworkManager : IAsyncDisposable
{
    private DnsServer? _dns;

    public DnsZone Zone { get; } = new();

    private DnsServer Dns => _dns ??= new DnsServer();

    private static bool HasDns(EndpointState ep) => ep.NetworkName != DefaultBridgeNetwork;

    private void Publish(Container c, EndpointState ep)
    {
        if (HasDns(ep) && ep.IPAddress is { } ip)
        {
            Zone.AddEndpoint(new DnsEndpoint(ep.NetworkId, ep.NetworkName, c.Id, c.Record.Name.TrimStart('/'), ep.Aliases, IPAddress.Parse(ip), null));
        }
    }

    /// <summary>Serves 127.0.0.11 in the container's namespace when it is on a user-defined network.</summary>
    private async Task AttachDnsAsync(Container c, ContainerNetworkState st, CancellationToken cancellationToken)
    {
        if (st.SandboxKey is null || !st.Endpoints.Values.Any(e => HasDns(e) && e.IPAddress is not null))
        {
            return;
        }
        foreach (var ep in st.Endpoints.Values)
        {
            Publish(c, ep);
        }
        var upstreams = c.Record.HostConfig.Dns is { Count: > 0 } dns
            ? dns.Select(d => IPAddress.TryParse(d, out var a) ? new IPEndPoint(a, 53) : null).OfType<IPEndPoint>().ToList()
            : null;
        var external = st.Endpoints.Values.Any(e => TryGet(e.NetworkId) is { Internal: false });
        await Dns.AttachAsync(c.Id, st.SandboxKey, Zone.ViewOf(c.Id, upstreams, external), cancellationToken).ConfigureAwait(false);
    }

    private async Task DetachDnsAsync(Container c)
    {
        Zone.RemoveContainer(c.Id);
        if (_dns is not null)
        {
            await _dns.DetachAsync(c.Id).ConfigureAwait(false);
        }
    }

    /// <summary>After a daemon restart: the zone and the listeners of containers that kept running.</summary>
    internal async Task RestoreDnsAsync()
    {
        foreach (var c in _engine.List().Where(c => c.IsRunning))
        {
            try
            {
                await AttachDnsAsync(c, State(c), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is Berth.Core.BerthException or IOException or System.Net.Sockets.SocketException)
            {
                Log.ContainerWarning(Logger, c.Id, "embedded DNS: " + e.Message);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_dns is not null)
        {
            await _dns.DisposeAsync().ConfigureAwait(false);
        }
        _attachGate.Dispose();
    }
}
