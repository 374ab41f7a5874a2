using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Berth.Linux.Interop;

namespace Berth.Linux.Netlink;

/// <summary>A link as rtnetlink reports it.</summary>
public sealed record LinkInfo(int Index, string Name, string? Kind, int Mtu, bool Up, int MasterIndex, string? Mac);

/// <summary>An interface address.</summary>
public sealed record AddressInfo(int LinkIndex, IPAddress Address, int PrefixLength);

/// <summary>A route in the main table.</summary>
public sealed record RouteInfo(IPAddress? Destination, int PrefixLength, IPAddress? Gateway, int OutputIndex);

/// <summary>
/// An rtnetlink (NETLINK_ROUTE) socket. A netlink socket acts in the network namespace it was created in, so
/// <see cref="OpenIn"/> creates it inside a namespace on a short-lived thread and every request after that
/// applies there, from any thread. Requests are synchronous and not thread-safe: one socket per worker.
/// </summary>
public sealed unsafe class RtNetlink : IDisposable
{
    private const int AfNetlink = 16;
    private const int SockRaw = 3;
    private const int SockCloexec = 0x80000;
    private const int NetlinkRoute = 0;

    private const ushort NlmsgError = 2;
    private const ushort NlmsgDone = 3;
    private const ushort FRequest = 1;
    private const ushort FAck = 4;
    private const ushort FDump = 0x300;
    private const ushort FReplace = 0x100;
    private const ushort FExcl = 0x200;
    private const ushort FCreate = 0x400;

    private const ushort RtmNewLink = 16;
    private const ushort RtmDelLink = 17;
    private const ushort RtmGetLink = 18;
    private const ushort RtmSetLink = 19;
    private const ushort RtmNewAddr = 20;
    private const ushort RtmDelAddr = 21;
    private const ushort RtmGetAddr = 22;
    private const ushort RtmNewRoute = 24;
    private const ushort RtmGetRoute = 26;

    private const ushort IflaAddress = 1;
    private const ushort IflaIfname = 3;
    private const ushort IflaMtu = 4;
    private const ushort IflaMaster = 10;
    private const ushort IflaProtinfo = 12;
    private const ushort IflaLinkinfo = 18;
    private const ushort IflaNetNsFd = 28;
    private const ushort IflaInfoKind = 1;
    private const ushort IflaInfoData = 2;
    private const ushort VethInfoPeer = 1;
    private const ushort IflaBrportMode = 4;
    private const ushort NlaFNested = 0x8000;

    private const ushort IfaAddress = 1;
    private const ushort IfaLocal = 2;
    private const ushort RtaDst = 1;
    private const ushort RtaOif = 4;
    private const ushort RtaGateway = 5;
    private const ushort RtaTable = 15;

    private const byte AfUnspec = 0;
    private const byte AfInet = 2;
    private const byte AfBridge = 7;
    private const byte AfInet6 = 10;
    private const uint IffUp = 1;

    private readonly int fd;
    private uint seq;
    private bool disposed;

    private RtNetlink(int fd) => this.fd = fd;

    /// <summary>A socket in the calling thread's network namespace.</summary>
    public static RtNetlink Open() =>
        new(LinuxSyscallException.Check(Libc.socket(AfNetlink, SockRaw | SockCloexec, NetlinkRoute), "socket", "NETLINK_ROUTE"));

    /// <summary>A socket acting inside <paramref name="ns"/>.</summary>
    public static RtNetlink OpenIn(NetworkNamespace ns) => ns.Run(Open);

    // ---- links ----

    public IReadOnlyList<LinkInfo> GetLinks()
    {
        var m = new Message(RtmGetLink, FRequest | FDump);
        m.IfInfo(AfUnspec, 0, 0, 0);
        var links = new List<LinkInfo>();
        foreach (var reply in Dump(m, "RTM_GETLINK", null))
        {
            links.Add(ParseLink(reply));
        }
        return links;
    }

    public LinkInfo? FindLink(string name)
    {
        var m = new Message(RtmGetLink, FRequest);
        m.IfInfo(AfUnspec, 0, 0, 0);
        m.AttrString(IflaIfname, name);
        var errno = Request(m, out var reply);
        if (errno == Errno.ENODEV)
        {
            return null;
        }
        Throw(errno, "RTM_GETLINK", name);
        return ParseLink(reply!);
    }

