using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Berth.Cli.Docker;
using Berth.Core;

namespace Berth.Cli.Commands.Docker;

/// <summary>version, info, system df / prune / info.</summary>
public static class SystemCommands
{
    public static string ClientVersion => typeof(SystemCommands).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    public static DockerCommandSpec Version { get; } = new("version", "Show the Berth client and daemon version information",
        new FlagSet("version", "version [OPTIONS]", true, new Flag("format", 'f', FlagKind.Value, "Format output using a Go template (basics)")),
        async (cli, f, ct) =>
        {
            f.Require(0, 0);
            var client = new JsonObject
            {
                ["Version"] = ClientVersion,
                ["ApiVersion"] = DockerApiClient.MaxApiVersion,
                ["DotnetVersion"] = RuntimeInformation.FrameworkDescription,
                ["Os"] = "linux",
                ["Arch"] = RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(),
            };
            JsonNode? server = null;
            BerthException? error = null;
            try
            {
                server = await cli.Api.GetJsonAsync("/version", ct).ConfigureAwait(false);
                client["ApiVersion"] = cli.Api.ApiVersion;
            }
            catch (BerthException e)
            {
                error = e;
            }
            if (f.Value("format") is { } format)
            {
                cli.Out.WriteLine(Template.Render(format, new JsonObject { ["Client"] = client, ["Server"] = server?.DeepClone() }));
            }
            else
            {
                cli.Out.WriteLine("Client:");
                cli.Out.WriteLine($" Version:           {client["Version"]}");
                cli.Out.WriteLine($" API version:       {client["ApiVersion"]}");
                cli.Out.WriteLine($" .NET version:      {client["DotnetVersion"]}");
                cli.Out.WriteLine($" OS/Arch:           linux/{client["Arch"]}");
                if (server is not null)
                {
                    cli.Out.WriteLine();
                    cli.Out.WriteLine($"Server: {server["Platform"]?["Name"]?.GetValue<string>() ?? ""}".TrimEnd());
                    cli.Out.WriteLine(" Engine:");
                    cli.Out.WriteLine($"  Version:          {server["Version"]}");
                    cli.Out.WriteLine($"  API version:      {server["ApiVersion"]} (minimum version {server["MinAPIVersion"]})");
                    if (server["GoVersion"] is { } go)
                    {
                        cli.Out.WriteLine($"  Go version:       {go}");
                    }
                    cli.Out.WriteLine($"  Git commit:       {server["GitCommit"]}");
                    cli.Out.WriteLine($"  OS/Arch:          {server["Os"]}/{server["Arch"]}");
                    cli.Out.WriteLine($"  Kernel:           {server["KernelVersion"]}");
                    foreach (var c in server["Components"] as JsonArray ?? [])
                    {
                        if (c?["Name"]?.GetValue<string>() is { } name && name != "Engine")
                        {
                            cli.Out.WriteLine($" {name}:");
                            cli.Out.WriteLine($"  Version:          {c["Version"]}");
                        }
                    }
                }
            }
            if (error is not null)
            {
                throw error;
            }
            return 0;
        });

