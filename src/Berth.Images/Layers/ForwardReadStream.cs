namespace Berth.Images.Layers;

/// <summary>
/// The shared shape of the layer pipeline's read-only, forward-only streams (decompress, digest, guard, read ahead):
/// no seeking, no writing, no length; subclasses implement Read and may report how far they have read.
/// </summary>
public abstract class ForwardReadStream : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => ReadPosition; set => throw new NotSupportedException(); }

    /// <summary>Bytes read so far, for streams that count them.</summary>
    protected virtual long ReadPosition => throw new NotSupportedException();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
