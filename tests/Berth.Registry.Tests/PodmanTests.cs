using Berth.Testing;

namespace Berth.Registry.Tests;

/// <summary>podman push/pull against the registry, with an image made by `podman import` of a small directory.</summary>
public sealed class PodmanTests
{
    private sealed class Podman(TempDirectory temp)
    {
        private readonly string[] _global =
        [
            "--root", temp.Combine("podman-root"), "--runroot", temp.Combine("podman-run"),
            "--storage-driver", "vfs", "--events-backend", "file", "--cgroup-manager", "cgroupfs",
        ];

        public string AuthFile { get; } = CreateAuthFile(temp.Combine("auth.json"));

        private static string CreateAuthFile(string path)
        {
            File.WriteAllText(path, "{}");
            return path;
        }

        public Task<Tool.Result> RunAsync(params string[] args) =>
            Tool.RunAsync("podman", [.. _global, .. args], env: new Dictionary<string, string> { ["REGISTRY_AUTH_FILE"] = AuthFile });

        public async Task<string> ImportAsync(string reference)
        {
            var dir = Path.Combine(temp.Path, "ctx");
            Directory.CreateDirectory(Path.Combine(dir, "etc"));
            File.WriteAllText(Path.Combine(dir, "etc", "motd"), "hello from berth " + Guid.NewGuid());
            File.WriteAllBytes(Path.Combine(dir, "data.bin"), System.Security.Cryptography.RandomNumberGenerator.GetBytes(200_000));
            var tar = temp.Combine("ctx.tar");
            (await Tool.RunAsync("tar", ["-C", dir, "-cf", tar, "."])).Check("tar");
            return (await RunAsync("import", tar, reference)).Check("podman import").Stdout.Trim();
        }
    }

    [Fact]
    public async Task Push_and_pull_without_auth()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryHost.StartAsync();
        var podman = new Podman(temp);
        var id = await podman.ImportAsync("localhost/berth-test:1");
        var remote = $"{registry.HostPort}/podman/test:1";
        var digestFile = temp.Combine("digest");

        (await podman.RunAsync("push", "--tls-verify=false", "--digestfile", digestFile, "localhost/berth-test:1", "docker://" + remote)).Check("podman push");
        (await podman.RunAsync("rmi", "-a", "-f")).Check("podman rmi");
        (await podman.RunAsync("pull", "--tls-verify=false", remote)).Check("podman pull");

        var pushedDigest = File.ReadAllText(digestFile).Trim();
        var pulledDigest = (await podman.RunAsync("image", "inspect", "--format", "{{.Digest}}", remote)).Check("inspect").Stdout.Trim();
        Assert.Equal(pushedDigest, pulledDigest);
        var pulledId = (await podman.RunAsync("image", "inspect", "--format", "{{.Id}}", remote)).Check("inspect id").Stdout.Trim();
        Assert.Equal(id.Replace("sha256:", "", StringComparison.Ordinal), pulledId);
    }

    [Fact]
    public async Task Login_push_and_pull_with_htpasswd_and_with_tokens()
    {
        using var temp = new TempDirectory();
        var htpasswd = temp.Combine("htpasswd");
        (await Tool.RunAsync("htpasswd", ["-B", "-b", "-c", htpasswd, "carol", "s3cret"])).Check("htpasswd");

        foreach (var token in new[] { false, true })
        {
            await using var registry = await RegistryHost.StartAsync(root => new RegistryOptions
            {
                RootDirectory = root,
                HtpasswdFile = htpasswd,
                Token = token ? new RegistryTokenOptions() : null,
            });
            using var podmanTemp = new TempDirectory();
            var podman = new Podman(podmanTemp);
            await podman.ImportAsync("localhost/berth-auth:1");
            var remote = $"{registry.HostPort}/secure/app:1";

            var refused = await podman.RunAsync("push", "--tls-verify=false", "localhost/berth-auth:1", "docker://" + remote);
            Assert.NotEqual(0, refused.ExitCode);

            var badLogin = await podman.RunAsync("login", "--tls-verify=false", "-u", "carol", "-p", "wrong", registry.HostPort);
            Assert.NotEqual(0, badLogin.ExitCode);
            (await podman.RunAsync("login", "--tls-verify=false", "-u", "carol", "-p", "s3cret", registry.HostPort)).Check("podman login");
            (await podman.RunAsync("push", "--tls-verify=false", "localhost/berth-auth:1", "docker://" + remote)).Check("podman push after login");
            (await podman.RunAsync("rmi", "-a", "-f")).Check("podman rmi");
            (await podman.RunAsync("pull", "--tls-verify=false", remote)).Check("podman pull after login");
            (await podman.RunAsync("logout", registry.HostPort)).Check("podman logout");
            (await podman.RunAsync("rmi", "-a", "-f")).Check("podman rmi");
            var anonymousPull = await podman.RunAsync("pull", "--tls-verify=false", remote);
            Assert.NotEqual(0, anonymousPull.ExitCode);
            (await podman.RunAsync("pull", "--tls-verify=false", "--creds", "carol:s3cret", remote)).Check("podman pull --creds");
        }
    }
}
