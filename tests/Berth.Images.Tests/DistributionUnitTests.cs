using System.Text;
using System.Text.Json.Nodes;
using Berth.Core;
using Berth.Images.Distribution;
using Berth.Testing;

namespace Berth.Images.Tests;

/// <summary>The registry client's pure parts: WWW-Authenticate parsing, the config.json credential store, registry names.</summary>
public sealed class DistributionUnitTests
{
    [Fact]
    public void Bearer_challenges_parse_with_quoted_commas_and_escapes()
    {
        var c = AuthChallenge.Parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/busybox:pull,push\"")!;
        Assert.True(c.IsBearer);
        Assert.Equal("https://auth.docker.io/token", c.Realm);
        Assert.Equal("registry.docker.io", c.Service);
        Assert.Equal("repository:library/busybox:pull,push", c.Scope);

        var basic = AuthChallenge.Parse("Basic realm=\"a \\\"quoted\\\" realm\"")!;
        Assert.True(basic.IsBasic);
        Assert.Equal("a \"quoted\" realm", basic.Realm);

        var unquoted = AuthChallenge.Parse("bearer realm=http://127.0.0.1:5000/token, service=reg")!;
        Assert.True(unquoted.IsBearer);
        Assert.Equal("http://127.0.0.1:5000/token", unquoted.Realm);
        Assert.Equal("reg", unquoted.Service);
        Assert.Null(AuthChallenge.Parse(""));
    }

    [Fact]
    public async Task Credential_store_writes_docker_config_format_with_mode_0600_and_keeps_other_keys()
    {
        using var temp = new TempDirectory();
        var path = temp.Combine("docker", "config.json");
        Directory.CreateDirectory(temp.Combine("docker"));
        await File.WriteAllTextAsync(path, """{"auths":{"other.example":{"auth":"dTpw"}},"psFormat":"table {{.ID}}","credHelpers":{"gcr.io":"gcloud"}}""");
        var store = new CredentialStore(path);

        await store.SaveAsync("127.0.0.1:5000", new RegistryCredentials("alice", "pa:ss"));
        await store.SaveAsync("docker.io", new RegistryCredentials("bob", "hub"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var json = JsonNode.Parse(await File.ReadAllTextAsync(path))!;
        Assert.Equal("table {{.ID}}", json["psFormat"]!.GetValue<string>());
        Assert.Equal("gcloud", json["credHelpers"]!["gcr.io"]!.GetValue<string>());
        Assert.Equal(Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:pa:ss")), json["auths"]!["127.0.0.1:5000"]!["auth"]!.GetValue<string>());
        Assert.NotNull(json["auths"]![CredentialStore.DockerHubKey]);
        Assert.Empty(Directory.EnumerateFiles(temp.Combine("docker"), "*.tmp"));

        Assert.Equal(new RegistryCredentials("alice", "pa:ss"), await store.LookupAsync("127.0.0.1:5000"));
        Assert.Equal(new RegistryCredentials("alice", "pa:ss"), await store.LookupAsync("http://127.0.0.1:5000/v2/"));
        Assert.Equal("bob", (await store.LookupAsync("index.docker.io"))!.Username);
        Assert.Equal(new RegistryCredentials("u", "p"), await store.LookupAsync("other.example"));
        Assert.Null(await store.LookupAsync("nowhere.example"));

        Assert.True(await store.RemoveAsync("docker.io"));
        Assert.False(await store.RemoveAsync("docker.io"));
        Assert.Null(await store.LookupAsync("docker.io"));
        Assert.NotNull(await store.LookupAsync("127.0.0.1:5000"));
    }

    [Fact]
    public async Task Credential_store_reports_a_broken_file_and_a_user_name_with_a_colon()
    {
        using var temp = new TempDirectory();
        var path = temp.Combine("config.json");
        await File.WriteAllTextAsync(path, "{not json");
        var store = new CredentialStore(path);
        var broken = await Assert.ThrowsAsync<BerthException>(() => store.LookupAsync("x.example"));
        Assert.Contains(path, broken.Message);
        await File.WriteAllTextAsync(path, """{"auths":{"x.example":{"auth":"%%%"}}}""");
        var badAuth = await Assert.ThrowsAsync<BerthException>(() => store.LookupAsync("x.example"));
        Assert.Contains("berth login x.example", badAuth.Message);
        var colon = await Assert.ThrowsAsync<BerthException>(() => store.SaveAsync("x.example", new RegistryCredentials("a:b", "c")));
        Assert.Equal(ErrorCode.InvalidArgument, colon.Code);
    }

    [Fact]
    public void Loopback_and_listed_registries_are_insecure_others_are_not()
    {
        using var temp = new TempDirectory();
        var images = new Store.ImageStore(new Content.LocalContentStore(temp.Combine("c")), null, temp.Combine("i"));
        using var client = new RegistryClient(images, new RegistryClientOptions { InsecureRegistries = ["registry.lan:5000", "plain.example"] });
        Assert.True(client.IsInsecure("127.0.0.1:5000"));
        Assert.True(client.IsInsecure("localhost:5000"));
        Assert.True(client.IsInsecure("[::1]:5000"));
        Assert.True(client.IsInsecure("registry.lan:5000"));
        Assert.True(client.IsInsecure("plain.example"));
        Assert.False(client.IsInsecure("docker.io"));
        Assert.False(client.IsInsecure("registry.lan:6000"));
        Assert.False(client.IsInsecure("10.0.0.1:5000"));
    }
}
