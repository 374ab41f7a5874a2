using System.Text;

namespace Berth.Core;

/// <summary>Write-temp-then-rename, so a half-written file never becomes visible under its real name.</summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string contents, bool durable = true) => WriteAllBytes(path, Encoding.UTF8.GetBytes(contents), durable);

    /// <summary>
    /// Writes <paramref name="contents"/> to a temp file beside <paramref name="path"/> and renames it over the path; the
    /// temp file is removed if anything fails. <paramref name="durable"/> fsyncs the data before the rename, so that after
    /// a crash the path holds the old or the new contents; without it a reader never sees half a file either, but a
    /// power loss may leave it empty (for state that means nothing after a reboot, where the fsync's milliseconds buy nothing).
    /// </summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> contents, bool durable = true)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        // Unique per write, not only per process: two threads writing the same file must not share (and delete) one temp.
        var temp = Path.Combine(dir, "." + Path.GetFileName(path) + "." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                stream.Write(contents);
                stream.Flush(flushToDisk: durable);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
