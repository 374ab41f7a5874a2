using System.Net;
using Berth.Networking.Dns;

namespace Berth.Networking.Tests;

/// <summary>The wire format against byte strings: queries captured from dig and busybox nslookup, replies by hand.</summary>
public sealed class DnsCodecTests
{
    // dig @127.0.0.1 Web.MyNet A (dig 9.18): RD+AD, EDNS0 with a 1232-byte payload and a client cookie.
    private const string DigQuery =
        "68710120000100000000000103576562054d794e6574000001000100002904d000000000000c000a000886abe99180c92e19";

    // busybox nslookup web: no EDNS.
    private const string BusyboxQuery = "b0dd01000001000000000000037765620000010001";

    private static byte[] Hex(string hex) => Convert.FromHexString(hex);

    private static DnsQuery Parse(byte[] message)
    {
        Assert.Equal(DnsParseStatus.Ok, DnsQuery.TryParse(message, out var q));
        return q!;
    }

    [Fact]
    public void Parses_digs_query_with_edns_and_cookie()
    {
        var q = Parse(Hex(DigQuery));
        Assert.Equal(0x6871, q.Id);
        Assert.Equal("web.mynet", q.Name);
        Assert.True(q.NameIsPlain);
        Assert.Equal(DnsType.A, q.Type);
        Assert.Equal(DnsClass.IN, q.Class);
        Assert.True(q.RecursionDesired);
        Assert.True(q.HasEdns);
        Assert.Equal(1232, q.EdnsUdpSize);
        Assert.Equal(1232, q.MaxUdpResponse);
        Assert.Equal(0, q.EdnsVersion);
        // The question is kept as sent, case and all.
        Assert.Equal("03576562054d794e6574000001" + "0001", Convert.ToHexStringLower(q.QuestionWire));
    }

    [Fact]
    public void Answers_busyboxs_query_byte_for_byte()
    {
        var q = Parse(Hex(BusyboxQuery));
        Assert.False(q.HasEdns);
        var reply = DnsResponseWriter.Answer(q, [DnsRecord.ForAddress(IPAddress.Parse("10.0.0.2"))], q.MaxUdpResponse, udp: true);
        // id, QR|RD|RA, 1 question, 1 answer; question echoed; answer owner = pointer to offset 12, A IN, TTL 600.
        Assert.Equal(
            "b0dd818000010001000000000377656200000100 01" .Replace(" ", "") +
            "c00c00010001000002580004" + "0a000002",
            Convert.ToHexStringLower(reply));
    }

    [Fact]
    public void Answers_with_an_opt_record_when_the_query_had_one()
    {
        var q = Parse(Hex(DigQuery));
        var reply = DnsResponseWriter.Answer(q, [DnsRecord.ForAddress(IPAddress.Parse("fd00::3"))], q.MaxUdpResponse, udp: true);
        var hex = Convert.ToHexStringLower(reply);
        // Flags echo RD; AD is not claimed; ANCOUNT 1, ARCOUNT 1 (the OPT).
        Assert.StartsWith("687181800001000100000001", hex);
        Assert.Contains("c00c001c00010000025800" + "10" + "fd000000000000000000000000000003", hex);
        Assert.EndsWith("00" + "0029" + "04d0" + "00000000" + "0000", hex);
    }

    [Fact]
    public void Ptr_reply_points_its_owner_at_the_question_and_writes_the_target_as_plain_labels()
    {
        // What the server answers for `dig -x 10.0.0.2` (one target, container.network; the dig end of it is in
        // DnsServerTests): 2.0.0.10.in-addr.arpa PTR, no EDNS.
        var q = Parse(BuildQuery(0x0102, "2.0.0.10.in-addr.arpa", DnsType.Ptr));
        Assert.Equal("2.0.0.10.in-addr.arpa", q.Name);
        var reply = DnsResponseWriter.Answer(q, [DnsRecord.ForPtr("web.front")], 512, udp: true);
        Assert.Equal(
            "0102818000010001" + "00000000" +
            "0132" + "0130" + "0130" + "023130" + "07696e2d61646472" + "0461727061" + "00" + "000c0001" +
            // owner = pointer to the question at 12, PTR IN, TTL 600, RDLENGTH 11: 3"web" 5"front" 0.
            "c00c" + "000c0001" + "00000258" + "000b" + "03776562" + "0566726f6e74" + "00",
            Convert.ToHexStringLower(reply));

        // An IPv6 reverse name, with a dotted target from a trailing-dot presentation form: still plain labels.
        var v6 = string.Join('.', "fd000000000000000000000000000003".Reverse()) + ".ip6.arpa";
        q = Parse(BuildQuery(0x0103, v6, DnsType.Ptr, ednsSize: 1232));
        reply = DnsResponseWriter.Answer(q, [DnsRecord.ForPtr("web.front.")], q.MaxUdpResponse, udp: true);
        var answerAt = 12 + q.QuestionWire.Length;
        Assert.Equal(
            "c00c" + "000c0001" + "00000258" + "000b" + "03776562" + "0566726f6e74" + "00" +
            "00" + "0029" + "04d0" + "00000000" + "0000",
            Convert.ToHexStringLower(reply.AsSpan(answerAt)));
        Assert.Equal(1, DnsWire.ReadU16(reply, 6));
    }

