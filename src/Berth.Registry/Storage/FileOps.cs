namespace Berth.Registry.Storage;

/// <summary>Small filesystem helpers: every visible file is complete (written to a temp name, flushed to disk, renamed).</summary>
internal static class FileOps
{
    public static string TempName(string path) =>
        Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");

    public static void WriteAtomic(string path, ReadOnlySpan<byte> contents)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = TempName(path);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                stream.Write(contents);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    public static void WriteAtomic(string path, string contents) => WriteAtomic(path, System.Text.Encoding.UTF8.GetBytes(contents));

    public static string? TryReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    public static bool TryDelete(string path)
    {
        try
        {
            if (!File.Exists(path))
            {
                return false;
            }
            File.Delete(path);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static void TryDeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Removes empty directories from <paramref name="dir"/> up to (not including) <paramref name="stopAt"/>.</summary>
    public static void PruneEmptyParents(string dir, string stopAt)
    {
        var full = Path.GetFullPath(stopAt);
        var current = Path.GetFullPath(dir);
        while (current.Length > full.Length && current.StartsWith(full, StringComparison.Ordinal))
        {
            try
            {
                if (Directory.EnumerateFileSystemEntries(current).Any())
                {
                    return;
                }
                Directory.Delete(current);
            }
            catch (IOException)
            {
                return;
            }
            current = Path.GetDirectoryName(current)!;
        }
    }
}
