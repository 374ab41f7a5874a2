using System.Text;
using System.Text.RegularExpressions;

namespace Berth.Build;

/// <summary>A pattern Go's <c>filepath.Match</c> would reject (an unclosed <c>[</c>, a trailing escape).</summary>
public sealed class BadPatternException(string pattern) : Exception($"bad pattern \"{pattern}\": syntax error in pattern")
{
    public string Pattern { get; } = pattern;
}

/// <summary>Path rules shared by the builder: Go's <c>path.Clean</c> and <c>filepath.Match</c>, and joins that stay inside a root.</summary>
public static class PathRules
{
    /// <summary>Go's <c>path.Clean</c>: collapses slashes, removes <c>.</c>, resolves <c>..</c>; "" becomes ".".</summary>
    public static string Clean(string path)
    {
        if (path.Length == 0)
        {
            return ".";
        }
        var rooted = path[0] == '/';
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (parts.Count > 0 && parts[^1] != "..")
                {
                    parts.RemoveAt(parts.Count - 1);
                }
                else if (!rooted)
                {
                    parts.Add("..");
                }
                continue;
            }
            parts.Add(part);
        }
        var joined = string.Join('/', parts);
        if (rooted)
        {
            return "/" + joined;
        }
        return joined.Length == 0 ? "." : joined;
    }

    /// <summary>
    /// A path relative to a root that cannot escape it: cleaned as if rooted at "/", so <c>../x</c> is <c>x</c>
    /// (BuildKit's rule for COPY sources). The root itself is ".".
    /// </summary>
    public static string RelativeInRoot(string path)
    {
        var clean = Clean("/" + path);
        return clean == "/" ? "." : clean[1..];
    }

    /// <summary>True when the pattern has glob syntax (<c>* ? [</c> or the escape <c>\</c>).</summary>
    public static bool HasGlob(string pattern) => pattern.AsSpan().IndexOfAny("*?[\\") >= 0;

    /// <summary>Go's <c>filepath.Match</c> as a regex over a whole name; <c>*</c> and <c>?</c> never cross "/".</summary>
    public static Regex GlobRegex(string pattern)
    {
        var sb = new StringBuilder("^");
        var i = 0;
        while (i < pattern.Length)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*':
                    sb.Append("[^/]*");
                    i++;
                    break;
                case '?':
                    sb.Append("[^/]");
                    i++;
                    break;
                case '\\':
                    if (i + 1 >= pattern.Length)
                    {
                        throw new BadPatternException(pattern);
                    }
                    sb.Append(Regex.Escape(pattern[i + 1].ToString()));
                    i += 2;
                    break;
                case '[':
                    i = AppendClass(pattern, i, sb);
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    i++;
                    break;
            }
        }
        sb.Append('$');
        try
        {
            return new Regex(sb.ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline);
        }
        catch (ArgumentException)
        {
            // e.g. a reversed range [z-a], which Go rejects as well.
            throw new BadPatternException(pattern);
        }
    }

    /// <summary>Translates a Go character class <c>[^a-z\]]</c>; returns the index after its closing bracket.</summary>
    internal static int AppendClass(string pattern, int start, StringBuilder sb)
    {
        var i = start + 1;
        sb.Append('[');
        if (i < pattern.Length && pattern[i] == '^')
        {
            sb.Append('^');
            i++;
        }
        var count = 0;
        while (true)
        {
            if (i >= pattern.Length)
            {
                throw new BadPatternException(pattern);
            }
            var c = pattern[i];
            if (c == ']' && count > 0)
            {
                sb.Append(']');
                return i + 1;
            }
            if (c == '\\')
            {
                if (i + 1 >= pattern.Length)
                {
                    throw new BadPatternException(pattern);
                }
                c = pattern[++i];
            }
            if (c == '-' && count > 0 && i + 1 < pattern.Length && pattern[i + 1] != ']')
            {
                sb.Append('-');
            }
            else if (c is '\\' or ']' or '[' or '^' or '-')
            {
                sb.Append('\\').Append(c);
            }
            else
            {
                sb.Append(c);
            }
            count++;
            i++;
        }
    }

    /// <summary>Go's <c>filepath.Match(pattern, name)</c>.</summary>
    public static bool Match(string pattern, string name) => GlobRegex(pattern).IsMatch(name);

    /// <summary>
    /// Joins <paramref name="path"/> under <paramref name="root"/> resolving symlinks as if <paramref name="root"/>
    /// were "/": an absolute link restarts at the root and <c>..</c> never climbs above it (like securejoin). The
    /// last component is followed only when <paramref name="followLast"/> is set.
    /// </summary>
    public static string SecureJoin(string root, string path, bool followLast = true)
    {
        var pending = new Stack<string>();
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
        {
            pending.Push(part);
        }
        var resolved = new List<string>();
        var links = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }
                continue;
            }
            var candidate = Path.Combine(root, string.Join('/', resolved.Append(part)));
            var isLast = pending.Count == 0;
            if ((!isLast || followLast) && new FileInfo(candidate).LinkTarget is { } linkTarget)
            {
                if (++links > 255)
                {
                    throw new IOException($"too many levels of symbolic links resolving {path} under {root}");
                }
                PushLink(linkTarget, pending, resolved);
                continue;
            }
            resolved.Add(part);
        }
        return resolved.Count == 0 ? root : Path.Combine(root, string.Join('/', resolved));
    }

    private static void PushLink(string target, Stack<string> pending, List<string> resolved)
    {
        if (target.StartsWith('/'))
        {
            resolved.Clear();
        }
        foreach (var p in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
        {
            pending.Push(p);
        }
    }
}
