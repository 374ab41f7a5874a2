using System.Net;
using System.Text;
using Berth.Linux;
using Berth.Networking.Cni;

namespace Berth.Networking.Plugins;

/// <summary>
/// host-local IPAM: one address per range set from local files, like the reference plugin. Each reservation is a
/// file named by the address under dataDir/&lt;network&gt;/ holding "containerID\r\nifname"; the directory's "lock"
/// file is flock'ed around every change, so concurrent ADDs never share an address; a reservation appears
/// whole (written to a temp file, then linked into place) so a crash leaves either nothing or a reservation that
/// DEL releases.
/// </summary>
public sealed class HostLocalIpam : ICniPlugin
{
    public const string DefaultDataDir = "/var/lib/cni/networks";

    public CniResult Add(CniInvocation invocation)
    {
        var (config, sets) = Load(invocation);
        using var store = Store.Open(config, invocation.NetworkName);
        var result = new CniResult { Ips = [], Routes = config.Routes, Dns = ReadResolvConf(config.ResolvConf) };
        var allocated = new List<IPAddress>();
        // CNI_ARGS IP=a[,b]: specific addresses, as the reference host-local takes them (docker run --ip).
        var requested = invocation.Args.Where(a => a.Key == "IP").SelectMany(a => a.Value.Split(',', StringSplitOptions.RemoveEmptyEntries))
            .Select(a => IPPrefix.ParseAddress(a, "requested IP")).ToList();
        try
        {
            for (var i = 0; i < sets.Count; i++)
            {
                var wanted = requested.FirstOrDefault(a => sets[i].Any(r => r.Contains(a)));
                if (wanted is not null)
                {
                    requested.Remove(wanted);
                }
                var (address, range) = wanted is null
                    ? store.Allocate(sets[i], i, invocation.ContainerId, invocation.IfName)
                    : store.AllocateSpecific(wanted, sets[i], invocation.ContainerId, invocation.IfName);
                allocated.Add(address);
                result.Ips.Add(new CniIpConfig { Address = address + "/" + range.Subnet.Length, Gateway = range.Gateway.ToString() });
            }
            if (requested.Count > 0)
            {
                throw new CniException(CniErrorCode.InvalidNetworkConfig, $"host-local: requested IPs {string.Join(", ", requested)} are not in any range of network '{invocation.NetworkName}'");
            }
        }
        catch
        {
            foreach (var a in allocated)
            {
                store.Release(a);
            }
            throw;
        }
        return result;
    }

    public void Delete(CniInvocation invocation)
    {
        var config = PluginHost.Decode(invocation.Config["ipam"], CniJsonContext.Default.IpamConfig, "\"ipam\"");
        using var store = Store.Open(config, invocation.NetworkName);
        store.ReleaseAll(invocation.ContainerId, invocation.IfName);
    }

    public void Check(CniInvocation invocation)
    {
        var (config, sets) = Load(invocation);
        using var store = Store.Open(config, invocation.NetworkName);
        var held = store.Held(invocation.ContainerId, invocation.IfName);
        foreach (var set in sets)
        {
            if (!held.Any(a => set.Any(r => r.Contains(a))))
            {
                throw new CniException(CniErrorCode.Generic,
                    $"host-local: container {invocation.ContainerId} ({invocation.IfName}) holds no address in {string.Join(",", set.Select(r => r.Subnet))}");
            }
        }
    }

    /// <summary>Reads and validates the ipam config: every range parses, none overlaps another.</summary>
    /// <summary>
    /// Holds addresses for something that is not a container (an engine network's --aux-address) the way ADD holds
    /// them — same lock, same file format — so this plugin and the reference host-local both skip them. They go
    /// with the network's directory.
    /// </summary>
    public static void ReserveFixed(string dataDir, string network, string owner, IEnumerable<IPAddress> addresses)
    {
        using var store = Store.Open(new IpamConfig { DataDir = dataDir }, network);
        foreach (var address in addresses)
        {
            store.TryReserve(address, owner, "");
        }
    }

