using System.Text.Json.Nodes;
using Berth.Cli.Docker;
using Berth.Core;

namespace Berth.Cli.Commands.Docker;

/// <summary>`berth volume create/ls/inspect/rm/prune`: docker's flags and output.</summary>
public static class VolumeCommands
{
    private static FlagSet Set(string name, string usage, params Flag[] flags) => new(name, usage, interspersed: true, flags);

    public static DockerCommandSpec Create { get; } = new("volume create", "Create a volume",
        Set("volume create", "volume create [OPTIONS] [VOLUME]",
            new Flag("driver", 'd', FlagKind.Value, "Specify volume driver name (default \"local\")"),
            new Flag("label", null, FlagKind.List, "Set metadata for a volume"),
            new Flag("opt", 'o', FlagKind.List, "Set driver specific options (type, device, o)"),
            new Flag("name", null, FlagKind.Value, "Specify volume name")),
        async (cli, f, ct) =>
        {
            f.Require(0, 1);
            var name = f.Positionals.Count == 1 ? f.Positionals[0] : f.Value("name");
            if (f.Positionals.Count == 1 && f.Value("name") is { } flagName && flagName != name)
            {
                throw new UsageException($"conflicting options: either specify --name or provide positional arg, not both");
            }
            var body = new JsonObject
            {
                ["Name"] = name ?? "",
                ["Driver"] = f.Value("driver") ?? "local",
                ["DriverOpts"] = KeyValueFlags.Map(f.List("opt"), "opt", allowBare: false),
                ["Labels"] = KeyValueFlags.Map(f.List("label"), "label", allowBare: true),
            };
            var r = await cli.Api.PostJsonAsync("/volumes/create", body, ct).ConfigureAwait(false);
            cli.Out.WriteLine(r?["Name"]?.GetValue<string>());
            return 0;
        });

    public static DockerCommandSpec Ls { get; } = new("volume ls", "List volumes",
        Set("volume ls", "volume ls [OPTIONS]",
            new Flag("quiet", 'q', FlagKind.Bool, "Only display volume names"),
            new Flag("filter", 'f', FlagKind.List, "Provide filter values (e.g. \"dangling=true\")"),
            new Flag("format", null, FlagKind.Value, "Format output using a Go template (basics: table, .Field, json)")),
        async (cli, f, ct) =>
        {
            f.Require(0, 0);
            var r = await cli.Api.GetJsonAsync("/volumes" + DockerCli.Query(("filters", DockerCli.Filters(f.List("filter")))), ct).ConfigureAwait(false);
            var rows = (r?["Volumes"] as JsonArray ?? []).OfType<JsonObject>().Select(v => new JsonObject
            {
                ["Name"] = v["Name"]?.GetValue<string>(),
                ["Driver"] = v["Driver"]?.GetValue<string>(),
                ["Scope"] = v["Scope"]?.GetValue<string>(),
                ["Mountpoint"] = v["Mountpoint"]?.GetValue<string>(),
                ["Labels"] = string.Join(',', (v["Labels"] as JsonObject ?? []).Select(kv => kv.Key + "=" + Template.Text(kv.Value))),
                ["Size"] = "N/A",
                ["Links"] = "N/A",
            }).OrderBy(v => v["Name"]?.GetValue<string>(), NaturalOrder.Instance).ToList();
            cli.WriteRows(f.Value("format"), f.Bool("quiet"), rows, "Name", [("Driver", "DRIVER"), ("Name", "VOLUME NAME")]);
            return 0;
        });

    public static DockerCommandSpec Inspect { get; } = new("volume inspect", "Display detailed information on one or more volumes",
        Set("volume inspect", "volume inspect [OPTIONS] VOLUME [VOLUME...]",
            new Flag("format", 'f', FlagKind.Value, "Format output using a Go template")),
        async (cli, f, ct) =>
        {
            f.Require(1);
            return await cli.InspectEachAsync(f, name => $"/volumes/{DockerCli.Esc(name)}", (_, e) => e.Message, ct).ConfigureAwait(false);
        });

    public static DockerCommandSpec Rm { get; } = new("volume rm", "Remove one or more volumes",
        Set("volume rm", "volume rm [OPTIONS] VOLUME [VOLUME...]",
            new Flag("force", 'f', FlagKind.Bool, "Force the removal of one or more volumes")),
        async (cli, f, ct) =>
        {
            f.Require(1);
            var failed = false;
            foreach (var name in f.Positionals)
            {
                try
                {
                    await cli.Api.DeleteAsync($"/volumes/{DockerCli.Esc(name)}" + DockerCli.Query(("force", f.Bool("force") ? "1" : null)), ct).ConfigureAwait(false);
                    cli.Out.WriteLine(name);
                }
                catch (BerthException e)
                {
                    cli.Err.WriteLine("berth: " + e.Message);
                    failed = true;
                }
            }
            return failed ? 1 : 0;
        });

    public static DockerCommandSpec Prune { get; } = new("volume prune", "Remove unused local volumes",
        Set("volume prune", "volume prune [OPTIONS]",
            new Flag("all", 'a', FlagKind.Bool, "Remove all unused volumes, not just anonymous ones"),
            new Flag("force", 'f', FlagKind.Bool, "Do not prompt for confirmation"),
            new Flag("filter", null, FlagKind.List, "Provide filter values (e.g. \"label=<label>\")")),
        async (cli, f, ct) =>
        {
            f.Require(0, 0);
            var all = f.Bool("all");
            var warning = all
                ? "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
                : "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?";
            if (!f.Bool("force") && !cli.Confirm(warning))
            {
                return 0;
            }
            (string, string)[] extra = all ? [("all", "true")] : [];
            var space = await cli.PruneAsync("/volumes/prune" + DockerCli.Query(("filters", DockerCli.Filters(f.List("filter"), extra))), "VolumesDeleted", "Deleted Volumes:", ct).ConfigureAwait(false);
            cli.Out.WriteLine("Total reclaimed space: " + Units.HumanSize(space));
            return 0;
        });
}
