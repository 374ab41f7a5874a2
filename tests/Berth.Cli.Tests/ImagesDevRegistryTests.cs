using Berth.Cli.Commands;
using Berth.Cli.Progress;
using Berth.Core;
using Berth.Images.Distribution;
using Berth.Registry;
using Berth.Testing;

namespace Berth.Cli.Tests;

/// <summary>`berth images-dev pull|push|login|logout|tags` and the progress renderer, against a registry on loopback.</summary>
public sealed class ImagesDevRegistryTests
{
    private static async Task<(int Code, string Output)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        var code = await ImagesDevCommands.RunAsync(args, output);
        return (code, output.ToString());
    }

    [Fact]
    public async Task Push_then_pull_print_docker_style_plain_lines_when_not_a_terminal()
    {
        using var temp = new TempDirectory();
        await using var registry = await RegistryServer.StartAsync(new RegistryOptions { RootDirectory = temp.Combine("registry"), ListenAddress = "127.0.0.1:0" });
        var a = temp.Combine("a");
        var b = temp.Combine("b");
        Assert.Equal(0, (await RunAsync("busybox", "--root", a)).Code);

        var push = await RunAsync("push", "busybox:latest", $"{registry.HostPort}/lib/busybox:v1", "--root", a);
        Assert.Equal(0, push.Code);
        Assert.Contains($"The push refers to repository [{registry.HostPort}/lib/busybox]", push.Output);
        Assert.Contains(": Pushed", push.Output);
        Assert.DoesNotContain("\u001b[", push.Output);
        Assert.Matches(@"v1: digest: sha256:[0-9a-f]{64} size: \d+", push.Output);

        var pull = await RunAsync("pull", $"{registry.HostPort}/lib/busybox:v1", "--root", b);
        Assert.Equal(0, pull.Code);
        Assert.Contains("v1: Pulling from " + registry.HostPort + "/lib/busybox", pull.Output);
        Assert.Contains(": Pull complete", pull.Output);
        Assert.Contains("Status: Downloaded newer image for " + registry.HostPort + "/lib/busybox:v1", pull.Output);
        var again = await RunAsync("pull", $"{registry.HostPort}/lib/busybox:v1", "--root", b);
        Assert.Contains(": Already exists", again.Output);
        Assert.Contains("Status: Image is up to date", again.Output);

        var ls = await RunAsync("ls", "--root", b);
        Assert.Contains($"{registry.HostPort}/lib/busybox:v1\tsha256:", ls.Output);
        Assert.Equal("v1", (await RunAsync("tags", $"{registry.HostPort}/lib/busybox", "--root", b)).Output.Trim());

        var missing = await Assert.ThrowsAsync<BerthException>(() => RunAsync("pull", $"{registry.HostPort}/lib/busybox:v9", "--root", b));
        Assert.StartsWith($"manifest unknown: {registry.HostPort}/lib/busybox:v9", missing.Message);
    }

    [Fact]
    public async Task Login_and_logout_write_the_given_config_file()
    {
        using var temp = new TempDirectory();
        var htpasswd = temp.Combine("htpasswd");
        Berth.Testing.Cli.Run("htpasswd", ["-B", "-b", "-c", htpasswd, "alice", "wonderland"]).Ok();
        await using var registry = await RegistryServer.StartAsync(new RegistryOptions { RootDirectory = temp.Combine("registry"), ListenAddress = "127.0.0.1:0", HtpasswdFile = htpasswd });
        var config = temp.Combine("config.json");
        var root = temp.Combine("a");
        await RunAsync("busybox", "--root", root);

        var anonymous = await Assert.ThrowsAsync<BerthException>(() => RunAsync("push", "busybox", $"{registry.HostPort}/x/busybox:v1", "--root", root, "--config", config));
        Assert.Contains($"run `berth login {registry.HostPort}`", anonymous.Message);
        var wrong = await Assert.ThrowsAsync<BerthException>(() => RunAsync("login", registry.HostPort, "--username", "alice", "--password", "nope", "--config", config, "--root", root));
        Assert.Equal(ErrorCode.PermissionDenied, wrong.Code);
        Assert.False(File.Exists(config));

        var login = await RunAsync("login", registry.HostPort, "--username", "alice", "--password", "wonderland", "--config", config, "--root", root);
        Assert.Contains("Login Succeeded", login.Output);
        Assert.Equal(0, (await RunAsync("push", "busybox", $"{registry.HostPort}/x/busybox:v1", "--root", root, "--config", config, "--quiet")).Code);
        Assert.Contains("Removing login credentials", (await RunAsync("logout", registry.HostPort, "--config", config, "--root", root)).Output);
        Assert.Contains("Not logged in", (await RunAsync("logout", registry.HostPort, "--config", config, "--root", root)).Output);
    }

    [Fact]
    public void Terminal_rendering_redraws_bars_in_place_and_plain_rendering_prints_status_changes_once()
    {
        var digest = Digest.Compute("layer"u8);
        var id = TransferProgress.ShortId(digest);
        using var tty = new StringWriter();
        var bars = new TransferProgressRenderer(tty, terminal: true);
        bars.Report(new TransferProgress(id, digest, TransferStatus.Waiting, 0, 4_000_000));
        bars.Report(new TransferProgress(id, digest, TransferStatus.Downloading, 2_000_000, 4_000_000));
        bars.Report(new TransferProgress(id, digest, TransferStatus.Done, 4_000_000, 4_000_000));
        bars.Complete();
        Assert.Contains("\u001b[1A", tty.ToString());
        Assert.EndsWith(id + ": Pull complete\n", tty.ToString());

        using var plain = new StringWriter();
        var lines = new TransferProgressRenderer(plain, terminal: false);
        lines.Report(new TransferProgress(id, digest, TransferStatus.Downloading, 1, 4_000_000));
        lines.Report(new TransferProgress(id, digest, TransferStatus.Downloading, 2_000_000, 4_000_000));
        lines.Report(new TransferProgress(id, digest, TransferStatus.Done, 4_000_000, 4_000_000));
        Assert.Equal([id + ": Downloading 4MB", id + ": Pull complete"], plain.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("[" + new string('=', 19) + ">" + new string(' ', 20) + "]", TransferProgressRenderer.Bar(2, 4)); // half of 40 columns
        Assert.Equal("[" + new string(' ', 40) + "]", TransferProgressRenderer.Bar(0, 4));
    }
}
