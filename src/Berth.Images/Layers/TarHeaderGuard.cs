using Berth.Core;

namespace Berth.Images.Layers;

/// <summary>
/// Watches the tar headers flowing through it and refuses metadata headers (PAX 'x'/'g', GNU long name/link
/// 'L'/'K') larger than a limit before the tar reader would buffer them: a hostile layer cannot make the
/// unpacker allocate gigabytes for one header.
/// </summary>
internal sealed class TarHeaderGuard(Stream inner, long maxMetadataSize = 1 << 20) : ForwardReadStream
{
    private readonly byte[] _header = new byte[512];
    private long _position;
    private long _nextHeader;
    private int _headerFill;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        Observe(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Observe(buffer.Span[..n]);
        return n;
    }

    private void Observe(ReadOnlySpan<byte> data)
    {
        var start = _position;
        _position += data.Length;
        while (true)
        {
            var headerPos = _nextHeader + _headerFill;
            if (headerPos >= _position)
            {
                return;
            }
            var offset = (int)(headerPos - start);
            var take = Math.Min(512 - _headerFill, data.Length - offset);
            data.Slice(offset, take).CopyTo(_header.AsSpan(_headerFill));
            _headerFill += take;
            if (_headerFill < 512)
            {
                return;
            }
            _headerFill = 0;
            var size = ParseSize(_header.AsSpan(124, 12));
            var type = (char)_header[156];
            if (type is 'x' or 'g' or 'L' or 'K' && size > maxMetadataSize)
            {
                throw new InvalidDataException($"a tar metadata header ('{type}') claims {size} bytes, more than the {maxMetadataSize} allowed");
            }
            var dataBlocks = (size + 511) / 512;
            _nextHeader += 512 + (dataBlocks * 512);
        }
    }

    private static long ParseSize(ReadOnlySpan<byte> field)
    {
        if ((field[0] & 0x80) != 0)
        {
            long value = 0;
            for (var i = 1; i < field.Length; i++)
            {
                if (value > (long.MaxValue >> 8))
                {
                    throw BerthException.InvalidArgument("a tar header has a size beyond 2^63");
                }
                value = (value << 8) | field[i];
            }
            return value;
        }
        long octal = 0;
        foreach (var b in field)
        {
            if (b is >= (byte)'0' and <= (byte)'7')
            {
                octal = (octal * 8) + (b - '0');
            }
            else if (b is 0 or (byte)' ' && octal > 0)
            {
                break;
            }
        }
        return octal;
    }

    protected override long ReadPosition => _position;
}