    public static (IpamConfig Config, List<List<IpRange>> Sets) Load(CniInvocation invocation)
    {
        var config = PluginHost.Decode(invocation.Config["ipam"], CniJsonContext.Default.IpamConfig, "\"ipam\"");
        var raw = config.Ranges ?? [];
        if (config.Subnet is not null)
        {
            raw = [[new RangeConfig { Subnet = config.Subnet, RangeStart = config.RangeStart, RangeEnd = config.RangeEnd, Gateway = config.Gateway }], .. raw];
        }
        if (raw.Count == 0 || raw.Any(s => s.Count == 0))
        {
            throw new CniException(CniErrorCode.InvalidNetworkConfig, "host-local: \"ipam\" needs \"ranges\" (a list of range sets) or a \"subnet\"");
        }
        var sets = raw.Select(s => s.Select(IpRange.From).ToList()).ToList();
        var all = sets.SelectMany(s => s).ToList();
        for (var i = 0; i < all.Count; i++)
        {
            for (var j = i + 1; j < all.Count; j++)
            {
                if (all[i].Overlaps(all[j]))
                {
                    throw new CniException(CniErrorCode.InvalidNetworkConfig,
                        $"host-local: range {all[i].Start}-{all[i].End} overlaps range {all[j].Start}-{all[j].End}: make the ranges disjoint");
                }
            }
        }
        return (config, sets);
    }

