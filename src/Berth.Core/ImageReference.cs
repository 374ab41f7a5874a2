using System.Text.RegularExpressions;

namespace Berth.Core;

/// <summary>
/// An image reference normalized the way Docker does it: <c>busybox</c> is
/// <c>docker.io/library/busybox:latest</c>, <c>localhost:5000/app</c> keeps its registry, a digest pins content.
/// </summary>
public sealed partial record ImageReference
{
    public const string DefaultDomain = "docker.io";
    public const string DefaultTag = "latest";

    private ImageReference(string domain, string path, string? tag, Digest? digest)
    {
        Domain = domain;
        Path = path;
        Tag = tag;
        Digest = digest;
    }

    public string Domain { get; }

    /// <summary>The repository path inside the registry, e.g. <c>library/busybox</c>.</summary>
    public string Path { get; }

    public string? Tag { get; }

    public Digest? Digest { get; }

    /// <summary><c>docker.io/library/busybox</c>.</summary>
    public string Repository => Domain + "/" + Path;

    /// <summary>The full normalized form: <c>docker.io/library/busybox:latest</c> or <c>…@sha256:…</c>.</summary>
    public override string ToString() => Repository + (Tag is null ? "" : ":" + Tag) + (Digest is { } d ? "@" + d : "");

    /// <summary>What docker prints: <c>busybox:latest</c>, <c>localhost:5000/app:v1</c>.</summary>
    public string FamiliarString
    {
        get
        {
            var name = Domain == DefaultDomain ? (Path.StartsWith("library/", StringComparison.Ordinal) ? Path[8..] : Path) : Repository;
            return name + (Tag is null ? "" : ":" + Tag) + (Digest is { } d ? "@" + d : "");
        }
    }

    public string FamiliarRepository => Domain == DefaultDomain ? (Path.StartsWith("library/", StringComparison.Ordinal) ? Path[8..] : Path) : Repository;

    public ImageReference WithTag(string tag)
    {
        if (!TagPattern().IsMatch(tag))
        {
            throw BerthException.InvalidArgument($"invalid tag \"{tag}\": a tag is up to 128 letters, digits, '_', '.', '-', not starting with '.' or '-'");
        }
        return new ImageReference(Domain, Path, tag, null);
    }

    public ImageReference WithDigest(Digest digest) => new(Domain, Path, null, digest);

    public static ImageReference Parse(string reference) =>
        TryParse(reference, out var parsed, out var error) ? parsed : throw BerthException.InvalidArgument(error);

    public static bool TryParse(string? reference, out ImageReference parsed, out string error)
    {
        parsed = null!;
        if (string.IsNullOrWhiteSpace(reference))
        {
            error = "invalid reference format: an image name is empty";
            return false;
        }
        if (reference.Length > 512)
        {
            error = $"invalid reference format: \"{reference[..40]}…\" is longer than 512 characters";
            return false;
        }
        var rest = reference;
        Digest? digest = null;
        var at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            if (!Core.Digest.TryParse(rest[(at + 1)..], out var d, out var digestError))
            {
                error = $"invalid reference format \"{reference}\": {digestError}";
                return false;
            }
            digest = d;
            rest = rest[..at];
        }
        string? tag = null;
        var colon = rest.LastIndexOf(':');
        if (colon >= 0 && rest.IndexOf('/', colon) < 0)
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
            if (!TagPattern().IsMatch(tag))
            {
                error = $"invalid reference format \"{reference}\": invalid tag \"{tag}\" (up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-')";
                return false;
            }
        }
        string domain;
        string path;
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var first = slash < 0 ? rest : rest[..slash];
        if (slash >= 0 && (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost" || first.Any(char.IsUpper)))
        {
            domain = first;
            path = rest[(slash + 1)..];
        }
        else
        {
            domain = DefaultDomain;
            path = rest;
        }
        if (domain == "index.docker.io")
        {
            domain = DefaultDomain;
        }
        if (domain == DefaultDomain && !path.Contains('/', StringComparison.Ordinal))
        {
            path = "library/" + path;
        }
        if (path.Any(char.IsUpper))
        {
            error = $"invalid reference format \"{reference}\": repository name must be lowercase";
            return false;
        }
        if (!DomainPattern().IsMatch(domain))
        {
            error = $"invalid reference format \"{reference}\": invalid registry \"{domain}\"";
            return false;
        }
        foreach (var component in path.Split('/'))
        {
            if (!ComponentPattern().IsMatch(component))
            {
                error = $"invalid reference format \"{reference}\": invalid repository component \"{component}\" (lowercase letters, digits and single separators . _ __ -)";
                return false;
            }
        }
        if (tag is null && digest is null)
        {
            tag = DefaultTag;
        }
        parsed = new ImageReference(domain, path, tag, digest);
        error = "";
        return true;
    }

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex("^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$")]
    private static partial Regex ComponentPattern();

    [GeneratedRegex("^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?$")]
    private static partial Regex DomainPattern();
}
