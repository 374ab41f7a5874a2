using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Berth.Core;
using Berth.Linux;
using Berth.Linux.Netlink;
using Berth.Networking.Cni;

namespace Berth.Networking.Dns;

/// <summary>Settings of the embedded DNS server.</summary>
public sealed class DnsServerOptions
{
    /// <summary>Where containers send queries, inside their own network namespace.</summary>
    public IPAddress ListenAddress { get; init; } = ResolvConf.EmbeddedServer;

    public int Port { get; init; } = 53;

    /// <summary>The host's resolver configuration, read (and re-read when it changes) for upstream servers.</summary>
    public string ResolvConfPath { get; init; } = "/etc/resolv.conf";

    /// <summary>Upstreams for every view without its own; null = the nameservers of <see cref="ResolvConfPath"/>.</summary>
    public IReadOnlyList<IPEndPoint>? Upstreams { get; init; }

    /// <summary>How long one upstream gets to answer before the next is tried.</summary>
    public TimeSpan ForwardTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Forwarded queries in flight at once; past that a query gets SERVFAIL (Docker allows 100).</summary>
    public int MaxConcurrentForwards { get; init; } = 100;

    /// <summary>A TCP client idle this long is disconnected (RFC 7766 §6.2.3 suggests seconds).</summary>
    public TimeSpan TcpIdleTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>TCP connections per container at once; more are closed on accept.</summary>
    public int MaxTcpConnections { get; init; } = 64;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>Counters since the server started (read for diagnostics and tests).</summary>
public sealed class DnsServerStatistics
{
    internal long queries;
    internal long local;
    internal long forwarded;
    internal long failed;
    internal long dropped;

    public long Queries => Interlocked.Read(ref queries);

    /// <summary>Answered from the zone (records or NODATA).</summary>
    public long AnsweredLocally => Interlocked.Read(ref local);

    /// <summary>Answered with an upstream's reply.</summary>
    public long Forwarded => Interlocked.Read(ref forwarded);

    /// <summary>Answered SERVFAIL/FORMERR/NOTIMP/BADVERS.</summary>
    public long Failed => Interlocked.Read(ref failed);

    /// <summary>Not answered at all (not a query).</summary>
    public long Dropped => Interlocked.Read(ref dropped);
}

/// <summary>
/// Docker's embedded DNS server for Berth: for each attached container, a UDP and a TCP socket on
/// 127.0.0.11 (an ephemeral port, which port 53 is redirected to: <see cref="DnsRedirect"/>) inside that
/// container's network namespace answer names from the <see cref="DnsZone"/> as the
/// container's <see cref="DnsView"/> sees them, and forward other names to upstream servers from the daemon's
/// namespace. The sockets are made on a short-lived thread that joins the namespace and leaves it; a socket
/// belongs to the namespace it was created in, so every read and write after that runs on ordinary pool threads.
/// An attached socket keeps the namespace alive: detach when the container stops.
/// </summary>
public sealed class DnsServer : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, DnsListener> listeners = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim forwardSlots;
    private readonly DnsForwarder forwarder;
    private readonly Lock upstreamGate = new();
    private (DateTime Stamp, long Length, DateTimeOffset CheckedAt, IReadOnlyList<IPEndPoint> Upstreams)? hostUpstreams;

    public DnsServer(DnsServerOptions? options = null)
    {
        Options = options ?? new DnsServerOptions();
        forwardSlots = new SemaphoreSlim(Options.MaxConcurrentForwards);
        forwarder = new DnsForwarder(Options.ForwardTimeout, Options.TimeProvider);
    }

    public DnsServerOptions Options { get; }

    public DnsServerStatistics Statistics { get; } = new();

    /// <summary>The ids currently served.</summary>
    public IReadOnlyCollection<string> Attached => [.. listeners.Keys];

