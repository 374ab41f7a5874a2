namespace Berth.Networking.Dns;

/// <summary>What to do with a packet that arrived at the server.</summary>
public enum DnsParseStatus
{
    /// <summary>A well-formed standard query with one question.</summary>
    Ok,

    /// <summary>Not worth an answer: shorter than a header, or a response (QR set), so never a reflection target.</summary>
    Drop,

    /// <summary>A header, but the rest does not parse (RFC 1035 FORMERR).</summary>
    FormErr,

    /// <summary>An opcode other than QUERY (NOTIMP).</summary>
    NotImp,

    /// <summary>An EDNS version this server does not speak (RFC 6891 BADVERS).</summary>
    BadVers,
}

/// <summary>
/// A parsed query (RFC 1035 §4.1): header fields, its single question and the EDNS0 OPT record if present.
/// The question is kept twice: as the lower-cased presentation name used for lookups, and as its wire bytes
/// (uncompressed, original case) so the reply echoes exactly what was asked.
/// </summary>
public sealed class DnsQuery
{
    private DnsQuery()
    {
    }

    public ushort Id { get; private init; }

    public int Opcode { get; private init; }

    public bool RecursionDesired { get; private init; }

    public bool CheckingDisabled { get; private init; }

    /// <summary>The question name, lower case, without the trailing dot ("" for the root); odd bytes as \DDD.</summary>
    public string Name { get; private init; } = "";

    /// <summary>False when a label holds a dot, a space or a byte outside printable ASCII: such a name is never ours.</summary>
    public bool NameIsPlain { get; private init; }

    /// <summary>The question's name, type and class as they were on the wire, name uncompressed.</summary>
    public byte[] QuestionWire { get; private init; } = [];

    public ushort Type { get; private init; }

    public ushort Class { get; private init; }

    public bool HasEdns { get; private init; }

    public ushort EdnsUdpSize { get; private init; }

    public byte EdnsVersion { get; private init; }

    public bool DnssecOk { get; private init; }

    /// <summary>The largest reply this client takes over UDP: 512 without EDNS, else its advertised size (at least 512).</summary>
    public int MaxUdpResponse => HasEdns ? Math.Max(DnsWire.ClassicUdpSize, (int)EdnsUdpSize) : DnsWire.ClassicUdpSize;

    /// <summary>
    /// Parses <paramref name="message"/>. Never throws: malformed input gives <see cref="DnsParseStatus.FormErr"/>
    /// (or Drop when there is not even a header to answer to); <paramref name="query"/> then carries what was read.
    /// </summary>
    public static DnsParseStatus TryParse(ReadOnlySpan<byte> message, out DnsQuery? query)
    {
        query = null;
        if (message.Length < DnsWire.HeaderSize)
        {
            return DnsParseStatus.Drop;
        }
        var id = DnsWire.ReadU16(message, 0);
        var flags = DnsWire.ReadU16(message, 2);
        if ((flags & DnsWire.QR) != 0)
        {
            return DnsParseStatus.Drop;
        }
        var opcode = flags >> 11 & 0xF;
        var recursionDesired = (flags & DnsWire.RD) != 0;
        var checkingDisabled = (flags & DnsWire.CD) != 0;
        DnsParseStatus HeaderOnly(DnsParseStatus status, out DnsQuery header)
        {
            header = new DnsQuery { Id = id, Opcode = opcode, RecursionDesired = recursionDesired, CheckingDisabled = checkingDisabled };
            return status;
        }
        if (opcode != 0)
        {
            return HeaderOnly(DnsParseStatus.NotImp, out query);
        }
        var qd = DnsWire.ReadU16(message, 4);
        var an = DnsWire.ReadU16(message, 6);
        var ns = DnsWire.ReadU16(message, 8);
        var ar = DnsWire.ReadU16(message, 10);
        if (qd != 1)
        {
            return HeaderOnly(DnsParseStatus.FormErr, out query);
        }

        var at = DnsWire.HeaderSize;
        Span<byte> nameWire = stackalloc byte[DnsWire.MaxNameLength];
        Span<char> text = stackalloc char[DnsWire.MaxNameLength * 4];
        if (!ReadName(message, ref at, nameWire, out var nameLength, text, out var textLength, out var plain) || at + 4 > message.Length)
        {
            return HeaderOnly(DnsParseStatus.FormErr, out query);
        }
        var type = DnsWire.ReadU16(message, at);
        var cls = DnsWire.ReadU16(message, at + 2);
        at += 4;
        var questionWire = new byte[nameLength + 4];
        nameWire[..nameLength].CopyTo(questionWire);
        DnsWire.WriteU16(questionWire, nameLength, type);
        DnsWire.WriteU16(questionWire, nameLength + 2, cls);

        // Answer and authority records of a query are skipped; the additional section is searched for OPT.
        for (var i = 0; i < an + ns; i++)
        {
            if (!SkipRecord(message, ref at, out _, out _, out _))
            {
                return HeaderOnly(DnsParseStatus.FormErr, out query);
            }
        }
        var hasEdns = false;
        ushort udpSize = 0;
        uint optTtl = 0;
        for (var i = 0; i < ar; i++)
        {
            var start = at;
            if (!SkipRecord(message, ref at, out var rrType, out var rrClass, out var rrTtl))
            {
                return HeaderOnly(DnsParseStatus.FormErr, out query);
            }
            if (rrType == DnsType.Opt)
            {
                // RFC 6891 §6.1.1: one OPT, owned by the root.
                if (hasEdns || message[start] != 0)
                {
                    return HeaderOnly(DnsParseStatus.FormErr, out query);
                }
                hasEdns = true;
                udpSize = rrClass;
                optTtl = rrTtl;
            }
        }
        if (at != message.Length)
        {
            return HeaderOnly(DnsParseStatus.FormErr, out query);
        }

        query = new DnsQuery
        {
            Id = id,
            Opcode = opcode,
            RecursionDesired = recursionDesired,
            CheckingDisabled = checkingDisabled,
            Name = new string(text[..textLength]),
            NameIsPlain = plain,
            QuestionWire = questionWire,
            Type = type,
            Class = cls,
            HasEdns = hasEdns,
            EdnsUdpSize = udpSize,
            EdnsVersion = (byte)(optTtl >> 16),
            DnssecOk = (optTtl & 0x8000) != 0,
        };
        return hasEdns && query.EdnsVersion != 0 ? DnsParseStatus.BadVers : DnsParseStatus.Ok;
    }

