using System.Buffers.Binary;

namespace Berth.Shim.Protocol;

/// <summary>
/// Frames on a shim connection: a 5-byte header (kind, big-endian 32-bit length) and the payload. A connection starts
/// with one request and one response (JSON); attach and exec connections then carry output frames (kind 1 or 2) to the
/// client and stdin frames (kind 0, and 3 for "stdin closed") to the shim until the shim closes it.
/// </summary>
internal static class Wire
{
    public const byte Stdin = 0;
    public const byte Stdout = 1;
    public const byte Stderr = 2;
    public const byte StdinClose = 3;
    public const byte Request = (byte)'Q';
    public const byte Response = (byte)'R';
    public const int HeaderSize = 5;

    /// <summary>Largest payload either side sends or accepts.</summary>
    public const int MaxPayload = 1 << 20;

    /// <summary>Largest output frame the shim sends.</summary>
    public const int MaxData = 32 * 1024;

    public const string SocketName = "shim.sock";
    public const string PidName = "shim.pid";
    public const string OptionsName = "shim.json";
    public const string ExitName = "exit.json";

    public static void WriteHeader(Span<byte> header, byte kind, int length)
    {
        header[0] = kind;
        BinaryPrimitives.WriteInt32BigEndian(header[1..], length);
    }

    public static int ReadLength(ReadOnlySpan<byte> header) => BinaryPrimitives.ReadInt32BigEndian(header[1..]);
}