    [Fact]
    public void A_reply_too_big_for_udp_is_cut_and_flagged_tc()
    {
        var q = Parse(BuildQuery(7, "many", DnsType.A));
        var answers = Enumerable.Range(1, 40).Select(i => DnsRecord.ForAddress(IPAddress.Parse("10.9.0." + i))).ToList();
        var udp = DnsResponseWriter.Answer(q, answers, q.MaxUdpResponse, udp: true);
        Assert.True(udp.Length <= 512);
        Assert.True(DnsWire.IsTruncated(udp));
        var fit = (512 - 12 - q.QuestionWire.Length) / 16;
        Assert.Equal(fit, DnsWire.ReadU16(udp, 6));

        var tcp = DnsResponseWriter.Answer(q, answers, 65535, udp: false);
        Assert.False(DnsWire.IsTruncated(tcp));
        Assert.Equal(40, DnsWire.ReadU16(tcp, 6));
    }

    [Fact]
    public void Edns_payload_size_lifts_the_udp_limit()
    {
        var q = Parse(BuildQuery(7, "many", DnsType.A, ednsSize: 4096));
        Assert.Equal(4096, q.MaxUdpResponse);
        var answers = Enumerable.Range(1, 40).Select(i => DnsRecord.ForAddress(IPAddress.Parse("10.9.0." + i))).ToList();
        var reply = DnsResponseWriter.Answer(q, answers, q.MaxUdpResponse, udp: true);
        Assert.False(DnsWire.IsTruncated(reply));
        Assert.Equal(40, DnsWire.ReadU16(reply, 6));
        Assert.Equal(1, DnsWire.ReadU16(reply, 10));

        // A payload size under 512 still gets 512 (RFC 6891 §6.2.5).
        Assert.Equal(512, Parse(BuildQuery(7, "x", DnsType.A, ednsSize: 100)).MaxUdpResponse);
    }

    [Fact]
    public void Compressed_question_names_parse_and_pointer_loops_do_not()
    {
        // A name that is only a pointer to itself.
        var loop = Hex("000100000001000000000000c00c00010001");
        Assert.Equal(DnsParseStatus.FormErr, DnsQuery.TryParse(loop, out _));
        // A forward pointer.
        var forward = Hex("000100000001000000000000c01000010001" + "0000");
        Assert.Equal(DnsParseStatus.FormErr, DnsQuery.TryParse(forward, out _));
    }

    [Theory]
    [InlineData("", DnsParseStatus.Drop)]
    [InlineData("0001", DnsParseStatus.Drop)]
    [InlineData("00018180000100000000000003776562000001 0001", DnsParseStatus.Drop)] // a response: never answered
    [InlineData("000101000000000000000000", DnsParseStatus.FormErr)] // no question
    [InlineData("0001010000020000000000000377656200000100010377656200000100 01", DnsParseStatus.FormErr)] // two
    [InlineData("0001010000010000000000000377656200000100", DnsParseStatus.FormErr)] // question cut short
    [InlineData("000101000001000000000000057765620000010001", DnsParseStatus.FormErr)] // label past the end
    [InlineData("00010100000100000000000003776562000001000100", DnsParseStatus.FormErr)] // trailing garbage
    [InlineData("000101000001000000000001037765620000010001", DnsParseStatus.FormErr)] // ARCOUNT 1, no record
    [InlineData("000101000001000000000000437765620000010001", DnsParseStatus.FormErr)] // label type 01
    [InlineData("000121000001000000000000037765620000010001", DnsParseStatus.NotImp)] // opcode 4 (NOTIFY)
    public void Malformed_or_unsupported_packets_get_a_status_not_an_exception(string hex, DnsParseStatus expected)
    {
        Assert.Equal(expected, DnsQuery.TryParse(Hex(hex.Replace(" ", "")), out _));
    }

