using Berth.Cli.Commands;

namespace Berth.Server.Cli;

/// <summary>
/// berth-server: `server` and `bench-apiserver`, the commands that need KubernetesClient and YamlDotNet. Users type
/// `berth server ...`; berth execve()s `berth-server server ...`, so this is normally started by berth.
/// </summary>
public static class Program
{
    private static readonly ICommand[] Commands = [new ServerCommand(), new BenchApiServerCommand()];

    public static async Task<int> Main(string[] args)
    {
        var command = args.Length > 0 ? Commands.FirstOrDefault(c => c.Name == args[0]) : null;
        if (command is null)
        {
            await Console.Error.WriteLineAsync($"berth-server: the commands are {string.Join(", ", Commands.Select(c => c.Name))} (run as `berth server ...`)").ConfigureAwait(false);
            return 1;
        }
        var parsed = new CommandArgs(command.Name, args.Skip(1));
        return await CommandRunner.RunAsync(ct => command.RunAsync(parsed, ct), () => parsed.Debug).ConfigureAwait(false);
    }
}
