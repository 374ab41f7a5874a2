using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using Berth.Core;

namespace Berth.Oci.Image;

/// <summary>The platform an image or a manifest in an index is for (GOOS/GOARCH vocabulary).</summary>
public sealed record Platform
{
    [JsonPropertyName("architecture")]
    public required string Architecture { get; init; }

    [JsonPropertyName("os")]
    public required string Os { get; init; }

    [JsonPropertyName("os.version")]
    public string? OsVersion { get; init; }

    [JsonPropertyName("os.features")]
    public IReadOnlyList<string>? OsFeatures { get; init; }

    [JsonPropertyName("variant")]
    public string? Variant { get; init; }

    public static Platform LinuxAmd64 { get; } = new() { Os = "linux", Architecture = "amd64" };

    /// <summary>The platform of this process: the default when a user names none.</summary>
    public static Platform Host { get; } = new()
    {
        Os = "linux",
        Architecture = RuntimeInformation.OSArchitecture switch
        {
            System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
            System.Runtime.InteropServices.Architecture.Arm => "arm",
            System.Runtime.InteropServices.Architecture.X86 => "386",
            System.Runtime.InteropServices.Architecture.S390x => "s390x",
            System.Runtime.InteropServices.Architecture.Ppc64le => "ppc64le",
            System.Runtime.InteropServices.Architecture.RiscV64 => "riscv64",
            _ => "amd64",
        },
        Variant = RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.Arm64 ? "v8" : null,
    };

    /// <summary>Parses <c>os/arch[/variant]</c> as <c>--platform</c> takes it (e.g. linux/arm64/v8).</summary>
    public static Platform Parse(string value)
    {
        var parts = value.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(string.IsNullOrWhiteSpace))
        {
            throw BerthException.InvalidArgument($"invalid platform \"{value}\": expected os/arch or os/arch/variant, e.g. linux/amd64");
        }
        var arch = NormalizeArchitecture(parts[1].ToLowerInvariant());
        var variant = parts.Length == 3 ? parts[2].ToLowerInvariant() : null;
        return new Platform { Os = parts[0].ToLowerInvariant(), Architecture = arch.Arch, Variant = variant ?? arch.Variant };
    }

    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";

    /// <summary>
    /// Whether an index entry's platform satisfies this wanted platform: os and architecture equal; the
    /// variant equal when both name one (arm64 without a variant means v8, as containerd treats it).
    /// </summary>
    public bool Matches(Platform? candidate)
    {
        if (candidate is null)
        {
            return false;
        }
        if (!string.Equals(Os, candidate.Os, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var want = NormalizeArchitecture(Architecture);
        var have = NormalizeArchitecture(candidate.Architecture);
        if (want.Arch != have.Arch)
        {
            return false;
        }
        var wantVariant = Variant ?? want.Variant;
        var haveVariant = candidate.Variant ?? have.Variant;
        return wantVariant is null || haveVariant is null || wantVariant == haveVariant;
    }

    private static (string Arch, string? Variant) NormalizeArchitecture(string arch) => arch switch
    {
        "x86_64" or "x86-64" => ("amd64", null),
        "aarch64" => ("arm64", "v8"),
        "arm64" => ("arm64", "v8"),
        "i386" => ("386", null),
        _ => (arch, null),
    };
}
