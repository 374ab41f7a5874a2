using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Berth.Registry.Storage;

namespace Berth.Registry.Auth;

/// <summary>One "type:name:actions" grant of a token, e.g. repository:team/app:pull,push.</summary>
internal sealed record TokenAccess(string Type, string Name, RegistryAction Actions, bool Catalog = false);

/// <summary>A verified token: who it was issued to (null: anonymous) and what it grants.</summary>
internal sealed record RegistryToken(string? Subject, IReadOnlyList<TokenAccess> Access)
{
    public RegistryAction ActionsFor(string repository)
    {
        var result = RegistryAction.None;
        foreach (var access in Access)
        {
            if (access.Type == "repository" && access.Name == repository)
            {
                result |= access.Actions;
            }
        }
        return result;
    }

    public bool AllowsCatalog => Access.Any(a => a.Catalog);
}

/// <summary>Issues and verifies the registry's Bearer tokens: JWTs signed with ES256 (ECDSA P-256, SHA-256).</summary>
internal sealed class TokenService : IDisposable
{
    private readonly ECDsa _key;
    private readonly RegistryTokenOptions _options;
    private readonly TimeProvider _time;
    private readonly string _keyId;

    public TokenService(RegistryTokenOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        _key = LoadOrCreateKey(options.SigningKeyFile);
        _keyId = Convert.ToHexStringLower(SHA256.HashData(_key.ExportSubjectPublicKeyInfo()))[..32];
    }

    public RegistryTokenOptions Options => _options;

    private static ECDsa LoadOrCreateKey(string? path)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        if (path is null)
        {
            return key;
        }
        if (File.Exists(path))
        {
            key.ImportFromPem(File.ReadAllText(path));
            return key;
        }
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        FileOps.WriteAtomic(path, key.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return key;
    }

    public (string Token, DateTimeOffset IssuedAt, int ExpiresIn) Issue(string? subject, IReadOnlyList<TokenAccess> access)
    {
        var now = _time.GetUtcNow();
        var expires = now + _options.Lifetime;
        var header = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(header))
        {
            w.WriteStartObject();
            w.WriteString("typ", "JWT");
            w.WriteString("alg", "ES256");
            w.WriteString("kid", _keyId);
            w.WriteEndObject();
        }
        var payload = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(payload))
        {
            w.WriteStartObject();
            w.WriteString("iss", _options.Issuer);
            w.WriteString("sub", subject ?? "");
            w.WriteString("aud", _options.Service);
            w.WriteNumber("exp", expires.ToUnixTimeSeconds());
            w.WriteNumber("nbf", now.ToUnixTimeSeconds() - 1);
            w.WriteNumber("iat", now.ToUnixTimeSeconds());
            w.WriteString("jti", Guid.NewGuid().ToString("N"));
            w.WriteStartArray("access");
            foreach (var a in access)
            {
                w.WriteStartObject();
                w.WriteString("type", a.Type);
                w.WriteString("name", a.Name);
                w.WriteStartArray("actions");
                if (a.Catalog)
                {
                    w.WriteStringValue("*");
                }
                else
                {
                    foreach (var name in RegistryActions.Names(a.Actions))
                    {
                        w.WriteStringValue(name);
                    }
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        var signingInput = Base64Url(header.WrittenSpan) + "." + Base64Url(payload.WrittenSpan);
        var signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return (signingInput + "." + Base64Url(signature), now, (int)_options.Lifetime.TotalSeconds);
    }

    /// <summary>The token's grants, or null when it is malformed, forged, expired or meant for another service.</summary>
    public RegistryToken? Verify(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3)
        {
            return null;
        }
        try
        {
            var signature = Base64UrlDecode(parts[2]);
            if (!_key.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
            {
                return null;
            }
            using var header = JsonDocument.Parse(Base64UrlDecode(parts[0]));
            if (!header.RootElement.TryGetProperty("alg", out var alg) || alg.GetString() != "ES256")
            {
                return null;
            }
            using var payload = JsonDocument.Parse(Base64UrlDecode(parts[1]));
            var root = payload.RootElement;
            var now = _time.GetUtcNow().ToUnixTimeSeconds();
            if (root.GetProperty("exp").GetInt64() < now || root.GetProperty("nbf").GetInt64() > now + 60)
            {
                return null;
            }
            if (root.GetProperty("iss").GetString() != _options.Issuer || !AudienceMatches(root.GetProperty("aud")))
            {
                return null;
            }
            var subject = root.GetProperty("sub").GetString();
            var access = new List<TokenAccess>();
            if (root.TryGetProperty("access", out var list) && list.ValueKind == JsonValueKind.Array)
            {
                foreach (var a in list.EnumerateArray())
                {
                    var type = a.GetProperty("type").GetString() ?? "";
                    var name = a.GetProperty("name").GetString() ?? "";
                    var actions = string.Join(',', a.GetProperty("actions").EnumerateArray().Select(x => x.GetString()));
                    access.Add(type == "registry" && name == "catalog"
                        ? new TokenAccess(type, name, RegistryAction.None, Catalog: actions.Contains('*', StringComparison.Ordinal))
                        : new TokenAccess(type, name, RegistryActions.ParseLenient(actions)));
                }
            }
            return new RegistryToken(string.IsNullOrEmpty(subject) ? null : subject, access);
        }
        catch (Exception e) when (e is FormatException or JsonException or KeyNotFoundException or InvalidOperationException or CryptographicException)
        {
            return null;
        }
    }

    private bool AudienceMatches(JsonElement aud) => aud.ValueKind switch
    {
        JsonValueKind.String => aud.GetString() == _options.Service,
        JsonValueKind.Array => aud.EnumerateArray().Any(x => x.GetString() == _options.Service),
        _ => false,
    };

    private static string Base64Url(ReadOnlySpan<byte> data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] Base64UrlDecode(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        s += (s.Length % 4) switch { 2 => "==", 3 => "=", _ => "" };
        return Convert.FromBase64String(s);
    }

    public void Dispose() => _key.Dispose();
}
