using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.Core;
using Berth.Engine.Volumes;
using Microsoft.AspNetCore.Http;

namespace Berth.Engine.Api;

/// <summary>--mount type=volume's options (HostConfig.Mounts[].VolumeOptions).</summary>
public sealed class VolumeOptions
{
    public bool NoCopy { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    public VolumeDriverConfig? DriverConfig { get; set; }
    public string? Subpath { get; set; }
}

public sealed class VolumeDriverConfig
{
    public string? Name { get; set; }
    public Dictionary<string, string>? Options { get; set; }
}

/// <summary>POST /volumes/create.</summary>
public sealed class VolumeCreateRequest
{
    public string? Name { get; set; }
    public string? Driver { get; set; }
    public Dictionary<string, string>? DriverOpts { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    public JsonObject? ClusterVolumeSpec { get; set; }
}

internal sealed partial class DockerApiHandler
{
    private void RouteVolumes()
    {
        Route("GET", "/volumes", ListVolumesAsync);
        Route("POST", "/volumes/create", CreateVolumeAsync);
        Route("POST", "/volumes/prune", PruneVolumesAsync);
        Route("GET", "/volumes/(?<name>[^/]+)", InspectVolumeAsync);
        Route("DELETE", "/volumes/(?<name>[^/]+)", RemoveVolumeAsync);
    }

    private JsonObject VolumeJson(VolumeRecord v, bool usage = false)
    {
        var o = new JsonObject
        {
            ["CreatedAt"] = VolumeStore.FormatTime(v.CreatedAt),
            ["Driver"] = v.Driver,
            ["Labels"] = EngineFormat.StringMap(v.Labels),
            ["Mountpoint"] = _engine.Volumes.Mountpoint(v.Name),
            ["Name"] = v.Name,
            ["Options"] = EngineFormat.StringMap(v.Options),
            ["Scope"] = "local",
        };
        if (usage)
        {
            o["UsageData"] = new JsonObject { ["Size"] = _engine.Volumes.Size(v.Name), ["RefCount"] = _engine.VolumeUsers(v.Name).Count };
        }
        return o;
    }

    /// <summary>The Volumes section of /system/df: every volume with its size and how many containers use it.</summary>
    private JsonArray VolumesWithUsage() => new(_engine.Volumes.List().Select(v => (JsonNode?)VolumeJson(v, usage: true)).ToArray());

    private static bool ParseBoolFilter(string name, string value) => value switch
    {
        "true" or "1" => true,
        "false" or "0" => false,
        _ => throw BerthException.InvalidArgument($"Invalid filter '{name}=[{value}]'"),
    };

    private async Task ListVolumesAsync(HttpContext context, Match _)
    {
        var filters = Filters(Query(context, "filters"));
        foreach (var key in filters.Keys.Where(k => k is not ("name" or "label" or "dangling" or "driver")))
        {
            throw BerthException.InvalidArgument($"Invalid filter '{key}'");
        }
        bool? dangling = filters.TryGetValue("dangling", out var d) && d.Count > 0 ? ParseBoolFilter("dangling", d[^1]) : null;
        var list = new JsonArray();
        foreach (var v in _engine.Volumes.List())
        {
            if (filters.TryGetValue("name", out var names) && names.Count > 0 && !names.Any(n => v.Name.Contains(n, StringComparison.Ordinal)))
            {
                continue;
            }
            if (filters.TryGetValue("driver", out var drivers) && drivers.Count > 0 && !drivers.Contains(v.Driver))
            {
                continue;
            }
            if (filters.TryGetValue("label", out var labels) && !LabelsMatch(v.Labels, labels))
            {
                continue;
            }
            if (dangling is { } dv && (_engine.VolumeUsers(v.Name).Count == 0) != dv)
            {
                continue;
            }
            list.Add((JsonNode)VolumeJson(v));
        }
        await WriteJsonAsync(context, new JsonObject { ["Volumes"] = list, ["Warnings"] = null }).ConfigureAwait(false);
    }

    private async Task CreateVolumeAsync(HttpContext context, Match _)
    {
        var request = await ReadBodyAsync(context, DockerJsonContext.Default.VolumeCreateRequest).ConfigureAwait(false);
        if (request.ClusterVolumeSpec is not null)
        {
            throw BerthException.Unsupported("cluster volumes (swarm); create a local volume");
        }
        // `docker volume create` without a name gets a random one but is not anonymous (dockerd labels only the volumes
        // containers create), so the default prune keeps it.
        var name = string.IsNullOrEmpty(request.Name) ? EngineFormat.NewId() : request.Name;
        var v = _engine.CreateVolume(name, request.Driver, request.Labels ?? [], request.DriverOpts ?? []);
        await WriteJsonAsync(context, VolumeJson(v), 201).ConfigureAwait(false);
    }

    private async Task InspectVolumeAsync(HttpContext context, Match m)
    {
        var v = _engine.Volumes.Get(Uri.UnescapeDataString(m.Groups["name"].Value));
        await WriteJsonAsync(context, VolumeJson(v)).ConfigureAwait(false);
    }

    private async Task RemoveVolumeAsync(HttpContext context, Match m)
    {
        _engine.RemoveVolume(Uri.UnescapeDataString(m.Groups["name"].Value), QueryBool(context, "force"));
        await NoContentAsync(context).ConfigureAwait(false);
    }

    /// <summary>Unused volumes; anonymous ones only unless the filter all=true (API 1.42+), label and label! filters.</summary>
    private async Task PruneVolumesAsync(HttpContext context, Match _)
    {
        var filters = Filters(Query(context, "filters"));
        foreach (var key in filters.Keys.Where(k => k is not ("label" or "label!" or "all")))
        {
            throw BerthException.InvalidArgument($"Invalid filter '{key}'");
        }
        var all = filters.TryGetValue("all", out var a) && a.Count > 0 && ParseBoolFilter("all", a[^1]);
        // Before API 1.42 prune removed every unused volume; dockerd keeps that for old clients, and so does Berth.
        if (context.Items.TryGetValue(ApiVersionKey, out var version) && version is int n && n < 1042)
        {
            if (filters.ContainsKey("all"))
            {
                throw BerthException.InvalidArgument("Invalid filter 'all'");
            }
            all = true;
        }
        var with = filters.GetValueOrDefault("label") ?? [];
        var without = filters.GetValueOrDefault("label!") ?? [];
        var (deleted, reclaimed) = _engine.PruneVolumes(all, v => LabelsMatch(v.Labels, with) && !without.Any(w => LabelsMatch(v.Labels, [w])));
        await WriteJsonAsync(context, new JsonObject
        {
            ["VolumesDeleted"] = deleted.Count == 0 ? null : new JsonArray(deleted.Select(n => (JsonNode?)n).ToArray()),
            ["SpaceReclaimed"] = reclaimed,
        }).ConfigureAwait(false);
    }
}
