using System.Net;
using System.Net.Sockets;
using Berth.Networking.Cni;

namespace Berth.Networking.Plugins;

/// <summary>An IPv4 or IPv6 prefix with address arithmetic (addresses as 128-bit numbers).</summary>
public readonly record struct IPPrefix(IPAddress Network, int Length)
{
    public AddressFamily Family => Network.AddressFamily;

    public int Bits => Family == AddressFamily.InterNetwork ? 32 : 128;

    public UInt128 First => ToNumber(Network);

    public UInt128 Last => First | (Length == Bits ? UInt128.Zero : (UInt128.One << (Bits - Length)) - 1);

    public bool Contains(IPAddress a) => a.AddressFamily == Family && ToNumber(a) >= First && ToNumber(a) <= Last;

    public bool Overlaps(IPPrefix other) => other.Family == Family && other.First <= Last && First <= other.Last;

    public override string ToString() => Network + "/" + Length;

    /// <summary>Parses "a.b.c.d/n" (host bits are cleared, like the reference plugins); code 7 when invalid.</summary>
    public static IPPrefix Parse(string? text, string what)
    {
        var ok = TryParseCidr(text, out var address, out var length);
        if (!ok)
        {
            throw new CniException(CniErrorCode.InvalidNetworkConfig, $"{what} '{text}' is not a valid CIDR (like 10.88.0.0/16)");
        }
        var bits = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var mask = length == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - length) >> (128 - bits);
        return new IPPrefix(FromNumber(ToNumber(address) & mask, address.AddressFamily), length);
    }

    public static bool TryParseCidr(string? text, out IPAddress address, out int length)
    {
        address = IPAddress.None;
        length = 0;
        if (text is null)
        {
            return false;
        }
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !IPAddress.TryParse(text.AsSpan(0, slash), out var parsed) ||
            !int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None, null, out length))
        {
            return false;
        }
        address = parsed;
        return parsed.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6 &&
               length <= (parsed.AddressFamily == AddressFamily.InterNetwork ? 32 : 128) &&
               text.Count(c => c == '.') is 0 or 3;
    }

    public static IPAddress ParseAddress(string? text, string what) =>
        IPAddress.TryParse(text, out var a) && (text!.Contains(':', StringComparison.Ordinal) || text.Count(c => c == '.') == 3)
            ? a
            : throw new CniException(CniErrorCode.InvalidNetworkConfig, $"{what} '{text}' is not a valid IP address");

    public static UInt128 ToNumber(IPAddress a)
    {
        UInt128 n = 0;
        foreach (var b in a.GetAddressBytes())
        {
            n = (n << 8) | b;
        }
        return n;
    }

    public static IPAddress FromNumber(UInt128 n, AddressFamily family)
    {
        var bytes = new byte[family == AddressFamily.InterNetwork ? 4 : 16];
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            bytes[i] = (byte)(n & 0xff);
            n >>= 8;
        }
        return new IPAddress(bytes);
    }
}

/// <summary>One allocatable range of a subnet: [Start, End], its gateway.</summary>
public sealed record IpRange(IPPrefix Subnet, IPAddress Start, IPAddress End, IPAddress Gateway)
{
    public bool Contains(IPAddress a) => Subnet.Contains(a) &&
        IPPrefix.ToNumber(a) >= IPPrefix.ToNumber(Start) && IPPrefix.ToNumber(a) <= IPPrefix.ToNumber(End);

    public bool Overlaps(IpRange other) => other.Subnet.Family == Subnet.Family &&
        IPPrefix.ToNumber(other.Start) <= IPPrefix.ToNumber(End) && IPPrefix.ToNumber(Start) <= IPPrefix.ToNumber(other.End);

    /// <summary>Builds a range from config, defaulting start/end/gateway as the reference host-local does.</summary>
    public static IpRange From(RangeConfig config)
    {
        var subnet = IPPrefix.Parse(config.Subnet, "subnet");
        if (subnet.Length > subnet.Bits - 2 && subnet.Family == AddressFamily.InterNetwork)
        {
            throw new CniException(CniErrorCode.InvalidNetworkConfig, $"subnet {subnet} is too small to allocate from: use a /30 or larger");
        }
        var first = subnet.First + 1;
        var last = subnet.Family == AddressFamily.InterNetwork ? subnet.Last - 1 : subnet.Last;
        var start = config.RangeStart is null ? IPPrefix.FromNumber(first, subnet.Family) : IPPrefix.ParseAddress(config.RangeStart, "rangeStart");
        var end = config.RangeEnd is null ? IPPrefix.FromNumber(last, subnet.Family) : IPPrefix.ParseAddress(config.RangeEnd, "rangeEnd");
        var gateway = config.Gateway is null ? IPPrefix.FromNumber(first, subnet.Family) : IPPrefix.ParseAddress(config.Gateway, "gateway");
        foreach (var (a, name) in new[] { (start, "rangeStart"), (end, "rangeEnd"), (gateway, "gateway") })
        {
            if (!subnet.Contains(a) || IPPrefix.ToNumber(a) < first || IPPrefix.ToNumber(a) > last)
            {
                throw new CniException(CniErrorCode.InvalidNetworkConfig, $"{name} {a} is outside the usable addresses of subnet {subnet}");
            }
        }
        if (IPPrefix.ToNumber(start) > IPPrefix.ToNumber(end))
        {
            throw new CniException(CniErrorCode.InvalidNetworkConfig, $"rangeStart {start} is after rangeEnd {end} in subnet {subnet}");
        }
        return new IpRange(subnet, start, end, gateway);
    }
}
