using System.Globalization;
using System.Text.Json.Nodes;

namespace Berth.Cli.Docker;

/// <summary>One entry of the Ports array of GET /containers/json.</summary>
public readonly record struct SummaryPort(string Ip, int PrivatePort, int PublicPort, string Type);

/// <summary>
/// The PORTS column of `ps`, as the docker CLI writes it (its DisplayablePorts): ports sorted by container port, host
/// address, host port and protocol; runs of consecutive ports published on the same host port number and address
/// (or exposed only) collapse into one range ("0.0.0.0:8000-8002->8000-8002/tcp", "5000-5001/tcp"); ports published
/// on another host port number ("0.0.0.0:9000->90/tcp") come last, one by one; all joined by ", ".
/// </summary>
public static class PortsColumn
{
    public static IReadOnlyList<SummaryPort> FromJson(JsonArray? ports) =>
        [.. (ports ?? []).OfType<JsonObject>().Select(p => new SummaryPort(
            p["IP"]?.GetValue<string>() ?? "",
            p["PrivatePort"]?.GetValue<int>() ?? 0,
            p["PublicPort"]?.GetValue<int>() ?? 0,
            p["Type"]?.GetValue<string>() ?? ""))];

    public static string Format(IEnumerable<SummaryPort> ports)
    {
        var sorted = ports.OrderBy(p => p.PrivatePort).ThenBy(p => p.Ip, StringComparer.Ordinal).ThenBy(p => p.PublicPort).ThenBy(p => p.Type, StringComparer.Ordinal);
        var groups = new Dictionary<string, (int First, int Last)>(StringComparer.Ordinal);
        var order = new List<string>();
        var result = new List<string>();
        var hostMappings = new List<string>();
        foreach (var port in sorted)
        {
            var current = port.PrivatePort;
            var key = port.Type;
            if (port.Ip.Length > 0)
            {
                if (port.PublicPort != current)
                {
                    hostMappings.Add($"{JoinHostPort(port.Ip, port.PublicPort.ToString(CultureInfo.InvariantCulture))}->{current}/{port.Type}");
                    continue;
                }
                key = port.Ip + "/" + port.Type;
            }
            if (!groups.TryGetValue(key, out var group))
            {
                groups[key] = (current, current);
                order.Add(key);
                continue;
            }
            if (current == group.Last + 1)
            {
                groups[key] = (group.First, current);
                continue;
            }
            // A gap ends the run: it is written now, ahead of the groups still open (the docker CLI's order).
            result.Add(FormGroup(key, group.First, group.Last));
            groups[key] = (current, current);
        }
        result.AddRange(order.Select(k => FormGroup(k, groups[k].First, groups[k].Last)));
        result.AddRange(hostMappings);
        return string.Join(", ", result);
    }

    private static string FormGroup(string key, int first, int last)
    {
        var parts = key.Split('/');
        var type = parts[0];
        var ip = "";
        if (parts.Length > 1)
        {
            ip = parts[0];
            type = parts[1];
        }
        var group = first == last ? first.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{first}-{last}");
        if (ip.Length > 0)
        {
            group = JoinHostPort(ip, group) + "->" + group;
        }
        return group + "/" + type;
    }

    /// <summary>Go's net.JoinHostPort: an address with a colon (IPv6) goes in brackets.</summary>
    private static string JoinHostPort(string host, string port) =>
        host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : host + ":" + port;
}
