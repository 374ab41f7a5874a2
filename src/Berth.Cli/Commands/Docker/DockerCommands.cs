using Berth.Cli.Docker;

namespace Berth.Cli.Commands.Docker;

/// <summary>
/// Every docker-style client command, top level (`berth run`) and in the management groups
/// (`berth container ls`, `berth image prune`, `berth system df`).
/// </summary>
public static class DockerCommands
{
    private static readonly DockerCommandSpec[] TopLevel =
    [
        RunCommands.Run, RunCommands.Create, RunCommands.Start,
        ContainerCommands.Stop, ContainerCommands.Restart, ContainerCommands.Kill, ContainerCommands.Rm,
        ContainerCommands.Ps, ContainerCommands.Logs, ContainerCommands.Exec, ContainerCommands.Inspect,
        ContainerCommands.Top, StatsCopyCommands.Stats, StatsCopyCommands.Cp, ContainerCommands.Rename,
        ContainerCommands.Update, ContainerCommands.Wait, ContainerCommands.Pause, ContainerCommands.Unpause,
        ContainerCommands.Port, StatsCopyCommands.Export,
        ImageCommands.Images, ImageCommands.Rmi, ImageCommands.Tag, ImageCommands.History, ImageCommands.Save,
        ImageCommands.Load, ImageCommands.Import, ImageCommands.Build, ImageCommands.Pull, ImageCommands.Push,
        ImageCommands.Login, ImageCommands.Logout,
        SystemCommands.Version, SystemCommands.Info,
    ];

    private static readonly (string Name, string Summary, (string Sub, DockerCommandSpec Spec)[] Subs)[] Groups =
    [
        ("container", "Manage containers", [
            ("run", RunCommands.Run), ("create", RunCommands.Create), ("start", RunCommands.Start), ("stop", ContainerCommands.Stop),
            ("restart", ContainerCommands.Restart), ("kill", ContainerCommands.Kill), ("rm", ContainerCommands.Rm),
            ("ls", ContainerCommands.Ps with { Name = "container ls" }), ("list", ContainerCommands.Ps), ("ps", ContainerCommands.Ps),
            ("logs", ContainerCommands.Logs), ("exec", ContainerCommands.Exec), ("inspect", ContainerCommands.ContainerInspect),
            ("top", ContainerCommands.Top), ("stats", StatsCopyCommands.Stats), ("cp", StatsCopyCommands.Cp),
            ("rename", ContainerCommands.Rename), ("update", ContainerCommands.Update), ("wait", ContainerCommands.Wait),
            ("pause", ContainerCommands.Pause), ("unpause", ContainerCommands.Unpause), ("port", ContainerCommands.Port), ("export", StatsCopyCommands.Export),
            ("prune", ContainerCommands.Prune),
        ]),
        ("image", "Manage images", [
            ("ls", ImageCommands.ImageLs), ("list", ImageCommands.ImageLs), ("rm", ImageCommands.Rmi), ("tag", ImageCommands.Tag),
            ("history", ImageCommands.History), ("save", ImageCommands.Save), ("load", ImageCommands.Load),
            ("import", ImageCommands.Import), ("build", ImageCommands.Build), ("pull", ImageCommands.Pull),
            ("push", ImageCommands.Push), ("prune", ImageCommands.Prune),
            ("inspect", ContainerCommands.Inspect with { Run = (cli, f, ct) => ContainerCommands.InspectAsync(cli, f, "image", ct) }),
        ]),
        ("volume", "Manage volumes", [
            ("create", VolumeCommands.Create), ("ls", VolumeCommands.Ls), ("list", VolumeCommands.Ls), ("inspect", VolumeCommands.Inspect),
            ("rm", VolumeCommands.Rm), ("remove", VolumeCommands.Rm), ("prune", VolumeCommands.Prune),
        ]),
        ("network", "Manage networks", NetworkCommands.Subs),
        ("system", "Manage the engine (df, prune, info)", [
            ("df", SystemCommands.Df), ("prune", SystemCommands.Prune), ("info", SystemCommands.Info),
        ]),
    ];

    /// <summary>The commands to register with the dispatcher.</summary>
    public static IEnumerable<ICommand> All =>
        TopLevel.Select(s => (ICommand)s.ToCommand()).Concat(Groups.Select(g => (ICommand)new RawCommand(g.Name, g.Summary,
            (args, ct) => RunGroupAsync(g.Name, g.Subs, args, ct))));

    private static async Task<int> RunGroupAsync(string group, (string Sub, DockerCommandSpec Spec)[] subs, string[] args, CancellationToken ct)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h")
        {
            Console.WriteLine($"Usage:  berth {group} COMMAND\n\nCommands:");
            foreach (var (sub, spec) in subs)
            {
                Console.WriteLine($"  {sub,-10} {spec.Summary}");
            }
            return args.Length == 0 ? 125 : 0;
        }
        var match = subs.FirstOrDefault(s => s.Sub == args[0]);
        if (match.Spec is null)
        {
            await Console.Error.WriteLineAsync($"berth: '{args[0]}' is not a berth {group} command.\nSee 'berth {group} --help'").ConfigureAwait(false);
            return 125;
        }
        return await DockerCli.RunAsync(match.Spec, args[1..], ct).ConfigureAwait(false);
    }
}
