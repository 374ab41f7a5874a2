using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Berth.Registry.Tests.Client;

/// <summary>
/// A real TCP proxy on a free loopback port in front of a registry. It records what clients send (plain HTTP/1.1),
/// and can cut one connection once it has forwarded a number of response bytes — a server dropping a download.
/// </summary>
internal sealed class LoopbackProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly StringBuilder _sent = new();
    private readonly Task _accepting;
    private int _cut;

    public LoopbackProxy(int upstreamPort = 0)
    {
        UpstreamPort = upstreamPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string HostPort => $"127.0.0.1:{Port}";

    /// <summary>Where to forward to (settable after start, so a server can be told the proxy's address first).</summary>
    public int UpstreamPort { get; set; }

    /// <summary>When set, the first connection to forward more than this many response bytes is closed mid-stream, once.</summary>
    public long? CutOnceAfterBytes { get; set; }

    public bool HasCut => Volatile.Read(ref _cut) == 1;

    /// <summary>When set, the first connection to forward more than this many response bytes stops forwarding (stays open, silent), once.</summary>
    public long? StallOnceAfterBytes { get; set; }

    private int _stalled;

    public bool HasStalled => Volatile.Read(ref _stalled) == 1;

    /// <summary>The request bytes clients sent, as Latin-1 text (capped at 4 MB).</summary>
    public string Sent
    {
        get
        {
            lock (_sent)
            {
                return _sent.ToString();
            }
        }
    }

    public int CountRequests(string startOfRequestLine)
    {
        var text = Sent;
        var count = 0;
        for (var i = text.IndexOf(startOfRequestLine, StringComparison.Ordinal); i >= 0; i = text.IndexOf(startOfRequestLine, i + 1, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await upstream.ConnectAsync(IPAddress.Loopback, UpstreamPort, _stop.Token);
            using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            var up = PumpAsync(client, upstream, record: true, done.Token);
            var down = PumpAsync(upstream, client, record: false, done.Token);
            await Task.WhenAny(up, down);
            await done.CancelAsync();
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool record, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        long forwarded = 0;
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                if (record)
                {
                    lock (_sent)
                    {
                        if (_sent.Length < 4 << 20)
                        {
                            _sent.Append(Encoding.Latin1.GetString(buffer, 0, read));
                        }
                    }
                }
                else if (CutOnceAfterBytes is { } limit && forwarded + read > limit && Interlocked.CompareExchange(ref _cut, 1, 0) == 0)
                {
                    // Forward up to the limit, then drop both sides of this connection.
                    await to.SendAsync(buffer.AsMemory(0, (int)(limit - forwarded)), SocketFlags.None, cancellationToken);
                    to.Close();
                    from.Close();
                    return;
                }
                else if (StallOnceAfterBytes is { } stallAt && forwarded + read > stallAt && Interlocked.CompareExchange(ref _stalled, 1, 0) == 0)
                {
                    await to.SendAsync(buffer.AsMemory(0, (int)(stallAt - forwarded)), SocketFlags.None, cancellationToken);
                    await Task.Delay(Timeout.Infinite, cancellationToken); // until the client gives up on this connection or the proxy stops
                    return;
                }
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken);
                forwarded += read;
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
