using System.Globalization;
using System.Text.Json;
using Berth.Linux;

namespace Berth.Shim.Server;

/// <summary>
/// Runs the OCI runtime's verbs synchronously (the shim's loop waits; they are short), with errors captured from the
/// runtime's --log in JSON (runc, crun and berth-runtime all write {"level":"error","msg":...}) and from its output.
/// </summary>
internal sealed class RuntimeRunner(ShimOptions options)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    private string LogPath => Path.Combine(options.StateDir, "runtime.log");

    private string OutPath => Path.Combine(options.StateDir, "runtime.out");

    public sealed record Result(int ExitCode, string Error, int ConsoleMaster)
    {
        public bool Ok => ExitCode == 0;
    }

    /// <summary>
    /// Runs <c>runtime --root R --log L --log-format json VERB ARGS</c>. Stdio -1 sends the runtime's output to a file
    /// read for the error text. With <paramref name="console"/>, accepts the runtime's connection on it meanwhile and
    /// receives the pty master (SCM_RIGHTS).
    /// </summary>
    public Result Run(IReadOnlyList<string> verbArgs, int stdin = Spawn.DevNull, int stdout = -1, int stderr = -1, int console = -1)
    {
        File.Delete(LogPath);
        var outFd = -1;
        if (stdout < 0 || stderr < 0)
        {
            outFd = Sys.Open(OutPath, Sys.O_WRONLY | Sys.O_CREAT | Sys.O_TRUNC, 0x180);
        }
        var argv = new List<string>(verbArgs.Count + 8) { options.RuntimePath, "--root", options.RuntimeRoot, "--log", LogPath, "--log-format", "json" };
        argv.AddRange(verbArgs);
        int pid;
        try
        {
            pid = Spawn.Start(options.RuntimePath, argv, Spawn.CurrentEnvironment(),
                new SpawnOptions { Stdin = stdin, Stdout = stdout >= 0 ? stdout : outFd, Stderr = stderr >= 0 ? stderr : outFd });
        }
        catch (LinuxSyscallException e)
        {
            return new Result(127, $"cannot run the runtime {options.RuntimePath}: {e.Message}", -1);
        }
        finally
        {
            if (outFd >= 0)
            {
                Sys.Close(outFd);
            }
        }
        var master = -1;
        var status = WaitWithConsole(pid, console, ref master);
        var code = Sys.ExitCodeOf(status);
        if (code != 0 && master >= 0)
        {
            Sys.Close(master);
            master = -1;
        }
        return new Result(code, code == 0 ? "" : ErrorText(verbArgs[0], code, stdout < 0 || stderr < 0), master);
    }

    private static int WaitWithConsole(int pid, int console, ref int master)
    {
        var pidfd = Sys.PidfdOpen(pid);
        Span<PollFd> fds = stackalloc PollFd[2];
        var deadline = Environment.TickCount64 + (long)Timeout.TotalMilliseconds;
        while (pidfd >= 0)
        {
            fds[0] = new PollFd { Fd = pidfd, Events = PollFd.In };
            var n = 1;
            if (console >= 0 && master < 0)
            {
                fds[1] = new PollFd { Fd = console, Events = PollFd.In };
                n = 2;
            }
            var left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                Sys.Kill(pid, Signals.SIGKILL);
                deadline = long.MaxValue;
                left = 5000;
            }
            Descriptors.Poll(fds[..n], (int)Math.Min(left, 5000));
            if (n == 2 && (fds[1].Revents & PollFd.In) != 0)
            {
                var fd = UnixSocket.Accept(console);
                if (fd >= 0)
                {
                    try
                    {
                        // The runtime sends the master right after connecting.
                        if (Descriptors.Poll([new PollFd { Fd = fd, Events = PollFd.In }], 10_000) > 0)
                        {
                            master = UnixSocket.ReceiveFd(fd);
                        }
                    }
                    catch (LinuxSyscallException)
                    {
                    }
                    finally
                    {
                        Sys.Close(fd);
                    }
                }
            }
            if ((fds[0].Revents & PollFd.In) != 0)
            {
                break;
            }
        }
        if (pidfd >= 0)
        {
            Sys.Close(pidfd);
        }
        return Sys.WaitPid(pid, noHang: false, out _);
    }

    /// <summary>The runtime's last error message from its JSON log, else what it printed, else its exit code.</summary>
    private string ErrorText(string verb, int code, bool haveOutput)
    {
        string? message = null;
        try
        {
            foreach (var line in File.ReadLines(LogPath))
            {
                if (line.Length == 0 || line[0] != '{')
                {
                    continue;
                }
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    if (doc.RootElement.TryGetProperty("level", out var level) && level.GetString() is "error" or "fatal"
                        && doc.RootElement.TryGetProperty("msg", out var msg) && msg.GetString() is { Length: > 0 } text)
                    {
                        message = text;
                    }
                }
                catch (JsonException)
                {
                }
            }
        }
        catch (IOException)
        {
        }
        if (message is null && haveOutput)
        {
            try
            {
                var text = File.ReadAllText(OutPath).Trim();
                message = text.Length > 0 ? text : null;
            }
            catch (IOException)
            {
            }
        }
        return message ?? $"{Path.GetFileName(options.RuntimePath)} {verb} exited with code {code.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>Removes the runtime's scratch files.</summary>
    public void Cleanup()
    {
        File.Delete(LogPath);
        File.Delete(OutPath);
    }
}
