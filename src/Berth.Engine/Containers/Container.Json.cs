using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Engine.Api;

namespace Berth.Engine.Containers;

public sealed partial class Container
{
    private static JsonNode? ToNode<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        JsonSerializer.SerializeToNode(value, type);

    internal string StatusText()
    {
        var s = Record.State;
        var now = _engine.Time.GetUtcNow();
        return s.Status switch
        {
            ContainerStatus.Running => "Up " + Human(now - (s.StartedAt ?? now)) + HealthSuffix(),
            ContainerStatus.Paused => "Up " + Human(now - (s.StartedAt ?? now)) + " (Paused)",
            ContainerStatus.Restarting => $"Restarting ({s.ExitCode}) " + Human(now - (s.FinishedAt ?? now)) + " ago",
            ContainerStatus.Exited => $"Exited ({s.ExitCode}) " + Human(now - (s.FinishedAt ?? now)) + " ago",
            ContainerStatus.Removing => "Removal In Progress",
            ContainerStatus.Dead => "Dead",
            _ => "Created",
        };
    }

    private string HealthSuffix() => Record.State.Health?.Status switch
    {
        "starting" => " (health: starting)",
        "healthy" => " (healthy)",
        "unhealthy" => " (unhealthy)",
        _ => "",
    };

    private static string Human(TimeSpan d)
    {
        if (d.TotalSeconds < 1)
        {
            return "Less than a second";
        }
        if (d.TotalSeconds < 60)
        {
            return $"{(int)d.TotalSeconds} seconds";
        }
        if (d.TotalMinutes < 60)
        {
            return (int)d.TotalMinutes == 1 ? "About a minute" : $"{(int)d.TotalMinutes} minutes";
        }
        if (d.TotalHours < 48)
        {
            return (int)d.TotalHours == 1 ? "About an hour" : $"{(int)d.TotalHours} hours";
        }
        return $"{(int)d.TotalDays} days";
    }

    internal static string StateName(ContainerStatus s) => s.ToString().ToLowerInvariant();

    /// <summary>One entry of GET /containers/json.</summary>
    internal JsonObject Summary()
    {
        var labels = new JsonObject();
        foreach (var (k, v) in Record.Config.Labels ?? [])
        {
            labels[k] = v;
        }
        return new JsonObject
        {
            ["Id"] = Id,
            ["Names"] = new JsonArray(Record.Name),
            ["Image"] = Record.ImageName,
            ["ImageID"] = Record.Image,
            ["Command"] = string.Join(' ', new[] { Record.Path }.Concat(Record.Args)),
            ["Created"] = Record.Created.ToUnixTimeSeconds(),
            ["Ports"] = _engine.Networks.SummaryPorts(this),
            ["Labels"] = labels,
            ["State"] = StateName(Record.State.Status),
            ["Status"] = StatusText(),
            ["HostConfig"] = new JsonObject { ["NetworkMode"] = Record.HostConfig.NetworkMode },
            ["NetworkSettings"] = new JsonObject { ["Networks"] = _engine.Networks.SummaryNetworks(this) },
            ["Mounts"] = MountsJson(),
        };
    }

    private JsonArray MountsJson()
    {
        var a = new JsonArray();
        foreach (var b in Record.HostConfig.Binds ?? [])
        {
            var m = SpecGenerator.ParseBind(b);
            if (m.Type == "volume")
            {
                continue;
            }
            a.Add((JsonNode)new JsonObject { ["Type"] = "bind", ["Source"] = m.Source, ["Destination"] = m.Destination, ["Mode"] = b.Split(':').Length > 2 ? b.Split(':')[2] : "", ["RW"] = m.Options?.Contains("ro") != true, ["Propagation"] = "rprivate" });
        }
        foreach (var m in Record.HostConfig.Mounts ?? [])
        {
            if (m.Type == "volume")
            {
                continue;
            }
            a.Add((JsonNode)new JsonObject { ["Type"] = m.Type, ["Source"] = m.Source ?? "", ["Destination"] = m.Target, ["Mode"] = "", ["RW"] = !m.ReadOnly, ["Propagation"] = m.Type == "bind" ? "rprivate" : "" });
        }
        foreach (var v in Record.Volumes ?? [])
        {
            a.Add((JsonNode)new JsonObject { ["Type"] = "volume", ["Name"] = v.Name, ["Source"] = v.Source, ["Destination"] = v.Destination, ["Driver"] = v.Driver, ["Mode"] = v.Mode, ["RW"] = v.RW, ["Propagation"] = "" });
        }
        return a;
    }

