namespace Berth.Cli.Commands;

/// <summary>One `berth` subcommand. Add a file per command and register it in <see cref="CommandDispatcher.Default"/>.</summary>
public interface ICommand
{
    string Name { get; }

    /// <summary>One line for `berth --help`.</summary>
    string Summary { get; }

    /// <summary>Hidden commands (benchmarks, internals) are not listed in help.</summary>
    bool Hidden => false;

    Task<int> RunAsync(CommandArgs args, CancellationToken cancellationToken);
}
