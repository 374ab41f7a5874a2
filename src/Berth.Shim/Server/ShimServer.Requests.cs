using Berth.Core;
using Berth.Linux;
using Berth.Shim.Protocol;

namespace Berth.Shim.Server;

internal sealed partial class ShimServer
{
    private void Handle(Connection c, ShimRequest r)
    {
        try
        {
            switch (r.Op)
            {
                case Ops.Status:
                    Done(c, Answer(_init));
                    break;
                case Ops.Start:
                    Start(c);
                    break;
                case Ops.Wait:
                    WaitFor(c, _init);
                    break;
                case Ops.Kill:
                    Kill(c, r);
                    break;
                case Ops.Pause:
                case Ops.Resume:
                    PauseOrResume(c, r.Op);
                    break;
                case Ops.Attach:
                    Attach(c, _init, r.Stdin, r.Stdout, r.Stderr);
                    break;
                case Ops.Resize:
                    Resize(c, r);
                    break;
                case Ops.Exec:
                    PrepareExec(c, r);
                    break;
                case Ops.ExecStart:
                    StartExec(c, ExecOf(r));
                    break;
                case Ops.ExecWait:
                    WaitFor(c, ExecOf(r));
                    break;
                case Ops.Delete:
                    Delete(c);
                    break;
                default:
                    Fail(c, ErrorCode.InvalidArgument, $"unknown shim operation \"{r.Op}\"");
                    break;
            }
        }
        catch (BerthException e)
        {
            Fail(c, e.Code, e.Message);
        }
        catch (LinuxSyscallException e)
        {
            Fail(c, ErrorCode.Internal, e.Message);
        }
        catch (IOException e)
        {
            Fail(c, ErrorCode.Internal, e.Message);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or InvalidOperationException or ArgumentException or FormatException)
        {
            // The container outlives any one bad request: answer it, keep serving.
            Console.Error.WriteLine($"berth-shim: {r.Op}: {e}");
            Fail(c, ErrorCode.Internal, $"{r.Op}: {e.Message}");
        }
    }

    private static void Done(Connection c, ShimResponse response)
    {
        Respond(c, response);
        c.CloseAfterFlush = true;
        TryClose(c);
    }

    private static void Ok(Connection c) => Done(c, new ShimResponse { Ok = true });

    private Supervised ExecOf(ShimRequest r) =>
        r.ExecId is { } id && _execs.TryGetValue(id, out var e)
            ? e
            : throw BerthException.NotFound($"container {_options.Id} has no exec \"{r.ExecId}\"");

    private void RequireRunning(string verb)
    {
        if (_init.Exited)
        {
            throw BerthException.FailedPrecondition($"container {_options.Id} is not running; cannot {verb} it");
        }
    }

    private void Runtime(List<string> args)
    {
        var result = _runtime.Run(args);
        if (!result.Ok)
        {
            throw new BerthException(ErrorCode.Internal, result.Error);
        }
    }

    private void Start(Connection c)
    {
        if (_state != ShimState.Created || _init.Exited)
        {
            throw BerthException.FailedPrecondition($"container {_options.Id} is {StateName()}; only a created container can be started");
        }
        Runtime(["start", _options.Id]);
        _init.Started = true;
        _state = _init.Exited ? ShimState.Stopped : ShimState.Running;
        Ok(c);
    }

    private string StateName() => _state.ToString().ToLowerInvariant();

    private void WaitFor(Connection c, Supervised p)
    {
        if (p.Exited)
        {
            // Fine to answer from the loop's state: exit.json was written before Exited returned.
            c.CloseAfterFlush = true;
            Respond(c, Answer(p));
            TryClose(c);
            return;
        }
        p.Waiters.Add(c);
    }

