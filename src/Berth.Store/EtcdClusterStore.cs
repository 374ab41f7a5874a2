using System.Runtime.CompilerServices;
using Berth.Core;
using Berth.Store.Etcd.Rpc;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Berth.Store;

/// <summary>
/// The store on an etcd v3 cluster, spoken to over etcd's own gRPC API (KV and Watch services; the proto is
/// Etcd/etcd.proto). Compare-and-swap is a txn on mod_revision, create a txn on create_revision == 0, watches
/// are watches with prev_kv from start_revision = afterRevision + 1, all multiplexed on one Watch stream
/// (<see cref="EtcdWatchStream"/>) like etcd's own client does.
/// </summary>
public sealed class EtcdClusterStore : IClusterStore
{
    private static readonly ByteString AllKeys = ByteString.CopyFrom(0);

    private readonly GrpcChannel channel;
    private readonly KV.KVClient kv;
    private readonly Watch.WatchClient watch;
    private readonly ClusterStoreOptions options;
    private readonly CancellationTokenSource disposing = new();
    private readonly Task compactor;
    private readonly Lock watchGate = new();
    private EtcdWatchStream? watchStream;
    private long compactedRevision;
    private int disposed;

    private EtcdClusterStore(string endpoint, GrpcChannel channel, ClusterStoreOptions options)
    {
        Endpoint = endpoint;
        this.channel = channel;
        this.options = options;
        kv = new KV.KVClient(channel);
        watch = new Watch.WatchClient(channel);
        compactor = options.CompactionInterval > TimeSpan.Zero ? Task.Run(CompactLoopAsync) : Task.CompletedTask;
    }

    public string Endpoint { get; }