    /// <summary>
    /// Serves <paramref name="view"/> on 127.0.0.11:53 (redirected to the listener's port) inside the network namespace at <paramref name="netnsPath"/>
    /// (/proc/PID/ns/net or a bind-mounted netns file), bringing its "lo" up first. An id already attached is
    /// detached first, so a restarted container (a new namespace) is attached again the same way.
    /// </summary>
    public async Task AttachAsync(string containerId, string netnsPath, DnsView view, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(containerId);
        ArgumentException.ThrowIfNullOrEmpty(netnsPath);
        ArgumentNullException.ThrowIfNull(view);
        ct.ThrowIfCancellationRequested();
        await DetachAsync(containerId);
        NetworkNamespace ns;
        try
        {
            ns = NetworkNamespace.Open(netnsPath);
        }
        catch (LinuxSyscallException e) when (e.Errno == Errno.ENOENT)
        {
            throw new BerthException(ErrorCode.NotFound,
                $"DNS for container {containerId}: network namespace {netnsPath} does not exist; is the container running?", e);
        }
        (Socket Udp, Socket Tcp) sockets;
        using (ns)
        {
            var what = $"DNS for container {containerId} in {netnsPath}";
            sockets = await ns.RunAsync(() =>
            {
                NetworkInterface.Up("lo");
                // An ephemeral port, reached through the redirect from the well-known one (DnsRedirect).
                var opened = OpenSockets(new IPEndPoint(Options.ListenAddress, 0), what);
                try
                {
                    DnsRedirect.Load(Options.ListenAddress, Options.Port, ((IPEndPoint)opened.Udp.LocalEndPoint!).Port);
                }
                catch (CniException e)
                {
                    opened.Udp.Dispose();
                    opened.Tcp.Dispose();
                    throw new BerthException(ErrorCode.Unavailable, $"{what}: cannot redirect port {Options.Port}: {e.Message}", e);
                }
                return opened;
            });
        }
        Start(containerId, sockets.Udp, sockets.Tcp, view);
    }

    /// <summary>
    /// Serves <paramref name="view"/> on <paramref name="endpoint"/> in the daemon's own namespace (port 0 = any
    /// free one); returns the bound endpoint. For tests, benchmarks and a host-side resolver.
    /// </summary>
    public Task<IPEndPoint> ListenAsync(string id, IPEndPoint endpoint, DnsView view, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(view);
        ct.ThrowIfCancellationRequested();
        if (listeners.ContainsKey(id))
        {
            throw BerthException.AlreadyExists($"DNS listener '{id}' already runs; detach it first");
        }
        var (udp, tcp) = OpenSockets(endpoint, $"DNS listener '{id}'");
        Start(id, udp, tcp, view);
        return Task.FromResult((IPEndPoint)udp.LocalEndPoint!);
    }