    private void Kill(Connection c, ShimRequest r)
    {
        if (r.Signal is <= 0 or > 64)
        {
            throw BerthException.InvalidArgument($"signal {r.Signal} is out of range 1-64");
        }
        if (r.ExecId is not null)
        {
            var e = ExecOf(r);
            if (!e.Started || e.Exited)
            {
                throw BerthException.FailedPrecondition($"exec {e.ExecId} of container {_options.Id} is not running");
            }
            // Still our unreaped child, so the pid cannot have been reused.
            var errno = Sys.Kill(e.Pid, r.Signal);
            if (errno != 0)
            {
                throw new LinuxSyscallException("kill", "exec " + e.ExecId, errno);
            }
            Ok(c);
            return;
        }
        RequireRunning("signal");
        List<string> args = ["kill"];
        if (r.All)
        {
            args.Add("--all");
        }
        args.AddRange([_options.Id, r.Signal.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Runtime(args);
        Ok(c);
    }

    private void PauseOrResume(Connection c, string op)
    {
        RequireRunning(op);
        if (op == Ops.Pause ? _state != ShimState.Running : _state != ShimState.Paused)
        {
            throw BerthException.FailedPrecondition($"container {_options.Id} is {StateName()}; cannot {op} it");
        }
        Runtime([op, _options.Id]);
        _state = op == Ops.Pause ? ShimState.Paused : ShimState.Running;
        Ok(c);
    }

    private void Attach(Connection c, Supervised p, bool stdin, bool stdout, bool stderr)
    {
        c.Target = p;
        c.WantStdin = stdin;
        c.WantStdout = stdout;
        c.WantStderr = stderr;
        Respond(c, new ShimResponse { Ok = true, Pid = p.Pid, State = _state });
        if (p.Io.OutputDone && (p.Exited || p.Started))
        {
            // Nothing more will come: the stream ends right after the response.
            c.Target = null;
            c.CloseAfterFlush = true;
            TryClose(c);
            return;
        }
        p.Io.Attached.Add(c);
    }

    private void Resize(Connection c, ShimRequest r)
    {
        var p = r.ExecId is null ? _init : ExecOf(r);
        if (!p.Io.Terminal || p.Io.OutFd < 0)
        {
            throw BerthException.FailedPrecondition($"{p.Name} of container {_options.Id} has no terminal to resize");
        }
        Pty.SetSize(p.Io.OutFd, r.Rows, r.Columns);
        Ok(c);
    }

    private void PrepareExec(Connection c, ShimRequest r)
    {
        RequireRunning("exec in");
        var id = r.ExecId ?? "";
        if (id.Length is 0 or > 64 || !id.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.'))
        {
            throw BerthException.InvalidArgument($"exec id \"{id}\" must be 1-64 letters, digits, '-', '_' or '.'");
        }
        if (_execs.ContainsKey(id))
        {
            throw BerthException.AlreadyExists($"container {_options.Id} already has an exec \"{id}\"");
        }
        if (string.IsNullOrEmpty(r.Process))
        {
            throw BerthException.InvalidArgument($"exec {id}: the process is missing");
        }
        var io = new Stdio { Terminal = r.Terminal, StdinOnce = true };
        var exec = new Supervised(id, io) { ProcessJson = r.Process };
        if (!r.Terminal)
        {
            if (r.Stdin)
            {
                var (rd, w) = Sys.Pipe(cloexec: true);
                io.StdinFd = w;
                io.ChildEnds.Add(rd);
            }
            var (outR, outW) = Sys.Pipe(cloexec: true);
            var (errR, errW) = Sys.Pipe(cloexec: true);
            io.OutFd = outR;
            io.ErrFd = errR;
            io.ChildEnds.Add(outW);
            io.ChildEnds.Add(errW);
        }
        else if (!r.Stdin)
        {
            io.StdinCloseRequested = true;
        }
        _execs.Add(id, exec);
        _processes.Clear();
        Attach(c, exec, r.Stdin, stdout: true, stderr: true);
    }

    private void StartExec(Connection c, Supervised e)
    {
        if (e.Started)
        {
            throw BerthException.FailedPrecondition($"exec {e.ExecId} of container {_options.Id} was already started");
        }
        RequireRunning("exec in");
        var io = e.Io;
        var processFile = StatePath("exec-" + e.ExecId + ".json");
        var pidFile = StatePath("exec-" + e.ExecId + ".pid");
        AtomicFile.WriteAllText(processFile, e.ProcessJson!);
        var console = -1;
        string? consolePath = null;
        List<string> args = ["exec", "--process", processFile, "--detach", "--pid-file", pidFile];
        if (io.Terminal)
        {
            consolePath = StatePath("console-" + (++_consoleCounter).ToString(System.Globalization.CultureInfo.InvariantCulture) + ".sock");
            console = UnixSocket.Listen(consolePath);
            args.AddRange(["--console-socket", consolePath]);
        }
        args.Add(_options.Id);
        RuntimeRunner.Result result;
        try
        {
            result = io.Terminal
                ? _runtime.Run(args, console: console)
                : _runtime.Run(args, io.ChildEnds.Count == 3 ? io.ChildEnds[0] : Spawn.DevNull, io.ChildEnds[^2], io.ChildEnds[^1]);
        }
        finally
        {
            io.CloseChildEnds();
            if (console >= 0)
            {
                Sys.Close(console);
            }
            if (consolePath is not null)
            {
                File.Delete(consolePath);
            }
            File.Delete(processFile);
        }
        if (!result.Ok || (io.Terminal && result.ConsoleMaster < 0))
        {
            // What the runtime printed into the exec's stdio is its error, already in the response: drop it, end the stream.
            _execs.Remove(e.ExecId!);
            _processes.Clear();
            foreach (var a in io.Attached)
            {
                a.CloseAfterFlush = true;
                TryClose(a);
            }
            io.Attached.Clear();
            foreach (var fd in (ReadOnlySpan<int>)[io.OutFd, io.ErrFd, io.StdinFd])
            {
                if (fd >= 0)
                {
                    Sys.Close(fd);
                }
            }
            File.Delete(pidFile);
            throw new BerthException(ErrorCode.Internal, result.Ok ? $"exec {e.ExecId}: the runtime did not send the terminal's master" : result.Error);
        }
        if (io.Terminal)
        {
            io.OutFd = io.StdinFd = result.ConsoleMaster;
        }
        foreach (var fd in (ReadOnlySpan<int>)[io.OutFd, io.ErrFd, io.StdinFd])
        {
            if (fd >= 0)
            {
                Descriptors.SetNonBlocking(fd);
            }
        }
        e.Pid = ReadPidFile(pidFile);
        File.Delete(pidFile);
        e.PidFd = Sys.PidfdOpen(e.Pid);
        e.Started = true;
        Done(c, new ShimResponse { Ok = true, Pid = e.Pid });
    }

    private void Delete(Connection c)
    {
        if (!_init.Exited)
        {
            Runtime(["delete", "--force", _options.Id]);
            // The init was killed: collect it so exit.json and waiters see how it ended.
            var deadline = Environment.TickCount64 + 10_000;
            while (!_init.Exited && Environment.TickCount64 < deadline)
            {
                if (_init.PidFd >= 0)
                {
                    Descriptors.Poll([new PollFd { Fd = _init.PidFd, Events = PollFd.In }], 100);
                }
                Reap();
            }
        }
        else
        {
            Runtime(["delete", _options.Id]);
        }
        foreach (var e in _execs.Values)
        {
            if (e.Started && !e.Exited)
            {
                Sys.Kill(e.Pid, Signals.SIGKILL);
            }
        }
        Reap();
        // The state dir goes before the answer, so a deleted container leaves nothing once DeleteAsync returns.
        _runtime.Cleanup();
        ShimMain.RemoveStateDir(_options.StateDir);
        // Flush what the clients are owed (the delete response included), then stop.
        Respond(c, new ShimResponse { Ok = true });
        foreach (var other in _connections)
        {
            // A last, bounded effort for clients still owed frames (the delete response among them).
            for (var i = 0; i < 200 && !other.Dead && other.OutLength > 0; i++)
            {
                Flush(other);
                if (other.OutLength > 0)
                {
                    Descriptors.Poll([new PollFd { Fd = other.Fd, Events = PollFd.Out }], 10);
                }
            }
        }
        _stop = true;
    }
}
