using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Berth.Registry;

/// <summary>A content digest "algorithm:hex" as the distribution spec uses it; sha256 and sha512 are supported.</summary>
internal readonly partial record struct Digest(string Algorithm, string Hex)
{
    public override string ToString() => Algorithm + ":" + Hex;

    public static bool TryParse(string? text, out Digest digest)
    {
        digest = default;
        if (text is null)
        {
            return false;
        }
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return false;
        }
        var algorithm = text[..colon];
        var hex = text[(colon + 1)..];
        var expected = algorithm switch
        {
            "sha256" => 64,
            "sha512" => 128,
            _ => -1,
        };
        if (expected < 0 || hex.Length != expected || !LowerHex().IsMatch(hex))
        {
            return false;
        }
        digest = new Digest(algorithm, hex);
        return true;
    }

    /// <summary>True for a string shaped like a digest (algorithm ":" encoded) even if the algorithm is one we do not support.</summary>
    public static bool LooksLikeDigest(string text) => text.Contains(':', StringComparison.Ordinal);

    public static Digest Compute(ReadOnlySpan<byte> content) =>
        new("sha256", Convert.ToHexStringLower(SHA256.HashData(content)));

    public static Digest Compute(string algorithm, ReadOnlySpan<byte> content) => algorithm switch
    {
        "sha512" => new("sha512", Convert.ToHexStringLower(SHA512.HashData(content))),
        _ => Compute(content),
    };

    public static IncrementalHash CreateHash(string algorithm) =>
        IncrementalHash.CreateHash(algorithm == "sha512" ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);

    [GeneratedRegex("^[a-f0-9]+$")]
    private static partial Regex LowerHex();
}
