using Berth.Core;

namespace Berth.Cli.Commands;

/// <summary>
/// Runs one command the same way in every host (berth, berth-server): Ctrl-C and SIGTERM cancel its token, a
/// <see cref="BerthException"/> becomes "berth: message" (and the stack with --debug) and exit code 1.
/// Compiled into both hosts (berth-server links this file), so keep it free of anything but Berth.Core.
/// </summary>
public static class CommandRunner
{
    public static async Task<int> RunAsync(Func<CancellationToken, Task<int>> run, Func<bool> debug)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(debug);
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            cts.Cancel();
        });
        try
        {
            return await run(cts.Token).ConfigureAwait(false);
        }
        catch (BerthException e)
        {
            await Console.Error.WriteLineAsync("berth: " + e.Message).ConfigureAwait(false);
            if (debug())
            {
                await Console.Error.WriteLineAsync(e.ToString()).ConfigureAwait(false);
            }
            return 1;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}
