using System.Text.Json;
using Berth.Core;
using Berth.Shim.Protocol;

namespace Berth.Shim;

/// <summary>
/// The engine's handle on one container's shim. Holds no connection of its own: each call opens one to
/// &lt;StateDir&gt;/shim.sock, so a client made after a daemon restart (<see cref="ConnectAsync"/>) is as good as the first.
/// </summary>
public sealed class ShimClient : IAsyncDisposable
{
    private ShimClient(string stateDir) => StateDir = stateDir;

    public string StateDir { get; }

    /// <summary>Reconnects to a running shim (live restore); throws Unavailable when it is gone (read <see cref="ReadExit"/> then).</summary>
    public static async Task<ShimClient> ConnectAsync(string stateDir, CancellationToken ct)
    {
        var client = new ShimClient(Path.GetFullPath(stateDir));
        await client.StatusAsync(ct).ConfigureAwait(false);
        return client;
    }

    /// <summary>The recorded exit of the container's init (exit.json), or null when it has not exited or the shim died first.</summary>
    public static ShimExit? ReadExit(string stateDir)
    {
        var path = Path.Combine(stateDir, Wire.ExitName);
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), ShimJsonContext.Default.ShimExit);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        catch (JsonException e)
        {
            throw new BerthException(ErrorCode.Internal, $"{path} is not a valid exit record: {e.Message}", e);
        }
    }

    /// <summary>The shim's pid from shim.pid, or 0.</summary>
    public static int ReadPid(string stateDir)
    {
        try
        {
            return int.TryParse(File.ReadAllText(Path.Combine(stateDir, Wire.PidName)).Trim(), out var pid) ? pid : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    internal static ShimClient For(string stateDir) => new(Path.GetFullPath(stateDir));

    /// <summary>Starts the container's process (runtime start).</summary>
    public Task StartAsync(CancellationToken ct) => CallAsync(new ShimRequest { Op = Ops.Start }, ct);

    public async Task<ShimStatus> StatusAsync(CancellationToken ct)
    {
        var r = await CallAsync(new ShimRequest { Op = Ops.Status }, ct).ConfigureAwait(false);
        return new ShimStatus(r.Pid, r.State, r.Exit);
    }

    /// <summary>Completes when the init has exited and exit.json is written. If the shim dies first, the exit.json it left, else Unavailable.</summary>
    public async Task<ShimExit> WaitAsync(CancellationToken ct)
    {
        try
        {
            var r = await CallAsync(new ShimRequest { Op = Ops.Wait }, ct).ConfigureAwait(false);
            return r.Exit ?? throw new BerthException(ErrorCode.Internal, $"the shim at {StateDir} answered wait without an exit status");
        }
        catch (BerthException e) when (e.Code == ErrorCode.Unavailable && ReadExit(StateDir) is { } exit)
        {
            return exit;
        }
    }

    /// <summary>Signals the init (runtime kill), or with <paramref name="all"/> every process of the container.</summary>
    public Task KillAsync(int signal, bool all, CancellationToken ct) => CallAsync(new ShimRequest { Op = Ops.Kill, Signal = signal, All = all }, ct);

    public Task PauseAsync(CancellationToken ct) => CallAsync(new ShimRequest { Op = Ops.Pause }, ct);

    public Task ResumeAsync(CancellationToken ct) => CallAsync(new ShimRequest { Op = Ops.Resume }, ct);

    /// <summary>
    /// Attaches to the container's stdio. Output from now on reaches this stream (attach before start sees all of it);
    /// earlier output is in the log only. Several clients may attach; stdin from each goes to the one container stdin.
    /// </summary>
    public async Task<ShimStream> AttachAsync(bool stdin, bool stdout, bool stderr, CancellationToken ct)
    {
        var connection = await ShimConnection.OpenAsync(StateDir, ct).ConfigureAwait(false);
        try
        {
            await connection.CallAsync(new ShimRequest { Op = Ops.Attach, Stdin = stdin, Stdout = stdout, Stderr = stderr }, ct).ConfigureAwait(false);
            return new ShimStream(connection);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sets the terminal size of the container's pty (FailedPrecondition without a terminal).</summary>
    public Task ResizeAsync(ushort rows, ushort columns, CancellationToken ct) =>
        CallAsync(new ShimRequest { Op = Ops.Resize, Rows = rows, Columns = columns }, ct);

    /// <summary>
    /// Prepares an exec and attaches to its stdio; <see cref="ShimExec.StartAsync"/> runs it (runtime exec --detach).
    /// <paramref name="process"/>.Terminal gives it a pty.
    /// </summary>
    public async Task<ShimExec> ExecAsync(string execId, Oci.Runtime.Process process, bool openStdin, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(process);
        var json = JsonSerializer.Serialize(process, Oci.Runtime.OciJsonContext.Default.Process);
        var connection = await ShimConnection.OpenAsync(StateDir, ct).ConfigureAwait(false);
        try
        {
            await connection.CallAsync(new ShimRequest { Op = Ops.Exec, ExecId = execId, Process = json, Terminal = process.Terminal, Stdin = openStdin }, ct)
                .ConfigureAwait(false);
            return new ShimExec(this, execId, new ShimStream(connection));
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Deletes the container (runtime delete, --force when it still runs); the shim then exits and removes its state dir.</summary>
    public Task DeleteAsync(CancellationToken ct) => CallAsync(new ShimRequest { Op = Ops.Delete }, ct);

    internal async Task<ShimResponse> CallAsync(ShimRequest request, CancellationToken ct)
    {
        var connection = await ShimConnection.OpenAsync(StateDir, ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await connection.CallAsync(request, ct).ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
