using System.Diagnostics;
using System.Text;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

/// <summary>Runs OCI hooks: each gets the container state on stdin; a failure names the hook, its exit status and output.</summary>
public static class HookRunner
{
    public static void Run(List<Hook>? hooks, string stage, string stateJson)
    {
        for (var i = 0; i < (hooks?.Count ?? 0); i++)
        {
            RunOne(hooks![i], $"{stage}[{i}]", stateJson);
        }
    }

    private static void RunOne(Hook hook, string name, string stateJson)
    {
        var (stdinRead, stdinWrite) = Sys.Pipe(cloexec: true);
        var (outRead, outWrite) = Sys.Pipe(cloexec: true);
        int pid;
        try
        {
            var argv = hook.Args is { Count: > 0 } a ? a : [hook.Path];
            pid = Spawn.Start(hook.Path, argv, hook.Env ?? [], (stdinRead, outWrite, outWrite));
        }
        catch (LinuxSyscallException e)
        {
            Sys.Close(stdinRead);
            Sys.Close(stdinWrite);
            Sys.Close(outRead);
            Sys.Close(outWrite);
            throw new BerthException(ErrorCode.FailedPrecondition, $"hook {name} {hook.Path}: {e.Message}");
        }
        Sys.Close(stdinRead);
        Sys.Close(outWrite);
        try
        {
            Sys.WriteAll(stdinWrite, Encoding.UTF8.GetBytes(stateJson), "hook stdin");
        }
        catch (LinuxSyscallException)
        {
            // A hook may exit without reading its stdin.
        }
        Sys.Close(stdinWrite);
        var output = new StringBuilder();
        var timeout = hook.Timeout is { } t ? Stopwatch.GetTimestamp() + (long)t * Stopwatch.Frequency : long.MaxValue;
        var buffer = new byte[4096];
        while (true)
        {
            var remainingMs = timeout == long.MaxValue ? 1000 : (int)Math.Max(0, (timeout - Stopwatch.GetTimestamp()) * 1000 / Stopwatch.Frequency);
            if (FileSystem.PollReadable(outRead, Math.Min(remainingMs, 1000)))
            {
                var n = Sys.Read(outRead, buffer);
                if (n == 0)
                {
                    break;
                }
                if (output.Length < 8192)
                {
                    output.Append(Encoding.UTF8.GetString(buffer, 0, n));
                }
            }
            else if (Stopwatch.GetTimestamp() > timeout)
            {
                Sys.Kill(pid, Signals.SIGKILL);
                Sys.WaitPid(pid, noHang: false, out _);
                Sys.Close(outRead);
                throw new BerthException(ErrorCode.FailedPrecondition, $"hook {name} {hook.Path}: timed out after {hook.Timeout}s");
            }
        }
        Sys.Close(outRead);
        var status = Sys.WaitPid(pid, noHang: false, out _);
        if (status != 0)
        {
            var text = output.ToString().Trim();
            throw new BerthException(ErrorCode.FailedPrecondition,
                $"hook {name} {hook.Path}: exit status {Sys.ExitCodeOf(status)}" + (text.Length > 0 ? ": " + text : ""));
        }
    }
}
