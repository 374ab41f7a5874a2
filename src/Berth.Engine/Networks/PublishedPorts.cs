using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Berth.Core;
using Berth.Engine.Api;

namespace Berth.Engine.Networks;

/// <summary>One requested publication: container port/proto ← host IP:port (0 = any free port, or a host port range).</summary>
public sealed record PortRequest(int ContainerPort, string Protocol, string HostIp, int HostPortStart, int HostPortEnd)
{
    public string Key => ContainerPort.ToString(CultureInfo.InvariantCulture) + "/" + Protocol;
}

/// <summary>HostConfig.PortBindings / PublishAllPorts / ExposedPorts → what to publish, and the host-side checks.</summary>
public static class PublishedPorts
{
    /// <summary>"80/tcp" (or "80", "53/udp") → (80, "tcp"); Docker's messages for bad specs.</summary>
    public static (int Port, string Protocol) ParseKey(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var portText = slash < 0 ? key : key[..slash];
        var proto = slash < 0 ? "tcp" : key[(slash + 1)..].ToLowerInvariant();
        if (proto is not ("tcp" or "udp" or "sctp"))
        {
            throw BerthException.InvalidArgument($"invalid proto: {proto}");
        }
        if (proto == "sctp")
        {
            throw BerthException.Unsupported("sctp port mappings; publish tcp or udp ports");
        }
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw BerthException.InvalidArgument($"invalid containerPort: {portText}");
        }
        return (port, proto);
    }

    /// <summary>Every publication the container asks for: explicit bindings, plus each exposed port when PublishAllPorts.</summary>
    public static List<PortRequest> Requests(HostConfig h, ContainerCreateRequest config)
    {
        var list = new List<PortRequest>();
        if (h.PortBindings is { } bindings)
        {
            foreach (var (key, value) in bindings)
            {
                var (port, proto) = ParseKey(key);
                var entries = value as JsonArray;
                if (entries is null || entries.Count == 0)
                {
                    list.Add(new PortRequest(port, proto, "", 0, 0));
                    continue;
                }
                foreach (var e in entries.OfType<JsonObject>())
                {
                    var hostIp = e["HostIp"]?.GetValue<string>() ?? "";
                    if (hostIp.Length > 0)
                    {
                        if (!IPAddress.TryParse(hostIp.Trim('[', ']'), out var ip))
                        {
                            throw BerthException.InvalidArgument($"invalid IP address: {hostIp}");
                        }
                        if (ip.AddressFamily == AddressFamily.InterNetworkV6)
                        {
                            throw BerthException.Unsupported($"publishing on the IPv6 address {hostIp}; use an IPv4 host address");
                        }
                        hostIp = ip.ToString();
                        if (hostIp == "0.0.0.0")
                        {
                            hostIp = "";
                        }
                    }
                    var (start, end) = ParseHostPort(e["HostPort"]?.GetValue<string>() ?? "");
                    list.Add(new PortRequest(port, proto, hostIp, start, end));
                }
            }
        }
        if (h.PublishAllPorts)
        {
            foreach (var key in config.ExposedPorts?.Keys ?? Enumerable.Empty<string>())
            {
                var (port, proto) = ParseKey(key);
                if (!list.Any(r => r.ContainerPort == port && r.Protocol == proto))
                {
                    list.Add(new PortRequest(port, proto, "", 0, 0));
                }
            }
        }
        return list;
    }

    private static (int Start, int End) ParseHostPort(string text)
    {
        if (text.Length == 0)
        {
            return (0, 0);
        }
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        var a = dash < 0 ? text : text[..dash];
        var b = dash < 0 ? text : text[(dash + 1)..];
        if (!int.TryParse(a, NumberStyles.None, CultureInfo.InvariantCulture, out var start) || start is < 0 or > 65535 ||
            !int.TryParse(b, NumberStyles.None, CultureInfo.InvariantCulture, out var end) || end is < 0 or > 65535 || end < start)
        {
            throw BerthException.InvalidArgument($"invalid hostPort: {text}");
        }
        return (start, end);
    }

    /// <summary>Whether a host process holds <paramref name="port"/> (a bind to it fails with EADDRINUSE).</summary>
    public static bool InUseOnHost(string hostIp, int port, string protocol)
    {
        var address = hostIp.Length == 0 ? IPAddress.Any : IPAddress.Parse(hostIp);
        using var s = protocol == "udp"
            ? new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)
            : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            s.Bind(new IPEndPoint(address, port));
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressNotAvailable)
        {
            throw BerthException.InvalidArgument($"cannot publish on {hostIp}:{port}: {hostIp} is not an address of this host");
        }
    }

    /// <summary>A free port from the kernel's ephemeral range (what Docker's -P picks from).</summary>
    public static int FreeEphemeralPort(string hostIp, string protocol, Func<int, bool> taken)
    {
        for (var i = 0; i < 64; i++)
        {
            var address = hostIp.Length == 0 ? IPAddress.Any : IPAddress.Parse(hostIp);
            using var s = protocol == "udp"
                ? new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)
                : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(address, 0));
            var port = ((IPEndPoint)s.LocalEndPoint!).Port;
            if (!taken(port))
            {
                return port;
            }
        }
        throw new BerthException(ErrorCode.Unavailable, "no free host port left in the ephemeral range for -P; free some ports and retry");
    }
}
