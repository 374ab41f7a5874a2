using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Berth.Core;
using Berth.Linux;
using Berth.Networking.Cni;

namespace Berth.Networking.Nft;

/// <summary>What one attachment contributes to Berth's nftables table: masquerade for egress, or published ports.</summary>
public sealed class NftEntry
{
    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "";

    [JsonPropertyName("key")]
    public string Key { get; set; } = "";

    [JsonPropertyName("containerIp")]
    public string ContainerIp { get; set; } = "";

    [JsonPropertyName("subnet")]
    public string Subnet { get; set; } = "";

    [JsonPropertyName("portMappings")]
    public List<PortMapping>? PortMappings { get; set; }
}

/// <summary>
/// Berth's own nftables table (default "ip berth-cni"), rebuilt whole from per-attachment state files on every
/// change and loaded with one `nft -f` transaction ("table; delete table; table {...}"), so the kernel sees the
/// old table or the new one, never a half-updated one, and no other table is ever touched. The state files are
/// the truth: a crash between writing one and loading the table is repaired by the next change, and DEL of an
/// attachment removes its file and reloads. An empty state removes the table.
/// </summary>
public sealed class NftState
{
    public const string DefaultTable = "berth-cni";
    public const string DefaultStateDir = "/var/lib/cni/berth";

    public NftState(string? table, string? stateDir)
    {
        Table = table ?? DefaultTable;
        if (Table.Length == 0 || Table.Length > 64 || !Table.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw new CniException(CniErrorCode.InvalidNetworkConfig, $"nftTable '{Table}' may only hold letters, digits, '-' and '_'");
        }
        Dir = Path.Combine(stateDir ?? DefaultStateDir, "nft-" + Table);
    }

    public string Table { get; }

    public string Dir { get; }

    public static string Key(string network, string containerId, string ifName) => network + "-" + containerId + "-" + ifName;

    /// <summary>Records (or replaces) an entry and reloads the table.</summary>
    public void Put(NftEntry entry, Action<IReadOnlyList<NftEntry>>? validate = null)
    {
        Directory.CreateDirectory(Dir);
        using var l = FileLock.Acquire(Path.Combine(Dir, "lock"));
        var path = PathOf(entry.Kind, entry.Key);
        var others = ReadAll().Where(e => !(e.Kind == entry.Kind && e.Key == entry.Key)).ToList();
        validate?.Invoke(others);
        StateFile.WriteAllText(path, JsonSerializer.Serialize(entry, CniJsonContext.Default.NftEntry));
        try
        {
            Load([.. others, entry]);
        }
        catch
        {
            File.Delete(path);
            throw;
        }
    }

    /// <summary>Removes an entry (if present) and reloads the table; idempotent.</summary>
    public void Remove(string kind, string key)
    {
        if (!Directory.Exists(Dir))
        {
            return;
        }
        using var l = FileLock.Acquire(Path.Combine(Dir, "lock"));
        var path = PathOf(kind, key);
        if (!File.Exists(path))
        {
            return;
        }
        File.Delete(path);
        Load(ReadAll());
    }

    public bool Has(string kind, string key) => File.Exists(PathOf(kind, key));

    /// <summary>The ruleset as nft lists it now (empty when the table does not exist).</summary>
    public string ListTable() => NftCommand.ListTable(Table);

    private string PathOf(string kind, string key) => Path.Combine(Dir, key + "." + kind + ".json");

    private List<NftEntry> ReadAll()
    {
        var list = new List<NftEntry>();
        foreach (var file in Directory.EnumerateFiles(Dir, "*.json").Order(StringComparer.Ordinal))
        {
            try
            {
                if (JsonSerializer.Deserialize(File.ReadAllBytes(file), CniJsonContext.Default.NftEntry) is { } e)
                {
                    list.Add(e);
                }
            }
            catch (JsonException)
            {
                // A torn file cannot exist (temp + rename); anything else unreadable is not ours to interpret.
            }
        }
        return list;
    }

    private void Load(List<NftEntry> entries)
    {
        var script = Render(Table, entries);
        CniTrace.Mark("nft: render");
        NftCommand.Load(Table, script);
        CniTrace.Mark("nft: loaded");
    }

    /// <summary>The whole table as one nft script.</summary>
    public static string Render(string table, IReadOnlyList<NftEntry> entries)
    {
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"table ip {table}\ndelete table ip {table}\n");
        if (entries.Count == 0)
        {
            return s.ToString();
        }
        s.Append(CultureInfo.InvariantCulture, $"table ip {table} {{\n");
        s.Append("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump hostports\n  }\n");
        s.Append("  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump hostports\n  }\n");
        s.Append("  chain hostports {\n");
        foreach (var e in entries.Where(e => e.Kind == "ports"))
        {
            foreach (var m in e.PortMappings ?? [])
            {
                var daddr = string.IsNullOrEmpty(m.HostIP) || m.HostIP == "0.0.0.0" ? "" : $"ip daddr {m.HostIP} ";
                s.Append(CultureInfo.InvariantCulture,
                    $"    {daddr}{m.Protocol} dport {m.HostPort} dnat to {e.ContainerIp}:{m.ContainerPort} comment \"{e.Key}\"\n");
            }
        }
        s.Append("  }\n");
        s.Append("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
        foreach (var e in entries)
        {
            if (e.Kind == "ports")
            {
                // Connections from the host's loopback and hairpin connections from the container's own subnet
                // must come back through the host, so their source becomes the bridge address.
                s.Append(CultureInfo.InvariantCulture,
                    $"    ct status dnat ip daddr {e.ContainerIp} ip saddr {{ 127.0.0.0/8, {e.Subnet} }} masquerade comment \"{e.Key}\"\n");
            }
            else if (e.Kind == "masq")
            {
                s.Append(CultureInfo.InvariantCulture,
                    $"    ip saddr {e.ContainerIp} ip daddr != {e.Subnet} ip daddr != 224.0.0.0/4 masquerade comment \"{e.Key}\"\n");
            }
        }
        s.Append("  }\n}\n");
        return s.ToString();
    }

    internal static void ValidateHostIp(string? hostIp)
    {
        if (string.IsNullOrEmpty(hostIp))
        {
            return;
        }
        if (!IPAddress.TryParse(hostIp, out var a) || a.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            throw new CniException(CniErrorCode.InvalidNetworkConfig,
                $"portmap: hostIP '{hostIp}' is not an IPv4 address (IPv6 port mappings are not supported)");
        }
    }
}