    [Fact]
    public void Two_opt_records_are_formerr_and_a_newer_edns_version_is_badvers()
    {
        var q = BuildQuery(9, "web", DnsType.A, ednsSize: 1232);
        var twice = q.Concat(Hex("0000290200000000000000")).ToArray();
        twice[11] = 2;
        Assert.Equal(DnsParseStatus.FormErr, DnsQuery.TryParse(twice, out _));

        var v1 = BuildQuery(9, "web", DnsType.A, ednsSize: 1232);
        v1[^5] = 1; // OPT TTL: extended rcode 0, version 1
        Assert.Equal(DnsParseStatus.BadVers, DnsQuery.TryParse(v1, out var parsed));
        var reply = DnsResponseWriter.Error(parsed!, DnsRcode.BadVers);
        // RCODE 16 = header 0 + OPT extended rcode 1.
        Assert.Equal(0, reply[3] & 0xF);
        Assert.Equal("0000290" + "4d0" + "01000000" + "0000", Convert.ToHexStringLower(reply)[^22..]);
    }

    [Fact]
    public void Odd_bytes_in_labels_make_a_name_not_plain()
    {
        // "a.b" as one label, and a label with a NUL byte.
        var q = Parse(Hex("0001010000010000000000000361 2e62 00 0001 0001".Replace(" ", "")));
        Assert.False(q.NameIsPlain);
        Assert.Equal("a\\046b", q.Name);
        q = Parse(Hex("00010100000100000000000002610000 0001 0001".Replace(" ", "")));
        Assert.False(q.NameIsPlain);
    }

    [Fact]
    public void Random_and_mutated_packets_never_throw()
    {
        var random = new Random(1035);
        var seeds = new[] { Hex(DigQuery), Hex(BusyboxQuery), BuildQuery(3, "2.0.0.10.in-addr.arpa", DnsType.Ptr) };
        var zone = new DnsZone();
        zone.AddEndpoint(new DnsEndpoint("n1", "front", "c1".PadRight(64, '0'), "web", ["www"], IPAddress.Parse("10.0.0.2"), null));
        var view = zone.ViewOf("c1".PadRight(64, '0'));
        var answers = new List<DnsRecord>();
        for (var i = 0; i < 20000; i++)
        {
            byte[] packet;
            if (i % 2 == 0)
            {
                packet = (byte[])seeds[i % seeds.Length].Clone();
                for (var m = random.Next(1, 4); m > 0; m--)
                {
                    packet[random.Next(packet.Length)] = (byte)random.Next(256);
                }
                if (random.Next(4) == 0)
                {
                    packet = packet[..random.Next(packet.Length)];
                }
            }
            else
            {
                packet = new byte[random.Next(0, 80)];
                random.NextBytes(packet);
            }
            var status = DnsQuery.TryParse(packet, out var q);
            if (status == DnsParseStatus.Ok)
            {
                view.Resolve(q!, answers);
                DnsResponseWriter.Answer(q!, answers, q!.MaxUdpResponse, udp: true);
            }
            else if (status != DnsParseStatus.Drop)
            {
                DnsResponseWriter.Error(q!, DnsRcode.FormErr);
            }
        }
    }

    [Fact]
    public void Reverse_names_parse_to_addresses()
    {
        Assert.Equal(IPAddress.Parse("10.0.0.2"), DnsView.ParseReverseName("2.0.0.10.in-addr.arpa"));
        Assert.Null(DnsView.ParseReverseName("0.10.in-addr.arpa"));
        Assert.Null(DnsView.ParseReverseName("256.0.0.10.in-addr.arpa"));
        Assert.Null(DnsView.ParseReverseName("02.0.0.10.in-addr.arpa"));
        var v6 = string.Join('.', "fd000000000000000000000000000003".Reverse()) + ".ip6.arpa";
        Assert.Equal(IPAddress.Parse("fd00::3"), DnsView.ParseReverseName(v6));
        Assert.Null(DnsView.ParseReverseName("3.0.ip6.arpa"));
    }

    /// <summary>A standard query with RD, optionally with an OPT record of the given payload size.</summary>
    internal static byte[] BuildQuery(ushort id, string name, ushort type, int ednsSize = 0)
    {
        var bytes = new List<byte> { (byte)(id >> 8), (byte)id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, (byte)(ednsSize > 0 ? 1 : 0) };
        foreach (var label in name.Split('.'))
        {
            bytes.Add((byte)label.Length);
            bytes.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }
        bytes.AddRange([0, (byte)(type >> 8), (byte)type, 0, 1]);
        if (ednsSize > 0)
        {
            bytes.AddRange([0, 0, 41, (byte)(ednsSize >> 8), (byte)ednsSize, 0, 0, 0, 0, 0, 0]);
        }
        return [.. bytes];
    }
}
