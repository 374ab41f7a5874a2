using System.Text.RegularExpressions;

namespace Berth.Registry;

/// <summary>The distribution spec's grammar for repository names and tags.</summary>
internal static partial class RepositoryName
{
    // Total length is limited so that a name always fits in a path on common filesystems.
    public const int MaxLength = 255;

    public static bool IsValid(string name) =>
        name.Length is > 0 and <= MaxLength && NameRegex().IsMatch(name);

    public static bool IsValidTag(string tag) => TagRegex().IsMatch(tag);

    [GeneratedRegex(@"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex NameRegex();

    [GeneratedRegex("^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")]
    private static partial Regex TagRegex();
}