    public LinkInfo GetLink(string name) =>
        FindLink(name) ?? throw new LinuxSyscallException("netlink RTM_GETLINK", name, Errno.ENODEV);

    /// <summary>Creates a bridge (EEXIST if a link of that name exists).</summary>
    public void AddBridge(string name, int mtu)
    {
        var m = new Message(RtmNewLink, FRequest | FAck | FCreate | FExcl);
        m.IfInfo(AfUnspec, 0, 0, 0);
        m.AttrString(IflaIfname, name);
        if (mtu > 0)
        {
            m.AttrU32(IflaMtu, (uint)mtu);
        }
        var info = m.Begin(IflaLinkinfo);
        m.AttrString(IflaInfoKind, "bridge");
        m.End(info);
        Throw(Request(m, out _), "RTM_NEWLINK bridge", name);
    }

    /// <summary>
    /// Creates a veth pair: <paramref name="name"/> here, <paramref name="peerName"/> directly inside
    /// <paramref name="peerNamespace"/> when given (so the peer never appears under a clashing name in this one),
    /// with <paramref name="peerMac"/> (6 bytes) as the peer's hardware address when given (else a random one).
    /// </summary>
    public void AddVeth(string name, string peerName, int mtu, NetworkNamespace? peerNamespace, byte[]? peerMac = null)
    {
        if (peerMac is not null && peerMac.Length != 6)
        {
            throw new ArgumentException("a MAC address has 6 bytes", nameof(peerMac));
        }
        var m = new Message(RtmNewLink, FRequest | FAck | FCreate | FExcl);
        m.IfInfo(AfUnspec, 0, 0, 0);
        m.AttrString(IflaIfname, name);
        if (mtu > 0)
        {
            m.AttrU32(IflaMtu, (uint)mtu);
        }
        var info = m.Begin(IflaLinkinfo);
        m.AttrString(IflaInfoKind, "veth");
        var data = m.Begin(IflaInfoData);
        var peer = m.Begin(VethInfoPeer);
        m.IfInfo(AfUnspec, 0, 0, 0);
        m.AttrString(IflaIfname, peerName);
        if (mtu > 0)
        {
            m.AttrU32(IflaMtu, (uint)mtu);
        }
        if (peerMac is not null)
        {
            m.AttrBytes(IflaAddress, peerMac);
        }
        if (peerNamespace is not null)
        {
            m.AttrU32(IflaNetNsFd, (uint)peerNamespace.Fd);
        }
        m.End(peer);
        m.End(data);
        m.End(info);
        Throw(Request(m, out _), "RTM_NEWLINK veth", name + "/" + peerName);
    }

    public void SetUp(int index, string what) => SetLink(index, what, IffUp, IffUp, null);

    public void SetMtu(int index, int mtu, string what) => SetLink(index, what, 0, 0, m => m.AttrU32(IflaMtu, (uint)mtu));

    public void SetMaster(int index, int masterIndex, string what) =>
        SetLink(index, what, 0, 0, m => m.AttrU32(IflaMaster, (uint)masterIndex));

    public void Rename(int index, string newName, string what) => SetLink(index, what, 0, 0, m => m.AttrString(IflaIfname, newName));

    /// <summary>Moves a link into another network namespace.</summary>
    public void SetNamespace(int index, NetworkNamespace ns, string what) =>
        SetLink(index, what, 0, 0, m => m.AttrU32(IflaNetNsFd, (uint)ns.Fd));

    /// <summary>Sets a bridge port's hairpin mode (IFLA_BRPORT_MODE), so a frame may leave by the port it came in on.</summary>
    public void SetHairpin(int index, bool on, string what)
    {
        var m = new Message(RtmSetLink, FRequest | FAck);
        m.IfInfo(AfBridge, index, 0, 0);
        var prot = m.Begin((ushort)(IflaProtinfo | NlaFNested));
        m.AttrU8(IflaBrportMode, on ? (byte)1 : (byte)0);
        m.End(prot);
        Throw(Request(m, out _), "RTM_SETLINK hairpin", what);
    }

    /// <summary>Deletes a link; false when it does not exist.</summary>
    public bool DeleteLink(string name)
    {
        var m = new Message(RtmDelLink, FRequest | FAck);
        m.IfInfo(AfUnspec, 0, 0, 0);
        m.AttrString(IflaIfname, name);
        var errno = Request(m, out _);
        if (errno == Errno.ENODEV)
        {
            return false;
        }
        Throw(errno, "RTM_DELLINK", name);
        return true;
    }

