using System.Buffers;
using System.Collections.Concurrent;

namespace Berth.Images.Layers;

/// <summary>
/// Reads its source on a separate thread into a few chunks ahead of the consumer, so decompression and hashing
/// overlap with the filesystem work of unpacking. Errors from the source surface on the consumer's next read.
/// </summary>
internal sealed class ReadAheadStream : ForwardReadStream
{
    private const int ChunkSize = 1 << 20;
    private readonly BlockingCollection<(byte[]? Buffer, int Length, Exception? Error)> _chunks = new(boundedCapacity: 4);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _producer;
    private byte[]? _current;
    private int _currentLength;
    private int _currentOffset;
    private bool _eof;

    public ReadAheadStream(Stream source)
    {
        _producer = new Thread(() => Produce(source)) { IsBackground = true, Name = "layer read-ahead" };
        _producer.Start();
    }

    private void Produce(Stream source)
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
                var filled = 0;
                int read;
                while (filled < ChunkSize && (read = source.Read(buffer, filled, ChunkSize - filled)) > 0)
                {
                    filled += read;
                }
                if (filled == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    _chunks.Add((null, 0, null), _stop.Token);
                    return;
                }
                _chunks.Add((buffer, filled, null), _stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e)
        {
            try
            {
                _chunks.Add((null, 0, e), _stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        while (true)
        {
            if (_current is not null && _currentOffset < _currentLength)
            {
                var n = Math.Min(buffer.Length, _currentLength - _currentOffset);
                _current.AsSpan(_currentOffset, n).CopyTo(buffer);
                _currentOffset += n;
                return n;
            }
            if (_eof)
            {
                return 0;
            }
            if (_current is not null)
            {
                ArrayPool<byte>.Shared.Return(_current);
                _current = null;
            }
            var (next, length, error) = _chunks.Take();
            if (error is not null)
            {
                _eof = true;
                throw error switch
                {
                    InvalidDataException or EndOfStreamException or IOException => error,
                    _ => new InvalidDataException(error.Message, error),
                };
            }
            if (next is null)
            {
                _eof = true;
                return 0;
            }
            _current = next;
            _currentLength = length;
            _currentOffset = 0;
        }
    }


    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stop.Cancel();
            _producer.Join();
            while (_chunks.TryTake(out var chunk))
            {
                if (chunk.Buffer is not null)
                {
                    ArrayPool<byte>.Shared.Return(chunk.Buffer);
                }
            }
            if (_current is not null)
            {
                ArrayPool<byte>.Shared.Return(_current);
            }
            _chunks.Dispose();
            _stop.Dispose();
        }
        base.Dispose(disposing);
    }
}
