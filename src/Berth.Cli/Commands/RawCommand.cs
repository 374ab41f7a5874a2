namespace Berth.Cli.Commands;

/// <summary>A command that parses its own arguments (registry, images-dev): the dispatcher hands it the raw list.</summary>
public sealed class RawCommand(string name, string summary, Func<string[], CancellationToken, Task<int>> run, bool hidden = false) : ICommand
{
    public string Name => name;

    public string Summary => summary;

    public bool Hidden => hidden;

    public Task<int> RunRawAsync(string[] args, CancellationToken cancellationToken) => run(args, cancellationToken);

    public Task<int> RunAsync(CommandArgs args, CancellationToken cancellationToken) => run([.. args.Positionals], cancellationToken);
}
