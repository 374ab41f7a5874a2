using System.Globalization;
using System.Net;
using Berth.Networking.Nft;

namespace Berth.Networking.Dns;

/// <summary>
/// Inside a container's network namespace, queries to the embedded server's well-known address and port
/// (127.0.0.11:53) are redirected to the port the listener really has, as Docker does: the listener binds an
/// ephemeral port, so a process in the container can still bind port 53 on every address (a DNS server of its own)
/// without clashing with it. One tiny table ("ip berth-dns") with an output nat hook; conntrack turns the replies'
/// source port back into 53. Loaded by the thread that is inside the namespace, so `nft` runs there too.
/// </summary>
internal static class DnsRedirect
{
    public const string Table = "berth-dns";

    public static string Render(IPAddress address, int publicPort, int listenerPort) =>
        string.Create(CultureInfo.InvariantCulture,
            $"table ip {Table}\ndelete table ip {Table}\ntable ip {Table} {{\n  chain output {{\n    type nat hook output priority -100; policy accept;\n" +
            $"    ip daddr {address} meta l4proto {{ tcp, udp }} th dport {publicPort} dnat to {address}:{listenerPort}\n  }}\n}}\n");

    /// <summary>Loads the redirect in the calling thread's network namespace.</summary>
    public static void Load(IPAddress address, int publicPort, int listenerPort) =>
        NftCommand.Load(Table, Render(address, publicPort, listenerPort));
}
