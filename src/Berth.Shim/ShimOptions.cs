namespace Berth.Shim;

/// <summary>What one berth-shim supervises: a container created from <see cref="BundleDir"/> by the runtime.</summary>
/// <param name="Id">The container id given to the runtime.</param>
/// <param name="BundleDir">The OCI bundle (config.json, rootfs) the engine prepared.</param>
/// <param name="StateDir">The shim's own directory (shim.sock, shim.pid, shim.json, exit.json); it owns and removes it.</param>
/// <param name="RuntimePath">berth-runtime, runc or crun: the same command line.</param>
/// <param name="RuntimeRoot">The runtime's --root.</param>
/// <param name="Terminal">process.terminal of the bundle: the shim receives the pty master through --console-socket.</param>
/// <param name="OpenStdin">Keep a stdin pipe (or the pty's input) for attached clients; otherwise stdin is /dev/null.</param>
/// <param name="StdinOnce">Close the container's stdin when the first client attached to stdin closes it (docker run -i).</param>
/// <param name="LogPath">json-file log in Docker's format; null for none.</param>
/// <param name="LogMaxSize">Rotate when the log reaches this many bytes; 0 never rotates.</param>
/// <param name="LogMaxFiles">Files kept including the current one (LogPath, LogPath.1, ...); 1 truncates in place.</param>
public sealed record ShimOptions(
    string Id,
    string BundleDir,
    string StateDir,
    string RuntimePath,
    string RuntimeRoot,
    bool Terminal,
    bool OpenStdin,
    bool StdinOnce,
    string? LogPath,
    long LogMaxSize,
    int LogMaxFiles);

/// <summary>How the container's init process ended. <see cref="ExitCode"/> is 128+N for a process killed by signal N.</summary>
public sealed record ShimExit(int ExitCode, bool OomKilled, DateTimeOffset FinishedAt);

/// <summary>The container's state as its shim sees it.</summary>
public enum ShimState
{
    Created,
    Running,
    Paused,
    Stopped,
}

/// <summary>The init's pid (0 when unknown), the state, and how it ended once <see cref="ShimState.Stopped"/>.</summary>
public sealed record ShimStatus(int Pid, ShimState State, ShimExit? Exit);

/// <summary>Output of an attached process: <see cref="Stream"/> is 1 for stdout, 2 for stderr (a terminal's output is 1).</summary>
public readonly record struct ShimFrame(int Stream, ReadOnlyMemory<byte> Data);
