using System.Text;
using System.Text.RegularExpressions;
using Berth.Core;

namespace Berth.Build;

/// <summary>One .dockerignore line after cleaning: <see cref="Exclusion"/> for a <c>!</c> line (re-include).</summary>
public sealed record IgnorePattern(string Pattern, bool Exclusion, int Line)
{
    internal Regex Regex { get; init; } = null!;

    /// <summary>True when the pattern matches the path itself (not counting parents).</summary>
    public bool MatchesExactly(string path) => Regex.IsMatch(path);
}

/// <summary>
/// .dockerignore as Docker reads it (moby/patternmatcher): lines starting with <c>#</c> are comments, blanks are
/// trimmed, <c>!</c> re-includes, each pattern is cleaned like Go's filepath.Clean and a leading <c>/</c> removed;
/// patterns use filepath.Match syntax plus <c>**</c> (any number of directories). The last matching pattern wins,
/// and a path is excluded when it or any parent directory is.
/// </summary>
public sealed class DockerIgnore
{
    private DockerIgnore(IReadOnlyList<IgnorePattern> patterns)
    {
        Patterns = patterns;
        HasExclusions = patterns.Any(p => p.Exclusion);
    }

    public static DockerIgnore Empty { get; } = new([]);

    public IReadOnlyList<IgnorePattern> Patterns { get; }

    /// <summary>True when some pattern starts with <c>!</c>: excluded directories must still be walked.</summary>
    public bool HasExclusions { get; }

    /// <summary>Parses .dockerignore text; an invalid pattern is an error naming its line.</summary>
    public static DockerIgnore Parse(string text, string file = ".dockerignore")
    {
        var patterns = new List<IgnorePattern>();
        var errors = new List<DockerfileError>();
        var lineNo = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNo++;
            var line = rawLine.TrimEnd('\r');
            if (line.StartsWith('#'))
            {
                continue;
            }
            var pattern = line.Trim();
            if (pattern.Length == 0)
            {
                continue;
            }
            var exclusion = pattern[0] == '!';
            if (exclusion)
            {
                pattern = pattern[1..].Trim();
                if (pattern.Length == 0)
                {
                    errors.Add(new DockerfileError(file, lineNo, "illegal exclusion pattern: \"!\""));
                    continue;
                }
            }
            pattern = PathRules.Clean(pattern);
            if (pattern.Length > 1 && pattern[0] == '/')
            {
                pattern = pattern[1..];
            }
            try
            {
                patterns.Add(new IgnorePattern(pattern, exclusion, lineNo) { Regex = Compile(pattern) });
            }
            catch (BadPatternException e)
            {
                errors.Add(new DockerfileError(file, lineNo, e.Message));
            }
        }
        if (errors.Count > 0)
        {
            throw new DockerfileException(errors);
        }
        return new DockerIgnore(patterns);
    }

    /// <summary>
    /// Loads the ignore file for a build: <c>&lt;Dockerfile name&gt;.dockerignore</c> next to the Dockerfile when it
    /// exists (BuildKit's per-Dockerfile file), otherwise <c>.dockerignore</c> at the context root.
    /// </summary>
    public static DockerIgnore Load(string contextDir, string? dockerfilePath = null)
    {
        if (dockerfilePath is not null)
        {
            var specific = dockerfilePath + ".dockerignore";
            if (File.Exists(specific))
            {
                return Parse(File.ReadAllText(specific), Path.GetFileName(specific));
            }
        }
        var path = Path.Combine(contextDir, ".dockerignore");
        return File.Exists(path) ? Parse(File.ReadAllText(path)) : Empty;
    }

    /// <summary>True when <paramref name="path"/> (relative to the context, "/"-separated) is excluded.</summary>
    public bool IsExcluded(string path)
    {
        path = PathRules.RelativeInRoot(path);
        var matched = false;
        var parents = ParentsOf(path);
        foreach (var pattern in Patterns)
        {
            // An inclusion cannot change an already excluded path, nor an exclusion an unmatched one.
            if (pattern.Exclusion != matched)
            {
                continue;
            }
            var match = pattern.Regex.IsMatch(path);
            if (!match)
            {
                foreach (var parent in parents)
                {
                    if (pattern.Regex.IsMatch(parent))
                    {
                        match = true;
                        break;
                    }
                }
            }
            if (match)
            {
                matched = !pattern.Exclusion;
            }
        }
        return matched;
    }

    private static List<string> ParentsOf(string path)
    {
        var result = new List<string>();
        var idx = path.IndexOf('/', StringComparison.Ordinal);
        while (idx > 0)
        {
            result.Add(path[..idx]);
            idx = path.IndexOf('/', idx + 1);
        }
        return result;
    }

    /// <summary>patternmatcher's translation: <c>**</c> spans directories, <c>*</c> and <c>?</c> do not.</summary>
    internal static Regex Compile(string pattern)
    {
        var sb = new StringBuilder("^");
        var i = 0;
        while (i < pattern.Length)
        {
            var ch = pattern[i++];
            if (ch == '*')
            {
                if (i < pattern.Length && pattern[i] == '*')
                {
                    i++;
                    if (i < pattern.Length && pattern[i] == '/')
                    {
                        i++;
                    }
                    sb.Append(i >= pattern.Length ? ".*" : "(.*/)?");
                }
                else
                {
                    sb.Append("[^/]*");
                }
            }
            else if (ch == '?')
            {
                sb.Append("[^/]");
            }
            else if (ch == '\\')
            {
                if (i < pattern.Length)
                {
                    sb.Append(Regex.Escape(pattern[i++].ToString()));
                }
                else
                {
                    throw new BadPatternException(pattern);
                }
            }
            else if (ch == '[')
            {
                i = PathRules.AppendClass(pattern, i - 1, sb);
            }
            else
            {
                sb.Append(Regex.Escape(ch.ToString()));
            }
        }
        sb.Append('$');
        try
        {
            return new Regex(sb.ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline);
        }
        catch (ArgumentException)
        {
            throw new BadPatternException(pattern);
        }
    }
}

/// <summary>An error in reading the build context.</summary>
public static class BuildContextErrors
{
    public static BerthException NotADirectory(string path) =>
        BerthException.InvalidArgument($"build context {path} is not a directory; pass the directory that holds the files COPY refers to");
}
