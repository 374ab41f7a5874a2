using Berth.Core;

namespace Berth.Cli.Commands;

/// <summary>
/// `berth server` and `berth bench-apiserver` live in berth-server (ReadyToRun: KubernetesClient's models and
/// YamlDotNet need reflection, which NativeAOT berth does not carry). berth execve()s berth-server with the same
/// arguments, so the process id, stdio, signals and exit status stay those of the `berth server` that was started.
/// </summary>
public static class ServerHandOff
{
    public const string ExecutableName = "berth-server";

    public static Func<string[], CancellationToken, Task<int>> Run(string command) => (args, _) =>
    {
        var path = Locate();
        Berth.Linux.Spawn.Exec(path, [path, command, .. args], Berth.Linux.Spawn.CurrentEnvironment());
        return Task.FromResult(127); // not reached: Exec returns only by throwing
    };

    /// <summary>
    /// berth-server beside the real path of this executable (out/berth, or /usr/local/bin/berth linked to it: the base
    /// directory comes from /proc/self/exe, links resolved).
    /// </summary>
    public static string Locate()
    {
        var path = Path.Combine(AppContext.BaseDirectory, ExecutableName);
        return File.Exists(path)
            ? path
            : throw BerthException.NotFound($"{ExecutableName}: not found next to {Environment.ProcessPath ?? AppContext.BaseDirectory} (it hosts `berth server`); build it with `make cli` or install it beside berth");
    }
}