    public static DockerCommandSpec Info { get; } = new("info", "Display system-wide information",
        new FlagSet("info", "info [OPTIONS]", true, new Flag("format", 'f', FlagKind.Value, "Format output using a Go template (basics)")),
        async (cli, f, ct) =>
        {
            f.Require(0, 0);
            var info = await cli.Api.GetJsonAsync("/info", ct).ConfigureAwait(false) ?? new JsonObject();
            if (f.Value("format") is { } format)
            {
                cli.Out.WriteLine(Template.Render(format, info));
                return 0;
            }
            string V(string key) => info[key] is { } n ? Template.Text(n) : "";
            var o = cli.Out;
            o.WriteLine("Client:");
            o.WriteLine($" Version:    {ClientVersion}");
            o.WriteLine($" Context:    {DockerHost.Resolve()}");
            o.WriteLine();
            o.WriteLine("Server:");
            o.WriteLine($" Containers: {V("Containers")}");
            o.WriteLine($"  Running: {V("ContainersRunning")}");
            o.WriteLine($"  Paused: {V("ContainersPaused")}");
            o.WriteLine($"  Stopped: {V("ContainersStopped")}");
            o.WriteLine($" Images: {V("Images")}");
            o.WriteLine($" Server Version: {V("ServerVersion")}");
            o.WriteLine($" Storage Driver: {V("Driver")}");
            o.WriteLine($" Logging Driver: {V("LoggingDriver")}");
            o.WriteLine($" Cgroup Driver: {V("CgroupDriver")}");
            o.WriteLine($" Cgroup Version: {V("CgroupVersion")}");
            if (info["Runtimes"] is JsonObject runtimes)
            {
                o.WriteLine($" Runtimes: {string.Join(' ', runtimes.Select(kv => kv.Key))}");
            }
            o.WriteLine($" Default Runtime: {V("DefaultRuntime")}");
            o.WriteLine($" Init Binary: {V("InitBinary")}");
            o.WriteLine($" Kernel Version: {V("KernelVersion")}");
            o.WriteLine($" Operating System: {V("OperatingSystem")}");
            o.WriteLine($" OSType: {V("OSType")}");
            o.WriteLine($" Architecture: {V("Architecture")}");
            o.WriteLine($" CPUs: {V("NCPU")}");
            o.WriteLine($" Total Memory: {Units.BytesSize(info["MemTotal"]?.GetValue<double>() ?? 0)}");
            o.WriteLine($" Name: {V("Name")}");
            o.WriteLine($" ID: {V("ID")}");
            o.WriteLine($" Docker Root Dir: {V("DockerRootDir")}");
            o.WriteLine($" Debug Mode: {V("Debug")}");
            o.WriteLine($" Live Restore Enabled: {V("LiveRestoreEnabled")}");
            foreach (var w in info["Warnings"] as JsonArray ?? [])
            {
                cli.Err.WriteLine(Template.Text(w));
            }
            return 0;
        });

    public static DockerCommandSpec Df { get; } = new("system df", "Show docker disk usage",
        new FlagSet("system df", "system df [OPTIONS]", true, new Flag("verbose", 'v', FlagKind.Bool, "Show detailed information on space usage"),
            new Flag("format", null, FlagKind.Value, "Format output using a Go template (basics)")),
        async (cli, f, ct) =>
        {
            f.Require(0, 0);
            var df = await cli.Api.GetJsonAsync("/system/df", ct).ConfigureAwait(false);
            var images = df?["Images"] as JsonArray ?? [];
            var containers = df?["Containers"] as JsonArray ?? [];
            var volumes = df?["Volumes"] as JsonArray ?? [];
            var cache = df?["BuildCache"] as JsonArray ?? [];
            static long L(JsonNode? n) => n is JsonValue v && v.TryGetValue<long>(out var l) ? l : 0;
            static string Reclaimable(long r, long total) => total > 0 ? $"{Units.HumanSize(r)} ({r * 100 / total}%)" : Units.HumanSize(r);
            var imgSize = L(df?["LayersSize"]);
            var activeImages = images.Count(i => L(i?["Containers"]) > 0);
            var imgReclaim = imgSize - images.Where(i => L(i?["Containers"]) > 0).Sum(i => L(i?["Size"]) - L(i?["SharedSize"]) is var u && u > 0 ? u : 0);
            var ctrSize = containers.Sum(c => L(c?["SizeRw"]));
            var activeCtr = containers.Count(c => c?["State"]?.GetValue<string>() == "running");
            var ctrReclaim = containers.Where(c => c?["State"]?.GetValue<string>() != "running").Sum(c => L(c?["SizeRw"]));
            var volSize = volumes.Sum(v => Math.Max(0, L(v?["UsageData"]?["Size"])));
            var activeVol = volumes.Count(v => L(v?["UsageData"]?["RefCount"]) > 0);
            var volReclaim = volumes.Where(v => L(v?["UsageData"]?["RefCount"]) == 0).Sum(v => Math.Max(0, L(v?["UsageData"]?["Size"])));
            var cacheSize = cache.Sum(c => L(c?["Size"]));
            var cacheReclaim = cache.Where(c => c?["InUse"]?.GetValue<bool>() != true).Sum(c => L(c?["Size"]));
            var rows = new List<JsonObject>
            {
                Row("Images", images.Count, activeImages, imgSize, Reclaimable(Math.Max(0, imgReclaim), imgSize)),
                Row("Containers", containers.Count, activeCtr, ctrSize, Reclaimable(ctrReclaim, ctrSize)),
                Row("Local Volumes", volumes.Count, activeVol, volSize, Reclaimable(volReclaim, volSize)),
                Row("Build Cache", cache.Count, cache.Count(c => c?["InUse"]?.GetValue<bool>() == true), cacheSize, Units.HumanSize(cacheReclaim)),
            };
            cli.WriteRows(f.Value("format"), false, rows, "Type", [("Type", "TYPE"), ("TotalCount", "TOTAL"), ("Active", "ACTIVE"), ("Size", "SIZE"), ("Reclaimable", "RECLAIMABLE")]);
            return 0;
        });