    /// <summary>
    /// Reads a possibly compressed name at <paramref name="at"/> (advanced past it), writing its uncompressed wire
    /// form to <paramref name="wire"/> and its lower-case presentation form to <paramref name="text"/>. Pointers
    /// must point backwards, so a loop cannot be built; the expanded name is at most 255 bytes.
    /// </summary>
    internal static bool ReadName(ReadOnlySpan<byte> message, ref int at, Span<byte> wire, out int wireLength, Span<char> text, out int textLength, out bool plain)
    {
        wireLength = 0;
        textLength = 0;
        plain = true;
        var position = at;
        var end = -1;
        var lowestJump = position;
        while (true)
        {
            if (position >= message.Length)
            {
                return false;
            }
            var length = message[position];
            if ((length & 0xC0) == 0xC0)
            {
                if (position + 1 >= message.Length)
                {
                    return false;
                }
                var target = (length & 0x3F) << 8 | message[position + 1];
                if (end < 0)
                {
                    end = position + 2;
                }
                if (target >= lowestJump)
                {
                    return false;
                }
                lowestJump = target;
                position = target;
                continue;
            }
            if ((length & 0xC0) != 0)
            {
                return false; // the 01 and 10 label types (RFC 6891 §5) are not in use
            }
            if (wireLength + 1 + length > DnsWire.MaxNameLength || position + 1 + length > message.Length)
            {
                return false;
            }
            wire[wireLength++] = length;
            if (length == 0)
            {
                at = end < 0 ? position + 1 : end;
                return true;
            }
            var writeText = !text.IsEmpty;
            if (writeText && textLength > 0)
            {
                text[textLength++] = '.';
            }
            for (var i = 0; i < length; i++)
            {
                var c = message[position + 1 + i];
                wire[wireLength++] = c;
                if (c is >= (byte)'A' and <= (byte)'Z')
                {
                    c = (byte)(c | 0x20);
                }
                if (c is <= 0x20 or >= 0x7F or (byte)'.' or (byte)'\\')
                {
                    plain = false;
                    if (writeText)
                    {
                        text[textLength++] = '\\';
                        text[textLength++] = (char)('0' + c / 100);
                        text[textLength++] = (char)('0' + c / 10 % 10);
                        text[textLength++] = (char)('0' + c % 10);
                    }
                }
                else if (writeText)
                {
                    text[textLength++] = (char)c;
                }
            }
            position += 1 + length;
        }
    }

    private static bool SkipRecord(ReadOnlySpan<byte> message, ref int at, out ushort type, out ushort cls, out uint ttl)
    {
        type = 0;
        cls = 0;
        ttl = 0;
        Span<byte> scratch = stackalloc byte[DnsWire.MaxNameLength];
        if (!ReadName(message, ref at, scratch, out _, [], out _, out _) || at + 10 > message.Length)
        {
            return false;
        }
        type = DnsWire.ReadU16(message, at);
        cls = DnsWire.ReadU16(message, at + 2);
        ttl = (uint)(DnsWire.ReadU16(message, at + 4) << 16 | DnsWire.ReadU16(message, at + 6));
        var rdLength = DnsWire.ReadU16(message, at + 8);
        at += 10;
        if (at + rdLength > message.Length)
        {
            return false;
        }
        at += rdLength;
        return true;
    }
}
