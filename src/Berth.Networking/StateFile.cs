using System.Text;

namespace Berth.Networking;

/// <summary>
/// Write-temp-then-rename without fsync, for CNI state. It describes kernel state (links, addresses, nft rules)
/// that a power failure wipes anyway, so durability past one buys nothing, while an fsync costs 10-20 ms per
/// file on a busy disk — most of a plugin call. Atomicity against crashes of the process is kept by the rename.
/// </summary>
internal static class StateFile
{
    public static void WriteAllText(string path, string contents)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temp = Path.Combine(dir, "." + Path.GetFileName(path) + "." + Environment.ProcessId + ".tmp");
        try
        {
            File.WriteAllBytes(temp, Encoding.UTF8.GetBytes(contents));
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