    /// <summary>
    /// Connects to the first reachable etcd of a comma-separated list of http:// endpoints and checks that it answers.
    /// </summary>
    public static async Task<EtcdClusterStore> ConnectAsync(string endpoints, ClusterStoreOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoints);
        var errors = new List<string>();
        foreach (var raw in endpoints.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(raw, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
            {
                throw BerthException.InvalidArgument($"etcd endpoint '{raw}' is not an http:// URL such as http://127.0.0.1:2379");
            }
            var channel = GrpcChannel.ForAddress(uri, new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler
                {
                    EnableMultipleHttp2Connections = true,
                    KeepAlivePingDelay = TimeSpan.FromSeconds(30),
                    KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                    ConnectTimeout = TimeSpan.FromSeconds(5),
                },
                // Lists of a whole resource type can be large; etcd itself caps requests at 1.5 MiB by default.
                MaxReceiveMessageSize = 512 * 1024 * 1024,
                // After etcd was unreachable, calls fail fast (Unavailable) until the channel reconnects; gRPC's
                // default first backoff of 1 s (growing to 120 s) would keep a restarted etcd unused that long.
                InitialReconnectBackoff = TimeSpan.FromMilliseconds(100),
                MaxReconnectBackoff = TimeSpan.FromSeconds(5),
                DisposeHttpClient = true,
            });
            var store = new EtcdClusterStore(uri.ToString().TrimEnd('/'), channel, options ?? new ClusterStoreOptions());
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                await store.CurrentRevisionAsync(timeout.Token).ConfigureAwait(false);
                return store;
            }
            catch (Exception e) when (e is BerthException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                errors.Add($"{raw}: {e.Message}");
                await store.DisposeAsync().ConfigureAwait(false);
            }
        }
        throw new BerthException(ErrorCode.Unavailable,
            $"cannot reach etcd at {endpoints} ({string.Join("; ", errors)}); check --datastore-endpoint and that etcd is running");
    }

    public async ValueTask<long> CurrentRevisionAsync(CancellationToken cancellationToken = default)
    {
        var response = await CallAsync(() => kv.RangeAsync(new RangeRequest { Key = AllKeys, CountOnly = true, Limit = 1 }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return response.Header.Revision;
    }

    public async Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        KeyRange.ValidateKey(key);
        var response = await CallAsync(() => kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return response.Kvs.Count == 0 ? null : ToKeyValue(response.Kvs[0]);
    }

    public async Task<RangeResult> ListAsync(string prefix, string? startAfter = null, long limit = 0, long revision = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        ArgumentOutOfRangeException.ThrowIfNegative(revision);
        var prefixBytes = KeyRange.Encode(prefix);
        var (start, end) = Range(KeyRange.Start(prefixBytes, startAfter), prefixBytes);
        var request = new RangeRequest { Key = start, RangeEnd = end, Limit = limit, Revision = revision };
        RangeResponse response;
        try
        {
            response = await CallAsync(() => kv.RangeAsync(request, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException e) when (IsCompacted(e))
        {
            throw new CompactedException(revision, await CompactedRevisionAsync(cancellationToken).ConfigureAwait(false));
        }
        var items = new List<KeyValue>(response.Kvs.Count);
        foreach (var item in response.Kvs)
        {
            items.Add(ToKeyValue(item));
        }
        return new RangeResult(items, revision == 0 ? response.Header.Revision : revision, response.More);
    }

    public async Task<long> CountAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var prefixBytes = KeyRange.Encode(prefix);
        var (start, end) = Range(prefixBytes, prefixBytes);
        var response = await CallAsync(() => kv.RangeAsync(new RangeRequest { Key = start, RangeEnd = end, CountOnly = true }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return response.Count;
    }

    // Puts wrap the caller's bytes instead of copying them: they are serialized before the call returns.
    public async Task<long> CreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        KeyRange.ValidateKey(key);
        var k = ByteString.CopyFromUtf8(key);
        var txn = new TxnRequest
        {
            Compare = { new Compare { Key = k, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 } },
            Success = { new RequestOp { RequestPut = new PutRequest { Key = k, Value = UnsafeByteOperations.UnsafeWrap(value) } } },
        };
        var response = await CallAsync(() => kv.TxnAsync(txn, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return response.Succeeded ? response.Header.Revision : throw new KeyExistsException(key);
    }

    public async Task<WriteResult> UpdateAsync(string key, ReadOnlyMemory<byte> value, long expectedRevision, CancellationToken cancellationToken = default)
    {
        KeyRange.ValidateKey(key);
        var k = ByteString.CopyFromUtf8(key);
        var txn = new TxnRequest
        {
            // version > 0: the key exists (a missing key's mod_revision is 0, which must not match expected 0).
            Compare =
            {
                new Compare { Key = k, Target = Compare.Types.CompareTarget.Version, Result = Compare.Types.CompareResult.Greater, Version = 0 },
                new Compare { Key = k, Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = expectedRevision },
            },
            Success = { new RequestOp { RequestPut = new PutRequest { Key = k, Value = UnsafeByteOperations.UnsafeWrap(value), PrevKv = true } } },
            Failure = { new RequestOp { RequestRange = new RangeRequest { Key = k } } },
        };
        var response = await CallAsync(() => kv.TxnAsync(txn, cancellationToken: cancellationToken)).ConfigureAwait(false);
        var rev = response.Header.Revision;
        if (response.Succeeded)
        {
            var previous = response.Responses[0].ResponsePut.PrevKv is { } p ? ToKeyValue(p) : null;
            var written = new KeyValue(key, value.ToArray(), previous?.CreateRevision ?? rev, rev);
            return new WriteResult(WriteOutcome.Succeeded, rev, written) { Previous = previous };
        }
        return FailedWrite(response);
    }

    public async Task<WriteResult> DeleteAsync(string key, long expectedRevision = 0, CancellationToken cancellationToken = default)
    {
        KeyRange.ValidateKey(key);
        ArgumentOutOfRangeException.ThrowIfNegative(expectedRevision);
        var k = ByteString.CopyFromUtf8(key);
        var txn = new TxnRequest
        {
            Compare = { new Compare { Key = k, Target = Compare.Types.CompareTarget.Version, Result = Compare.Types.CompareResult.Greater, Version = 0 } },
            Success = { new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = k, PrevKv = true } } },
            Failure = { new RequestOp { RequestRange = new RangeRequest { Key = k } } },
        };
        if (expectedRevision != 0)
        {
            txn.Compare.Add(new Compare { Key = k, Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = expectedRevision });
        }
        var response = await CallAsync(() => kv.TxnAsync(txn, cancellationToken: cancellationToken)).ConfigureAwait(false);
        if (response.Succeeded)
        {
            var deleted = response.Responses[0].ResponseDeleteRange;
            var previous = deleted.PrevKvs.Count > 0 ? ToKeyValue(deleted.PrevKvs[0]) : null;
            return new WriteResult(WriteOutcome.Succeeded, response.Header.Revision, null) { Previous = previous };
        }
        return FailedWrite(response);
    }

    private static WriteResult FailedWrite(TxnResponse response)
    {
        var found = response.Responses[0].ResponseRange.Kvs;
        return found.Count == 0
            ? new WriteResult(WriteOutcome.NotFound, response.Header.Revision, null)
            : new WriteResult(WriteOutcome.Conflict, response.Header.Revision, ToKeyValue(found[0]));
    }

    public async IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long afterRevision, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfNegative(afterRevision);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
        var prefixBytes = KeyRange.Encode(prefix);
        var (start, end) = Range(prefixBytes, prefixBytes);
        var stream = SharedWatchStream();
        var subscription = await stream.WatchAsync(
            new WatchCreateRequest { Key = start, RangeEnd = end, StartRevision = afterRevision + 1, PrevKv = true },
            cancellationToken).ConfigureAwait(false);
        try
        {
            while (true)
            {
                if (!subscription.Reader.TryRead(out var response))
                {
                    // Throws what ended the stream (Unavailable); completes quietly when the store is closing.
                    if (!await subscription.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        yield break;
                    }
                    continue;
                }
                if (response.CompactRevision != 0)
                {
                    throw new CompactedException(afterRevision, response.CompactRevision);
                }
                if (response.Canceled)
                {
                    throw new BerthException(ErrorCode.Unavailable, $"etcd at {Endpoint} cancelled the watch on '{prefix}': {response.CancelReason}; watch again");
                }
                foreach (var e in response.Events)
                {
                    var previous = e.PrevKv is { } p ? ToKeyValue(p) : null;
                    if (e.Type == Event.Types.EventType.Delete)
                    {
                        yield return new WatchEvent(WatchEventType.Delete,
                            new KeyValue(e.Kv.Key.ToStringUtf8(), ReadOnlyMemory<byte>.Empty, previous?.CreateRevision ?? 0, e.Kv.ModRevision), previous);
                    }
                    else
                    {
                        yield return new WatchEvent(WatchEventType.Put, ToKeyValue(e.Kv), previous);
                    }
                }
            }
        }
        finally
        {
            await stream.CancelAsync(subscription).ConfigureAwait(false);
        }
    }

    /// <summary>Watches currently open on the shared watch stream (for tests and metrics).</summary>
    public int WatcherCount
    {
        get
        {
            lock (watchGate)
            {
                return watchStream?.Count ?? 0;
            }
        }
    }

    private EtcdWatchStream SharedWatchStream()
    {
        EtcdWatchStream? broken = null;
        EtcdWatchStream stream;
        lock (watchGate)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
            if (watchStream is null || !watchStream.Usable)
            {
                broken = watchStream;
                watchStream = new EtcdWatchStream(watch, Endpoint);
            }
            stream = watchStream;
        }
        if (broken is not null)
        {
            _ = broken.DisposeAsync().AsTask();
        }
        return stream;
    }

    public async Task CompactAsync(long revision, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(revision);
        if (revision <= Volatile.Read(ref compactedRevision))
        {
            return;
        }
        try
        {
            await CallAsync(() => kv.CompactAsync(new CompactionRequest { Revision = revision, Physical = true }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException e) when (IsCompacted(e))
        {
            // Already compacted at or past this revision (by us or another server): nothing to do.
        }
        InterlockedMax(ref compactedRevision, revision);
    }

    /// <summary>
    /// etcd reports only "compacted" on a range; its compacted revision is learned the way clients do, from a
    /// watch started at revision 1, which etcd answers with compact_revision.
    /// </summary>
    private async Task<long> CompactedRevisionAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, disposing.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            using var call = watch.Watch(cancellationToken: timeout.Token);
            await call.RequestStream.WriteAsync(new WatchRequest
            {
                CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFromUtf8("\u0001berth-compaction-probe"), StartRevision = 1 },
            }, timeout.Token).ConfigureAwait(false);
            while (await call.ResponseStream.MoveNext(timeout.Token).ConfigureAwait(false))
            {
                if (call.ResponseStream.Current.CompactRevision != 0)
                {
                    var compacted = call.ResponseStream.Current.CompactRevision;
                    InterlockedMax(ref compactedRevision, compacted);
                    return compacted;
                }
            }
        }
        catch (RpcException)
        {
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
        return Volatile.Read(ref compactedRevision);
    }

    private async Task CompactLoopAsync()
    {
        using var timer = new PeriodicTimer(options.CompactionInterval, options.TimeProvider);
        while (await timer.WaitForNextTickAsync(disposing.Token).ConfigureAwait(false))
        {
            try
            {
                var target = await CurrentRevisionAsync(disposing.Token).ConfigureAwait(false) - options.CompactionRetainedRevisions;
                if (target > Volatile.Read(ref compactedRevision))
                {
                    await CompactAsync(target, disposing.Token).ConfigureAwait(false);
                }
            }
            catch (BerthException e)
            {
                // etcd may be briefly unreachable; the next tick retries.
                LastCompactionError = e;
            }
        }
    }

    /// <summary>The last background compaction failure, if any.</summary>
    public Exception? LastCompactionError { get; private set; }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }
        await disposing.CancelAsync().ConfigureAwait(false);
        try
        {
            await compactor.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        EtcdWatchStream? stream;
        lock (watchGate)
        {
            stream = watchStream;
            watchStream = null;
        }
        if (stream is not null)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
        channel.Dispose();
        disposing.Dispose();
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen)
        {
            var was = Interlocked.CompareExchange(ref target, value, seen);
            if (was == seen)
            {
                return;
            }
            seen = was;
        }
    }

    /// <summary>[start, prefix end) in etcd's terms: a range_end of "\0" means "every key from start on".</summary>
    private static (ByteString Start, ByteString End) Range(byte[] start, byte[] prefix)
    {
        var end = KeyRange.PrefixEnd(prefix);
        return (start.Length == 0 ? AllKeys : ByteString.CopyFrom(start), end is null ? AllKeys : ByteString.CopyFrom(end));
    }

    private static KeyValue ToKeyValue(Etcd.Rpc.KeyValue item)
        => new(item.Key.ToStringUtf8(), item.Value.Memory, item.CreateRevision, item.ModRevision);

    private static bool IsCompacted(RpcException e) => e.StatusCode == StatusCode.OutOfRange && e.Status.Detail.Contains("compacted", StringComparison.Ordinal);

    private async Task<T> CallAsync<T>(Func<Task<T>> call)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RpcException e) when (!IsCompacted(e))
        {
            throw Translate(e);
        }
    }

    private Task<T> CallAsync<T>(Func<AsyncUnaryCall<T>> call) => CallAsync(async () => await call().ResponseAsync.ConfigureAwait(false));

    private Exception Translate(RpcException e) => e.StatusCode switch
    {
        StatusCode.Cancelled => new OperationCanceledException(e.Status.Detail, e),
        StatusCode.OutOfRange when e.Status.Detail.Contains("future revision", StringComparison.Ordinal)
            => BerthException.InvalidArgument($"etcd at {Endpoint}: {e.Status.Detail}; use revision 0 for the newest state"),
        StatusCode.InvalidArgument or StatusCode.OutOfRange or StatusCode.FailedPrecondition
            => BerthException.InvalidArgument($"etcd at {Endpoint} rejected the request: {e.Status.Detail}"),
        StatusCode.ResourceExhausted => new BerthException(ErrorCode.InvalidArgument, $"etcd at {Endpoint} refused the request as too large: {e.Status.Detail}", e),
        _ => new BerthException(ErrorCode.Unavailable, $"etcd at {Endpoint} is unavailable ({e.StatusCode}: {e.Status.Detail}); check that it is running", e),
    };
}
