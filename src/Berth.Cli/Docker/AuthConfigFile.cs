using System.Text;
using System.Text.Json.Nodes;
using Berth.Core;

namespace Berth.Cli.Docker;

/// <summary>
/// Registry credentials in the docker CLI's config.json ($DOCKER_CONFIG/config.json, else ~/.docker/config.json):
/// "auths": {"registry": {"auth": base64("user:password")}}. Other keys in the file are kept as they are.
/// </summary>
public sealed class AuthConfigFile(string path)
{
    public const string DefaultRegistry = "https://index.docker.io/v1/";

    public string Path => path;

    public static AuthConfigFile Default()
    {
        var dir = Environment.GetEnvironmentVariable("DOCKER_CONFIG") is { Length: > 0 } d
            ? d
            : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker");
        return new AuthConfigFile(System.IO.Path.Combine(dir, "config.json"));
    }

    private JsonObject Load()
    {
        if (!File.Exists(path))
        {
            return [];
        }
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? [];
        }
        catch (System.Text.Json.JsonException e)
        {
            throw BerthException.InvalidArgument($"{path} is not valid JSON ({e.Message}); fix or remove it");
        }
    }

    public (string Username, string Password)? Get(string registry)
    {
        var auths = Load()["auths"] as JsonObject;
        if (auths?[registry]?["auth"]?.GetValue<string>() is not { Length: > 0 } auth)
        {
            return null;
        }
        var text = Encoding.UTF8.GetString(Convert.FromBase64String(auth));
        var i = text.IndexOf(':', StringComparison.Ordinal);
        return i < 0 ? null : (text[..i], text[(i + 1)..]);
    }

    public void Set(string registry, string username, string password)
    {
        var config = Load();
        if (config["auths"] is not JsonObject auths)
        {
            config["auths"] = auths = [];
        }
        auths[registry] = new JsonObject { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(username + ":" + password)) };
        Save(config);
    }

    public bool Remove(string registry)
    {
        var config = Load();
        if (config["auths"] is not JsonObject auths || !auths.Remove(registry))
        {
            return false;
        }
        Save(config);
        return true;
    }

    private void Save(JsonObject config)
    {
        var dir = System.IO.Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir);
        var temp = System.IO.Path.Combine(dir, $".config.json.{Environment.ProcessId}.tmp");
        File.WriteAllText(temp, config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The registry a reference lives on: its first component when that looks like a host, else Docker Hub.</summary>
    public static string RegistryOf(string reference)
    {
        var slash = reference.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0)
        {
            var first = reference[..slash];
            if (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost")
            {
                return first;
            }
        }
        return DefaultRegistry;
    }

    /// <summary>The X-Registry-Auth header value: base64url of {"username","password","serveraddress"} ("{}" without credentials).</summary>
    public static string Header(string registry, (string Username, string Password)? credentials)
    {
        var json = credentials is { } c
            ? new JsonObject { ["username"] = c.Username, ["password"] = c.Password, ["serveraddress"] = registry }.ToJsonString()
            : "{}";
        return Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).Replace('+', '-').Replace('/', '_');
    }
}
