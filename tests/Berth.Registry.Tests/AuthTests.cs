using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Berth.Testing;

namespace Berth.Registry.Tests;

/// <summary>htpasswd Basic auth and the Bearer token flow, driven by skopeo and by raw HTTP.</summary>
public sealed class AuthTests
{
    private static async Task<string> HtpasswdAsync(TempDirectory temp, params (string User, string Password)[] users)
    {
        var file = temp.Combine("htpasswd");
        foreach (var (user, password) in users)
        {
            // The real htpasswd tool writes the file, so the format is the one administrators produce.
            var args = new List<string> { "-B", "-b" };
            if (!File.Exists(file))
            {
                args.Add("-c");
            }
            args.AddRange([file, user, password]);
            (await Tool.RunAsync("htpasswd", args)).Check("htpasswd");
        }
        return file;
    }

    private static string AccessFile(TempDirectory temp, string contents)
    {
        var file = temp.Combine("access");
        File.WriteAllText(file, contents);
        return file;
    }

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password)));

    [Fact]
    public async Task Basic_auth_with_skopeo_refuses_anonymous_and_wrong_users_and_accepts_right_ones()
    {
        using var temp = new TempDirectory();
        var htpasswd = await HtpasswdAsync(temp, ("alice", "wonderland"), ("bob", "builder"));
        var access = AccessFile(temp, "alice * pull,push,delete\nbob team/* pull\n");
        await using var registry = await RegistryHost.StartAsync(root => new RegistryOptions { RootDirectory = root, HtpasswdFile = htpasswd, AccessFile = access });
        var image = TestImage.Create(temp.Combine("src"));
        var remote = $"docker://{registry.HostPort}/team/app:v1";

        var anonymous = await Tool.Skopeo("copy", "--dest-tls-verify=false", $"oci:{image.LayoutDir}:latest", remote);
        Assert.NotEqual(0, anonymous.ExitCode);
        Assert.Contains("authentication required", anonymous.Stderr, StringComparison.OrdinalIgnoreCase);

        var wrong = await Tool.Skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:nope", $"oci:{image.LayoutDir}:latest", remote);
        Assert.NotEqual(0, wrong.ExitCode);

        var bobPush = await Tool.Skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "bob:builder", $"oci:{image.LayoutDir}:latest", remote);
        Assert.NotEqual(0, bobPush.ExitCode);
        Assert.Contains("denied", bobPush.Stderr, StringComparison.OrdinalIgnoreCase);

        (await Tool.Skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:wonderland", $"oci:{image.LayoutDir}:latest", remote)).Check("alice push");
        (await Tool.Skopeo("copy", "--src-tls-verify=false", "--src-creds", "bob:builder", remote, $"oci:{temp.Combine("back")}:v1")).Check("bob pull");
        Assert.Equal(image.ManifestDigest, TestImage.LayoutManifestDigest(temp.Combine("back")));

        // The HTTP contract: 401 with a Basic challenge, 403 DENIED for a known user without the right.
        var response = await registry.Client.GetAsync($"/v2/team/app/manifests/v1");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Basic", response.Headers.WwwAuthenticate.Single().Scheme);
        using var delete = new HttpRequestMessage(HttpMethod.Delete, $"/v2/team/app/manifests/{image.ManifestDigest}");
        delete.Headers.Authorization = Basic("bob", "builder");
        var denied = await registry.Client.SendAsync(delete);
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("DENIED", JsonNode.Parse(await denied.Content.ReadAsStringAsync())!["errors"]![0]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Token_flow_with_skopeo_push_pull_and_delete()
    {
        using var temp = new TempDirectory();
        var htpasswd = await HtpasswdAsync(temp, ("alice", "wonderland"), ("bob", "builder"));
        var access = AccessFile(temp, "alice * *\nbob team/* pull\nanonymous public/* pull\n");
        await using var registry = await RegistryHost.StartAsync(root => new RegistryOptions
        {
            RootDirectory = root,
            HtpasswdFile = htpasswd,
            AccessFile = access,
            Token = new RegistryTokenOptions { SigningKeyFile = temp.Combine("token.key") },
        });
        var image = TestImage.Create(temp.Combine("src"));

        var anonymous = await Tool.Skopeo("copy", "--dest-tls-verify=false", $"oci:{image.LayoutDir}:latest", $"docker://{registry.HostPort}/team/app:v1");
        Assert.NotEqual(0, anonymous.ExitCode);

        (await Tool.Skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:wonderland", $"oci:{image.LayoutDir}:latest", $"docker://{registry.HostPort}/team/app:v1")).Check("alice push");
        (await Tool.Skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:wonderland", $"oci:{image.LayoutDir}:latest", $"docker://{registry.HostPort}/public/app:v1")).Check("alice push public");

        var bobPush = await Tool.Skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "bob:builder", $"oci:{image.LayoutDir}:latest", $"docker://{registry.HostPort}/team/other:v1");
        Assert.NotEqual(0, bobPush.ExitCode);

        (await Tool.Skopeo("copy", "--src-tls-verify=false", "--src-creds", "bob:builder", $"docker://{registry.HostPort}/team/app:v1", $"oci:{temp.Combine("bob")}:v1")).Check("bob pull");
        Assert.Equal(image.ManifestDigest, TestImage.LayoutManifestDigest(temp.Combine("bob")));

        // Anonymous pull is granted for public/* only.
        (await Tool.Skopeo("copy", "--src-tls-verify=false", $"docker://{registry.HostPort}/public/app:v1", $"oci:{temp.Combine("anon")}:v1")).Check("anonymous pull of public");
        var anonTeam = await Tool.Skopeo("inspect", "--tls-verify=false", $"docker://{registry.HostPort}/team/app:v1");
        Assert.NotEqual(0, anonTeam.ExitCode);

        var tags = (await Tool.Skopeo("list-tags", "--tls-verify=false", "--creds", "bob:builder", $"docker://{registry.HostPort}/team/app")).Check("bob list-tags");
        Assert.Contains("v1", tags.Stdout, StringComparison.Ordinal);

        (await Tool.Skopeo("delete", "--tls-verify=false", "--creds", "alice:wonderland", $"docker://{registry.HostPort}/team/app:v1")).Check("alice delete");
        var bobDelete = await Tool.Skopeo("delete", "--tls-verify=false", "--creds", "bob:builder", $"docker://{registry.HostPort}/public/app:v1");
        Assert.NotEqual(0, bobDelete.ExitCode);
    }

    [Fact]
    public async Task Token_endpoint_scopes_challenges_and_forged_tokens()
    {
        using var temp = new TempDirectory();
        var htpasswd = await HtpasswdAsync(temp, ("alice", "wonderland"), ("bob", "builder"));
        var access = AccessFile(temp, "alice * *\nbob team/* pull\n");
        await using var registry = await RegistryHost.StartAsync(root => new RegistryOptions
        {
            RootDirectory = root,
            HtpasswdFile = htpasswd,
            AccessFile = access,
            Token = new RegistryTokenOptions { Service = "test-registry" },
        });
        var client = registry.Client;

        var challenge = await client.GetAsync("/v2/team/app/tags/list");
        Assert.Equal(HttpStatusCode.Unauthorized, challenge.StatusCode);
        var www = challenge.Headers.WwwAuthenticate.Single();
        Assert.Equal("Bearer", www.Scheme);
        Assert.Contains($"realm=\"{registry.Server.BaseAddress}token\"", www.Parameter, StringComparison.Ordinal);
        Assert.Contains("service=\"test-registry\"", www.Parameter, StringComparison.Ordinal);
        Assert.Contains("scope=\"repository:team/app:pull\"", www.Parameter, StringComparison.Ordinal);
        var v2 = await client.GetAsync("/v2/");
        Assert.Equal(HttpStatusCode.Unauthorized, v2.StatusCode);

        async Task<string> TokenAsync(string user, string password, string scope)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/token?service=test-registry&scope={Uri.EscapeDataString(scope)}");
            request.Headers.Authorization = Basic(user, password);
            var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["token"]!.GetValue<string>();
        }

        using (var bad = new HttpRequestMessage(HttpMethod.Get, "/token?service=test-registry&scope=repository:team/app:pull"))
        {
            bad.Headers.Authorization = Basic("alice", "wrong");
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(bad)).StatusCode);
        }

        var bobToken = await TokenAsync("bob", "builder", "repository:team/app:pull,push");
        // The token carries only what the policy allows: pull.
        var payload = JsonNode.Parse(Encoding.UTF8.GetString(Base64Url(bobToken.Split('.')[1])))!;
        Assert.Equal("bob", payload["sub"]!.GetValue<string>());
        Assert.Equal(["pull"], payload["access"]![0]!["actions"]!.AsArray().Select(a => a!.GetValue<string>()));

        using (var pull = new HttpRequestMessage(HttpMethod.Get, "/v2/team/app/tags/list"))
        {
            pull.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bobToken);
            // Authorised, and the repository is simply unknown.
            Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(pull)).StatusCode);
        }
        using (var push = new HttpRequestMessage(HttpMethod.Post, "/v2/team/app/blobs/uploads/"))
        {
            push.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bobToken);
            var response = await client.SendAsync(push);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains("DENIED", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var other = new HttpRequestMessage(HttpMethod.Get, "/v2/elsewhere/tags/list"))
        {
            other.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bobToken);
            Assert.Equal(HttpStatusCode.Forbidden, (await client.SendAsync(other)).StatusCode);
        }

        // A token whose payload was changed no longer verifies.
        var parts = bobToken.Split('.');
        var forgedPayload = Encoding.UTF8.GetString(Base64Url(parts[1])).Replace("\"pull\"", "\"push\"", StringComparison.Ordinal);
        var forged = parts[0] + "." + Convert.ToBase64String(Encoding.UTF8.GetBytes(forgedPayload)).TrimEnd('=').Replace('+', '-').Replace('/', '_') + "." + parts[2];
        using (var push = new HttpRequestMessage(HttpMethod.Post, "/v2/team/app/blobs/uploads/"))
        {
            push.Headers.Authorization = new AuthenticationHeaderValue("Bearer", forged);
            var response = await client.SendAsync(push);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains("invalid_token", response.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
        }

        var aliceToken = await TokenAsync("alice", "wonderland", "repository:team/app:pull,push");
        using (var push = new HttpRequestMessage(HttpMethod.Post, "/v2/team/app/blobs/uploads/"))
        {
            push.Headers.Authorization = new AuthenticationHeaderValue("Bearer", aliceToken);
            Assert.Equal(HttpStatusCode.Accepted, (await client.SendAsync(push)).StatusCode);
        }

        // OAuth2 password grant (POST) as docker login uses it.
        var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "password", ["username"] = "alice", ["password"] = "wonderland",
            ["service"] = "test-registry", ["scope"] = "registry:catalog:*",
        });
        var posted = await client.PostAsync("/token", form);
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        var catalogToken = JsonNode.Parse(await posted.Content.ReadAsStringAsync())!["access_token"]!.GetValue<string>();
        using var catalog = new HttpRequestMessage(HttpMethod.Get, "/v2/_catalog");
        catalog.Headers.Authorization = new AuthenticationHeaderValue("Bearer", catalogToken);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(catalog)).StatusCode);
    }

    private static byte[] Base64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        s += (s.Length % 4) switch { 2 => "==", 3 => "=", _ => "" };
        return Convert.FromBase64String(s);
    }
}
