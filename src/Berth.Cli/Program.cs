using Berth.Cli.Commands;

namespace Berth.Cli;

public static class Program
{
    public static Task<int> Main(string[] args) => CommandDispatcher.Default.RunAsync(args);
}
