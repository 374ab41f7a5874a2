using System.Net;
using System.Net.Sockets;

namespace Berth.Networking.Dns;

/// <summary>One answer record, as the resolver produces it.</summary>
public readonly record struct DnsRecord(ushort Type, IPAddress? Address, string? Target)
{
    public static DnsRecord ForAddress(IPAddress address) =>
        new(address.AddressFamily == AddressFamily.InterNetwork ? DnsType.A : DnsType.Aaaa, address, null);

    public static DnsRecord ForPtr(string target) => new(DnsType.Ptr, null, target);
}

/// <summary>
/// Writes a reply (RFC 1035 §4.1) to a query: header, the echoed question, answer records owned by the question
/// name, and an OPT record when the query had one. Names are compressed (§4.1.4): every name suffix written is
/// remembered with its offset and later occurrences become pointers. A reply larger than the client takes is cut
/// record by record and, over UDP, flagged TC so the client retries over TCP — what Docker's server does.
/// </summary>
public static class DnsResponseWriter
{
    /// <summary>A reply carrying only an RCODE (and the question when there was one to echo).</summary>
    public static byte[] Error(DnsQuery query, DnsRcode rcode)
    {
        var w = new Writer(DnsWire.ClassicUdpSize);
        var echoQuestion = query.QuestionWire.Length > 0;
        w.Header(query, (int)rcode & 0xF, qd: echoQuestion ? 1 : 0, truncated: false);
        if (echoQuestion)
        {
            w.Question(query.QuestionWire);
        }
        if (query.HasEdns || rcode == DnsRcode.BadVers)
        {
            w.Opt((int)rcode >> 4);
            w.SetCount(10, 1);
        }
        return w.ToArray();
    }

    /// <summary>
    /// A NOERROR reply with <paramref name="answers"/> (none for NODATA), at most <paramref name="maxSize"/> bytes:
    /// records that do not fit are left out and, when <paramref name="udp"/>, TC is set.
    /// </summary>
    public static byte[] Answer(DnsQuery query, IReadOnlyList<DnsRecord> answers, int maxSize, bool udp)
    {
        var w = new Writer(Math.Min(maxSize, 1024));
        w.Header(query, 0, qd: 1, truncated: false);
        w.Question(query.QuestionWire);
        var optSize = query.HasEdns ? 11 : 0;
        var written = 0;
        var truncated = false;
        foreach (var record in answers)
        {
            var before = w.Mark();
            w.Record(record);
            if (w.Length + optSize > maxSize)
            {
                w.Reset(before);
                truncated = true;
                break;
            }
            written++;
        }
        w.SetCount(6, written);
        if (query.HasEdns)
        {
            w.Opt(0);
            w.SetCount(10, 1);
        }
        if (truncated && udp)
        {
            w.SetTruncated();
        }
        return w.ToArray();
    }

    private sealed class Writer(int capacity)
    {
        private byte[] buffer = new byte[capacity];
        private Dictionary<string, int>? names;
        private int length;
        private int questionAt;
        private int questionNameLength;

        public int Length => length;

        public (int Length, int Names) Mark() => (length, names?.Count ?? 0);

        public void Reset((int Length, int Names) mark)
        {
            length = mark.Length;
            if (names is not null && names.Count != mark.Names)
            {
                // Suffixes remembered past the mark point into bytes that are gone.
                foreach (var stale in names.Where(kv => kv.Value >= mark.Length).Select(kv => kv.Key).ToList())
                {
                    names.Remove(stale);
                }
            }
        }

        public void Header(DnsQuery query, int rcode, int qd, bool truncated)
        {
            Ensure(DnsWire.HeaderSize);
            var flags = (ushort)(DnsWire.QR | query.Opcode << 11 | DnsWire.RA | rcode);
            if (query.RecursionDesired)
            {
                flags |= DnsWire.RD;
            }
            if (query.CheckingDisabled)
            {
                flags |= DnsWire.CD;
            }
            if (truncated)
            {
                flags |= DnsWire.TC;
            }
            var b = buffer.AsSpan();
            DnsWire.WriteU16(b, 0, query.Id);
            DnsWire.WriteU16(b, 2, flags);
            DnsWire.WriteU16(b, 4, (ushort)qd);
            DnsWire.WriteU16(b, 6, 0);
            DnsWire.WriteU16(b, 8, 0);
            DnsWire.WriteU16(b, 10, 0);
            length = DnsWire.HeaderSize;
        }

