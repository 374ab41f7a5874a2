using System.Security.Cryptography;
using System.Text.Json.Serialization;

namespace Berth.Core;

/// <summary>
/// A content digest as the OCI image spec writes it: <c>algorithm:encoded</c>, e.g.
/// <c>sha256:e3b0c4…</c>. sha256 and sha512 are accepted (lowercase hex, the exact length);
/// anything else is rejected with a message saying what a digest looks like.
/// </summary>
[JsonConverter(typeof(DigestJsonConverter))]
public readonly record struct Digest : IComparable<Digest>
{
    public const string Sha256 = "sha256";
    public const string Sha512 = "sha512";

    private Digest(string algorithm, string encoded)
    {
        Algorithm = algorithm;
        Encoded = encoded;
    }

    public string Algorithm { get; }

    /// <summary>The lowercase hex part after the colon.</summary>
    public string Encoded { get; }

    public bool IsEmpty => Algorithm is null;

    public override string ToString() => Algorithm + ":" + Encoded;

    public int CompareTo(Digest other) => string.CompareOrdinal(ToString(), other.ToString());

    public static bool operator <(Digest left, Digest right) => left.CompareTo(right) < 0;

    public static bool operator >(Digest left, Digest right) => left.CompareTo(right) > 0;

    public static bool operator <=(Digest left, Digest right) => left.CompareTo(right) <= 0;

    public static bool operator >=(Digest left, Digest right) => left.CompareTo(right) >= 0;

    public static Digest Parse(string value) =>
        TryParse(value, out var digest, out var error) ? digest : throw BerthException.InvalidArgument(error);

    public static bool TryParse(string? value, out Digest digest) => TryParse(value, out digest, out _);

    public static bool TryParse(string? value, out Digest digest, out string error)
    {
        digest = default;
        if (string.IsNullOrEmpty(value))
        {
            error = "invalid digest \"\": expected sha256:<64 hex digits> or sha512:<128 hex digits>";
            return false;
        }
        var colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            error = $"invalid digest \"{value}\": expected algorithm:hex, e.g. sha256:<64 hex digits>";
            return false;
        }
        var algorithm = value[..colon];
        var encoded = value[(colon + 1)..];
        var length = HexLength(algorithm);
        if (length == 0)
        {
            error = $"unsupported digest algorithm \"{algorithm}\" in \"{value}\": use sha256 or sha512";
            return false;
        }
        if (encoded.Length != length || !IsLowerHex(encoded))
        {
            error = $"invalid digest \"{value}\": {algorithm} needs exactly {length} lowercase hex digits";
            return false;
        }
        digest = new Digest(algorithm, encoded);
        error = "";
        return true;
    }

    public static Digest FromEncoded(string algorithm, string encoded) => Parse(algorithm + ":" + encoded);

    public static Digest Compute(ReadOnlySpan<byte> data, string algorithm = Sha256) => algorithm switch
    {
        Sha256 => new Digest(Sha256, Convert.ToHexStringLower(SHA256.HashData(data))),
        Sha512 => new Digest(Sha512, Convert.ToHexStringLower(SHA512.HashData(data))),
        _ => throw BerthException.InvalidArgument($"unsupported digest algorithm \"{algorithm}\": use sha256 or sha512"),
    };

    /// <summary>An incremental hash for this digest's algorithm (to verify content while it streams).</summary>
    public static IncrementalHash CreateHash(string algorithm) => algorithm switch
    {
        Sha256 => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
        Sha512 => IncrementalHash.CreateHash(HashAlgorithmName.SHA512),
        _ => throw BerthException.InvalidArgument($"unsupported digest algorithm \"{algorithm}\": use sha256 or sha512"),
    };

    public static Digest FromHash(string algorithm, ReadOnlySpan<byte> hash) => new(algorithm, Convert.ToHexStringLower(hash));

    private static int HexLength(string algorithm) => algorithm switch
    {
        Sha256 => 64,
        Sha512 => 128,
        _ => 0,
    };

    private static bool IsLowerHex(string s)
    {
        foreach (var c in s)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }
        return true;
    }
}
