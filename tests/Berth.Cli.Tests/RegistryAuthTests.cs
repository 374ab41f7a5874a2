using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Berth.Testing;
using Proc = Berth.Testing.Cli;

namespace Berth.Cli.Tests;

/// <summary>
/// login / push / pull / logout through the engine to Debian's docker-registry 2.8 with htpasswd auth on
/// loopback: the credentials go to a docker-compatible config.json and travel as X-Registry-Auth.
/// </summary>
[Collection(EngineCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class RegistryAuthTests(EngineFixture engine)
{
    [Fact]
    public void Login_push_pull_logout_against_a_password_protected_registry()
    {
        using var dir = new TempDirectory();
        var port = FreePort();
        Proc.Run("htpasswd", ["-Bbc", dir.Combine("htpasswd"), "alice", "s3cret"]).Ok();
        File.WriteAllText(dir.Combine("config.yml"), $"""
            version: 0.1
            storage:
              filesystem:
                rootdirectory: {dir.Combine("data")}
            http:
              addr: 127.0.0.1:{port}
            auth:
              htpasswd:
                realm: test
                path: {dir.Combine("htpasswd")}
            """);
        using var registry = Process.Start(new ProcessStartInfo("docker-registry", ["serve", dir.Combine("config.yml")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        registry.BeginOutputReadLine();
        registry.BeginErrorReadLine();
        try
        {
            WaitForPort(port);
            var image = $"localhost:{port}/cli/bb:1";
            engine.Berth("tag", "busybox", image).Ok();

            var denied = engine.Berth("push", image);
            Assert.Equal(1, denied.ExitCode);
            // dockerd says "no basic auth credentials", berth daemon "unauthorized: ..."; either way a one-line refusal.
            Assert.Matches("^berth: .*(no basic auth credentials|unauthorized)", denied.Stderr);

            var wrong = engine.Berth(["login", "-u", "alice", "--password-stdin", $"localhost:{port}"], stdin: "wrong\n");
            Assert.Equal(1, wrong.ExitCode);
            Assert.StartsWith("berth: Error response from daemon: ", wrong.Stderr, StringComparison.Ordinal);

            Assert.Contains("Login Succeeded", engine.Berth(["login", "-u", "alice", "--password-stdin", $"localhost:{port}"], stdin: "s3cret\n").Ok().Stdout, StringComparison.Ordinal);
            var push = engine.Berth("push", image).Ok().Stdout;
            Assert.Matches(@"1: digest: sha256:[0-9a-f]{64}", push);

            engine.Berth("rmi", image).Ok();
            var pull = engine.Berth("pull", image).Ok().Stdout;
            Assert.Contains("Status: Downloaded newer image for " + image, pull, StringComparison.Ordinal);
            Assert.Equal("pulled\n", engine.Berth("run", "--rm", "--network", "none", image, "echo", "pulled").Ok().Stdout);

            Assert.Contains($"Removing login credentials for localhost:{port}", engine.Berth("logout", $"localhost:{port}").Ok().Stdout, StringComparison.Ordinal);
            engine.Berth("rmi", image).Ok();
            Assert.Equal(1, engine.Berth("pull", image).ExitCode);
        }
        finally
        {
            registry.Kill();
            registry.WaitForExit();
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static void WaitForPort(int port)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(100);
            }
        }
    }
}
