using System.Globalization;
using System.Text.Json;
using Berth.Core;
using Berth.Linux;
using Berth.Shim.Protocol;

namespace Berth.Shim.Server;

/// <summary>
/// The shim proper: one thread and one poll(2) loop over the listening socket, the clients, the stdio of the init and
/// the execs, and a pidfd per supervised process (readable when it exits; the shim, a child subreaper, then reaps it).
/// No thread pool, no async: a shim per container must stay small.
/// </summary>
internal sealed partial class ShimServer : IDisposable
{
    private const int PrSetChildSubreaper = 36;
    private const int ReapIntervalMs = 10_000;

    private static readonly byte[] ReadBuffer = new byte[Wire.MaxData];

    private readonly ShimOptions _options;
    private readonly TimeProvider _time;
    private readonly RuntimeRunner _runtime;
    private readonly Supervised _init;
    private readonly Dictionary<string, Supervised> _execs = new(StringComparer.Ordinal);
    private readonly List<Connection> _connections = [];
    private readonly List<Supervised> _processes = [];
    private int _listener = -1;
    private ShimState _state = ShimState.Created;
    private ShimExit? _exit;
    private OomCounter? _oom;
    private bool _stop;
    private int _consoleCounter;
    private long _nextReap;

    // The poll set, rebuilt every turn into arrays that only grow.
    private PollFd[] _fds = new PollFd[16];
    private object?[] _owners = new object?[16];
    private byte[] _roles = new byte[16];
    private int _count;

    private const byte RoleListener = 0;
    private const byte RolePidFd = 1;
    private const byte RoleOut = 2;
    private const byte RoleErr = 3;
    private const byte RoleStdin = 4;
    private const byte RoleConnection = 5;

    public ShimServer(ShimOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        _runtime = new RuntimeRunner(options);
        _init = new Supervised(null, new Stdio { Terminal = options.Terminal, StdinOnce = options.StdinOnce });
    }

    private string StatePath(string name) => Path.Combine(_options.StateDir, name);

