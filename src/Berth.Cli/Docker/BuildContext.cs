using System.Formats.Tar;
using System.Text;
using System.Text.RegularExpressions;
using Berth.Core;

namespace Berth.Cli.Docker;

/// <summary>
/// .dockerignore rules as docker applies them: one pattern per line (# comments), Go filepath.Match syntax plus
/// "**", "!" exceptions, the last matching rule wins, and a path is excluded when it or a parent directory matches.
/// </summary>
public sealed class DockerIgnore
{
    private readonly List<(Regex Pattern, bool Exclude, string Text)> _rules = [];

    public DockerIgnore(IEnumerable<string> lines)
    {
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var exclude = true;
            if (line.StartsWith('!'))
            {
                exclude = false;
                line = line[1..].Trim();
            }
            line = Clean(line);
            if (line.Length == 0)
            {
                continue;
            }
            _rules.Add((new Regex("^" + ToRegex(line) + "$", RegexOptions.CultureInvariant), exclude, line));
        }
    }

    public bool HasExceptions => _rules.Any(r => !r.Exclude);

    public static DockerIgnore Load(string contextDir)
    {
        var path = Path.Combine(contextDir, ".dockerignore");
        return new DockerIgnore(File.Exists(path) ? File.ReadAllLines(path) : []);
    }

    /// <summary>Whether <paramref name="relativePath"/> (slash-separated, relative to the context) is left out.</summary>
    public bool IsExcluded(string relativePath)
    {
        var path = Clean(relativePath);
        var excluded = false;
        foreach (var (pattern, exclude, _) in _rules)
        {
            if (Matches(pattern, path))
            {
                excluded = exclude;
            }
        }
        return excluded;
    }

    private static bool Matches(Regex pattern, string path)
    {
        if (pattern.IsMatch(path))
        {
            return true;
        }
        // A pattern matching a parent directory excludes everything below it.
        var parent = path;
        while (parent.LastIndexOf('/') is var i and > 0)
        {
            parent = parent[..i];
            if (pattern.IsMatch(parent))
            {
                return true;
            }
        }
        return false;
    }

    private static string Clean(string p)
    {
        var parts = new List<string>();
        foreach (var part in p.Replace('\\', '/').Split('/'))
        {
            if (part is "" or ".")
            {
                continue;
            }
            if (part == ".." && parts.Count > 0)
            {
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    private static string ToRegex(string pattern)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*':
                    if (i + 1 < pattern.Length && pattern[i + 1] == '*')
                    {
                        i++;
                        if (i + 1 < pattern.Length && pattern[i + 1] == '/')
                        {
                            i++;
                            sb.Append("(.*/)?");
                        }
                        else
                        {
                            sb.Append(".*");
                        }
                    }
                    else
                    {
                        sb.Append("[^/]*");
                    }
                    break;
                case '?':
                    sb.Append("[^/]");
                    break;
                case '[':
                    var end = pattern.IndexOf(']', i + 1);
                    if (end < 0)
                    {
                        throw BerthException.InvalidArgument($".dockerignore: syntax error in pattern '{pattern}'");
                    }
                    var cls = pattern[(i + 1)..end];
                    sb.Append('[').Append(cls.StartsWith('^') ? "^" + Regex.Escape(cls[1..]) : Regex.Escape(cls)).Append(']');
                    i = end;
                    break;
                case '\\' when i + 1 < pattern.Length:
                    sb.Append(Regex.Escape(pattern[++i].ToString()));
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }
        return sb.ToString();
    }
}

/// <summary>Packs a build context directory into the tar /build expects, honouring .dockerignore, owners as root.</summary>
public static class BuildContext
{
    /// <summary>
    /// Writes the context's tar to <paramref name="output"/>. <paramref name="alwaysInclude"/> (the Dockerfile and
    /// .dockerignore) are sent even when ignored, as the docker CLI does. <paramref name="extra"/> adds an entry (a
    /// Dockerfile from outside the context).
    /// </summary>
    public static async Task WriteAsync(string contextDir, Stream output, IReadOnlyCollection<string> alwaysInclude, (string Name, byte[] Data)? extra, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(contextDir))
        {
            throw BerthException.NotFound($"unable to prepare context: path \"{contextDir}\" not found");
        }
        var ignore = DockerIgnore.Load(contextDir);
        var root = Path.GetFullPath(contextDir);
        await using var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        await AddAsync(writer, root, root, ignore, alwaysInclude, cancellationToken).ConfigureAwait(false);
        if (extra is { } e)
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, e.Name) { Mode = (UnixFileMode)0x1a4, DataStream = new MemoryStream(e.Data), ModificationTime = DateTimeOffset.UtcNow };
            await writer.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task AddAsync(TarWriter writer, string root, string dir, DockerIgnore ignore, IReadOnlyCollection<string> alwaysInclude, CancellationToken ct)
    {
        foreach (var path in Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal))
        {
            var rel = Path.GetRelativePath(root, path).Replace('\\', '/');
            var info = new FileInfo(path);
            var isDir = Directory.Exists(path) && info.LinkTarget is null;
            var excluded = ignore.IsExcluded(rel) && !alwaysInclude.Contains(rel);
            if (excluded && !(isDir && ignore.HasExceptions))
            {
                continue;
            }
            TarEntry entry;
            if (info.LinkTarget is { } link)
            {
                entry = new PaxTarEntry(TarEntryType.SymbolicLink, rel) { LinkName = link };
            }
            else if (isDir)
            {
                entry = new PaxTarEntry(TarEntryType.Directory, rel + "/");
            }
            else if (info.Exists)
            {
                entry = new PaxTarEntry(TarEntryType.RegularFile, rel);
            }
            else
            {
                continue; // sockets, fifos: not part of a build context
            }
            entry.Mode = File.GetUnixFileMode(path);
            entry.ModificationTime = info.LastWriteTimeUtc;
            if (!excluded)
            {
                if (entry.EntryType == TarEntryType.RegularFile)
                {
                    await using var data = File.OpenRead(path);
                    entry.DataStream = data;
                    await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
                }
                else
                {
                    await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
                }
            }
            if (isDir)
            {
                await AddAsync(writer, root, path, ignore, alwaysInclude, ct).ConfigureAwait(false);
            }
        }
    }
}
