using System.Text.Json.Nodes;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Distribution;
using Berth.Testing;

namespace Berth.Registry.Tests.Client;

/// <summary>The client's Basic and Bearer-token flows, login/logout and the config.json it writes, against Berth's registry.</summary>
public sealed class ClientAuthTests
{
    private static async Task<string> HtpasswdAsync(TempDirectory temp, params (string User, string Password)[] users)
    {
        var file = temp.Combine("htpasswd");
        foreach (var (user, password) in users)
        {
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

    [Fact]
    public async Task Basic_auth_refuses_anonymous_and_wrong_logins_and_works_after_login()
    {
        using var temp = new TempDirectory();
        var htpasswd = await HtpasswdAsync(temp, ("alice", "wonderland"));
        await using var registry = await RegistryHost.StartAsync(root => new RegistryOptions { RootDirectory = root, HtpasswdFile = htpasswd });
        var config = temp.Combine("docker", "config.json");
        var credentials = new CredentialStore(config);
        var store = ClientKit.Store(temp, "a");
        await ClientKit.RandomImageAsync(store, "app:v1");
        using var client = ClientKit.Client(store, credentials);

        var anonymous = await Assert.ThrowsAsync<BerthException>(() => client.PushAsync("app:v1", $"{registry.HostPort}/team/app:v1"));
        Assert.Equal(ErrorCode.PermissionDenied, anonymous.Code);
        Assert.StartsWith($"unauthorized: {registry.HostPort}/team/app", anonymous.Message);
        Assert.Contains($"run `berth login {registry.HostPort}`", anonymous.Message);

        var wrong = await Assert.ThrowsAsync<BerthException>(() => client.LoginAsync(registry.HostPort, new RegistryCredentials("alice", "nope")));
        Assert.Equal(ErrorCode.PermissionDenied, wrong.Code);
        Assert.Contains("alice", wrong.Message);
        Assert.False(File.Exists(config), "a refused login saves nothing");

        await client.LoginAsync(registry.HostPort, new RegistryCredentials("alice", "wonderland"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(config));
        var saved = JsonNode.Parse(await File.ReadAllTextAsync(config))!;
        Assert.Equal(Convert.ToBase64String("alice:wonderland"u8.ToArray()), saved["auths"]![registry.HostPort]!["auth"]!.GetValue<string>());

        await client.PushAsync("app:v1", $"{registry.HostPort}/team/app:v1");
        using var other = ClientKit.Client(ClientKit.Store(temp, "b"), credentials);
        await other.PullAsync($"{registry.HostPort}/team/app:v1");

        // Credentials that stopped working (password changed) get a message naming the user.
        using var stale = ClientKit.Client(ClientKit.Store(temp, "c"));
        var refused = await Assert.ThrowsAsync<BerthException>(() =>
            stale.PullAsync($"{registry.HostPort}/team/app:v1", new PullOptions { Credentials = new RegistryCredentials("alice", "old") }));
        Assert.Equal(ErrorCode.PermissionDenied, refused.Code);
        Assert.Contains("\"alice\" were refused", refused.Message);

        Assert.True(await client.LogoutAsync(registry.HostPort));
        Assert.False(await client.LogoutAsync(registry.HostPort));
        Assert.Null(await credentials.LookupAsync(registry.HostPort));
        using var loggedOut = ClientKit.Client(ClientKit.Store(temp, "d"), credentials);
        var after = await Assert.ThrowsAsync<BerthException>(() => loggedOut.PullAsync($"{registry.HostPort}/team/app:v1"));
        Assert.Contains("berth login", after.Message);
    }

    [Fact]
    public async Task Bearer_token_flow_pulls_and_pushes_with_scoped_tokens_cached_per_scope()
    {
        using var temp = new TempDirectory();
        var htpasswd = await HtpasswdAsync(temp, ("alice", "wonderland"), ("bob", "builder"));
        var access = temp.Combine("access");
        await File.WriteAllTextAsync(access, "alice * *\nbob team/* pull\nanonymous public/* pull\n");
        // Tokens are fetched through a proxy (the realm names it) so the test can count token requests.
        await using var tokenProxy = new LoopbackProxy();
        await using var registry = await RegistryHost.StartAsync(root => new RegistryOptions
        {
            RootDirectory = root,
            HtpasswdFile = htpasswd,
            AccessFile = access,
            Token = new RegistryTokenOptions { Service = "test-registry", Realm = $"http://{tokenProxy.HostPort}/token" },
        });
        tokenProxy.UpstreamPort = int.Parse(registry.HostPort.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        var store = ClientKit.Store(temp, "a");
        var image = await ClientKit.RandomImageAsync(store, "app:v1", layers: 3);
        var alice = new RegistryCredentials("alice", "wonderland");
        using var client = ClientKit.Client(store);

        var anonymous = await Assert.ThrowsAsync<BerthException>(() => client.PushAsync("app:v1", $"{registry.HostPort}/team/app:v1"));
        Assert.Equal(ErrorCode.PermissionDenied, anonymous.Code);
        Assert.Contains("berth login", anonymous.Message);

        var before = tokenProxy.CountRequests("GET /token");
        await client.PushAsync("app:v1", $"{registry.HostPort}/team/app:v1", new PushOptions { Credentials = alice });
        await client.PushAsync("app:v1", $"{registry.HostPort}/public/app:v1", new PushOptions { Credentials = alice });
        var afterPush = tokenProxy.CountRequests("GET /token");
        Assert.InRange(afterPush - before, 2, 4); // one per repository scope (+ the mount scope), not one per request

        var bob = new RegistryCredentials("bob", "builder");
        using var puller = ClientKit.Client(ClientKit.Store(temp, "b"));
        var pulled = await puller.PullAsync($"{registry.HostPort}/team/app:v1", new PullOptions { Credentials = bob });
        Assert.Equal(image.Digest, pulled.Target.Digest);
        var afterPull = tokenProxy.CountRequests("GET /token");
        Assert.Equal(afterPush + 1, afterPull);
        await puller.PullAsync($"{registry.HostPort}/team/app:v1", new PullOptions { Credentials = bob });
        Assert.Equal(afterPull, tokenProxy.CountRequests("GET /token"));
        Assert.Contains("scope=repository%3Ateam%2Fapp%3Apull", tokenProxy.Sent, StringComparison.Ordinal);

        var denied = await Assert.ThrowsAsync<BerthException>(() => puller.PushAsync($"{registry.HostPort}/team/app:v1", $"{registry.HostPort}/team/bob:v1", new PushOptions { Credentials = bob }));
        Assert.Equal(ErrorCode.PermissionDenied, denied.Code);

        using var anon = ClientKit.Client(ClientKit.Store(temp, "c"));
        Assert.Equal(image.Digest, (await anon.PullAsync($"{registry.HostPort}/public/app:v1")).Target.Digest);
        var teamAnon = await Assert.ThrowsAsync<BerthException>(() => anon.PullAsync($"{registry.HostPort}/team/app:v1"));
        Assert.Contains("berth login", teamAnon.Message);

        var wrong = await Assert.ThrowsAsync<BerthException>(() => anon.PullAsync($"{registry.HostPort}/team/app:v1", new PullOptions { Credentials = new RegistryCredentials("bob", "nope") }));
        Assert.Equal(ErrorCode.PermissionDenied, wrong.Code);

        var credentials = new CredentialStore(temp.Combine("config.json"));
        using var login = ClientKit.Client(ClientKit.Store(temp, "d"), credentials);
        await Assert.ThrowsAsync<BerthException>(() => login.LoginAsync(registry.HostPort, new RegistryCredentials("bob", "nope")));
        await login.LoginAsync(registry.HostPort, bob);
        Assert.Equal(image.Digest, (await login.PullAsync($"{registry.HostPort}/team/app:v1")).Target.Digest);
    }

    [Fact]
    public async Task A_connection_dropped_mid_blob_is_resumed_with_a_range_request()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var store = ClientKit.Store(temp, "a");
        var image = await ClientKit.RandomImageAsync(store, "app:v1", layers: 1, layerSize: 3 << 20);
        using (var pusher = ClientKit.Client(store))
        {
            await pusher.PushAsync("app:v1", $"{registry.HostPort}/team/app:v1");
        }
        await using var proxy = new LoopbackProxy(int.Parse(registry.HostPort.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture))
        {
            CutOnceAfterBytes = 1 << 20,
        };
        var target = ClientKit.Store(temp, "b");
        using var client = ClientKit.Client(target);
        var log = new ProgressLog();
        var pulled = await client.PullAsync($"{proxy.HostPort}/team/app:v1", progress: log);

        Assert.True(proxy.HasCut);
        Assert.Equal(image.Digest, pulled.Target.Digest);
        var retry = Assert.Single(log.Events, e => e.Status == TransferStatus.Retrying);
        Assert.True(retry.Current > 0, "the retry resumes after the bytes already received");
        Assert.Contains($"Range: bytes={retry.Current}-", proxy.Sent, StringComparison.Ordinal);
        var layer = (await store.Content.ReadJsonAsync(image.Digest, Berth.Oci.Image.ImageJsonContext.Default.ImageManifest)).Layers[0];
        Assert.Equal(await store.Content.ReadBytesAsync(layer.Digest), await target.Content.ReadBytesAsync(layer.Digest));
    }

    [Fact]
    public async Task A_download_that_stalls_is_dropped_after_the_stall_timeout_and_resumed()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var store = ClientKit.Store(temp, "a");
        var image = await ClientKit.RandomImageAsync(store, "app:v1", layers: 1, layerSize: 2 << 20);
        using (var pusher = ClientKit.Client(store))
        {
            await pusher.PushAsync("app:v1", $"{registry.HostPort}/team/app:v1");
        }
        await using var proxy = new LoopbackProxy(int.Parse(registry.HostPort.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture))
        {
            StallOnceAfterBytes = 512 * 1024,
        };
        var target = ClientKit.Store(temp, "b");
        using var client = new RegistryClient(target, new RegistryClientOptions { StallTimeout = TimeSpan.FromSeconds(1), RetryDelay = TimeSpan.FromMilliseconds(50) });
        var log = new ProgressLog();
        var pulled = await client.PullAsync($"{proxy.HostPort}/team/app:v1", progress: log);
        Assert.True(proxy.HasStalled);
        Assert.Equal(image.Digest, pulled.Target.Digest);
        var retry = Assert.Single(log.Events, e => e.Status == TransferStatus.Retrying);
        Assert.Contains("no data for 1 s", retry.Message);
        Assert.Contains($"Range: bytes={retry.Current}-", proxy.Sent, StringComparison.Ordinal);
    }
}
