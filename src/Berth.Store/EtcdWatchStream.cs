using System.Collections.Concurrent;
using System.Threading.Channels;
using Berth.Core;
using Berth.Store.Etcd.Rpc;
using Grpc.Core;

namespace Berth.Store;

/// <summary>
/// One etcd Watch stream that carries every watch of an <see cref="EtcdClusterStore"/>, as etcd's own client does:
/// each watch gets a client-chosen watch_id, responses are routed to it by that id. A broken stream fails every
/// watch on it (Unavailable; callers watch again from their last revision) and the next watch opens a new stream.
/// Each watch has an unbounded queue, so one slow consumer never holds up the others on the shared stream.
/// </summary>
internal sealed class EtcdWatchStream : IAsyncDisposable
{
    private readonly AsyncDuplexStreamingCall<WatchRequest, WatchResponse> call;
    private readonly SemaphoreSlim send = new(1, 1);
    private readonly ConcurrentDictionary<long, Subscription> subscriptions = new();
    private readonly CancellationTokenSource stop = new();
    private readonly string endpoint;
    private readonly Task receiving;
    private long nextId;
    private volatile bool failed;

    public EtcdWatchStream(Watch.WatchClient client, string endpoint)
    {
        this.endpoint = endpoint;
        call = client.Watch(cancellationToken: stop.Token);
        receiving = Task.Run(ReceiveLoopAsync);
    }

    /// <summary>False once the stream broke; the store then opens a new one.</summary>
    public bool Usable => !failed && !stop.IsCancellationRequested;

    public int Count => subscriptions.Count;

    public async Task<Subscription> WatchAsync(WatchCreateRequest create, CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref nextId);
        var subscription = new Subscription(id);
        subscriptions[id] = subscription;
        create.WatchId = id;
        try
        {
            await SendAsync(new WatchRequest { CreateRequest = create }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            subscriptions.TryRemove(id, out _);
            throw;
        }
        if (failed)
        {
            // The stream broke between registering and sending: make sure this watch learns it.
            subscription.Fail(Broken(null));
        }
        return subscription;
    }

    public async Task CancelAsync(Subscription subscription)
    {
        if (!subscriptions.TryRemove(subscription.Id, out _) || failed || stop.IsCancellationRequested)
        {
            return;
        }
        try
        {
            await SendAsync(new WatchRequest { CancelRequest = new WatchCancelRequest { WatchId = subscription.Id } }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or ObjectDisposedException or OperationCanceledException)
        {
            // The stream is going away; etcd drops its watches with it.
        }
    }

    private async Task SendAsync(WatchRequest request, CancellationToken cancellationToken)
    {
        await send.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await call.RequestStream.WriteAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw Broken(e);
        }
        finally
        {
            send.Release();
        }
    }

    private async Task ReceiveLoopAsync()
    {
        Exception? error = null;
        try
        {
            while (await call.ResponseStream.MoveNext(stop.Token).ConfigureAwait(false))
            {
                var response = call.ResponseStream.Current;
                if (subscriptions.TryGetValue(response.WatchId, out var subscription))
                {
                    subscription.Deliver(response);
                }
                else if (response.WatchId == -1 && response.Canceled)
                {
                    // etcd could not create a watch and cannot say which (it answers with id -1): fail the ones
                    // still waiting for their creation so none waits forever.
                    foreach (var pending in subscriptions.Values.Where(s => !s.Created))
                    {
                        pending.Fail(new BerthException(ErrorCode.Unavailable, $"etcd at {endpoint} refused a watch: {response.CancelReason}"));
                    }
                }
            }
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException or IOException)
        {
            error = e;
        }
        failed = true;
        var broken = stop.IsCancellationRequested ? null : Broken(error);
        foreach (var subscription in subscriptions.Values)
        {
            subscription.Fail(broken);
        }
    }

    private BerthException Broken(Exception? inner)
    {
        var message = $"the watch stream to etcd at {endpoint} broke{(inner is RpcException r ? $" ({r.StatusCode}: {r.Status.Detail})" : "")}; watch again from the last revision seen";
        return inner is null ? new BerthException(ErrorCode.Unavailable, message) : new BerthException(ErrorCode.Unavailable, message, inner);
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await receiving.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        call.Dispose();
        stop.Dispose();
        send.Dispose();
    }

    /// <summary>One watch on the shared stream: the responses etcd sent for its id, in order.</summary>
    internal sealed class Subscription(long id)
    {
        private readonly Channel<WatchResponse> responses = Channel.CreateUnbounded<WatchResponse>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });

        public long Id { get; } = id;

        public bool Created { get; private set; }

        public ChannelReader<WatchResponse> Reader => responses.Reader;

        public void Deliver(WatchResponse response)
        {
            if (response.Created)
            {
                Created = true;
            }
            responses.Writer.TryWrite(response);
        }

        /// <summary>Ends the watch: with an error, or (null) quietly because the store is closing.</summary>
        public void Fail(Exception? error) => responses.Writer.TryComplete(error);
    }
}
