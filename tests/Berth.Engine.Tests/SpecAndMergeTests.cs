using Berth.Core;
using Berth.Engine.Api;
using Berth.Engine.Containers;
using Berth.Oci.Image;

namespace Berth.Engine.Tests;

/// <summary>Unit tests (no root): config merge, OCI spec generation, signals, filters, restart backoff, log lines.</summary>
public sealed class SpecAndMergeTests
{
    private static readonly ContainerConfig Image = new()
    {
        Entrypoint = ["/entry"],
        Cmd = ["serve", "--port", "80"],
        Env = ["PATH=/usr/bin", "A=image", "B=image"],
        User = "www",
        WorkingDir = "/srv",
        Labels = new Dictionary<string, string> { ["from"] = "image", ["both"] = "image" },
        StopSignal = "SIGQUIT",
        Healthcheck = new HealthConfig { Test = ["CMD", "true"], Interval = 5_000_000_000, Retries = 2 },
    };

    [Fact]
    public void Request_cmd_replaces_the_image_cmd_and_keeps_the_entrypoint()
    {
        var m = ConfigMerge.Merge(new ContainerCreateRequest { Cmd = ["run"] }, Image);
        Assert.Equal(["/entry", "run"], ConfigMerge.Command(m));
    }

    [Fact]
    public void An_explicit_entrypoint_drops_the_image_cmd_and_empty_entrypoint_clears_it()
    {
        Assert.Equal(["/bin/sh"], ConfigMerge.Command(ConfigMerge.Merge(new ContainerCreateRequest { Entrypoint = ["/bin/sh"] }, Image)));
        Assert.Equal(["ls"], ConfigMerge.Command(ConfigMerge.Merge(new ContainerCreateRequest { Entrypoint = [""], Cmd = ["ls"] }, Image)));
        var e = Assert.Throws<BerthException>(() => ConfigMerge.Command(ConfigMerge.Merge(new ContainerCreateRequest { Entrypoint = [""] }, Image)));
        Assert.Contains("no command specified", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Env_labels_user_workdir_stopsignal_and_healthcheck_merge_like_docker()
    {
        var m = ConfigMerge.Merge(new ContainerCreateRequest
        {
            Env = ["B=request", "C=request"],
            Labels = new Dictionary<string, string> { ["both"] = "request" },
            Healthcheck = new HealthcheckConfig { Interval = 1_000_000_000 },
        }, Image);
        Assert.Equal(["PATH=/usr/bin", "A=image", "B=request", "C=request"], m.Env);
        Assert.Equal("request", m.Labels!["both"]);
        Assert.Equal("image", m.Labels["from"]);
        Assert.Equal("www", m.User);
        Assert.Equal("/srv", m.WorkingDir);
        Assert.Equal("SIGQUIT", m.StopSignal);
        Assert.Equal(["CMD", "true"], m.Healthcheck!.Test);
        Assert.Equal(1_000_000_000, m.Healthcheck.Interval);
        Assert.Equal(2, m.Healthcheck.Retries);
        Assert.Null(ConfigMerge.Merge(new ContainerCreateRequest { Healthcheck = new HealthcheckConfig { Test = ["NONE"] } }, Image).Healthcheck);
        Assert.Throws<BerthException>(() => ConfigMerge.MergeEnv(null, ["=x"]));
    }

    private static ContainerRecord Record(HostConfig h, bool tty = false) => new()
    {
        Id = new string('a', 64),
        Name = "/t",
        Path = "sh",
        Args = ["-c", "true"],
        Config = new ContainerCreateRequest { Tty = tty, Env = ["X=1"], WorkingDir = "/w" },
        HostConfig = h,
    };

    [Fact]
    public void Spec_carries_resources_caps_mounts_and_namespaces()
    {
        using var dir = new Berth.Testing.TempDirectory("spec");
        var spec = SpecGenerator.Generate(Record(new HostConfig
        {
            Memory = 64 << 20,
            NanoCpus = 1_500_000_000,
            CpuShares = 512,
            PidsLimit = 100,
            CapAdd = ["sys_admin"],
            CapDrop = ["CAP_NET_RAW", "mknod"],
            ReadonlyRootfs = true,
            Binds = [dir.Path + ":/data:ro"],
            Tmpfs = new Dictionary<string, string> { ["/run"] = "size=1m" },
            Mounts = [new MountSpec { Type = "tmpfs", Target = "/cache", TmpfsOptions = new TmpfsOptions { SizeBytes = 4096 } }],
            NetworkMode = "none",
        }), dir.Path, null, hostNetwork: false);
        Assert.Equal(64L << 20, spec.Linux!.Resources!.Memory!.Limit);
        Assert.Equal(150_000, spec.Linux.Resources.Cpu!.Quota);
        Assert.Equal(100_000UL, spec.Linux.Resources.Cpu.Period);
        Assert.Equal(512UL, spec.Linux.Resources.Cpu.Shares);
        Assert.Equal(100, spec.Linux.Resources.Pids!.Limit);
        var caps = spec.Process!.Capabilities!.Bounding!;
        Assert.Contains("CAP_SYS_ADMIN", caps);
        Assert.DoesNotContain("CAP_NET_RAW", caps);
        Assert.DoesNotContain("CAP_MKNOD", caps);
        Assert.True(spec.Root!.Readonly);
        Assert.Contains(spec.Mounts!, m => m.Destination == "/data" && m.Type == "bind" && m.Options!.Contains("ro"));
        Assert.Contains(spec.Mounts!, m => m.Destination == "/run" && m.Type == "tmpfs" && m.Options!.Contains("size=1m"));
        Assert.Contains(spec.Mounts!, m => m.Destination == "/cache" && m.Options!.Contains("size=4096"));
        Assert.Contains(spec.Linux.Namespaces!, n => n.Type == "network");
        Assert.Equal("/w", spec.Process.Cwd);
        Assert.Contains("X=1", spec.Process.Env!);
        Assert.Contains(spec.Process.Env!, e => e.StartsWith("PATH=", StringComparison.Ordinal));
        Assert.Equal("/berth/" + new string('a', 64), spec.Linux.CgroupsPath);
        Assert.NotNull(spec.Linux.MaskedPaths);
    }

    [Fact]
    public void Host_network_privileged_and_init()
    {
        using var dir = new Berth.Testing.TempDirectory("spec");
        var init = dir.Combine("berth-init");
        File.WriteAllText(init, "");
        var spec = SpecGenerator.Generate(Record(new HostConfig { Privileged = true, Init = true, NetworkMode = "host" }, tty: true), dir.Path, init, hostNetwork: true);
        Assert.DoesNotContain(spec.Linux!.Namespaces!, n => n.Type == "network");
        Assert.Equal(SpecGenerator.HostCapabilities(), spec.Process!.Capabilities!.Bounding);
        Assert.Contains("CAP_SYS_ADMIN", spec.Process.Capabilities.Bounding!);
        Assert.Null(spec.Linux.MaskedPaths);
        Assert.True(spec.Linux.Resources!.Devices![0].Allow);
        Assert.Equal(["/sbin/docker-init", "--", "sh", "-c", "true"], spec.Process.Args);
        Assert.Contains(spec.Mounts!, m => m.Destination == "/sbin/docker-init" && m.Source == init);
        Assert.True(spec.Process.Terminal);
        Assert.Contains("TERM=xterm", spec.Process.Env!);
        var missingInit = Assert.Throws<BerthException>(() => SpecGenerator.Generate(Record(new HostConfig { Init = true }), dir.Path, null, false));
        Assert.Contains("berth-init", missingInit.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validation_reports_every_problem_at_once()
    {
        var e = Assert.Throws<BerthException>(() => SpecGenerator.Validate(Record(new HostConfig
        {
            Memory = 1024,
            CapAdd = ["NOPE"],
            Binds = ["rel/ative:/x:ro"],
            RestartPolicy = new RestartPolicy { Name = "sometimes" },
        })));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Contains("minimum allowed memory", e.Message, StringComparison.Ordinal);
        Assert.Contains("unknown capability", e.Message, StringComparison.Ordinal);
        Assert.Contains("includes invalid characters for a local volume name", e.Message, StringComparison.Ordinal);
        Assert.Contains("invalid restart policy", e.Message, StringComparison.Ordinal);
        Assert.Throws<BerthException>(() => SpecGenerator.ParseBind("/a:/b:rx"));
        Assert.Throws<BerthException>(() => SpecGenerator.ConvertMount(new MountSpec { Type = "volume", Target = "v" }));
    }

    [Fact]
    public void Published_port_specs()
    {
        var bindings = System.Text.Json.Nodes.JsonNode.Parse(
            """{"80/tcp":[{"HostIp":"","HostPort":"8080"}],"53/udp":[{"HostIp":"127.0.0.1","HostPort":""}],"90":[{"HostIp":"0.0.0.0","HostPort":"9000-9005"}]}""")!.AsObject();
        var h = new HostConfig { PortBindings = bindings, PublishAllPorts = true };
        var config = new ContainerCreateRequest { ExposedPorts = new() { ["80/tcp"] = [], ["443/tcp"] = [] } };
        var r = Berth.Engine.Networks.PublishedPorts.Requests(h, config);
        Assert.Equal(
            ["80/tcp :8080-8080", "53/udp 127.0.0.1:0-0", "90/tcp :9000-9005", "443/tcp :0-0"],
            r.Select(x => $"{x.Key} {x.HostIp}:{x.HostPortStart}-{x.HostPortEnd}").ToArray());
        Assert.Equal("invalid containerPort: 8o", Assert.Throws<BerthException>(() => Berth.Engine.Networks.PublishedPorts.ParseKey("8o/tcp")).Message);
        Assert.Equal("invalid proto: icmp", Assert.Throws<BerthException>(() => Berth.Engine.Networks.PublishedPorts.ParseKey("80/icmp")).Message);
        var bad = new HostConfig { PortBindings = System.Text.Json.Nodes.JsonNode.Parse("""{"80/tcp":[{"HostPort":"99999"}]}""")!.AsObject() };
        Assert.Equal("invalid hostPort: 99999", Assert.Throws<BerthException>(() => Berth.Engine.Networks.PublishedPorts.Requests(bad, config)).Message);
    }

    [Theory]
    [InlineData("SIGTERM", 15)]
    [InlineData("term", 15)]
    [InlineData("KILL", 9)]
    [InlineData("9", 9)]
    [InlineData("SIGRTMIN+1", 35)]
    public void Signals_parse(string name, int number) => Assert.Equal(number, Signals.Parse(name));

    [Fact]
    public void Bad_signal_is_an_error() => Assert.Throws<BerthException>(() => Signals.Parse("SIGNOPE"));

    [Fact]
    public void Restart_policy_and_backoff()
    {
        Assert.True(Container.ShouldRestart("always", 0, 0, 5, false, false));
        Assert.False(Container.ShouldRestart("always", 0, 0, 5, stoppedByUser: true, false));
        Assert.True(Container.ShouldRestart("on-failure", 2, 1, 1, false, false));
        Assert.False(Container.ShouldRestart("on-failure", 2, 1, 2, false, false));
        Assert.False(Container.ShouldRestart("on-failure", 0, 0, 0, false, false));
        Assert.False(Container.ShouldRestart("no", 0, 1, 0, false, false));
        Assert.False(Container.ShouldRestart("unless-stopped", 0, 1, 0, true, true));
        var d = TimeSpan.Zero;
        d = Container.NextDelay(d, TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromMilliseconds(100), d);
        d = Container.NextDelay(d, TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromMilliseconds(200), d);
        for (var i = 0; i < 20; i++)
        {
            d = Container.NextDelay(d, TimeSpan.FromSeconds(1));
        }
        Assert.Equal(TimeSpan.FromMinutes(1), d);
        Assert.Equal(TimeSpan.FromMilliseconds(100), Container.NextDelay(d, TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void Filters_accept_both_docker_forms()
    {
        var a = DockerApiHandler.Filters("{\"status\":[\"running\",\"exited\"]}");
        Assert.Equal(["running", "exited"], a["status"]);
        var b = DockerApiHandler.Filters("{\"label\":{\"a=b\":true}}");
        Assert.Equal(["a=b"], b["label"]);
        Assert.Throws<BerthException>(() => DockerApiHandler.Filters("{bad"));
    }

    [Fact]
    public void Log_lines_and_sizes_parse()
    {
        var e = LogReader.Parse("{\"log\":\"hi\\n\",\"stream\":\"stderr\",\"time\":\"2024-01-02T03:04:05.123456789Z\"}"u8);
        Assert.NotNull(e);
        Assert.Equal(2, e.Value.Stream);
        Assert.Equal("hi\n", System.Text.Encoding.UTF8.GetString(e.Value.Data));
        Assert.Null(LogReader.Parse("not json"u8));
        Assert.Equal(10L * 1024 * 1024, Container.ParseSize("10m"));
        Assert.Equal(1536, Container.ParseSize("1.5k"));
        Assert.Throws<BerthException>(() => Container.ParseSize("ten"));
    }

    [Fact]
    public void Users_resolve_from_the_rootfs()
    {
        using var dir = new Berth.Testing.TempDirectory("users");
        Directory.CreateDirectory(dir.Combine("etc"));
        File.WriteAllText(dir.Combine("etc", "passwd"), "root:x:0:0::/root:/bin/sh\nwww:x:33:33::/var/www:/bin/sh\n");
        File.WriteAllText(dir.Combine("etc", "group"), "root:x:0:\nwww:x:33:\nextra:x:50:www\n");
        var u = UserResolver.Resolve(dir.Path, "www");
        Assert.Equal((33u, 33u), (u.Uid, u.Gid));
        Assert.Equal([50u], u.AdditionalGids);
        Assert.Equal((1000u, 50u), (UserResolver.Resolve(dir.Path, "1000:extra").Uid, UserResolver.Resolve(dir.Path, "1000:extra").Gid));
        Assert.Throws<BerthException>(() => UserResolver.Resolve(dir.Path, "nobody"));
    }

    [Fact]
    public void Paths_resolve_inside_the_root()
    {
        using var dir = new Berth.Testing.TempDirectory("resolve");
        Directory.CreateDirectory(dir.Combine("a"));
        File.CreateSymbolicLink(dir.Combine("escape"), "/etc");
        File.CreateSymbolicLink(dir.Combine("a", "up"), "../../../..");
        Assert.Equal(dir.Combine("etc", "passwd"), TarDirectory.Resolve(dir.Path, "/escape/passwd"));
        Assert.Equal(dir.Path, TarDirectory.Resolve(dir.Path, "/a/up"));
        Assert.Equal(dir.Combine("escape"), TarDirectory.Resolve(dir.Path, "/escape", followLast: false));
    }
}

public sealed class RequestHeadTests
{
    [Theory]
    [InlineData("GET /version HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET /version HTTP/1.1\r\nUser-Agent: Docker.DotNet\nHost: x:80\nConnection: close\n\r\n")]
    [InlineData("GET /version HTTP/1.1\nHost: x\n\n")]
    public void The_end_of_a_request_head_is_found_with_crlf_or_bare_lf(string head)
    {
        var bytes = System.Text.Encoding.ASCII.GetBytes(head + "BODY");
        Assert.Equal(head.Length, Api.DockerApiServer.FindHeadEnd(new System.Buffers.ReadOnlySequence<byte>(bytes)));
        var parsed = Api.RawRequest.Parse(head)!;
        Assert.Equal("/version", parsed.Path);
        Assert.True(parsed.Headers.ContainsKey("host"));
    }

    [Fact]
    public void An_incomplete_head_is_not_an_end() =>
        Assert.Null(Api.DockerApiServer.FindHeadEnd(new System.Buffers.ReadOnlySequence<byte>("GET / HTTP/1.1\r\nHost: x\r\n"u8.ToArray())));
}