    private void SetLink(int index, string what, uint flags, uint change, Action<Message>? attrs)
    {
        var m = new Message(RtmNewLink, FRequest | FAck);
        m.IfInfo(AfUnspec, index, flags, change);
        attrs?.Invoke(m);
        Throw(Request(m, out _), "RTM_NEWLINK", what);
    }

    // ---- addresses ----

    /// <summary>Adds an address; returns false if it was already there.</summary>
    public bool AddAddress(int index, IPAddress address, int prefixLength, string what)
    {
        var m = new Message(RtmNewAddr, FRequest | FAck | FCreate | FExcl);
        var family = Family(address);
        m.IfAddr(family, (byte)prefixLength, 0, index);
        m.AttrBytes(IfaLocal, address.GetAddressBytes());
        m.AttrBytes(IfaAddress, address.GetAddressBytes());
        var errno = Request(m, out _);
        if (errno == Errno.EEXIST)
        {
            return false;
        }
        Throw(errno, "RTM_NEWADDR", what + " " + address + "/" + prefixLength);
        return true;
    }

    public bool DeleteAddress(int index, IPAddress address, int prefixLength, string what)
    {
        var m = new Message(RtmDelAddr, FRequest | FAck);
        m.IfAddr(Family(address), (byte)prefixLength, 0, index);
        m.AttrBytes(IfaLocal, address.GetAddressBytes());
        var errno = Request(m, out _);
        if (errno == 99 /* EADDRNOTAVAIL */)
        {
            return false;
        }
        Throw(errno, "RTM_DELADDR", what + " " + address + "/" + prefixLength);
        return true;
    }

    public IReadOnlyList<AddressInfo> GetAddresses(int index = 0)
    {
        var m = new Message(RtmGetAddr, FRequest | FDump);
        m.IfAddr(AfUnspec, 0, 0, 0);
        var list = new List<AddressInfo>();
        foreach (var reply in Dump(m, "RTM_GETADDR", null))
        {
            var family = reply[0];
            var prefix = reply[1];
            var link = BinaryPrimitives.ReadInt32LittleEndian(reply.AsSpan(4));
            if (index != 0 && link != index)
            {
                continue;
            }
            IPAddress? local = null, address = null;
            foreach (var (type, value) in Attributes(reply, 8))
            {
                if (type == IfaLocal)
                {
                    local = new IPAddress(value);
                }
                else if (type == IfaAddress)
                {
                    address = new IPAddress(value);
                }
            }
            if ((local ?? address) is { } a && (family == AfInet || family == AfInet6))
            {
                list.Add(new AddressInfo(link, a, prefix));
            }
        }
        return list;
    }

    // ---- routes ----

    /// <summary>Adds a route in the main table; <paramref name="destination"/> null is the default route. False if it exists.</summary>
    public bool AddRoute(IPAddress? destination, int prefixLength, IPAddress? gateway, int outputIndex, string what)
    {
        var family = Family(destination ?? gateway ?? IPAddress.Any);
        var m = new Message(RtmNewRoute, FRequest | FAck | FCreate | FExcl);
        // rtmsg: family, dst_len, src_len, tos, table(main=254), protocol(boot=3), scope, type(unicast=1), flags
        m.Route(family, destination is null ? (byte)0 : (byte)prefixLength, 254, 3, gateway is null ? (byte)253 /* link */ : (byte)0, 1);
        if (destination is not null)
        {
            m.AttrBytes(RtaDst, destination.GetAddressBytes());
        }
        if (gateway is not null)
        {
            m.AttrBytes(RtaGateway, gateway.GetAddressBytes());
        }
        if (outputIndex > 0)
        {
            m.AttrU32(RtaOif, (uint)outputIndex);
        }
        var errno = Request(m, out _);
        if (errno == Errno.EEXIST)
        {
            return false;
        }
        Throw(errno, "RTM_NEWROUTE", what + " " + (destination?.ToString() ?? "default") + " via " + gateway);
        return true;
    }