    private static CniDns? ReadResolvConf(string? path)
    {
        if (path is null)
        {
            return null;
        }
        var dns = new CniDns { Nameservers = [], Search = [], Options = [] };
        foreach (var line in File.ReadLines(path))
        {
            var f = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 2)
            {
                continue;
            }
            switch (f[0])
            {
                case "nameserver": dns.Nameservers.Add(f[1]); break;
                case "domain": dns.Domain = f[1]; break;
                case "search": dns.Search.AddRange(f[1..]); break;
                case "options": dns.Options.AddRange(f[1..]); break;
            }
        }
        return dns;
    }

    /// <summary>The reservation directory of one network, locked for as long as this object lives.</summary>
    private sealed class Store : IDisposable
    {
        private readonly string dir;
        private readonly FileLock fileLock;

        private Store(string dir, FileLock fileLock)
        {
            this.dir = dir;
            this.fileLock = fileLock;
        }

        public static Store Open(IpamConfig config, string network)
        {
            if (network.Contains('/', StringComparison.Ordinal) || network is "." or "..")
            {
                throw new CniException(CniErrorCode.InvalidNetworkConfig, $"network name '{network}' may not contain '/'");
            }
            var dir = Path.Combine(config.DataDir ?? DefaultDataDir, network);
            Directory.CreateDirectory(dir);
            return new Store(dir, FileLock.Acquire(Path.Combine(dir, "lock")));
        }

        public (IPAddress, IpRange) Allocate(List<IpRange> set, int index, string id, string ifName)
        {
            // A retried ADD (after a crash or timeout) gets the address it already holds.
            foreach (var held in Held(id, ifName))
            {
                if (set.FirstOrDefault(r => r.Contains(held)) is { } r)
                {
                    return (held, r);
                }
            }
            var lastFile = Path.Combine(dir, "last_reserved_ip." + index);
            IPAddress? last = File.Exists(lastFile) && IPAddress.TryParse(File.ReadAllText(lastFile).Trim(), out var l) ? l : null;
            foreach (var (address, r) in Order(set, last))
            {
                if (!address.Equals(r.Gateway) && TryReserve(address, id, ifName))
                {
                    AtomicWrite(lastFile, address.ToString());
                    return (address, r);
                }
            }
            throw new CniException(CniErrorCode.TryAgainLater,
                $"host-local: no free address left in {string.Join(", ", set.Select(r => r.Start + "-" + r.End))} of network '{Path.GetFileName(dir)}': release addresses (delete containers) or widen the range");
        }

        /// <summary>A requested address: the caller's own reservation again, else a free one; taken or the gateway is an error.</summary>
        public (IPAddress, IpRange) AllocateSpecific(IPAddress address, List<IpRange> set, string id, string ifName)
        {
            var r = set.First(x => x.Contains(address));
            if (Held(id, ifName).Contains(address))
            {
                return (address, r);
            }
            if (address.Equals(r.Gateway) || !TryReserve(address, id, ifName))
            {
                throw new CniException(CniErrorCode.Generic, $"host-local: requested IP address {address} is not available in range set {r.Start}-{r.End}: it is the gateway or held by another container");
            }
            return (address, r);
        }

        /// <summary>Every address of the set once, starting after the last reservation (round robin, like the reference).</summary>
        private static IEnumerable<(IPAddress, IpRange)> Order(List<IpRange> set, IPAddress? last)
        {
            var s = last is null ? 0 : Math.Max(0, set.FindIndex(r => r.Contains(last)));
            var resume = last is not null && set[s].Contains(last);
            for (var k = 0; k < set.Count; k++)
            {
                var r = set[(s + k) % set.Count];
                var from = k == 0 && resume ? IPPrefix.ToNumber(last!) + 1 : IPPrefix.ToNumber(r.Start);
                foreach (var a in Span(r, from, IPPrefix.ToNumber(r.End)))
                {
                    yield return (a, r);
                }
            }
            if (resume)
            {
                foreach (var a in Span(set[s], IPPrefix.ToNumber(set[s].Start), IPPrefix.ToNumber(last!)))
                {
                    yield return (a, set[s]);
                }
            }
        }

        private static IEnumerable<IPAddress> Span(IpRange r, UInt128 from, UInt128 to)
        {
            if (from > to || from < IPPrefix.ToNumber(r.Start))
            {
                yield break;
            }
            for (var n = from; ; n++)
            {
                yield return IPPrefix.FromNumber(n, r.Subnet.Family);
                if (n == to)
                {
                    yield break;
                }
            }
        }

        public bool TryReserve(IPAddress address, string id, string ifName)
        {
            var path = Path.Combine(dir, address.ToString());
            if (File.Exists(path))
            {
                return false;
            }
            var temp = Path.Combine(dir, ".reserve." + Environment.ProcessId + ".tmp");
            File.WriteAllText(temp, id + "\r\n" + ifName);
            try
            {
                File.Move(temp, path, overwrite: false);
                return true;
            }
            catch (IOException) when (File.Exists(path))
            {
                File.Delete(temp);
                return false;
            }
        }

        public List<IPAddress> Held(string id, string ifName)
        {
            var list = new List<IPAddress>();
            foreach (var file in Directory.EnumerateFiles(dir))
            {
                if (IPAddress.TryParse(Path.GetFileName(file), out var a) && Owner(file) is { } owner &&
                    owner.Id == id && (owner.IfName is null || owner.IfName == ifName))
                {
                    list.Add(a);
                }
            }
            return list;
        }

        public void Release(IPAddress address) => File.Delete(Path.Combine(dir, address.ToString()));

        public void ReleaseAll(string id, string ifName)
        {
            foreach (var a in Held(id, ifName))
            {
                Release(a);
            }
            // A crash between writing a temp reservation and linking it leaves the temp file; it holds nothing.
            foreach (var temp in Directory.EnumerateFiles(dir, ".reserve.*.tmp"))
            {
                File.Delete(temp);
            }
        }

        private static (string Id, string? IfName)? Owner(string file)
        {
            try
            {
                var text = File.ReadAllText(file, Encoding.UTF8);
                var lines = text.Split("\r\n");
                return (lines[0].Trim(), lines.Length > 1 ? lines[1].Trim() : null);
            }
            catch (FileNotFoundException)
            {
                return null;
            }
        }

        private static void AtomicWrite(string path, string text) => StateFile.WriteAllText(path, text);

        public void Dispose() => fileLock.Dispose();
    }
}
