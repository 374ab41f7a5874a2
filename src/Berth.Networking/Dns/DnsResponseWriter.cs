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
/// name, and an OPT record when the query had one. Every answer's owner is a compression pointer (§4.1.4) to the
/// echoed question; the one name written in rdata, a PTR reply's single target ("container.network"), goes out as
/// plain labels: it shares no suffix with its in-addr.arpa/ip6.arpa question (unless a network is named "arpa",
/// where a pointer would save four bytes), so compressing it would buy nothing.
/// A reply larger than the client takes is cut record by record and, over UDP, flagged TC so the client retries
/// over TCP — what Docker's server does.
/// </summary>
public static class DnsResponseWriter
{
    /// <summary>A reply carrying only an RCODE (and the question when there was one to echo).</summary>
    public static byte[] Error(DnsQuery query, DnsRcode rcode)
    {
        var w = new Writer(DnsWire.ClassicUdpSize);
        var echoQuestion = query.QuestionWire.Length > 0;
        w.Header(query, (int)rcode & 0xF, qd: echoQuestion ? 1 : 0);
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
        w.Header(query, 0, qd: 1);
        w.Question(query.QuestionWire);
        var optSize = query.HasEdns ? 11 : 0;
        var written = 0;
        var truncated = false;
        foreach (var record in answers)
        {
            var before = w.Length;
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
        private int length;

        public int Length => length;

        /// <summary>Drops everything written after <paramref name="mark"/> (a record that did not fit).</summary>
        public void Reset(int mark) => length = mark;

        public void Header(DnsQuery query, int rcode, int qd)
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

        public void Question(byte[] questionWire) => Bytes(questionWire);

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

        /// <summary>Writes a presentation name as plain labels (each at most 63 bytes, checked by the zone).</summary>
        public void Name(string name)
        {
            foreach (var label in name.TrimEnd('.').Split('.', StringSplitOptions.RemoveEmptyEntries))
            {
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
