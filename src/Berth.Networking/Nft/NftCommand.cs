using System.Diagnostics;
using Berth.Networking.Cni;

namespace Berth.Networking.Nft;

/// <summary>The `nft` program: every table Berth loads goes through it as one script (one kernel transaction).</summary>
internal static class NftCommand
{
    public static (int Code, string Stdout, string Stderr) Run(IReadOnlyList<string> args, string? stdin)
    {
        var psi = new ProcessStartInfo("nft")
        {
            RedirectStandardInput = stdin is not null,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new CniException(CniErrorCode.Generic, "nft is not installed (apt-get install nftables): " + e.Message);
        }
        using (process)
        {
            var stdoutTask = process.StandardOutput.ReadToEndAsync();
            var stderrTask = process.StandardError.ReadToEndAsync();
            if (stdin is not null)
            {
                process.StandardInput.Write(stdin);
                process.StandardInput.Close();
            }
            process.WaitForExit();
            return (process.ExitCode, stdoutTask.GetAwaiter().GetResult(), stderrTask.GetAwaiter().GetResult());
        }
    }

    /// <summary>Loads a script whole; a failure names the table and carries nft's own message.</summary>
    public static void Load(string table, string script)
    {
        var (code, _, stderr) = Run(["-f", "-"], script);
        if (code != 0)
        {
            throw new CniException(CniErrorCode.Generic, $"nft could not load table ip {table}: {stderr.Trim()}", script);
        }
    }

    /// <summary>The ruleset of "ip TABLE" as nft lists it now (empty when the table does not exist).</summary>
    public static string ListTable(string table)
    {
        var (code, stdout, _) = Run(["list", "table", "ip", table], null);
        return code == 0 ? stdout : "";
    }
}
