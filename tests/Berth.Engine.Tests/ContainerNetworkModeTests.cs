using Berth.Testing;

namespace Berth.Engine.Tests;

/// <summary>--network container:NAME|ID with the docker CLI: one network namespace shared by two containers.</summary>
[Collection(EngineCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class ContainerNetworkModeTests(EngineFixture f)
{
    private static string Unique(string prefix) => prefix + Guid.NewGuid().ToString("N")[..6];

    private string Inspect(string format, string container) => f.Run("inspect", "-f", format, container).Ok().Stdout.Trim();

    [Fact]
    public void A_joined_container_shares_interfaces_address_loopback_and_hostname()
    {
        var net = Unique("cn");
        var subnet = $"10.{200 + Random.Shared.Next(50)}.{Random.Shared.Next(256)}.0/24";
        f.Run("network", "create", "--subnet", subnet, net).Ok();
        var srv = Unique("srv");
        var joined = Unique("joined");
        var netnsDir = Path.Combine(f.Root, "exec", "netns");
        int Pinned() => Directory.Exists(netnsDir) ? Directory.EnumerateFiles(netnsDir).Count() : 0;
        var before = Pinned();
        try
        {
            // A server that only listens on 127.0.0.1: only something in the same namespace reaches it.
            f.Run("run", "-d", "--name", srv, "--network", net, "busybox", "sh", "-c",
                "mkdir /www && echo only-on-loopback > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www").Ok();
            var srvId = Inspect("{{.Id}}", srv);
            var ip = Inspect($"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", srv);
            var mac = Inspect($"{{{{(index .NetworkSettings.Networks \"{net}\").MacAddress}}}}", srv);

            var seen = f.Run("run", "--rm", "--network", "container:" + srv, "busybox", "sh", "-c",
                "ip -4 -o addr show dev eth0; cat /sys/class/net/eth0/address; hostname; " +
                "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8080/ && break; sleep 0.3; done").Ok().Stdout;
            Assert.Contains($"inet {ip}/24", seen, StringComparison.Ordinal);
            Assert.Contains(mac + "\n", seen, StringComparison.Ordinal);
            Assert.Contains(srvId[..12] + "\n", seen, StringComparison.Ordinal);
            Assert.EndsWith("only-on-loopback\n", seen, StringComparison.Ordinal);
            // From a container with a namespace of its own, 127.0.0.1:8080 is nobody.
            Assert.NotEqual(0, f.Run("run", "--rm", "--network", net, "busybox", "wget", "-T", "2", "-qO-", "http://127.0.0.1:8080/").ExitCode);

            // By ID too; stored as container:<full id>, with no network of its own, and the same /etc/hosts and resolv.conf.
            f.Run("run", "-d", "--name", joined, "--network", "container:" + srvId[..12], "busybox", "sleep", "300").Ok();
            Assert.Equal("container:" + srvId, Inspect("{{.HostConfig.NetworkMode}}", joined));
            Assert.Equal("{}", Inspect("{{json .NetworkSettings.Networks}}", joined));
            Assert.Equal(srvId[..12], Inspect("{{.Config.Hostname}}", joined));
            Assert.Equal(f.Run("exec", srv, "cat", "/etc/hosts", "/etc/resolv.conf").Ok().Stdout, f.Run("exec", joined, "cat", "/etc/hosts", "/etc/resolv.conf").Ok().Stdout);
            Assert.Equal(f.Run("exec", srv, "readlink", "/proc/1/ns/net").Ok().Stdout, f.Run("exec", joined, "readlink", "/proc/1/ns/net").Ok().Stdout);
            Assert.Equal(before + 1, Pinned());

            // Stopping and removing the joined container leaves the target's network alone.
            f.Run("stop", "-t", "1", joined).Ok();
            f.Run("rm", joined).Ok();
            Assert.Equal(0, f.Run("exec", srv, "wget", "-qO-", "http://127.0.0.1:8080/").ExitCode);
            Assert.Equal(before + 1, Pinned());

            // Removing the target while a container shares its namespace: that one keeps running and stops cleanly.
            f.Run("run", "-d", "--name", joined, "--network", "container:" + srv, "busybox", "sleep", "300").Ok();
            f.Run("rm", "-f", srv).Ok();
            Assert.Equal("running", Inspect("{{.State.Status}}", joined));
            f.Run("stop", "-t", "1", joined).Ok();
            f.Run("rm", joined).Ok();
            Assert.Equal(before, Pinned());
        }
        finally
        {
            f.Run("rm", "-f", joined, srv);
            f.Run("network", "rm", net);
        }
        Assert.NotEqual(0, f.Run("network", "inspect", net).ExitCode);
    }

    [Fact]
    public void Joining_a_container_that_does_not_run_fails_with_dockers_errors()
    {
        var target = Unique("target");
        var joiner = Unique("joiner");
        try
        {
            f.Run("create", "--name", target, "--network", "none", "busybox", "sleep", "300").Ok();
            var targetId = Inspect("{{.Id}}", target);
            // Created (as dockerd does), refused at start.
            f.Run("create", "--name", joiner, "--network", "container:" + target, "busybox", "true").Ok();
            var start = f.Run("start", joiner);
            Assert.NotEqual(0, start.ExitCode);
            Assert.Contains($"Error response from daemon: cannot join network of a non running container: {targetId}\n", start.Stderr, StringComparison.Ordinal);
            Assert.Equal("created", Inspect("{{.State.Status}}", joiner));
            var run = f.Run("run", "--rm", "--network", "container:" + target, "busybox", "true");
            Assert.Equal(125, run.ExitCode);
            Assert.Contains("cannot join network of a non running container: " + targetId, run.Stderr, StringComparison.Ordinal);

            // Once it runs, the same container starts; after the target stopped, it is refused again.
            f.Run("start", target).Ok();
            f.Run("start", joiner).Ok();
            f.Run("stop", "-t", "0", target).Ok();
            Assert.Contains("cannot join network of a non running container: " + targetId, f.Run("start", joiner).Stderr, StringComparison.Ordinal);

            var missing = f.Run("run", "--rm", "--network", "container:no-such-container", "busybox", "true");
            Assert.Equal(125, missing.ExitCode);
            Assert.Contains("No such container: no-such-container", missing.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("Unable to find image", missing.Stderr, StringComparison.Ordinal);

            foreach (var (flags, message) in new[]
            {
                (new[] { "--hostname", "h" }, "conflicting options: hostname and the network mode"),
                (["--dns", "10.0.0.53"], "conflicting options: dns and the network mode"),
                (["--add-host", "a:10.0.0.1"], "conflicting options: custom host-to-IP mapping and the network mode"),
                (["-p", "8080:80"], "conflicting options: port publishing and the container type network mode"),
                (["--expose", "80"], "conflicting options: port exposing and the container type network mode"),
            })
            {
                var r = f.Run(["run", "--rm", .. flags, "--network", "container:" + target, "busybox", "true"]);
                Assert.Equal(125, r.ExitCode);
                Assert.Contains(message, r.Stderr, StringComparison.Ordinal);
            }
        }
        finally
        {
            f.Run("rm", "-f", joiner, target);
        }
    }
}
