using System.Text;
using System.Text.Json;
using Berth.Core;
using Berth.Linux;
using Berth.Shim.Protocol;

namespace Berth.Shim.Server;

/// <summary>
/// The berth-shim executable. <c>start DIR</c> (run by <see cref="ShimProcess.StartAsync"/>) spawns <c>serve DIR</c> in
/// a new session and exits, so the shim is nobody's child to reap and survives its caller; <c>serve DIR</c> creates the
/// container, reports "ok" or "error CODE\nMESSAGE" on the stdout it inherited (the caller's pipe), and serves.
/// </summary>
public static class ShimMain
{
    private const string Usage = "usage: berth-shim start|serve STATE_DIR (started by the berth daemon; see src/Berth.Shim/README.md)";

    public static int Run(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length != 2 || args[0] is not ("start" or "serve"))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        var stateDir = Path.GetFullPath(args[1]);
        return args[0] == "start" ? Starter(stateDir) : Serve(stateDir);
    }

    private static int Starter(string stateDir)
    {
        try
        {
            var self = Environment.ProcessPath ?? throw new BerthException(ErrorCode.Internal, "cannot find the berth-shim executable's own path");
            Spawn.Start(self, ["berth-shim", "serve", stateDir], Spawn.CurrentEnvironment(),
                new SpawnOptions { Stdin = Spawn.DevNull, NewSession = true });
            return 0;
        }
        catch (Exception e) when (e is BerthException or LinuxSyscallException)
        {
            Report(1, "error Internal\ncannot start berth-shim: " + e.Message);
            return 1;
        }
    }

    private static int Serve(string stateDir)
    {
        // The report goes to the caller's pipe; from then on the shim's stdio is /dev/null and its errors go to shim.log.
        var report = Descriptors.DupCloexec(1);
        var devNull = Sys.Open("/dev/null", Sys.O_RDWR);
        Sys.Dup2(devNull, 0);
        Sys.Dup2(devNull, 1);
        Sys.Close(devNull);
        var log = Sys.TryOpen(Path.Combine(stateDir, "shim.log"), Sys.O_WRONLY | Sys.O_CREAT | Sys.O_APPEND, 0x180);
        Sys.Dup2(log >= 0 ? log : 1, 2);
        if (log >= 0)
        {
            Sys.Close(log);
        }
        ShimServer? server = null;
        try
        {
            var options = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(stateDir, Wire.OptionsName)), ShimJsonContext.Default.ShimOptions)
                ?? throw BerthException.InvalidArgument($"{stateDir}/{Wire.OptionsName} is empty");
            options = options with { StateDir = stateDir };
            server = new ShimServer(options, TimeProvider.System);
            var error = server.Create();
            if (error is not null)
            {
                server.Dispose();
                server = null;
                RemoveStateDir(stateDir);
                Report(report, "error Internal\n" + error);
                return 1;
            }
            Report(report, "ok\n");
            Sys.Close(report);
            report = -1;
            server.Run();
            server.Dispose();
            RemoveStateDir(stateDir);
            return 0;
        }
        catch (Exception e) when (e is BerthException or LinuxSyscallException or IOException or JsonException)
        {
            server?.Dispose();
            if (report >= 0)
            {
                RemoveStateDir(stateDir);
                Report(report, "error " + (e is BerthException b ? b.Code : ErrorCode.Internal) + "\n" + e.Message);
            }
            Console.Error.WriteLine("berth-shim: " + e.Message);
            return 1;
        }
    }

    private static void Report(int fd, string text)
    {
        try
        {
            Sys.WriteAll(fd, Encoding.UTF8.GetBytes(text), "the shim's report pipe");
        }
        catch (LinuxSyscallException)
        {
        }
    }

    internal static void RemoveStateDir(string stateDir)
    {
        try
        {
            Directory.Delete(stateDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