    private static JsonObject Row(string type, int total, int active, long size, string reclaimable) => new()
    {
        ["Type"] = type,
        ["TotalCount"] = total.ToString(CultureInfo.InvariantCulture),
        ["Active"] = active.ToString(CultureInfo.InvariantCulture),
        ["Size"] = Units.HumanSize(size),
        ["Reclaimable"] = reclaimable,
    };

    public static DockerCommandSpec Prune { get; } = new("system prune", "Remove unused data",
        new FlagSet("system prune", "system prune [OPTIONS]", true,
            new Flag("all", 'a', FlagKind.Bool, "Remove all unused images not just dangling ones"),
            new Flag("force", 'f', FlagKind.Bool, "Do not prompt for confirmation"),
            new Flag("volumes", null, FlagKind.Bool, "Prune anonymous volumes"),
            new Flag("filter", null, FlagKind.List, "Provide filter values (e.g. \"label=<key>=<value>\")")),
        async (cli, f, ct) =>
        {
            f.Require(0, 0);
            var warning = "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n"
                + (f.Bool("volumes") ? "  - all anonymous volumes not used by at least one container\n" : "")
                + (f.Bool("all") ? "  - all images without at least one container associated to them\n" : "  - all dangling images\n")
                + "  - unused build cache\n\nAre you sure you want to continue?";
            if (!f.Bool("force") && !cli.Confirm(warning))
            {
                return 0;
            }
            var filters = DockerCli.Filters(f.List("filter"));
            long space = 0;
            space += await cli.PruneAsync("/containers/prune" + DockerCli.Query(("filters", filters)), "ContainersDeleted", "Deleted Containers:", ct).ConfigureAwait(false);
            await PruneOptionalAsync(cli, "/networks/prune" + DockerCli.Query(("filters", filters)), "NetworksDeleted", "Deleted Networks:", ct).ConfigureAwait(false);
            if (f.Bool("volumes"))
            {
                space += await PruneOptionalAsync(cli, "/volumes/prune" + DockerCli.Query(("filters", filters)), "VolumesDeleted", "Deleted Volumes:", ct).ConfigureAwait(false);
            }
            space += await ImageCommands.PruneImagesAsync(cli, f.Bool("all"), f.List("filter"), ct).ConfigureAwait(false);
            space += await PruneOptionalAsync(cli, "/build/prune" + (f.Bool("all") ? "?all=1" : ""), "CachesDeleted", "Deleted build cache objects:", ct).ConfigureAwait(false);
            cli.Out.WriteLine("Total reclaimed space: " + Units.HumanSize(space));
            return 0;
        });

    /// <summary>Prunes a kind the daemon may not have yet (networks, volumes, build cache): a 404 means nothing to prune.</summary>
    private static async Task<long> PruneOptionalAsync(DockerCli cli, string path, string listKey, string title, CancellationToken ct)
    {
        try
        {
            return await cli.PruneAsync(path, listKey, title, ct).ConfigureAwait(false);
        }
        catch (DockerApiException e) when (e.Status is System.Net.HttpStatusCode.NotFound or System.Net.HttpStatusCode.NotImplemented)
        {
            return 0;
        }
    }
}
