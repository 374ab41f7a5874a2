using System.Diagnostics;

namespace Berth.Testing;

/// <summary>Runs a command line to completion and captures what it printed.</summary>
public static class Cli
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public Result Ok()
        {
            return ExitCode == 0 ? this : throw new InvalidOperationException($"exit code {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}");
        }
    }

    public static Result Run(string file, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null, string? workingDirectory = null, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null)
        {
            psi.WorkingDirectory = workingDirectory;
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
        }
        process.StandardInput.Close();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', psi.ArgumentList)} did not finish in time");
        }
        process.WaitForExit();
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// Like <see cref="Run"/> but the command's stdout and stderr go to files read after it exits: for commands that
    /// leave processes behind holding their output (an OCI runtime's create keeps the container's init on them).
    /// </summary>
    public static Result RunToFiles(string file, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var dir = Directory.CreateTempSubdirectory("berth-cli-").FullName;
        try
        {
            var stdout = System.IO.Path.Combine(dir, "out");
            var stderr = System.IO.Path.Combine(dir, "err");
            var r = Run("/bin/sh", ["-c", "exec \"$0\" \"$@\" >\"$BERTH_OUT\" 2>\"$BERTH_ERR\" </dev/null", file, .. args], timeout: timeout,
                env: new Dictionary<string, string> { ["BERTH_OUT"] = stdout, ["BERTH_ERR"] = stderr });
            return new Result(r.ExitCode, File.ReadAllText(stdout), File.ReadAllText(stderr));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    public static Result Sh(string script, TimeSpan? timeout = null) => Run("/bin/sh", ["-c", script], timeout: timeout);
}
