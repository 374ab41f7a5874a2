using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.Core;
using Berth.Engine.Networks;
using Microsoft.AspNetCore.Http;

namespace Berth.Engine.Api;

/// <summary>Body of POST /networks/create.</summary>
public sealed class NetworkCreateRequest
{
    public string? Name { get; set; }
    public string? Driver { get; set; }
    public bool Internal { get; set; }
    public bool Attachable { get; set; }
    public bool? EnableIPv6 { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    public Dictionary<string, string>? Options { get; set; }
    public NetworkIpamRequest? IPAM { get; set; }
}

public sealed class NetworkIpamRequest
{
    public string? Driver { get; set; }
    public List<IpamPool>? Config { get; set; }
}

/// <summary>Body of POST /networks/{id}/connect and /disconnect (Force, of disconnect, changes nothing here).</summary>
public sealed class NetworkConnectRequest
{
    public string? Container { get; set; }
    public EndpointSettings? EndpointConfig { get; set; }
    public bool Force { get; set; }
}

/// <summary>The /networks endpoints.</summary>
internal sealed partial class DockerApiHandler
{
    private void NetworkRoutes()
    {
        Route("GET", "/networks", ListNetworksAsync);
        Route("POST", "/networks/create", CreateNetworkAsync);
        Route("POST", "/networks/prune", PruneNetworksAsync);
        Route("GET", "/networks/(?<id>[^/]+)", InspectNetworkAsync);
        Route("DELETE", "/networks/(?<id>[^/]+)", RemoveNetworkAsync);
        Route("POST", "/networks/(?<id>[^/]+)/connect", ConnectNetworkAsync);
        Route("POST", "/networks/(?<id>[^/]+)/disconnect", DisconnectNetworkAsync);
    }

    /// <summary>Docker's network filters, for list and prune alike.</summary>
    private IEnumerable<NetworkRecord> FilterNetworks(IEnumerable<NetworkRecord> list, Dictionary<string, List<string>> filters, bool prune = false)
    {
        foreach (var (key, values) in filters)
        {
            if (values.Count == 0)
            {
                continue;
            }
            list = key switch
            {
                "name" => list.Where(n => values.Any(v => n.Name.Contains(v, StringComparison.Ordinal))),
                "id" => list.Where(n => values.Any(v => n.Id.StartsWith(v, StringComparison.Ordinal))),
                "driver" => list.Where(n => values.Contains(n.Driver)),
                "label" => list.Where(n => LabelsMatch(n.Labels, values)),
                // Prune's negation: networks with none of these labels (key, or key=value) are pruned.
                "label!" when prune => list.Where(n => !values.Any(v => LabelsMatch(n.Labels, [v]))),
                "scope" => list.Where(_ => values.Contains("local")),
                "type" => values.All(v => v is "custom" or "builtin")
                    ? list.Where(n => values.Contains(n.Predefined ? "builtin" : "custom"))
                    : throw BerthException.InvalidArgument($"invalid filter: 'type'='{string.Join(",", values)}'"),
                // As dockerd: dangling=true is a user-defined network without active endpoints; false, the others.
                "dangling" => ParseBoolFilter("dangling", values[^1])
                    ? list.Where(n => !n.Predefined && !_engine.Networks.Endpoints(n).Any())
                    : list.Where(n => n.Predefined || _engine.Networks.Endpoints(n).Any()),
                "until" => list.Where(n => ParseTime(values[0]) is not { } t || n.Created < t),
                _ => throw BerthException.InvalidArgument($"invalid filter '{key}'"),
            };
        }
        return list;
    }

    private Task ListNetworksAsync(HttpContext context, Match _)
    {
        var list = FilterNetworks(_engine.Networks.List(), Filters(Query(context, "filters")));
        return WriteJsonAsync(context, new JsonArray([.. list.Select(n => (JsonNode?)_engine.Networks.Inspect(n))]));
    }

    private Task InspectNetworkAsync(HttpContext context, Match m) =>
        WriteJsonAsync(context, _engine.Networks.Inspect(_engine.Networks.Get(Uri.UnescapeDataString(m.Groups["id"].Value))));

    private async Task CreateNetworkAsync(HttpContext context, Match _)
    {
        var body = await ReadBodyAsync(context, DockerJsonContext.Default.NetworkCreateRequest).ConfigureAwait(false);
        if (body.IPAM?.Driver is { Length: > 0 } driver && driver != "default")
        {
            throw BerthException.NotFound($"plugin \"{driver}\" not found: only the default IPAM driver is served");
        }
        var options = new NetworkCreateOptions
        {
            Name = body.Name ?? "",
            Driver = body.Driver,
            Internal = body.Internal,
            Attachable = body.Attachable,
            EnableIPv6 = body.EnableIPv6 == true,
            Labels = body.Labels ?? [],
            Options = body.Options ?? [],
        };
        options.Ipam.AddRange(body.IPAM?.Config ?? []);
        var n = _engine.Networks.Create(options);
        await WriteJsonAsync(context, new JsonObject { ["Id"] = n.Id, ["Warning"] = "" }, 201).ConfigureAwait(false);
    }

    private Task RemoveNetworkAsync(HttpContext context, Match m)
    {
        _engine.Networks.Remove(Uri.UnescapeDataString(m.Groups["id"].Value));
        return NoContentAsync(context);
    }

    private Task PruneNetworksAsync(HttpContext context, Match _)
    {
        var filters = Filters(Query(context, "filters"));
        // dockerd's network prune takes only these three.
        if (filters.Keys.FirstOrDefault(k => k is not ("label" or "label!" or "until")) is { } bad)
        {
            throw BerthException.InvalidArgument($"invalid filter '{bad}'");
        }
        var keep = new HashSet<string>(FilterNetworks(_engine.Networks.List(), filters, prune: true).Select(n => n.Id), StringComparer.Ordinal);
        var removed = _engine.Networks.Prune(n => keep.Contains(n.Id));
        return WriteJsonAsync(context, new JsonObject { ["NetworksDeleted"] = new JsonArray([.. removed.Select(r => (JsonNode?)r)]) });
    }

    private async Task ConnectNetworkAsync(HttpContext context, Match m)
    {
        var n = _engine.Networks.Get(Uri.UnescapeDataString(m.Groups["id"].Value));
        var body = await ReadBodyAsync(context, DockerJsonContext.Default.NetworkConnectRequest).ConfigureAwait(false);
        var c = _engine.Get(body.Container ?? throw BerthException.InvalidArgument("Container is required"));
        var aliases = body.EndpointConfig?.Aliases?.Where(a => a.Length > 0).ToList();
        await _engine.Networks.ConnectAsync(c, n, aliases, body.EndpointConfig?.IPAMConfig?.IPv4Address, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task DisconnectNetworkAsync(HttpContext context, Match m)
    {
        var n = _engine.Networks.Get(Uri.UnescapeDataString(m.Groups["id"].Value));
        var body = await ReadBodyAsync(context, DockerJsonContext.Default.NetworkConnectRequest).ConfigureAwait(false);
        var c = _engine.Get(body.Container ?? throw BerthException.InvalidArgument("Container is required"));
        await _engine.Networks.DisconnectAsync(c, n, context.RequestAborted).ConfigureAwait(false);
    }
}
