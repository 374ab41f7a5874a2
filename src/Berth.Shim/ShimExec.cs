using Berth.Shim.Protocol;

namespace Berth.Shim;

/// <summary>An extra process in a running container, supervised by the container's shim.</summary>
public sealed class ShimExec : IAsyncDisposable
{
    private readonly ShimClient _client;

    internal ShimExec(ShimClient client, string id, ShimStream stream)
    {
        _client = client;
        Id = id;
        Stream = stream;
    }

    public string Id { get; }

    /// <summary>Its stdio, attached before it starts so no output is missed.</summary>
    public ShimStream Stream { get; }

    /// <summary>The host pid once started, else 0.</summary>
    public int Pid { get; private set; }

    /// <summary>Runs it; throws the runtime's error (for example a missing executable).</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        var r = await _client.CallAsync(new ShimRequest { Op = Ops.ExecStart, ExecId = Id }, ct).ConfigureAwait(false);
        Pid = r.Pid;
    }

    /// <summary>Its exit code (128+N when killed by signal N), once it has exited.</summary>
    public async Task<int> WaitAsync(CancellationToken ct)
    {
        var r = await _client.CallAsync(new ShimRequest { Op = Ops.ExecWait, ExecId = Id }, ct).ConfigureAwait(false);
        return r.ExitCode;
    }

    public Task ResizeAsync(ushort rows, ushort columns, CancellationToken ct) =>
        _client.CallAsync(new ShimRequest { Op = Ops.Resize, ExecId = Id, Rows = rows, Columns = columns }, ct);

    public Task KillAsync(int signal, CancellationToken ct) => _client.CallAsync(new ShimRequest { Op = Ops.Kill, ExecId = Id, Signal = signal }, ct);

    public ValueTask DisposeAsync() => Stream.DisposeAsync();
}