    /// <summary>Closes the sockets of <paramref name="containerId"/>; false when it was not attached.</summary>
    public async Task<bool> DetachAsync(string containerId)
    {
        if (!listeners.TryRemove(containerId, out var listener))
        {
            return false;
        }
        await listener.DisposeAsync();
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in listeners.Keys.ToList())
        {
            await DetachAsync(id);
        }
        forwardSlots.Dispose();
    }

    private void Start(string id, Socket udp, Socket tcp, DnsView view)
    {
        var listener = new DnsListener(this, udp, tcp, view);
        if (!listeners.TryAdd(id, listener))
        {
            udp.Dispose();
            tcp.Dispose();
            throw BerthException.AlreadyExists($"DNS listener '{id}' was attached concurrently; detach it first");
        }
        listener.Start();
    }

    /// <summary>A UDP and a TCP socket on the same address and port (the TCP one on the port UDP got, for port 0).</summary>
    private static (Socket Udp, Socket Tcp) OpenSockets(IPEndPoint endpoint, string what)
    {
        var udp = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        var tcp = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            udp.Bind(endpoint);
            tcp.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            tcp.Bind(new IPEndPoint(endpoint.Address, ((IPEndPoint)udp.LocalEndPoint!).Port));
            tcp.Listen(128);
            return (udp, tcp);
        }
        catch (SocketException e)
        {
            udp.Dispose();
            tcp.Dispose();
            var code = e.SocketErrorCode == SocketError.AddressAlreadyInUse ? ErrorCode.Conflict : ErrorCode.Unavailable;
            throw new BerthException(code, $"{what}: cannot listen on {endpoint}: {e.Message}" +
                (code == ErrorCode.Conflict ? "; another process in that namespace has the port" : ""), e);
        }
    }

    // ---- handling, shared by every listener ----

    /// <summary>
    /// The reply to <paramref name="request"/> if the zone decides it (records, NODATA, or an error code), null
    /// when it must be forwarded (<paramref name="forward"/> set) or dropped (<paramref name="forward"/> null).
    /// </summary>
    internal byte[]? AnswerLocally(ReadOnlySpan<byte> request, bool tcp, DnsView view, List<DnsRecord> scratch, out DnsQuery? forward)
    {
        forward = null;
        Interlocked.Increment(ref Statistics.queries);
        var status = DnsQuery.TryParse(request, out var query);
        switch (status)
        {
            case DnsParseStatus.Drop:
                Interlocked.Increment(ref Statistics.dropped);
                return null;
            case DnsParseStatus.FormErr:
                return Fail(query!, DnsRcode.FormErr);
            case DnsParseStatus.NotImp:
                return Fail(query!, DnsRcode.NotImp);
            case DnsParseStatus.BadVers:
                return Fail(query!, DnsRcode.BadVers);
            default:
                break;
        }
        if (view.Resolve(query!, scratch) == DnsOutcome.Answer)
        {
            Interlocked.Increment(ref Statistics.local);
            return DnsResponseWriter.Answer(query!, scratch, tcp ? DnsWire.MaxMessageSize : query!.MaxUdpResponse, udp: !tcp);
        }
        if (!view.ForwardExternal)
        {
            return Fail(query!, DnsRcode.ServFail);
        }
        forward = query;
        return null;
    }

    /// <summary>
    /// The upstream's reply to a query the zone does not answer, or SERVFAIL. <paramref name="request"/> is handed
    /// over: the forwarder rewrites its id in place rather than copying it again.
    /// </summary>
    internal async Task<byte[]> ForwardAsync(DnsQuery query, byte[] request, bool tcp, DnsView view, CancellationToken ct)
    {
        var upstreams = view.Upstreams ?? Options.Upstreams ?? HostUpstreams();
        if (upstreams.Count == 0 || !await forwardSlots.WaitAsync(0, ct))
        {
            return Fail(query, DnsRcode.ServFail);
        }
        try
        {
            var reply = await forwarder.ForwardAsync(request, tcp, upstreams, ct);
            if (reply is null)
            {
                return Fail(query, DnsRcode.ServFail);
            }
            Interlocked.Increment(ref Statistics.forwarded);
            return reply;
        }
        finally
        {
            forwardSlots.Release();
        }
    }

    private byte[] Fail(DnsQuery query, DnsRcode rcode)
    {
        Interlocked.Increment(ref Statistics.failed);
        return DnsResponseWriter.Error(query, rcode);
    }

    /// <summary>The host's nameservers, re-read when resolv.conf changes (checked at most once a second).</summary>
    private IReadOnlyList<IPEndPoint> HostUpstreams()
    {
        var now = Options.TimeProvider.GetUtcNow();
        lock (upstreamGate)
        {
            if (hostUpstreams is { } cached && now - cached.CheckedAt < TimeSpan.FromSeconds(1))
            {
                return cached.Upstreams;
            }
            var info = new FileInfo(Options.ResolvConfPath);
            var stamp = info.Exists ? info.LastWriteTimeUtc : DateTime.MinValue;
            var length = info.Exists ? info.Length : -1;
            if (hostUpstreams is { } previous && previous.Stamp == stamp && previous.Length == length)
            {
                hostUpstreams = previous with { CheckedAt = now };
                return previous.Upstreams;
            }
            IReadOnlyList<IPEndPoint> upstreams;
            try
            {
                upstreams = ResolvConf.Load(Options.ResolvConfPath).Upstreams;
            }
            catch (IOException)
            {
                upstreams = [];
            }
            hostUpstreams = (stamp, length, now, upstreams);
            return upstreams;
        }
    }
}
