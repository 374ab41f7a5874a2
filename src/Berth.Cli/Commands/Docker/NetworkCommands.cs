using System.Text.Json.Nodes;
using Berth.Cli.Docker;
using Berth.Core;

namespace Berth.Cli.Commands.Docker;

/// <summary>`berth network create/ls/inspect/rm/connect/disconnect/prune`, as the docker CLI has them.</summary>
public static class NetworkCommands
{
    private static FlagSet Set(string name, string usage, params Flag[] flags) => new(name, usage, interspersed: true, flags);

    public static (string Sub, DockerCommandSpec Spec)[] Subs =>
    [
        ("create", Create), ("ls", Ls), ("list", Ls), ("inspect", Inspect), ("rm", Rm), ("remove", Rm),
        ("connect", Connect), ("disconnect", Disconnect), ("prune", Prune),
    ];

    public static DockerCommandSpec Create { get; } = new("network create", "Create a network",
        Set("network create", "network create [OPTIONS] NETWORK",
            new Flag("driver", 'd', FlagKind.Value, "Driver to manage the Network (bridge)"),
            new Flag("subnet", null, FlagKind.List, "Subnet in CIDR format that represents a network segment"),
            new Flag("gateway", null, FlagKind.List, "IPv4 Gateway for the master subnet"),
            new Flag("ip-range", null, FlagKind.List, "Allocate container ip from a sub-range"),
            new Flag("aux-address", null, FlagKind.List, "Auxiliary IPv4 addresses used by Network driver (name=ip)"),
            new Flag("internal", null, FlagKind.Bool, "Restrict external access to the network"),
            new Flag("attachable", null, FlagKind.Bool, "Enable manual container attachment"),
            new Flag("ipv6", null, FlagKind.Bool, "Enable or disable IPv6 networking"),
            new Flag("ipam-driver", null, FlagKind.Value, "IP Address Management Driver (default \"default\")"),
            new Flag("label", null, FlagKind.List, "Set metadata on a network"),
            new Flag("opt", 'o', FlagKind.List, "Set driver specific options")),
        async (cli, f, ct) =>
        {
            f.Require(1, 1);
            var config = IpamConfig(f.List("subnet"), f.List("ip-range"), f.List("gateway"), f.List("aux-address"));
            var body = new JsonObject
            {
                ["Name"] = f.Positionals[0],
                // Daemons before API 1.44 allow a second network of the same name unless asked not to; the docker CLI asks.
                ["CheckDuplicate"] = true,
                ["Driver"] = f.Value("driver", "bridge"),
                ["Internal"] = f.Bool("internal"),
                ["Attachable"] = f.Bool("attachable"),
                ["EnableIPv6"] = f.Bool("ipv6"),
                ["IPAM"] = new JsonObject { ["Driver"] = f.Value("ipam-driver", "default"), ["Config"] = config },
                ["Labels"] = KeyValueFlags.Map(f.List("label"), "label", allowBare: true),
                ["Options"] = KeyValueFlags.Map(f.List("opt"), "opt", allowBare: true),
            };
            var r = await cli.Api.PostJsonAsync("/networks/create", body, ct).ConfigureAwait(false);
            cli.Out.WriteLine(r?["Id"]?.GetValue<string>());
            return 0;
        });