    public IReadOnlyList<RouteInfo> GetRoutes(AddressFamily family = AddressFamily.InterNetwork)
    {
        var m = new Message(RtmGetRoute, FRequest | FDump);
        m.Route(family == AddressFamily.InterNetworkV6 ? AfInet6 : AfInet, 0, 0, 0, 0, 0);
        var list = new List<RouteInfo>();
        foreach (var reply in Dump(m, "RTM_GETROUTE", null))
        {
            var table = (uint)reply[4];
            IPAddress? dst = null, gw = null;
            var oif = 0;
            foreach (var (type, value) in Attributes(reply, 12))
            {
                switch (type)
                {
                    case RtaDst: dst = new IPAddress(value); break;
                    case RtaGateway: gw = new IPAddress(value); break;
                    case RtaOif: oif = BinaryPrimitives.ReadInt32LittleEndian(value); break;
                    case RtaTable: table = BinaryPrimitives.ReadUInt32LittleEndian(value); break;
                }
            }
            if (table == 254)
            {
                list.Add(new RouteInfo(dst, reply[1], gw, oif));
            }
        }
        return list;
    }

    // ---- transport ----

    private static byte Family(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 ? AfInet6 : AfInet;

    private static void Throw(int errno, string call, string what)
    {
        if (errno != 0)
        {
            throw new LinuxSyscallException("netlink " + call, what, errno);
        }
    }

    private static LinkInfo ParseLink(byte[] body)
    {
        var index = BinaryPrimitives.ReadInt32LittleEndian(body.AsSpan(4));
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(8));
        string name = "";
        string? kind = null, mac = null;
        int mtu = 0, master = 0;
        foreach (var (type, value) in Attributes(body, 16))
        {
            switch (type & 0x3fff)
            {
                case IflaIfname: name = Encoding.UTF8.GetString(value).TrimEnd('\0'); break;
                case IflaMtu: mtu = BinaryPrimitives.ReadInt32LittleEndian(value); break;
                case IflaMaster: master = BinaryPrimitives.ReadInt32LittleEndian(value); break;
                case IflaAddress when value.Length == 6: mac = Convert.ToHexString(value).ToLowerInvariant(); break;
                case IflaLinkinfo:
                    foreach (var (t, v) in Attributes(value, 0))
                    {
                        if ((t & 0x3fff) == IflaInfoKind)
                        {
                            kind = Encoding.UTF8.GetString(v).TrimEnd('\0');
                        }
                    }
                    break;
            }
        }
        if (mac is not null)
        {
            mac = string.Join(':', Enumerable.Range(0, 6).Select(i => mac.Substring(i * 2, 2)));
        }
        return new LinkInfo(index, name, kind, mtu, (flags & IffUp) != 0, master, mac);
    }

