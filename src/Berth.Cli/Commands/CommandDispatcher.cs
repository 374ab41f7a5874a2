using Berth.Core;

namespace Berth.Cli.Commands;

/// <summary>Routes `berth &lt;command&gt; ...` to a command; errors become "berth: message" and exit code 1.</summary>
public sealed class CommandDispatcher(IReadOnlyList<ICommand> commands)
{
    public static CommandDispatcher Default { get; } = new(
    [
        new RawCommand("server", "run the Kubernetes API server (control plane)", ServerHandOff.Run("server")),
        new DaemonCommand(),
        new RawCommand("registry", "serve an OCI distribution registry (and `registry gc`)", RegistryCommand.RunAsync),
        new RawCommand(ImagesDevCommands.Name, "image library developer commands (busybox, import, unpack, ...)",
            (args, ct) => ImagesDevCommands.RunAsync(args, Console.Out, ct), hidden: true),
        new RawCommand("bench-apiserver", "load-test a Kubernetes API server (benchmarks)", ServerHandOff.Run("bench-apiserver"), hidden: true),
        .. Docker.DockerCommands.All,
    ]);

    public async Task<int> RunAsync(string[] args)
    {
        args = Berth.Cli.Docker.DockerHost.ExtractGlobalOptions(args);
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            Console.WriteLine("Usage: berth <command> [options]\n\nCommands:");
            foreach (var c in commands.Where(c => !c.Hidden))
            {
                Console.WriteLine($"  {c.Name,-12} {c.Summary}");
            }
            return args.Length == 0 ? 1 : 0;
        }
        var command = commands.FirstOrDefault(c => c.Name == args[0]);
        if (command is null)
        {
            await Console.Error.WriteLineAsync($"berth: unknown command '{args[0]}'; see 'berth --help'").ConfigureAwait(false);
            return 1;
        }
        var parsed = command is RawCommand ? new CommandArgs(command.Name, []) : new CommandArgs(command.Name, args.Skip(1));
        return await CommandRunner.RunAsync(
            ct => command is RawCommand raw ? raw.RunRawAsync(args[1..], ct) : command.RunAsync(parsed, ct),
            () => parsed.Debug).ConfigureAwait(false);
    }
}
