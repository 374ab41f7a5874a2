namespace Berth.Networking.Dns;

/// <summary>Resource record types (RFC 1035 §3.2.2, RFC 3596, RFC 2782, RFC 6891) that the server handles by number.</summary>
public static class DnsType
{
    public const ushort A = 1;
    public const ushort NS = 2;
    public const ushort CName = 5;
    public const ushort Soa = 6;
    public const ushort Ptr = 12;
    public const ushort MX = 15;
    public const ushort Txt = 16;
    public const ushort Aaaa = 28;
    public const ushort Srv = 33;
    public const ushort Opt = 41;
    public const ushort Any = 255;
}

/// <summary>Classes (RFC 1035 §3.2.4).</summary>
public static class DnsClass
{
    public const ushort IN = 1;
    public const ushort Any = 255;
}

/// <summary>Response codes; values above 15 travel in the OPT record's extended RCODE (RFC 6891 §6.1.3).</summary>
public enum DnsRcode
{
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
    BadVers = 16,
}

/// <summary>Header bits and sizes of the wire format.</summary>
internal static class DnsWire
{
    public const int HeaderSize = 12;

    /// <summary>The largest UDP reply to a query without EDNS (RFC 1035 §4.2.1).</summary>
    public const int ClassicUdpSize = 512;

    /// <summary>The payload size this server advertises in its own OPT records (the DNS flag day 2020 value).</summary>
    public const ushort AdvertisedUdpSize = 1232;

    public const int MaxMessageSize = 65535;
    public const int MaxNameLength = 255;
    public const int MaxLabelLength = 63;

    /// <summary>Docker's embedded server answers with this TTL (libnetwork respTTL).</summary>
    public const uint Ttl = 600;

    public const ushort QR = 0x8000;
    public const ushort AA = 0x0400;
    public const ushort TC = 0x0200;
    public const ushort RD = 0x0100;
    public const ushort RA = 0x0080;
    public const ushort AD = 0x0020;
    public const ushort CD = 0x0010;

    public static ushort ReadU16(ReadOnlySpan<byte> b, int at) => (ushort)(b[at] << 8 | b[at + 1]);

    public static void WriteU16(Span<byte> b, int at, ushort v)
    {
        b[at] = (byte)(v >> 8);
        b[at + 1] = (byte)v;
    }

    /// <summary>The response code of a reply, from the header's 4 bits (extended codes are not looked at).</summary>
    public static DnsRcode Rcode(ReadOnlySpan<byte> message) => (DnsRcode)(message[3] & 0x0F);

    public static bool IsAuthoritative(ReadOnlySpan<byte> message) => (ReadU16(message, 2) & AA) != 0;

    public static bool IsTruncated(ReadOnlySpan<byte> message) => (ReadU16(message, 2) & TC) != 0;
}