    /// <summary>GET /containers/{id}/json.</summary>
    internal JsonObject Inspect(bool size)
    {
        var s = Record.State;
        JsonObject? health = null;
        if (s.Health is { } h)
        {
            var log = new JsonArray();
            foreach (var e in h.Log)
            {
                log.Add((JsonNode)new JsonObject { ["Start"] = EngineFormat.Time(e.Start), ["End"] = EngineFormat.Time(e.End), ["ExitCode"] = e.ExitCode, ["Output"] = e.Output });
            }
            health = new JsonObject { ["Status"] = h.Status, ["FailingStreak"] = h.FailingStreak, ["Log"] = log };
        }
        var state = new JsonObject
        {
            ["Status"] = StateName(s.Status),
            ["Running"] = s.Status is ContainerStatus.Running or ContainerStatus.Paused,
            ["Paused"] = s.Status == ContainerStatus.Paused,
            ["Restarting"] = s.Status == ContainerStatus.Restarting,
            ["OOMKilled"] = s.OomKilled,
            ["Dead"] = s.Status == ContainerStatus.Dead,
            ["Pid"] = s.Pid,
            ["ExitCode"] = s.ExitCode,
            ["Error"] = s.Error,
            ["StartedAt"] = EngineFormat.Time(s.StartedAt),
            ["FinishedAt"] = EngineFormat.Time(s.FinishedAt),
        };
        if (health is not null)
        {
            state["Health"] = health;
        }
        var config = ToNode(Record.Config, DockerJsonContext.Default.ContainerCreateRequest)!.AsObject();
        config.Remove("HostConfig");
        config.Remove("NetworkingConfig");
        config["Image"] = Record.ImageName;
        var hostConfig = ToNode(Record.HostConfig, DockerJsonContext.Default.HostConfig)!.AsObject();
        hostConfig["RestartPolicy"] ??= new JsonObject { ["Name"] = "no", ["MaximumRetryCount"] = 0 };
        hostConfig["LogConfig"] ??= new JsonObject { ["Type"] = "json-file", ["Config"] = new JsonObject() };
        var o = new JsonObject
        {
            ["Id"] = Id,
            ["Created"] = EngineFormat.Time(Record.Created),
            ["Path"] = Record.Path,
            ["Args"] = new JsonArray(Record.Args.Select(a => (JsonNode?)a).ToArray()),
            ["State"] = state,
            ["Image"] = Record.Image,
            ["ResolvConfPath"] = FileIfExists("resolv.conf"),
            ["HostnamePath"] = "",
            ["HostsPath"] = FileIfExists("hosts"),
            ["LogPath"] = Record.LogPath,
            ["Name"] = Record.Name,
            ["RestartCount"] = Record.RestartCount,
            ["Driver"] = "overlay2",
            ["Platform"] = "linux",
            ["MountLabel"] = "",
            ["ProcessLabel"] = "",
            ["AppArmorProfile"] = "",
            ["ExecIDs"] = null,
            ["HostConfig"] = hostConfig,
            ["GraphDriver"] = new JsonObject { ["Name"] = "overlay2", ["Data"] = new JsonObject { ["MergedDir"] = RootfsDir } },
            ["Mounts"] = MountsJson(),
            ["Config"] = config,
            ["NetworkSettings"] = _engine.Networks.ContainerSettings(this),
        };
        if (size)
        {
            o["SizeRw"] = WritableLayerSize();
        }
        return o;
    }

    private string FileIfExists(string name)
    {
        var path = Path.Combine(_engine.Options.ContainersDirectory, Id, name);
        return File.Exists(path) ? path : "";
    }

    /// <summary>Bytes in the container's writable layer (docker ps -s, system df).</summary>
    internal long WritableLayerSize()
    {
        try
        {
            var info = _engine.Images.Snapshotter!.StatAsync(Id).GetAwaiter().GetResult();
            if (info is null || _engine.Images.Snapshotter is not Berth.Images.Snapshots.OverlaySnapshotter o)
            {
                return 0;
            }
            var dir = new DirectoryInfo(o.UpperDirectory(info));
            return dir.Exists ? dir.EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true }).Sum(f => f.Length) : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