    private static List<(ushort Type, byte[] Value)> Attributes(byte[] body, int offset)
    {
        var list = new List<(ushort, byte[])>();
        while (offset + 4 <= body.Length)
        {
            var len = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(offset));
            var type = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(offset + 2));
            if (len < 4 || offset + len > body.Length)
            {
                break;
            }
            list.Add(((ushort)(type & 0x7fff), body.AsSpan(offset + 4, len - 4).ToArray()));
            offset += (len + 3) & ~3;
        }
        return list;
    }

    private int Send(Message m)
    {
        var bytes = m.Finish(++seq);
        fixed (byte* p = bytes)
        {
            while (true)
            {
                var n = Libc.send(fd, p, (nuint)bytes.Length, 0);
                if (n >= 0)
                {
                    return (int)seq;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR)
                {
                    throw new LinuxSyscallException("send", "netlink", errno);
                }
            }
        }
    }

    private int Receive(byte[] buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = Libc.recv(fd, p, (nuint)buffer.Length, 0);
                if (n >= 0)
                {
                    return (int)n;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR)
                {
                    throw new LinuxSyscallException("recv", "netlink", errno);
                }
            }
        }
    }

    /// <summary>Sends a request and waits for its ack or single reply; returns 0 or the errno.</summary>
    private int Request(Message m, out byte[]? reply)
    {
        byte[]? last = null;
        var result = 0;
        var acked = (m.Flags & FAck) != 0;
        ReadReplies(m, (type, payload) =>
        {
            if (type == NlmsgError)
            {
                result = -BinaryPrimitives.ReadInt32LittleEndian(payload);
                return false;
            }
            if (type == NlmsgDone)
            {
                return false;
            }
            last = payload.ToArray();
            return acked; // without NLM_F_ACK the first reply is the answer
        });
        reply = last;
        return result;
    }

    private List<byte[]> Dump(Message m, string call, string? what)
    {
        var list = new List<byte[]>();
        ReadReplies(m, (type, payload) =>
        {
            if (type == NlmsgError)
            {
                Throw(-BinaryPrimitives.ReadInt32LittleEndian(payload), call, what ?? "dump");
                return false;
            }
            if (type == NlmsgDone)
            {
                return false;
            }
            list.Add(payload.ToArray());
            return true;
        });
        return list;
    }

    private delegate bool ReplyHandler(ushort type, ReadOnlySpan<byte> payload);

    /// <summary>
    /// Sends <paramref name="m"/> and hands each reply to the same sequence number to <paramref name="handle"/>
    /// (type, payload after the 16-byte header) until it returns false; replies to other requests are skipped.
    /// </summary>
    private void ReadReplies(Message m, ReplyHandler handle)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var s = (uint)Send(m);
        var buffer = new byte[1 << 16];
        while (true)
        {
            var n = Receive(buffer);
            var off = 0;
            while (off + 16 <= n)
            {
                var len = (int)BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(off));
                var type = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(off + 4));
                var mseq = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(off + 8));
                if (len < 16 || off + len > n)
                {
                    break;
                }
                if (mseq == s && !handle(type, buffer.AsSpan(off + 16, len - 16)))
                {
                    return;
                }
                off += (len + 3) & ~3;
            }
        }
    }

    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            Libc.close(fd);
        }
    }

    /// <summary>A netlink message under construction: header, family header, then (nested) attributes.</summary>
    private sealed class Message
    {
        private readonly List<byte> bytes = new(256);

        public Message(ushort type, ushort flags)
        {
            Type = type;
            Flags = flags;
            bytes.AddRange(new byte[16]);
        }

        public ushort Type { get; }

        public ushort Flags { get; }

        public void IfInfo(byte family, int index, uint flags, uint change)
        {
            Span<byte> b = stackalloc byte[16];
            b.Clear();
            b[0] = family;
            BinaryPrimitives.WriteInt32LittleEndian(b[4..], index);
            BinaryPrimitives.WriteUInt32LittleEndian(b[8..], flags);
            BinaryPrimitives.WriteUInt32LittleEndian(b[12..], change);
            bytes.AddRange(b.ToArray());
        }

        public void IfAddr(byte family, byte prefix, byte scope, int index)
        {
            Span<byte> b = stackalloc byte[8];
            b.Clear();
            b[0] = family;
            b[1] = prefix;
            b[3] = scope;
            BinaryPrimitives.WriteInt32LittleEndian(b[4..], index);
            bytes.AddRange(b.ToArray());
        }

        public void Route(byte family, byte dstLen, byte table, byte protocol, byte scope, byte type)
        {
            Span<byte> b = stackalloc byte[12];
            b.Clear();
            b[0] = family;
            b[1] = dstLen;
            b[4] = table;
            b[5] = protocol;
            b[6] = scope;
            b[7] = type;
            bytes.AddRange(b.ToArray());
        }

        public void AttrBytes(ushort type, ReadOnlySpan<byte> value)
        {
            var len = 4 + value.Length;
            Span<byte> h = stackalloc byte[4];
            BinaryPrimitives.WriteUInt16LittleEndian(h, (ushort)len);
            BinaryPrimitives.WriteUInt16LittleEndian(h[2..], type);
            bytes.AddRange(h.ToArray());
            bytes.AddRange(value.ToArray());
            Pad();
        }

        public void AttrString(ushort type, string value) => AttrBytes(type, Encoding.UTF8.GetBytes(value + "\0"));

        public void AttrU32(ushort type, uint value)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(b, value);
            AttrBytes(type, b);
        }

        public void AttrU8(ushort type, byte value) => AttrBytes(type, [value]);

        public int Begin(ushort type)
        {
            var at = bytes.Count;
            bytes.AddRange([0, 0, (byte)type, (byte)(type >> 8)]);
            return at;
        }

        public void End(int at)
        {
            var len = (ushort)(bytes.Count - at);
            bytes[at] = (byte)len;
            bytes[at + 1] = (byte)(len >> 8);
        }

        public byte[] Finish(uint seq)
        {
            var b = bytes.ToArray();
            BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)b.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(4), Type);
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(6), Flags);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), seq);
            return b;
        }

        private void Pad()
        {
            while (bytes.Count % 4 != 0)
            {
                bytes.Add(0);
            }
        }
    }
}