        public void SetCount(int at, int count) => DnsWire.WriteU16(buffer, at, (ushort)count);

        public void SetTruncated() => DnsWire.WriteU16(buffer, 2, (ushort)(DnsWire.ReadU16(buffer, 2) | DnsWire.TC));

        public void Question(byte[] questionWire)
        {
            questionAt = length;
            questionNameLength = questionWire.Length - 4;
            Bytes(questionWire);
        }

        public void Record(DnsRecord record)
        {
            // The owner is always the question name, at offset 12.
            U16(0xC000 | DnsWire.HeaderSize);
            U16(record.Type);
            U16(DnsClass.IN);
            U16((ushort)(DnsWire.Ttl >> 16));
            U16((ushort)DnsWire.Ttl);
            var rdLengthAt = length;
            U16(0);
            switch (record.Type)
            {
                case DnsType.A or DnsType.Aaaa:
                    Ensure(16);
                    record.Address!.TryWriteBytes(buffer.AsSpan(length), out var written);
                    length += written;
                    break;
                case DnsType.Ptr:
                    Name(record.Target!);
                    break;
                default:
                    throw new ArgumentException("record type " + record.Type + " is not written by this server", nameof(record));
            }
            DnsWire.WriteU16(buffer, rdLengthAt, (ushort)(length - rdLengthAt - 2));
        }

        public void Opt(int extendedRcode)
        {
            Ensure(11);
            buffer[length++] = 0; // root owner
            U16(DnsType.Opt);
            U16(DnsWire.AdvertisedUdpSize);
            buffer[length++] = (byte)extendedRcode;
            buffer[length++] = 0; // version
            U16(0); // DO and Z
            U16(0); // no options
        }

        /// <summary>Writes a presentation name (labels of at most 63 bytes, checked by the zone) with compression.</summary>
        public void Name(string name)
        {
            if (names is null && questionAt > 0)
            {
                // First name in rdata: remember the question name's suffixes so later names can point into it.
                for (var at = questionAt; buffer[at] != 0 && at < 0x3FFF; at += buffer[at] + 1)
                {
                    Remember(SuffixKey(buffer.AsSpan(at, questionAt + questionNameLength - at)), at);
                }
            }
            var labels = name.TrimEnd('.').Split('.', StringSplitOptions.RemoveEmptyEntries);
            for (var i = 0; i < labels.Length; i++)
            {
                var key = string.Join('.', labels, i, labels.Length - i).ToLowerInvariant();
                if (names is not null && names.TryGetValue(key, out var offset))
                {
                    U16((ushort)(0xC000 | offset));
                    return;
                }
                if (length < 0x3FFF)
                {
                    Remember(key, length);
                }
                var label = labels[i];
                Ensure(label.Length + 1);
                buffer[length++] = (byte)label.Length;
                foreach (var c in label)
                {
                    buffer[length++] = (byte)c;
                }
            }
            Ensure(1);
            buffer[length++] = 0;
        }

        public byte[] ToArray() => buffer.AsSpan(0, length).ToArray();

        private void Remember(string key, int offset)
        {
            names ??= new Dictionary<string, int>(StringComparer.Ordinal);
            names.TryAdd(key, offset);
        }

        private static string SuffixKey(ReadOnlySpan<byte> wireName)
        {
            var text = new System.Text.StringBuilder(wireName.Length);
            var at = 0;
            while (at < wireName.Length && wireName[at] != 0)
            {
                if (text.Length > 0)
                {
                    text.Append('.');
                }
                var n = wireName[at];
                foreach (var c in wireName.Slice(at + 1, n))
                {
                    // Non-plain bytes keep the key distinct from every plain name the server writes.
                    text.Append(c is >= (byte)'A' and <= (byte)'Z' ? (char)(c | 0x20) : c is > 0x20 and < 0x7F and not (byte)'.' ? (char)c : '\0');
                }
                at += n + 1;
            }
            return text.ToString();
        }

        private void U16(ushort v)
        {
            Ensure(2);
            DnsWire.WriteU16(buffer, length, v);
            length += 2;
        }

        private void Bytes(ReadOnlySpan<byte> bytes)
        {
            Ensure(bytes.Length);
            bytes.CopyTo(buffer.AsSpan(length));
            length += bytes.Length;
        }

        private void Ensure(int more)
        {
            if (length + more > buffer.Length)
            {
                Array.Resize(ref buffer, Math.Max(buffer.Length * 2, length + more));
            }
        }
    }
}
