using Berth.Shim.Protocol;

namespace Berth.Shim;

/// <summary>
/// One attached client of a container's (or an exec's) stdio. Output frames say which stream they came from, so the
/// engine can write Docker's multiplexed stream; a terminal's output comes as stream 1.
/// </summary>
public sealed class ShimStream : IAsyncDisposable
{
    private readonly ShimConnection _connection;

    internal ShimStream(ShimConnection connection) => _connection = connection;

    /// <summary>The next output chunk; null at the end (the process exited and its output is drained, or the shim went away).</summary>
    public async ValueTask<ShimFrame?> ReadAsync(CancellationToken ct)
    {
        while (true)
        {
            var frame = await _connection.ReadFrameAsync(ct).ConfigureAwait(false);
            if (frame is null)
            {
                return null;
            }
            if (frame.Value.Kind is Wire.Stdout or Wire.Stderr)
            {
                return new ShimFrame(frame.Value.Kind, frame.Value.Payload);
            }
        }
    }

    /// <summary>Sends bytes to the process's stdin (ignored by the shim when this client did not attach stdin).</summary>
    public async ValueTask WriteStdinAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        for (var off = 0; off < data.Length; off += Wire.MaxData)
        {
            await _connection.SendAsync(Wire.Stdin, data.Slice(off, Math.Min(Wire.MaxData, data.Length - off)), ct).ConfigureAwait(false);
        }
    }

    /// <summary>This client's stdin ended; with StdinOnce (or for an exec) the process's stdin is closed.</summary>
    public ValueTask CloseStdinAsync(CancellationToken ct) => _connection.SendAsync(Wire.StdinClose, ReadOnlyMemory<byte>.Empty, ct);

    /// <summary>Detaches; the process keeps running.</summary>
    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}