    /// <summary>Binds the socket and creates the container; returns the runtime's error text on failure (after cleaning up).</summary>
    public string? Create()
    {
        Sys.Prctl(PrSetChildSubreaper, 1);
        Descriptors.IgnoreSignal(13); // SIGPIPE: a client or a container closing its end is an error code, not our death
        AtomicFile.WriteAllText(StatePath(Wire.PidName), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        File.Delete(StatePath(Wire.ExitName));
        _listener = UnixSocket.Listen(StatePath(Wire.SocketName));
        var io = _init.Io;
        var console = -1;
        int stdin, stdout, stderr;
        if (_options.Terminal)
        {
            console = UnixSocket.Listen(StatePath("console.sock"));
            stdin = stdout = stderr = Spawn.DevNull;
        }
        else
        {
            stdin = Spawn.DevNull;
            if (_options.OpenStdin)
            {
                var (r, w) = Sys.Pipe(cloexec: true);
                io.StdinFd = w;
                io.ChildEnds.Add(r);
                stdin = r;
            }
            var (outR, outW) = Sys.Pipe(cloexec: true);
            var (errR, errW) = Sys.Pipe(cloexec: true);
            io.OutFd = outR;
            io.ErrFd = errR;
            io.ChildEnds.Add(outW);
            io.ChildEnds.Add(errW);
            stdout = outW;
            stderr = errW;
        }
        List<string> args = ["create", "--bundle", _options.BundleDir, "--pid-file", StatePath("init.pid")];
        if (console >= 0)
        {
            args.AddRange(["--console-socket", StatePath("console.sock")]);
        }
        args.Add(_options.Id);
        var result = _runtime.Run(args, stdin, stdout, stderr, console);
        io.CloseChildEnds();
        if (console >= 0)
        {
            Sys.Close(console);
            File.Delete(StatePath("console.sock"));
        }
        if (!result.Ok)
        {
            return result.Error;
        }
        if (_options.Terminal)
        {
            if (result.ConsoleMaster < 0)
            {
                _runtime.Run(["delete", "--force", _options.Id]);
                return $"container {_options.Id}: the runtime did not send the terminal's master over --console-socket";
            }
            io.OutFd = io.StdinFd = result.ConsoleMaster;
            if (!_options.OpenStdin)
            {
                io.StdinCloseRequested = true;
            }
        }
        foreach (var fd in (ReadOnlySpan<int>)[io.OutFd, io.ErrFd, io.StdinFd])
        {
            if (fd >= 0)
            {
                Descriptors.SetNonBlocking(fd);
            }
        }
        if (_options.LogPath is { } log)
        {
            io.Log = new JsonFileLog(log, _options.LogMaxSize, _options.LogMaxFiles, _time);
        }
        _init.Pid = ReadPidFile(StatePath("init.pid"));
        _init.PidFd = Sys.PidfdOpen(_init.Pid);
        _oom = OomCounter.For(_init.Pid);
        return null;
    }

    private static int ReadPidFile(string path) =>
        int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0
            ? pid
            : throw new BerthException(ErrorCode.Internal, $"{path} does not hold a pid");

    /// <summary>Serves until the container is deleted.</summary>
    public void Run()
    {
        while (!_stop)
        {
            BuildPollSet();
            var timeout = ReapIntervalMs;
            var now = Environment.TickCount64;
            foreach (var p in Processes())
            {
                if (p.Io.OutputDeadline != long.MaxValue)
                {
                    timeout = (int)Math.Clamp(p.Io.OutputDeadline - now, 0, timeout);
                }
                if (p.Io.Attached.Count > 0)
                {
                    timeout = Math.Min(timeout, 5000); // to notice stalled clients
                }
            }
            Descriptors.Poll(_fds.AsSpan(0, _count), timeout);
            var reap = false;
            for (var i = 0; i < _count && !_stop; i++)
            {
                var revents = _fds[i].Revents;
                if (revents == 0)
                {
                    continue;
                }
                switch (_roles[i])
                {
                    case RoleListener:
                        Accept();
                        break;
                    case RolePidFd:
                        reap = true;
                        break;
                    case RoleOut:
                        ReadOutput((Supervised)_owners[i]!, 1);
                        break;
                    case RoleErr:
                        ReadOutput((Supervised)_owners[i]!, 2);
                        break;
                    case RoleStdin:
                        FlushStdin((Supervised)_owners[i]!);
                        break;
                    case RoleConnection:
                        Service((Connection)_owners[i]!, revents);
                        break;
                }
            }
            if (_stop)
            {
                break;
            }
            // Exits wake us through pidfds; strays (runtime helpers reparented to us) are collected now and then.
            if (reap || Environment.TickCount64 >= _nextReap)
            {
                Reap();
                _nextReap = Environment.TickCount64 + ReapIntervalMs;
            }
            CheckOutputDeadlines();
            _connections.RemoveAll(static c => c.Dead);
        }
    }

    /// <summary>The init and the execs, as a list rebuilt when <see cref="_execs"/> changes (no enumerator allocated per loop turn).</summary>
    private List<Supervised> Processes()
    {
        if (_processes.Count == 0)
        {
            _processes.Clear();
            _processes.Add(_init);
            _processes.AddRange(_execs.Values);
        }
        return _processes;
    }

    private void BuildPollSet()
    {
        _count = 0;
        Add(_listener, PollFd.In, RoleListener, null);
        foreach (var p in Processes())
        {
            if (p.PidFd >= 0)
            {
                Add(p.PidFd, PollFd.In, RolePidFd, p);
            }
            var throttled = false;
            foreach (var c in p.Io.Attached)
            {
                throttled |= !c.Dead && c.OutLength > Connection.HighWater;
            }
            if (p.Io.OutFd >= 0 && !throttled)
            {
                Add(p.Io.OutFd, PollFd.In, RoleOut, p);
            }
            if (p.Io.ErrFd >= 0 && !throttled)
            {
                Add(p.Io.ErrFd, PollFd.In, RoleErr, p);
            }
            if (p.Io.StdinFd >= 0 && p.Io.StdinPendingLength > 0)
            {
                Add(p.Io.StdinFd, PollFd.Out, RoleStdin, p);
            }
        }
        foreach (var c in _connections)
        {
            if (c.Dead)
            {
                continue;
            }
            // Back-pressure: a client's stdin is not read while the process has not taken what came before.
            var readable = !(c.Target is { } t && t.Io.StdinPendingLength > (1 << 20));
            var events = (short)((readable ? PollFd.In : 0) | (c.OutLength > 0 ? PollFd.Out : 0));
            Add(c.Fd, events, RoleConnection, c);
        }
    }

    private void Add(int fd, short events, byte role, object? owner)
    {
        if (_count == _fds.Length)
        {
            Array.Resize(ref _fds, _count * 2);
            Array.Resize(ref _owners, _count * 2);
            Array.Resize(ref _roles, _count * 2);
        }
        _fds[_count] = new PollFd { Fd = fd, Events = events };
        _owners[_count] = owner;
        _roles[_count] = role;
        _count++;
    }

    private void Accept()
    {
        int fd;
        while ((fd = UnixSocket.Accept(_listener)) >= 0)
        {
            _connections.Add(new Connection(fd));
        }
    }

    /// <summary>Reaps every exited child; the init and the execs get their status, strays (runtime helpers) are just collected.</summary>
    private void Reap()
    {
        while (true)
        {
            var status = Sys.WaitPid(-1, noHang: true, out var pid);
            if (pid <= 0)
            {
                break;
            }
            foreach (var p in Processes())
            {
                if (p.Pid == pid && !p.Exited)
                {
                    Exited(p, Sys.ExitCodeOf(status));
                    break;
                }
            }
        }
        // A process whose pidfd fired but that is not our child cannot be reaped here: its status is unknown.
        foreach (var p in Processes())
        {
            if (p.PidFd >= 0 && !p.Exited && Descriptors.Poll([new PollFd { Fd = p.PidFd, Events = PollFd.In }], 0) > 0)
            {
                var status = Sys.WaitPid(p.Pid, noHang: true, out var reaped);
                if (reaped == p.Pid)
                {
                    Exited(p, Sys.ExitCodeOf(status));
                }
                else if (reaped < 0)
                {
                    Exited(p, 255);
                }
            }
        }
    }

    private void Exited(Supervised p, int exitCode)
    {
        p.Exited = true;
        p.ExitCode = exitCode;
        if (p.PidFd >= 0)
        {
            Sys.Close(p.PidFd);
            p.PidFd = -1;
        }
        // What the process wrote before it died belongs before its end.
        DrainOutput(p);
        if (p.ExecId is null)
        {
            _exit = new ShimExit(exitCode, _oom?.Killed() ?? false, _time.GetUtcNow());
            AtomicFile.WriteAllBytes(StatePath(Wire.ExitName), JsonSerializer.SerializeToUtf8Bytes(_exit, ShimJsonContext.Default.ShimExit));
            _state = ShimState.Stopped;
        }
        foreach (var w in p.Waiters)
        {
            Respond(w, Answer(p));
            w.CloseAfterFlush = true;
            TryClose(w);
        }
        p.Waiters.Clear();
        if (!p.Io.OutputDone)
        {
            p.Io.OutputDeadline = Environment.TickCount64 + 1000;
        }
    }

    private ShimResponse Answer(Supervised p) =>
        p.ExecId is null ? new ShimResponse { Ok = true, Pid = p.Pid, State = _state, Exit = _exit } : new ShimResponse { Ok = true, Pid = p.Pid, ExitCode = p.ExitCode };

    private void CheckOutputDeadlines()
    {
        var now = Environment.TickCount64;
        foreach (var p in Processes())
        {
            if (p.Io.OutputDeadline <= now)
            {
                p.Io.OutputDeadline = long.MaxValue;
                CloseOutput(p, 1);
                CloseOutput(p, 2);
            }
        }
        foreach (var c in _connections)
        {
            if (!c.Dead && c.OutLength > Connection.HighWater && now - c.LastProgress > Connection.StallMs)
            {
                c.Target?.Io.Attached.Remove(c);
                c.Close();
            }
        }
        // Execs that are over and drained are forgotten except for their exit code.
        foreach (var e in _execs.Values)
        {
            if (e.Exited && e.Io.OutputDone && e.Io.StdinFd >= 0 && !e.Io.Terminal)
            {
                Sys.Close(e.Io.StdinFd);
                e.Io.StdinFd = -1;
            }
        }
    }

    public void Dispose()
    {
        foreach (var c in _connections)
        {
            c.Close();
        }
        foreach (var p in Processes())
        {
            CloseOutput(p, 1);
            CloseOutput(p, 2);
            CloseStdinNow(p.Io);
            if (p.PidFd >= 0)
            {
                Sys.Close(p.PidFd);
                p.PidFd = -1;
            }
        }
        if (_listener >= 0)
        {
            Sys.Close(_listener);
            _listener = -1;
        }
    }
}
