using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.Core;
using Berth.Engine.Networks;
using Microsoft.AspNetCore.Http;

namespace Berth.Engine.Api;

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

    private static async Task<JsonObject> ReadObjectAsync(HttpContext context)
    {
        using var ms = new MemoryStream();
        await context.Request.Body.CopyToAsync(ms, context.RequestAborted).ConfigureAwait(false);
        if (ms.Length == 0)
        {
            return [];
        }
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize(ms.ToArray(), DockerJsonContext.Default.JsonObject)
                ?? throw BerthException.InvalidArgument("the request body must be a JSON object");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw BerthException.InvalidArgument("invalid JSON in the request body: " + e.Message);
        }
    }

    private static IEnumerable<NetworkRecord> FilterNetworks(IEnumerable<NetworkRecord> list, Dictionary<string, List<string>> filters)
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
                "scope" => list.Where(_ => values.Contains("local")),
                "type" => values.All(v => v is "custom" or "builtin")
                    ? list.Where(n => values.Contains(n.Predefined ? "builtin" : "custom"))
                    : throw BerthException.InvalidArgument($"invalid filter: 'type'='{string.Join(",", values)}'"),
                "dangling" => list,
                "until" => list.Where(n => ParseTime(values[0]) is not { } t || n.Created < t),
                _ => throw BerthException.InvalidArgument($"invalid filter '{key}'"),
            };
        }
        return list;
    }

    private Task ListNetworksAsync(HttpContext context, Match _)
    {
        var list = FilterNetworks(_engine.Networks.List(), Filters(Query(context, "filters")));
        if (Filters(Query(context, "filters")).TryGetValue("dangling", out var d) && d.Count > 0)
        {
            var dangling = d[0] is "true" or "1";
            list = list.Where(n => !n.Predefined && _engine.Networks.Endpoints(n).Any() != dangling);
        }
        return WriteJsonAsync(context, new JsonArray([.. list.Select(n => (JsonNode?)_engine.Networks.Inspect(n))]));
    }

    private Task InspectNetworkAsync(HttpContext context, Match m) =>
        WriteJsonAsync(context, _engine.Networks.Inspect(_engine.Networks.Get(Uri.UnescapeDataString(m.Groups["id"].Value))));

    private async Task CreateNetworkAsync(HttpContext context, Match _)
    {
        var body = await ReadObjectAsync(context).ConfigureAwait(false);
        static Dictionary<string, string> Strings(JsonNode? node) =>
            node is JsonObject o ? o.Where(p => p.Value is JsonValue).ToDictionary(p => p.Key, p => p.Value!.ToString(), StringComparer.Ordinal) : [];
        var options = new NetworkCreateOptions
        {
            Name = body["Name"]?.GetValue<string>() ?? "",
            Driver = body["Driver"]?.GetValue<string>(),
            Internal = body["Internal"]?.GetValue<bool>() ?? false,
            Attachable = body["Attachable"]?.GetValue<bool>() ?? false,
            EnableIPv6 = body["EnableIPv6"] is JsonValue v6 && v6.TryGetValue<bool>(out var b6) && b6,
            Labels = Strings(body["Labels"]),
            Options = Strings(body["Options"]),
        };
        if (body["IPAM"] is JsonObject ipam)
        {
            if (ipam["Driver"]?.GetValue<string>() is { Length: > 0 } driver && driver != "default")
            {
                throw BerthException.NotFound($"plugin \"{driver}\" not found: only the default IPAM driver is served");
            }
            foreach (var c in (ipam["Config"] as JsonArray ?? []).OfType<JsonObject>())
            {
                options.Ipam.Add(new IpamPool
                {
                    Subnet = c["Subnet"]?.GetValue<string>(),
                    Gateway = c["Gateway"]?.GetValue<string>(),
                    IPRange = c["IPRange"]?.GetValue<string>(),
                });
            }
        }
        var n = _engine.Networks.Create(options);
        await WriteJsonAsync(context, new JsonObject { ["Id"] = n.Id, ["Warning"] = "" }, 201).ConfigureAwait(false);
    }

    private Task RemoveNetworkAsync(HttpContext context, Match m)
    {
        _engine.Networks.Remove(Uri.UnescapeDataString(m.Groups["id"].Value));
        context.Response.StatusCode = 204;
        return Task.CompletedTask;
    }

    private Task PruneNetworksAsync(HttpContext context, Match _)
    {
        var filters = Filters(Query(context, "filters"));
        var keep = new HashSet<string>(FilterNetworks(_engine.Networks.List(), filters).Select(n => n.Id), StringComparer.Ordinal);
        var removed = _engine.Networks.Prune(n => keep.Contains(n.Id));
        return WriteJsonAsync(context, new JsonObject { ["NetworksDeleted"] = new JsonArray([.. removed.Select(r => (JsonNode?)r)]) });
    }

    private async Task ConnectNetworkAsync(HttpContext context, Match m)
    {
        var n = _engine.Networks.Get(Uri.UnescapeDataString(m.Groups["id"].Value));
        var body = await ReadObjectAsync(context).ConfigureAwait(false);
        var c = _engine.Get(body["Container"]?.GetValue<string>() ?? throw BerthException.InvalidArgument("Container is required"));
        var ep = body["EndpointConfig"] as JsonObject;
        var aliases = (ep?["Aliases"] as JsonArray)?.Select(a => a?.ToString() ?? "").Where(a => a.Length > 0).ToList();
        var ip = ep?["IPAMConfig"]?["IPv4Address"]?.GetValue<string>();
        await _engine.Networks.ConnectAsync(c, n, aliases, ip, context.RequestAborted).ConfigureAwait(false);
        context.Response.StatusCode = 200;
    }

    private async Task DisconnectNetworkAsync(HttpContext context, Match m)
    {
        var n = _engine.Networks.Get(Uri.UnescapeDataString(m.Groups["id"].Value));
        var body = await ReadObjectAsync(context).ConfigureAwait(false);
        var c = _engine.Get(body["Container"]?.GetValue<string>() ?? throw BerthException.InvalidArgument("Container is required"));
        await _engine.Networks.DisconnectAsync(c, n, context.RequestAborted).ConfigureAwait(false);
        context.Response.StatusCode = 200;
    }
}
