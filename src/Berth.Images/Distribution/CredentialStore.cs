using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Core;

namespace Berth.Images.Distribution;

/// <summary>A user name and password (or an identity token) for one registry.</summary>
public sealed record RegistryCredentials(string Username, string Password)
{
    /// <summary>An OAuth2 refresh token some registries hand out at login instead of keeping the password.</summary>
    public string? IdentityToken { get; init; }

    public override string ToString() => $"{Username}:***";
}

/// <summary>
/// Credentials in a docker config.json-format file (<c>~/.docker/config.json</c> compatible): the <c>auths</c>
/// object maps a registry to <c>{"auth": base64("user:password")}</c>. Other keys of the file are kept as they are.
/// Writes are temp+rename with mode 0600. Credential helpers (<c>credsStore</c>, <c>credHelpers</c>) are not run.
/// </summary>
public sealed class CredentialStore
{
    /// <summary>The key docker uses for Docker Hub.</summary>
    public const string DockerHubKey = "https://index.docker.io/v1/";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private readonly SemaphoreSlim _lock = new(1, 1);

    public CredentialStore(string path) => Path = System.IO.Path.GetFullPath(path);

    public string Path { get; }

    /// <summary><c>$DOCKER_CONFIG/config.json</c>, else <c>~/.docker/config.json</c> (what the docker CLI reads).</summary>
    public static string DefaultPath
    {
        get
        {
            var dir = Environment.GetEnvironmentVariable("DOCKER_CONFIG");
            if (string.IsNullOrEmpty(dir))
            {
                dir = System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker");
            }
            return System.IO.Path.Combine(dir, "config.json");
        }
    }

    /// <summary>The key a registry host is stored under: Docker Hub's historical URL for docker.io, else the host[:port].</summary>
    public static string KeyFor(string registry)
    {
        var host = NormalizeHost(registry);
        return host is "docker.io" or "index.docker.io" or "registry-1.docker.io" ? DockerHubKey : host;
    }

    /// <summary>Credentials saved for <paramref name="registry"/>, or null (anonymous).</summary>
    public async Task<RegistryCredentials?> LookupAsync(string registry, CancellationToken cancellationToken = default)
    {
        var root = await LoadAsync(cancellationToken).ConfigureAwait(false);
        if (root["auths"] is not JsonObject auths)
        {
            return null;
        }
        var key = KeyFor(registry);
        foreach (var (name, value) in auths)
        {
            if (value is not JsonObject entry || KeyFor(name) != key)
            {
                continue;
            }
            return Decode(name, entry);
        }
        return null;
    }

    /// <summary>Saves credentials for <paramref name="registry"/> (replacing earlier ones). Verify them first: see <see cref="RegistryClient.LoginAsync"/>.</summary>
    public async Task SaveAsync(string registry, RegistryCredentials credentials, CancellationToken cancellationToken = default)
    {
        if (credentials.Username.Contains(':', StringComparison.Ordinal))
        {
            throw BerthException.InvalidArgument($"user name \"{credentials.Username}\" contains ':', which the config.json \"auth\" format cannot hold");
        }
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var root = await LoadAsync(cancellationToken).ConfigureAwait(false);
            if (root["auths"] is not JsonObject auths)
            {
                auths = [];
                root["auths"] = auths;
            }
            RemoveKey(auths, KeyFor(registry));
            var entry = new JsonObject { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials.Username + ":" + credentials.Password)) };
            if (credentials.IdentityToken is { } token)
            {
                entry["identitytoken"] = token;
            }
            auths[KeyFor(registry)] = entry;
            Write(root);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Removes the credentials for <paramref name="registry"/>; false when there were none.</summary>
    public async Task<bool> RemoveAsync(string registry, CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var root = await LoadAsync(cancellationToken).ConfigureAwait(false);
            if (root["auths"] is not JsonObject auths || !RemoveKey(auths, KeyFor(registry)))
            {
                return false;
            }
            Write(root);
            return true;
        }
        finally
        {
            _lock.Release();
        }
    }

    private static bool RemoveKey(JsonObject auths, string key)
    {
        var names = auths.Select(kv => kv.Key).Where(name => KeyFor(name) == key).ToList();
        foreach (var name in names)
        {
            auths.Remove(name);
        }
        return names.Count > 0;
    }

    private RegistryCredentials? Decode(string name, JsonObject entry)
    {
        string? user = entry["username"]?.GetValue<string>();
        string? password = entry["password"]?.GetValue<string>();
        if (entry["auth"]?.GetValue<string>() is { Length: > 0 } auth)
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth));
            }
            catch (FormatException)
            {
                throw BerthException.InvalidArgument($"{Path}: auths[\"{name}\"].auth is not base64; run `berth login {name}` again");
            }
            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                throw BerthException.InvalidArgument($"{Path}: auths[\"{name}\"].auth is not base64(\"user:password\"); run `berth login {name}` again");
            }
            user = decoded[..colon];
            password = decoded[(colon + 1)..];
        }
        var identityToken = entry["identitytoken"]?.GetValue<string>();
        if (user is null && identityToken is null)
        {
            return null;
        }
        return new RegistryCredentials(user ?? "<token>", password ?? "") { IdentityToken = identityToken };
    }

    private async Task<JsonObject> LoadAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(Path))
        {
            return [];
        }
        var bytes = await File.ReadAllBytesAsync(Path, cancellationToken).ConfigureAwait(false);
        if (bytes.Length == 0)
        {
            return [];
        }
        try
        {
            return JsonNode.Parse(bytes) as JsonObject ?? throw new JsonException("not a JSON object");
        }
        catch (JsonException e)
        {
            throw BerthException.InvalidArgument($"{Path} is not a valid docker config.json ({e.Message}); fix or remove it");
        }
    }

    private void Write(JsonObject root)
    {
        var dir = System.IO.Path.GetDirectoryName(Path)!;
        if (!Directory.Exists(dir))
        {
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var temp = System.IO.Path.Combine(dir, "." + System.IO.Path.GetFileName(Path) + "." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            };
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(Encoding.UTF8.GetBytes(root.ToJsonString(Indented)));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, Path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    internal static string NormalizeHost(string registry)
    {
        var host = registry.Trim();
        foreach (var prefix in (string[])["https://", "http://"])
        {
            if (host.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                host = host[prefix.Length..];
            }
        }
        var slash = host.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            host = host[..slash];
        }
        return host.ToLowerInvariant();
    }
}