    /// <summary>
    /// IPAM.Config from --subnet/--ip-range/--gateway/--aux-address as the docker CLI pairs them: each range, gateway
    /// and aux address goes to the subnet that contains it (not to the subnet at the same position), with the docker
    /// CLI's errors.
    /// </summary>
    public static JsonArray IpamConfig(IReadOnlyList<string> subnets, IReadOnlyList<string> ranges, IReadOnlyList<string> gateways, IReadOnlyList<string>? auxAddresses = null)
    {
        if (subnets.Count < ranges.Count || subnets.Count < gateways.Count)
        {
            throw new UsageException("every ip-range or gateway must have a corresponding subnet");
        }
        var pools = new List<(string Subnet, JsonObject Config)>();
        foreach (var s in subnets)
        {
            if (pools.Any(p => SubnetContains(s, p.Subnet) || SubnetContains(p.Subnet, s)))
            {
                throw new UsageException("multiple overlapping subnet configuration is not supported");
            }
            pools.Add((s, new JsonObject { ["Subnet"] = s }));
        }
        foreach (var (values, key, what, plural) in new[] { (ranges, "IPRange", "range", "ranges"), (gateways, "Gateway", "gateway", "gateways") })
        {
            foreach (var v in values)
            {
                var match = false;
                foreach (var (subnet, c) in pools)
                {
                    if (!SubnetContains(subnet, v))
                    {
                        continue;
                    }
                    if (c[key] is { } already)
                    {
                        throw new UsageException($"cannot configure multiple {plural} ({v}, {already.GetValue<string>()}) {(key == "Gateway" ? "for" : "on")} the same subnet ({subnet})");
                    }
                    c[key] = v;
                    match = true;
                }
                if (!match)
                {
                    throw new UsageException($"no matching subnet for {what} {v}");
                }
            }
        }
        foreach (var aux in auxAddresses ?? [])
        {
            var eq = aux.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new UsageException($"invalid aux-address {aux}: give name=ip");
            }
            var (name, address) = (aux[..eq], aux[(eq + 1)..]);
            var pool = pools.FirstOrDefault(p => SubnetContains(p.Subnet, address));
            if (pool.Config is null)
            {
                throw new UsageException($"no matching subnet for aux-address {address}");
            }
            var map = pool.Config["AuxiliaryAddresses"] as JsonObject ?? (JsonObject)(pool.Config["AuxiliaryAddresses"] = new JsonObject());
            map[name] = address;
        }
        return [.. pools.Select(p => (JsonNode)p.Config)];
    }

    /// <summary>Whether <paramref name="subnet"/> (CIDR) contains the address, or the address of the CIDR, <paramref name="data"/> (Go's net.ParseCIDR rules: host bits may be set).</summary>
    private static bool SubnetContains(string subnet, string data)
    {
        var (network, bits) = ParseCidr(subnet) ?? throw new UsageException($"invalid subnet: invalid CIDR address: {subnet}");
        System.Net.IPAddress? ip;
        if (data.Contains('/', StringComparison.Ordinal))
        {
            ip = ParseCidr(data)?.Address ?? throw new UsageException($"invalid CIDR address: {data}");
        }
        else if (!System.Net.IPAddress.TryParse(data, out ip))
        {
            return false;
        }
        if (ip.AddressFamily != network.AddressFamily)
        {
            return false;
        }
        var n = network.GetAddressBytes();
        var a = ip.GetAddressBytes();
        for (var i = 0; i < n.Length; i++)
        {
            var take = Math.Clamp(bits - (i * 8), 0, 8);
            var mask = (byte)(0xff << (8 - take));
            if ((n[i] & mask) != (a[i] & mask))
            {
                return false;
            }
        }
        return true;
    }

    private static (System.Net.IPAddress Address, int Bits)? ParseCidr(string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !System.Net.IPAddress.TryParse(text[..slash], out var a) ||
            !int.TryParse(text[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var bits) ||
            bits > (a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128))
        {
            return null;
        }
        return (a, bits);
    }

    public static DockerCommandSpec Ls { get; } = new("network ls", "List networks",
        Set("network ls", "network ls [OPTIONS]",
            new Flag("filter", 'f', FlagKind.List, "Provide filter values (e.g. \"driver=bridge\")"),
            new Flag("format", null, FlagKind.Value, "Format output using a Go template"),
            new Flag("no-trunc", null, FlagKind.Bool, "Do not truncate the output"),
            new Flag("quiet", 'q', FlagKind.Bool, "Only display network IDs")),
        async (cli, f, ct) =>
        {
            f.Require(0, 0);
            var list = await cli.Api.GetJsonAsync("/networks" + DockerCli.Query(("filters", DockerCli.Filters(f.List("filter")))), ct).ConfigureAwait(false) as JsonArray ?? [];
            var noTrunc = f.Bool("no-trunc");
            var rows = list.OfType<JsonObject>().OrderBy(n => n["Name"]?.GetValue<string>(), NaturalOrder.Instance).Select(n =>
            {
                var id = n["Id"]?.GetValue<string>() ?? "";
                return new JsonObject
                {
                    ["ID"] = noTrunc ? id : ContainerCommands.Short(id),
                    ["Name"] = n["Name"]?.DeepClone(),
                    ["Driver"] = n["Driver"]?.DeepClone(),
                    ["Scope"] = n["Scope"]?.DeepClone(),
                    ["IPv6"] = n["EnableIPv6"]?.GetValue<bool>() == true ? "true" : "false",
                    ["Internal"] = n["Internal"]?.GetValue<bool>() == true ? "true" : "false",
                    ["CreatedAt"] = n["Created"]?.DeepClone(),
                    ["Labels"] = string.Join(',', (n["Labels"] as JsonObject ?? []).Select(kv => kv.Key + "=" + Template.Text(kv.Value))),
                };
            }).ToList();
            cli.WriteRows(f.Value("format"), f.Bool("quiet"), rows, "ID", [("ID", "NETWORK ID"), ("Name", "NAME"), ("Driver", "DRIVER"), ("Scope", "SCOPE")]);
            return 0;
        });

    public static DockerCommandSpec Inspect { get; } = new("network inspect", "Display detailed information on one or more networks",
        Set("network inspect", "network inspect [OPTIONS] NETWORK [NETWORK...]",
            new Flag("format", 'f', FlagKind.Value, "Format output using a Go template"),
            new Flag("verbose", 'v', FlagKind.Bool, "Verbose output for diagnostics")),
        async (cli, f, ct) =>
        {
            f.Require(1);
            return await cli.InspectEachAsync(f, name => $"/networks/{DockerCli.Esc(name)}", (name, _) => $"Error: No such network: {name}", ct).ConfigureAwait(false);
        });

    public static DockerCommandSpec Rm { get; } = new("network rm", "Remove one or more networks",
        Set("network rm", "network rm NETWORK [NETWORK...]", new Flag("force", 'f', FlagKind.Bool, "Do not error if the network does not exist")),
        async (cli, f, ct) =>
        {
            f.Require(1);
            var failed = false;
            foreach (var n in f.Positionals)
            {
                try
                {
                    await cli.Api.DeleteAsync($"/networks/{DockerCli.Esc(n)}", ct).ConfigureAwait(false);
                    cli.Out.WriteLine(n);
                }
                catch (DockerApiException e) when (f.Bool("force") && e.Status == System.Net.HttpStatusCode.NotFound)
                {
                }
                catch (BerthException e)
                {
                    cli.Err.WriteLine("berth: " + e.Message);
                    failed = true;
                }
            }
            return failed ? 1 : 0;
        });

    public static DockerCommandSpec Connect { get; } = new("network connect", "Connect a container to a network",
        Set("network connect", "network connect [OPTIONS] NETWORK CONTAINER",
            new Flag("alias", null, FlagKind.List, "Add network-scoped alias for the container"),
            new Flag("ip", null, FlagKind.Value, "IPv4 address (e.g., \"172.30.100.104\")")),
        async (cli, f, ct) =>
        {
            f.Require(2, 2);
            var ep = new JsonObject();
            if (f.List("alias") is { Count: > 0 } aliases)
            {
                ep["Aliases"] = new JsonArray([.. aliases.Select(a => (JsonNode?)a)]);
            }
            if (f.Value("ip") is { } ip)
            {
                ep["IPAMConfig"] = new JsonObject { ["IPv4Address"] = ip };
            }
            await cli.Api.PostJsonAsync($"/networks/{DockerCli.Esc(f.Positionals[0])}/connect",
                new JsonObject { ["Container"] = f.Positionals[1], ["EndpointConfig"] = ep }, ct).ConfigureAwait(false);
            return 0;
        });

    public static DockerCommandSpec Disconnect { get; } = new("network disconnect", "Disconnect a container from a network",
        Set("network disconnect", "network disconnect [OPTIONS] NETWORK CONTAINER",
            new Flag("force", 'f', FlagKind.Bool, "Force the container to disconnect from a network")),
        async (cli, f, ct) =>
        {
            f.Require(2, 2);
            await cli.Api.PostJsonAsync($"/networks/{DockerCli.Esc(f.Positionals[0])}/disconnect",
                new JsonObject { ["Container"] = f.Positionals[1], ["Force"] = f.Bool("force") }, ct).ConfigureAwait(false);
            return 0;
        });

    public static DockerCommandSpec Prune { get; } = new("network prune", "Remove all unused networks",
        Set("network prune", "network prune [OPTIONS]",
            new Flag("force", 'f', FlagKind.Bool, "Do not prompt for confirmation"),
            new Flag("filter", null, FlagKind.List, "Provide filter values (e.g. \"until=<timestamp>\")")),
        async (cli, f, ct) =>
        {
            if (!f.Bool("force") && !cli.Confirm("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?"))
            {
                return 0;
            }
            await cli.PruneAsync("/networks/prune" + DockerCli.Query(("filters", DockerCli.Filters(f.List("filter")))), "NetworksDeleted", "Deleted Networks:", ct).ConfigureAwait(false);
            return 0;
        });
}
