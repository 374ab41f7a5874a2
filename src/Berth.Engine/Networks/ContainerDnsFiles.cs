using System.Net;
using System.Text;
using Berth.Core;
using Berth.Engine.Api;
using Berth.Engine.Containers;
using Berth.Networking.Dns;

namespace Berth.Engine.Networks;

/// <summary>
/// The /etc/hosts and /etc/resolv.conf a container gets: written into its root filesystem at create and, for a
/// container with a network namespace of its own, next to its record at every start (bind-mounted over them).
/// </summary>
internal static class ContainerDnsFiles
{
    private const string HostsHeader = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

    /// <summary>Where the host's resolver configuration is read from.</summary>
    public const string HostResolvConfPath = "/etc/resolv.conf";

    /// <summary>
    /// The hosts file: the host's own with the host network, else the standard localhost lines; the --add-host
    /// entries ("name:ip" or "name=ip", host-gateway meaning <paramref name="gateway"/>); then the container's
    /// address with its hostname (and its name, on a user-defined network).
    /// </summary>
    public static string Hosts(ContainerRecord c, bool hostNetwork, string? gateway, string? address = null, bool withName = false)
    {
        var sb = new StringBuilder();
        if (hostNetwork && File.Exists("/etc/hosts"))
        {
            sb.Append(File.ReadAllText("/etc/hosts"));
            if (sb.Length > 0 && sb[^1] != '\n')
            {
                sb.Append('\n');
            }
        }
        else
        {
            sb.Append(HostsHeader);
        }
        foreach (var extra in c.HostConfig.ExtraHosts ?? [])
        {
            // The IP may be IPv6 with colons, so "=" is looked for first.
            var sep = extra.IndexOf('=', StringComparison.Ordinal);
            if (sep < 0)
            {
                sep = extra.IndexOf(':', StringComparison.Ordinal);
            }
            if (sep <= 0)
            {
                throw BerthException.InvalidArgument($"invalid extra host \"{extra}\": use name:ip");
            }
            var ip = extra[(sep + 1)..].Trim('[', ']');
            if (ip == "host-gateway")
            {
                ip = gateway ?? throw BerthException.Unsupported("host-gateway in --add-host needs the default bridge network (the daemon runs with --bridge none)");
            }
            if (!IPAddress.TryParse(ip, out _))
            {
                throw BerthException.InvalidArgument($"invalid IP address in extra host \"{extra}\"");
            }
            sb.Append(ip).Append('\t').Append(extra[..sep]).Append('\n');
        }
        if (address is not null)
        {
            var hostname = SpecGenerator.Hostname(c, false);
            var name = c.Name.TrimStart('/');
            sb.Append(address).Append('\t').Append(hostname);
            if (withName && name.Length > 0 && name != hostname)
            {
                sb.Append(' ').Append(name);
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>
    /// The resolv.conf of a container. With the embedded DNS server (user-defined networks): "nameserver
    /// 127.0.0.11" (it forwards to --dns, else the host's servers), the search domains, and the options given
    /// (--dns-option, else the host's) with ndots:0 added only when none sets ndots — Docker's rule. Otherwise the
    /// servers given (--dns) or the host's; <paramref name="containerNamespace"/> drops the host's loopback servers,
    /// unreachable from the container's namespace, with Docker's fallback to 8.8.8.8 and 8.8.4.4.
    /// </summary>
    public static string Resolv(ResolvConf host, HostConfig h, bool embedded, bool containerNamespace)
    {
        var given = new List<IPAddress>();
        foreach (var s in h.Dns ?? [])
        {
            given.Add(IPAddress.TryParse(s, out var a) ? a : throw BerthException.InvalidArgument($"invalid --dns {s}: not an IP address"));
        }
        var search = h.DnsSearch is { Count: > 0 } ? h.DnsSearch : host.Search;
        var options = h.DnsOptions is { Count: > 0 } ? h.DnsOptions : host.Options;
        if (embedded)
        {
            var upstream = given.Count > 0 ? host with { Nameservers = given } : host;
            return upstream.ForContainer(search, options);
        }
        IReadOnlyList<IPAddress> servers = given.Count > 0 ? given : host.Nameservers;
        if (given.Count == 0 && containerNamespace)
        {
            servers = [.. servers.Where(a => !IPAddress.IsLoopback(a))];
            if (servers.Count == 0)
            {
                servers = [IPAddress.Parse("8.8.8.8"), IPAddress.Parse("8.8.4.4")];
            }
        }
        var sb = new StringBuilder();
        if (search.Count > 0)
        {
            sb.Append("search ").AppendJoin(' ', search).Append('\n');
        }
        foreach (var s in servers)
        {
            sb.Append("nameserver ").Append(s).Append('\n');
        }
        if (options.Count > 0)
        {
            sb.Append("options ").AppendJoin(' ', options).Append('\n');
        }
        return sb.ToString();
    }
}
