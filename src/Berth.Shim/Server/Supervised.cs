using Berth.Linux;

namespace Berth.Shim.Server;

/// <summary>The stdio of one supervised process: pipes or a pty master, its attached clients, and (init only) the log.</summary>
internal sealed class Stdio
{
    public bool Terminal;

    /// <summary>Where stdin goes: the pipe's write end, or the pty master; -1 when closed or never open.</summary>
    public int StdinFd = -1;

    /// <summary>stdout's read end, or the pty master.</summary>
    public int OutFd = -1;

    public int ErrFd = -1;

    public bool StdinOnce;

    public bool StdinCloseRequested;

    public byte[] StdinPending = [];

    public int StdinPendingLength;

    public JsonFileLog? Log;

    public readonly List<Connection> Attached = [];

    /// <summary>After the process exited, output still open at this time is given up (a stray holder of the pipe).</summary>
    public long OutputDeadline = long.MaxValue;

    public bool OutputDone => OutFd < 0 && ErrFd < 0;

    /// <summary>The container-side ends, closed in the shim once the runtime has them.</summary>
    public readonly List<int> ChildEnds = [];

    public void CloseChildEnds()
    {
        foreach (var fd in ChildEnds)
        {
            Sys.Close(fd);
        }
        ChildEnds.Clear();
    }
}

/// <summary>A process the shim reaps: the container's init or an exec.</summary>
internal sealed class Supervised
{
    public Supervised(string? execId, Stdio io)
    {
        ExecId = execId;
        Io = io;
    }

    /// <summary>Null for the container's init.</summary>
    public string? ExecId { get; }

    public Stdio Io { get; }

    public int Pid;

    /// <summary>Readable once the process exits; the wake-up for reaping it.</summary>
    public int PidFd = -1;

    public bool Started;

    public bool Exited;

    public int ExitCode;

    public readonly List<Connection> Waiters = [];

    /// <summary>exec only: the OCI process JSON for --process and whether it has a terminal.</summary>
    public string? ProcessJson;

    public string Name => ExecId is null ? "the container's process" : $"exec {ExecId}";
}

/// <summary>One client connection: a request, then (attach/exec) output frames out and stdin frames in.</summary>
internal sealed class Connection
{
    public Connection(int fd) => Fd = fd;

    public int Fd { get; }

    public void Close()
    {
        if (!Dead)
        {
            Dead = true;
            Sys.Close(Fd);
        }
    }

    public byte[] In = new byte[512];

    public int InLength;

    public byte[] Out = [];

    public int OutStart;

    public int OutLength;

    public bool HasRequest;

    public bool CloseAfterFlush;

    public bool Dead;

    /// <summary>attach/exec: the process whose stdio this connection carries.</summary>
    public Supervised? Target;

    public bool WantStdin;

    public bool WantStdout;

    public bool WantStderr;

    public bool StdinClosed;

    /// <summary>While a client has this much queued, the process's output is not read: a slow reader slows the writer, as in Docker.</summary>
    public const int HighWater = 1 << 20;

    /// <summary>A client over <see cref="HighWater"/> that takes nothing for this long is dropped, so it cannot stall the container forever.</summary>
    public const long StallMs = 30_000;

    /// <summary>When the client last took bytes (Environment.TickCount64).</summary>
    public long LastProgress = Environment.TickCount64;
}
