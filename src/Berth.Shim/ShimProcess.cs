using System.Text;
using System.Text.Json;
using Berth.Core;
using Berth.Linux;
using Berth.Shim.Protocol;
using Microsoft.Win32.SafeHandles;

namespace Berth.Shim;

/// <summary>Starts berth-shim for a container, detached from the caller.</summary>
public static class ShimProcess
{
    /// <summary>
    /// Writes the options to &lt;StateDir&gt;/shim.json and posix_spawns <c>berth-shim start</c>, which spawns the real
    /// shim in a new session (so the caller never has to reap it and it outlives a killed daemon) and exits. The shim
    /// runs <c>runtime create</c> and reports on a pipe: this returns once the container is created, or throws a
    /// <see cref="BerthException"/> carrying the runtime's own error text.
    /// </summary>
    public static async Task<ShimClient> StartAsync(string shimPath, ShimOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(shimPath, options);
        var stateDir = Path.GetFullPath(options.StateDir);
        Directory.CreateDirectory(stateDir);
        if (File.Exists(Path.Combine(stateDir, Wire.SocketName)) && Sys.IsAlive(ShimClient.ReadPid(stateDir)))
        {
            throw BerthException.AlreadyExists($"a shim already runs for {stateDir}; delete that container first");
        }
        AtomicFile.WriteAllBytes(Path.Combine(stateDir, Wire.OptionsName),
            JsonSerializer.SerializeToUtf8Bytes(options with { StateDir = stateDir }, ShimJsonContext.Default.ShimOptions));

        var (read, write) = Sys.Pipe(cloexec: true);
        int starter;
        try
        {
            starter = Spawn.Start(shimPath, [Path.GetFileName(shimPath), "start", stateDir], Spawn.CurrentEnvironment(),
                new SpawnOptions { Stdin = Spawn.DevNull, Stdout = write, Stderr = write, NewSession = true });
        }
        catch (LinuxSyscallException e)
        {
            Sys.Close(read);
            throw new BerthException(ErrorCode.Internal, $"container {options.Id}: cannot start berth-shim {shimPath}: {e.Message}", e);
        }
        finally
        {
            Sys.Close(write);
        }
        // The starter exits as soon as the shim is spawned; reap it so it leaves no zombie.
        var reaped = Task.Run(() => Sys.WaitPid(starter, noHang: false, out _), CancellationToken.None);
        string report;
        using (var stream = new FileStream(new SafeFileHandle(read, ownsHandle: true), FileAccess.Read, 1))
        using (var reader = new StreamReader(stream, Encoding.UTF8))
        {
            try
            {
                // The shim closes its end after reporting; until then it is creating the container.
                report = await reader.ReadToEndAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Given up on: the shim goes, and what it created is the caller's to clean (runtime delete --force).
                if (ShimClient.ReadPid(stateDir) is > 0 and var pid)
                {
                    Sys.Kill(pid, Signals.SIGKILL);
                }
                throw;
            }
        }
        await reaped.ConfigureAwait(false);
        return ParseReport(report, options.Id, stateDir) is { } error
            ? throw error
            : ShimClient.For(stateDir);
    }

    private static void Validate(string shimPath, ShimOptions o)
    {
        var errors = new List<string>();
        if (!File.Exists(shimPath))
        {
            errors.Add($"berth-shim {shimPath} does not exist (make shim builds it)");
        }
        if (string.IsNullOrWhiteSpace(o.Id))
        {
            errors.Add("the container id is empty");
        }
        if (!File.Exists(Path.Combine(o.BundleDir, "config.json")))
        {
            errors.Add($"bundle {o.BundleDir} has no config.json");
        }
        if (string.IsNullOrWhiteSpace(o.RuntimePath))
        {
            errors.Add("the runtime path is empty");
        }
        if (o.LogMaxSize < 0 || o.LogMaxFiles < 0)
        {
            errors.Add($"log rotation: max-size {o.LogMaxSize} and max-file {o.LogMaxFiles} must not be negative");
        }
        if (Encoding.UTF8.GetByteCount(Path.Combine(Path.GetFullPath(o.StateDir), "console-000000.sock")) > 107)
        {
            errors.Add($"state dir {o.StateDir} is too long for a unix socket path (at most ~85 bytes)");
        }
        if (errors.Count > 0)
        {
            throw BerthException.InvalidArgument($"shim for container {o.Id}: " + string.Join("; ", errors));
        }
    }

    /// <summary>"ok" or "error &lt;ErrorCode&gt;\n&lt;message&gt;"; anything else is what the shim printed as it crashed.</summary>
    internal static BerthException? ParseReport(string report, string id, string stateDir)
    {
        if (report.StartsWith("ok", StringComparison.Ordinal))
        {
            return null;
        }
        if (report.StartsWith("error ", StringComparison.Ordinal))
        {
            var newline = report.IndexOf('\n', StringComparison.Ordinal);
            var codeText = newline < 0 ? report[6..] : report[6..newline];
            var message = newline < 0 ? "" : report[(newline + 1)..].Trim();
            var code = Enum.TryParse<ErrorCode>(codeText.Trim(), out var c) ? c : ErrorCode.Internal;
            return new BerthException(code, message.Length > 0 ? message : $"container {id}: the shim failed to create it");
        }
        var text = report.Trim();
        return new BerthException(ErrorCode.Internal,
            $"container {id}: berth-shim exited before reporting (state dir {stateDir})" + (text.Length > 0 ? ": " + text : ""));
    }
}
