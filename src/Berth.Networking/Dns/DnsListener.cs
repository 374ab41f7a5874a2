using System.Net.Sockets;

namespace Berth.Networking.Dns;

/// <summary>
/// The two sockets of one attached container and the loops reading them. Queries the zone answers are answered
/// inline on the receive loop (no allocation beyond the reply); forwarded ones run as their own tasks so a slow
/// upstream never holds up local names. Every failure of one packet or connection is contained to it.
/// </summary>
internal sealed class DnsListener : IAsyncDisposable
{
    private readonly DnsServer server;
    private readonly Socket udp;
    private readonly Socket tcp;
    private readonly DnsView view;
    private readonly CancellationTokenSource stop = new();
    private readonly List<Task> loops = [];
    private int tcpConnections;

    public DnsListener(DnsServer server, Socket udp, Socket tcp, DnsView view)
    {
        this.server = server;
        this.udp = udp;
        this.tcp = tcp;
        this.view = view;
    }

    public void Start()
    {
        // Two receive loops keep one busy core's worth of queries moving while the other sends.
        loops.Add(Task.Run(() => UdpLoopAsync(stop.Token)));
        loops.Add(Task.Run(() => UdpLoopAsync(stop.Token)));
        loops.Add(Task.Run(() => AcceptLoopAsync(stop.Token)));
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        udp.Dispose();
        tcp.Dispose();
        try
        {
            await Task.WhenAll(loops);
        }
        catch (OperationCanceledException)
        {
        }
        stop.Dispose();
    }

    private async Task UdpLoopAsync(CancellationToken ct)
    {
        var buffer = new byte[DnsWire.MaxMessageSize];
        var from = new System.Net.SocketAddress(udp.AddressFamily);
        var scratch = new List<DnsRecord>();
        while (!ct.IsCancellationRequested)
        {
            int n;
            try
            {
                n = await udp.ReceiveFromAsync(buffer, SocketFlags.None, from, ct);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || ct.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // e.g. an ICMP error for an earlier reply
            }
            try
            {
                var reply = server.AnswerLocally(buffer.AsSpan(0, n), tcp: false, view, scratch, out var forward);
                if (reply is not null)
                {
                    await udp.SendToAsync(reply, SocketFlags.None, from, ct);
                }
                else if (forward is not null)
                {
                    var to = new System.Net.SocketAddress(from.Family, from.Size);
                    from.Buffer.CopyTo(to.Buffer);
                    // The one copy of the request (the receive buffer is reused); the forwarder takes it over.
                    _ = ForwardUdpAsync(forward, buffer.AsSpan(0, n).ToArray(), to, ct);
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The client went away or the listener is stopping; the next packet is another matter.
            }
        }
    }

    private async Task ForwardUdpAsync(DnsQuery query, byte[] request, System.Net.SocketAddress to, CancellationToken ct)
    {
        try
        {
            var reply = await server.ForwardAsync(query, request, tcp: false, view, ct);
            await udp.SendToAsync(reply, SocketFlags.None, to, ct);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private async Task AcceptLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await tcp.AcceptAsync(ct);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || ct.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }
            if (Interlocked.Increment(ref tcpConnections) > server.Options.MaxTcpConnections)
            {
                Interlocked.Decrement(ref tcpConnections);
                client.Dispose();
                continue;
            }
            _ = ServeTcpAsync(client, ct);
        }
    }

    private async Task ServeTcpAsync(Socket client, CancellationToken ct)
    {
        var scratch = new List<DnsRecord>();
        try
        {
            client.NoDelay = true;
            while (!ct.IsCancellationRequested)
            {
                byte[]? request;
                using (var idle = new CancellationTokenSource(server.Options.TcpIdleTimeout, server.Options.TimeProvider))
                using (var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, idle.Token))
                {
                    request = await DnsTcp.ReadMessageAsync(client, linked.Token);
                }
                if (request is null)
                {
                    return;
                }
                var reply = server.AnswerLocally(request, tcp: true, view, scratch, out var forward);
                if (reply is null && forward is not null)
                {
                    reply = await server.ForwardAsync(forward, request, tcp: true, view, ct);
                }
                if (reply is null)
                {
                    return; // not a query: close, as there is nothing to say
                }
                await DnsTcp.WriteMessageAsync(client, reply, ct);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            client.Dispose();
            Interlocked.Decrement(ref tcpConnections);
        }
    }
}
