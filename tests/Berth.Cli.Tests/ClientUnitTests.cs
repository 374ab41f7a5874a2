using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Berth.Cli.Commands.Docker;
using Berth.Cli.Docker;
using Berth.Core;
using Berth.Testing;

namespace Berth.Cli.Tests;

public sealed class StdCopyTests
{
    /// <summary>A stream that returns at most <paramref name="chunk"/> bytes per read, to split frames anywhere.</summary>
    private sealed class Trickle(byte[] data, int chunk) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, chunk));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4096)]
    public async Task Demultiplexes_frames_split_at_any_boundary(int chunk)
    {
        var data = StdCopy.Frame(StdCopy.Stdout, "hello "u8)
            .Concat(StdCopy.Frame(StdCopy.Stderr, "oops\n"u8))
            .Concat(StdCopy.Frame(StdCopy.Stdout, "world\n"u8))
            .Concat(StdCopy.Frame(StdCopy.Stdout, new byte[100_000]))
            .Concat(StdCopy.Frame(StdCopy.Stdout, ReadOnlySpan<byte>.Empty)).ToArray();
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var (o, e) = await StdCopy.DemultiplexAsync(new Trickle(data, chunk), stdout, stderr, CancellationToken.None);
        Assert.Equal(12 + 100_000, o);
        Assert.Equal(5, e);
        Assert.Equal("hello world\n", Encoding.UTF8.GetString(stdout.ToArray(), 0, 12));
        Assert.Equal("oops\n", Encoding.UTF8.GetString(stderr.ToArray()));
    }

    [Fact]
    public async Task Rejects_a_raw_stream_and_a_truncated_frame()
    {
        var raw = new MemoryStream("hello from a tty\n"u8.ToArray());
        var e = await Assert.ThrowsAsync<BerthException>(() => StdCopy.DemultiplexAsync(raw, Stream.Null, Stream.Null, CancellationToken.None));
        Assert.Contains("tty", e.Message, StringComparison.Ordinal);

        var truncated = new MemoryStream(StdCopy.Frame(StdCopy.Stdout, "abcdef"u8)[..10]);
        await Assert.ThrowsAsync<BerthException>(() => StdCopy.DemultiplexAsync(truncated, Stream.Null, Stream.Null, CancellationToken.None));
    }

    [Fact]
    public async Task System_error_frame_becomes_the_error()
    {
        var data = StdCopy.Frame(StdCopy.SystemErr, "container vanished"u8);
        var e = await Assert.ThrowsAsync<BerthException>(() => StdCopy.DemultiplexAsync(new MemoryStream(data), Stream.Null, Stream.Null, CancellationToken.None));
        Assert.Contains("container vanished", e.Message, StringComparison.Ordinal);
    }
}

public sealed class TableAndUnitsTests
{
    [Fact]
    public void Table_pads_columns_like_docker()
    {
        var t = new TableWriter("CONTAINER ID", "IMAGE", "NAMES");
        t.Add("31c00eb8cb21", "busybox", "web");
        t.Add("aa", "b", "a-much-longer-name");
        var lines = t.ToString().Split('\n');
        Assert.Equal("CONTAINER ID   IMAGE     NAMES", lines[0]);
        Assert.Equal("31c00eb8cb21   busybox   web", lines[1]);
        Assert.Equal("aa             b         a-much-longer-name", lines[2]);
    }

    [Theory]
    [InlineData("512m", 512L * 1024 * 1024)]
    [InlineData("512M", 512L * 1024 * 1024)]
    [InlineData("1g", 1L << 30)]
    [InlineData("1.5g", 3L << 29)]
    [InlineData("100k", 102400)]
    [InlineData("64mb", 64L << 20)]
    [InlineData("2048", 2048)]
    [InlineData("10b", 10)]
    public void Sizes_parse_as_binary_multiples(string text, long bytes) => Assert.Equal(bytes, Units.ParseBytes(text, "--memory"));

    [Theory]
    [InlineData("lots")]
    [InlineData("12x")]
    [InlineData("")]
    public void Bad_sizes_are_usage_errors(string text)
    {
        var e = Assert.Throws<UsageException>(() => Units.ParseBytes(text, "--memory"));
        Assert.Contains("--memory", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1.5", 1_500_000_000L)]
    [InlineData("0.25", 250_000_000L)]
    [InlineData("2", 2_000_000_000L)]
    public void Cpus_become_nano_cpus(string text, long nano) => Assert.Equal(nano, Units.ParseNanoCpus(text));

    [Fact]
    public void Cpus_reject_nonsense() => Assert.Throws<UsageException>(() => Units.ParseNanoCpus("many"));

    [Theory]
    [InlineData("30s", 30_000_000_000L)]
    [InlineData("1m30s", 90_000_000_000L)]
    [InlineData("500ms", 500_000_000L)]
    [InlineData("1h", 3_600_000_000_000L)]
    public void Durations_parse_like_go(string text, long nanos) => Assert.Equal(nanos, Units.ParseDurationNanos(text, "--health-interval"));

    [Theory]
    [InlineData(0, "0B")]
    [InlineData(999, "999B")]
    [InlineData(1_980_000, "1.98MB")]
    [InlineData(4_264_000, "4.26MB")]
    [InlineData(1_000_000_000, "1GB")]
    public void Human_sizes_match_docker_images(double bytes, string text) => Assert.Equal(text, Units.HumanSize(bytes));

    [Fact]
    public void Human_durations_match_docker()
    {
        Assert.Equal("Less than a second", Units.HumanDuration(TimeSpan.FromMilliseconds(200)));
        Assert.Equal("5 seconds", Units.HumanDuration(TimeSpan.FromSeconds(5)));
        Assert.Equal("About a minute", Units.HumanDuration(TimeSpan.FromSeconds(70)));
        Assert.Equal("3 hours", Units.HumanDuration(TimeSpan.FromHours(3)));
        Assert.Equal("3 days", Units.HumanDuration(TimeSpan.FromDays(3)));
    }

    [Fact]
    public void Api_versions_compare_numerically()
    {
        Assert.Equal("1.9", DockerApiClient.Lower("1.9", "1.41"));
        Assert.Equal("1.41", DockerApiClient.Lower("1.50", "1.41"));
        Assert.True(DockerApiClient.Compare("1.43", "1.43") == 0);
    }
}

public sealed class FlagParsingTests
{
    private static ParsedFlags ParseRun(params string[] args) => RunCommands.Run.Flags.Parse(args);

    [Fact]
    public void Combined_short_flags_and_the_image_stops_parsing()
    {
        var f = ParseRun("-dit", "--rm", "--name=web", "-eA=1", "-e", "B=2", "busybox", "sh", "-c", "ls -l --all");
        Assert.True(f.Bool("detach") && f.Bool("interactive") && f.Bool("tty") && f.Bool("rm"));
        Assert.Equal("web", f.Value("name"));
        Assert.Equal(["A=1", "B=2"], f.List("env"));
        Assert.Equal(["busybox", "sh", "-c", "ls -l --all"], f.Positionals);
    }

    [Fact]
    public void Booleans_take_explicit_values_and_values_take_the_next_argument()
    {
        var f = ParseRun("--rm=false", "-m", "512m", "--cpus", "1.5", "-h", "box", "busybox");
        Assert.False(f.Bool("rm"));
        Assert.Equal("512m", f.Value("memory"));
        Assert.Equal("box", f.Value("hostname"));
    }

    [Fact]
    public void Unknown_and_incomplete_flags_are_usage_errors()
    {
        Assert.Equal("unknown flag: --nope", Assert.Throws<UsageException>(() => ParseRun("--nope", "busybox")).Message);
        Assert.Contains("unknown shorthand flag: 'z'", Assert.Throws<UsageException>(() => ParseRun("-z", "busybox")).Message, StringComparison.Ordinal);
        Assert.Equal("flag needs an argument: --name", Assert.Throws<UsageException>(() => ParseRun("--name")).Message);
        Assert.Throws<UsageException>(() => ParseRun("--rm=maybe", "busybox"));
    }

    [Fact]
    public void Create_body_carries_resources_env_and_mounts()
    {
        Environment.SetEnvironmentVariable("BERTH_TEST_PASSTHROUGH", "from-env");
        var f = ParseRun("--rm", "-it", "-m", "512m", "--cpus", "1.5", "--cpu-shares", "512", "--pids-limit", "100",
            "-e", "A=1", "-e", "BERTH_TEST_PASSTHROUGH", "-e", "BERTH_TEST_UNSET_VAR",
            "-v", "/host:/ctr:ro", "-v", "named:/data", "-v", "/anon",
            "--mount", "type=tmpfs,target=/scratch,tmpfs-size=64m", "--mount", "type=bind,src=/a,dst=/b,readonly",
            "--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--read-only", "--init", "--network", "none",
            "--dns", "1.1.1.1", "--add-host", "db:10.0.0.2", "--restart", "no", "-p", "8080:80", "-l", "k=v",
            "--health-cmd", "true", "--health-interval", "5s", "--health-retries", "2", "--stop-signal", "SIGINT",
            "--stop-timeout", "3", "--log-opt", "max-size=10m", "-w", "/work", "-u", "1000:1000", "--entrypoint", "",
            "busybox", "echo", "hi");
        var body = ContainerConfig.Build(f, "busybox", ["echo", "hi"], detach: false);
        var host = body["HostConfig"]!;
        Assert.Equal(512L << 20, host["Memory"]!.GetValue<long>());
        Assert.Equal(1_500_000_000L, host["NanoCpus"]!.GetValue<long>());
        Assert.Equal(512L, host["CpuShares"]!.GetValue<long>());
        Assert.Equal(100L, host["PidsLimit"]!.GetValue<long>());
        Assert.Equal(["A=1", "BERTH_TEST_PASSTHROUGH=from-env"], body["Env"]!.AsArray().Select(e => e!.GetValue<string>()));
        Assert.Equal(["/host:/ctr:ro", "named:/data"], host["Binds"]!.AsArray().Select(e => e!.GetValue<string>()));
        Assert.NotNull(body["Volumes"]!["/anon"]);
        Assert.Equal(64L << 20, host["Mounts"]![0]!["TmpfsOptions"]!["SizeBytes"]!.GetValue<long>());
        Assert.True(host["Mounts"]![1]!["ReadOnly"]!.GetValue<bool>());
        Assert.True(host["AutoRemove"]!.GetValue<bool>());
        Assert.True(host["ReadonlyRootfs"]!.GetValue<bool>());
        Assert.True(host["Init"]!.GetValue<bool>());
        Assert.Equal("none", host["NetworkMode"]!.GetValue<string>());
        Assert.Equal("8080", host["PortBindings"]!["80/tcp"]![0]!["HostPort"]!.GetValue<string>());
        Assert.Equal(["CMD-SHELL", "true"], body["Healthcheck"]!["Test"]!.AsArray().Select(e => e!.GetValue<string>()));
        Assert.Equal(5_000_000_000L, body["Healthcheck"]!["Interval"]!.GetValue<long>());
        Assert.Equal("10m", host["LogConfig"]!["Config"]!["max-size"]!.GetValue<string>());
        Assert.Equal([""], body["Entrypoint"]!.AsArray().Select(e => e!.GetValue<string>()));
        Assert.True(body["Tty"]!.GetValue<bool>() && body["OpenStdin"]!.GetValue<bool>() && body["AttachStdin"]!.GetValue<bool>());
        Assert.Equal("1000:1000", body["User"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("-v", "relative/x")]
    [InlineData("-v", "/a:b")]
    [InlineData("-v", "/a:/b:bogus")]
    [InlineData("--mount", "type=bind,target=/b")]
    [InlineData("--mount", "type=floppy,target=/b")]
    [InlineData("--restart", "sometimes")]
    [InlineData("--add-host", "nocolon")]
    [InlineData("-p", "80:http")]
    public void Bad_specs_are_usage_errors(string flag, string value) =>
        Assert.Throws<UsageException>(() => ContainerConfig.Build(ParseRun(flag, value, "busybox"), "busybox", [], detach: false));

    [Fact]
    public void Publish_specs_are_parsed_once_and_container_ranges_expand_per_port()
    {
        Assert.Equal([("80/tcp", "", "")], ContainerConfig.Publish("80"));
        Assert.Equal([("80/udp", "127.0.0.1", "8080"), ("81/udp", "127.0.0.1", "8081")], ContainerConfig.Publish("127.0.0.1:8080-8081:80-81/udp"));
        Assert.Equal([("80/tcp", "", ""), ("81/tcp", "", "")], ContainerConfig.Publish("80-81"));
        Assert.Equal([("80/tcp", "::1", "9000-9010")], ContainerConfig.Publish("[::1]:9000-9010:80"));
        Assert.Equal("invalid argument \"8080:80-81\" for \"-p, --publish\" flag: invalid ranges specified for container and host Ports: 80-81 and 8080",
            Assert.Throws<UsageException>(() => ContainerConfig.Publish("8080:80-81")).Message);
        Assert.Equal("invalid argument \"80:99999\" for \"-p, --publish\" flag: invalid containerPort: 99999",
            Assert.Throws<UsageException>(() => ContainerConfig.Publish("80:99999")).Message);
    }

    [Fact]
    public void Key_value_flags_share_one_parser()
    {
        var labels = KeyValueFlags.Map(["a=1", "bare", "c=x=y"], "label", allowBare: true);
        Assert.Equal("{\"a\":\"1\",\"bare\":\"\",\"c\":\"x=y\"}", labels.ToJsonString());
        Assert.Equal("invalid argument \"bare\" for \"--opt\" flag: expected key=value",
            Assert.Throws<UsageException>(() => KeyValueFlags.Map(["bare"], "opt", allowBare: false)).Message);
        Assert.Throws<UsageException>(() => KeyValueFlags.Map(["=v"], "label", allowBare: true));
        var mount = ContainerConfig.Build(ParseRun("--mount", "type=volume,target=/d,volume-label=k=v,volume-opt=o=p", "busybox"), "busybox", [], detach: false);
        var opts = mount["HostConfig"]!["Mounts"]![0]!["VolumeOptions"]!;
        Assert.Equal("v", opts["Labels"]!["k"]!.GetValue<string>());
        Assert.Equal("p", opts["DriverConfig"]!["Options"]!["o"]!.GetValue<string>());
        Assert.Throws<UsageException>(() => ContainerConfig.Build(ParseRun("--mount", "type=volume,target=/d,volume-opt=bare", "busybox"), "busybox", [], detach: false));
    }

    [Fact]
    public void Rm_conflicts_with_a_restart_policy() =>
        Assert.Contains("--restart and --rm", Assert.Throws<UsageException>(() => ContainerConfig.Build(ParseRun("--rm", "--restart", "always", "busybox"), "busybox", [], false)).Message, StringComparison.Ordinal);

    [Fact]
    public void Relative_bind_sources_become_absolute()
    {
        var (bind, _) = ContainerConfig.Volume("./data:/data");
        Assert.Equal(Path.GetFullPath("./data") + ":/data", bind);
    }

    [Fact]
    public void Restart_policies()
    {
        Assert.Equal("on-failure", ContainerConfig.RestartPolicy("on-failure:3")["Name"]!.GetValue<string>());
        Assert.Equal(3, ContainerConfig.RestartPolicy("on-failure:3")["MaximumRetryCount"]!.GetValue<int>());
        Assert.Equal("", ContainerConfig.RestartPolicy("no")["Name"]!.GetValue<string>());
        Assert.Throws<UsageException>(() => ContainerConfig.RestartPolicy("always:3"));
    }

    [Fact]
    public void Start_errors_map_to_dockers_exit_codes()
    {
        Assert.Equal(127, RunCommands.StartErrorExitCode("exec: \"nope\": executable file not found in $PATH: unknown"));
        Assert.Equal(126, RunCommands.StartErrorExitCode("exec: \"/etc\": permission denied: unknown"));
        Assert.Equal(125, RunCommands.StartErrorExitCode("cgroup: invalid memory limit"));
    }

    [Fact]
    public void Global_host_option_comes_off_the_front()
    {
        var rest = DockerHost.ExtractGlobalOptions(["-H", "unix:///tmp/x.sock", "ps", "-a"]);
        Assert.Equal(["ps", "-a"], rest);
        Assert.Equal("unix:///tmp/x.sock", DockerHost.FromCommandLine);
        DockerHost.FromCommandLine = null;
        Assert.Equal("/tmp/x.sock", DockerHost.SocketPath("unix:///tmp/x.sock"));
        Assert.Throws<BerthException>(() => DockerHost.SocketPath("tcp://1.2.3.4:2375"));
    }
}

public sealed class RenderingTests
{
    [Fact]
    public async Task Json_messages_without_a_terminal_print_status_lines_only()
    {
        var stream = new MemoryStream(Encoding.UTF8.GetBytes(
            "{\"status\":\"Pulling from library/busybox\",\"id\":\"latest\"}\r\n" +
            "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":10,\"total\":100},\"progress\":\"[=>  ]\",\"id\":\"abc\"}\r\n" +
            "{\"status\":\"Pull complete\",\"progressDetail\":{},\"id\":\"abc\"}{\"stream\":\"Step 1/2\\n\"}\n" +
            "{\"aux\":{\"ID\":\"sha256:feed\"}}\n"));
        var output = new StringWriter();
        string? aux = null;
        await new JsonMessageStream(output, isTerminal: false) { OnAux = a => aux = a["ID"]!.GetValue<string>() }.RenderAsync(stream, CancellationToken.None);
        Assert.Equal("latest: Pulling from library/busybox\nabc: Pull complete\nStep 1/2\n", output.ToString().Replace("\r", "", StringComparison.Ordinal));
        Assert.Equal("sha256:feed", aux);
    }

    [Fact]
    public async Task Json_message_errors_throw_their_message()
    {
        var stream = new MemoryStream("{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest unknown\"}\n"u8.ToArray());
        var e = await Assert.ThrowsAsync<BerthException>(() => new JsonMessageStream(TextWriter.Null, false).RenderAsync(stream, CancellationToken.None));
        Assert.Equal("manifest unknown", e.Message);
    }

    [Fact]
    public void Terminal_rendering_redraws_lines_by_id_with_a_bar()
    {
        var output = new StringWriter();
        var r = new JsonMessageStream(output, isTerminal: true, terminalWidth: 100);
        r.Render((JsonObject)JsonNode.Parse("{\"status\":\"Downloading\",\"id\":\"a\",\"progressDetail\":{\"current\":50,\"total\":100}}")!);
        r.Render((JsonObject)JsonNode.Parse("{\"status\":\"Waiting\",\"id\":\"b\"}")!);
        r.Render((JsonObject)JsonNode.Parse("{\"status\":\"Download complete\",\"id\":\"a\"}")!);
        var text = output.ToString();
        Assert.Contains("a: Downloading [", text, StringComparison.Ordinal);
        Assert.Contains("50B/100B", text, StringComparison.Ordinal);
        Assert.Contains("\x1b[2A\x1b[2K\ra: Download complete", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Templates_cover_the_basics()
    {
        var data = JsonNode.Parse("{\"Id\":\"abc\",\"State\":{\"Status\":\"running\",\"Pid\":42},\"Config\":{\"Labels\":{\"a.b\":\"c\"},\"Env\":[\"X=1\"]}}");
        Assert.Equal("abc running 42", Template.Render("{{.ID}} {{.State.Status}} {{.State.Pid}}", data));
        Assert.Equal("c", Template.Render("{{index .Config.Labels \"a.b\"}}", data));
        Assert.Equal("[\"X=1\"]", Template.Render("{{json .Config.Env}}", data));
        Assert.Equal("RUNNING\tabc", Template.Render("{{upper .State.Status}}\\t{{.Id}}", data));
        Assert.Throws<UsageException>(() => Template.Render("{{range .Config.Env}}{{.}}{{end}}", data));
        Assert.Equal("NAMES\tSTATUS", Template.Header("table {{.Names}}\t{{.Status}}", new Dictionary<string, string> { ["Names"] = "NAMES" }));
    }

    [Fact]
    public void Templates_take_parenthesized_calls_with_fields_after_them()
    {
        var data = JsonNode.Parse("""
            {"NetworkSettings":{"Networks":{"my-net":{"IPAddress":"10.1.2.3","Aliases":["a","b"]}}},
             "IPAM":{"Config":[{"Subnet":"10.1.2.0/24","Gateway":"10.1.2.1"}]},"Labels":{"k":"v"}}
            """);
        Assert.Equal("10.1.2.3", Template.Render("{{(index .NetworkSettings.Networks \"my-net\").IPAddress}}", data));
        Assert.Equal("10.1.2.0/24 10.1.2.1", Template.Render("{{(index .IPAM.Config 0).Subnet}} {{ (index .IPAM.Config 0).Gateway }}", data));
        Assert.Equal("{\"IPAddress\":\"10.1.2.3\",\"Aliases\":[\"a\",\"b\"]}", Template.Render("{{json (index .NetworkSettings.Networks \"my-net\")}}", data));
        Assert.Equal("b", Template.Render("{{index (index .NetworkSettings.Networks \"my-net\").Aliases 1}}", data));
        Assert.Equal("b", Template.Render("{{index .NetworkSettings.Networks \"my-net\" \"Aliases\" 1}}", data));
        Assert.Equal("V", Template.Render("{{upper (index .Labels \"k\")}}", data));
        Assert.Equal("<no value>", Template.Render("{{(index .NetworkSettings.Networks \"other\").IPAddress}}", data));
        // Whatever is not understood is refused, not printed wrong.
        foreach (var bad in new[] { "{{(index .Labels \"k\"}}", "{{.Labels | json}}", "{{$x := .Labels}}", "{{(index .Labels \"k\")) }}", "{{.A .B}}", "{{printf \"%s\" .A}}" })
        {
            Assert.Throws<UsageException>(() => Template.Render(bad, data));
        }
    }
}

public sealed class ContextAndAuthTests
{
    [Fact]
    public void Dockerignore_follows_dockers_rules()
    {
        var ignore = new DockerIgnore(["# comment", "*.log", "secret/", "**/tmp", "!keep.log", "build/**/*.o", "!build/main/keep.o"]);
        Assert.True(ignore.IsExcluded("a.log"));
        Assert.False(ignore.IsExcluded("keep.log"));
        Assert.False(ignore.IsExcluded("dir/a.log")); // * does not cross directories
        Assert.True(ignore.IsExcluded("secret/key"));
        Assert.True(ignore.IsExcluded("x/y/tmp/file"));
        Assert.True(ignore.IsExcluded("build/a/b.o"));
        Assert.False(ignore.IsExcluded("build/main/keep.o"));
        Assert.False(ignore.IsExcluded("src/main.c"));
    }

    [Fact]
    public async Task Context_tar_leaves_out_ignored_files_but_keeps_the_dockerfile()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("Dockerfile"), "FROM busybox\n");
        File.WriteAllText(dir.Combine(".dockerignore"), "Dockerfile\n*.secret\nnode_modules\n");
        File.WriteAllText(dir.Combine("app.txt"), "app");
        File.WriteAllText(dir.Combine("x.secret"), "no");
        Directory.CreateDirectory(dir.Combine("node_modules", "m"));
        File.WriteAllText(dir.Combine("node_modules", "m", "i.js"), "no");
        var tar = new MemoryStream();
        await BuildContext.WriteAsync(dir.Path, tar, ["Dockerfile", ".dockerignore"], (".dockerfile.extra", "FROM scratch\n"u8.ToArray()), CancellationToken.None);
        tar.Position = 0;
        var names = new List<string>();
        using var reader = new System.Formats.Tar.TarReader(tar);
        while (reader.GetNextEntry() is { } e)
        {
            names.Add(e.Name);
            Assert.Equal(0, e.Uid);
        }
        Assert.Equal([".dockerfile.extra", ".dockerignore", "Dockerfile", "app.txt"], names.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Credentials_round_trip_through_a_docker_config_file()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("config.json");
        File.WriteAllText(path, "{\"credsStore\":\"\",\"auths\":{\"other:5000\":{\"auth\":\"eDp5\"}}}");
        var file = new AuthConfigFile(path);
        file.Set("localhost:5000", "alice", "s3cr:et");
        Assert.Equal(("alice", "s3cr:et"), file.Get("localhost:5000"));
        Assert.Equal(("x", "y"), file.Get("other:5000"));
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.NotNull(json["credsStore"]);
        Assert.Equal(Convert.ToBase64String("alice:s3cr:et"u8.ToArray()), json["auths"]!["localhost:5000"]!["auth"]!.GetValue<string>());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.True(file.Remove("localhost:5000"));
        Assert.Null(file.Get("localhost:5000"));

        Assert.Equal("localhost:5000", AuthConfigFile.RegistryOf("localhost:5000/app:1"));
        Assert.Equal(AuthConfigFile.DefaultRegistry, AuthConfigFile.RegistryOf("library/busybox"));
        var header = AuthConfigFile.Header("r.example", ("u", "p"));
        var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header.Replace('-', '+').Replace('_', '/')));
        Assert.Equal("{\"username\":\"u\",\"password\":\"p\",\"serveraddress\":\"r.example\"}", decoded);
    }
}

/// <summary>The hijack helper against a minimal upgrade server on a unix socket (the wire format, not an engine).</summary>
public sealed class HijackTests
{
    [Fact]
    public async Task Upgrade_hands_over_the_socket_with_early_bytes_and_half_close()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("s.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        var server = Task.Run(async () =>
        {
            // Two connections: the /_ping of the negotiation, then the attach.
            using (var ping = await listener.AcceptAsync())
            {
                await ReadHeadAsync(ping);
                await ping.SendAsync("HTTP/1.1 200 OK\r\nAPI-Version: 1.41\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK"u8.ToArray());
                ping.Shutdown(SocketShutdown.Both);
            }
            using var s = await listener.AcceptAsync();
            var head = await ReadHeadAsync(s);
            Assert.StartsWith("POST /v1.41/containers/c1/attach?stream=1 HTTP/1.1\r\n", head, StringComparison.Ordinal);
            Assert.Contains("Upgrade: tcp", head, StringComparison.Ordinal);
            // The 101 and the first frame in one write: the client must not lose the early bytes.
            await s.SendAsync("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly"u8.ToArray());
            var buffer = new byte[64];
            var received = new List<byte>();
            int n;
            while ((n = await s.ReceiveAsync(buffer)) > 0)
            {
                received.AddRange(buffer.AsSpan(0, n));
            }
            // The client's half-close ended our read; we can still answer.
            await s.SendAsync(Encoding.ASCII.GetBytes("|echo:" + Encoding.ASCII.GetString([.. received])));
            s.Shutdown(SocketShutdown.Both);
        });
        using var client = new DockerApiClient("unix://" + path);
        using var connection = await client.HijackAsync("POST", "/containers/c1/attach?stream=1", null, CancellationToken.None);
        Assert.Equal(101, connection.StatusCode);
        await connection.WriteAsync("stdin-data"u8.ToArray());
        connection.CloseWrite();
        var reader = new StreamReader(connection);
        Assert.Equal("early|echo:stdin-data", await reader.ReadToEndAsync());
        await server;
    }

    [Fact]
    public async Task An_error_answer_becomes_the_daemons_message()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("s.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        var server = Task.Run(async () =>
        {
            for (var i = 0; i < 2; i++)
            {
                using var s = await listener.AcceptAsync();
                await ReadHeadAsync(s);
                var body = i == 0 ? "OK" : "{\"message\":\"No such container: c9\"}";
                var status = i == 0 ? "200 OK" : "404 Not Found";
                await s.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}"));
                s.Shutdown(SocketShutdown.Both);
            }
        });
        using var client = new DockerApiClient("unix://" + path);
        var e = await Assert.ThrowsAsync<DockerApiException>(() => client.HijackAsync("POST", "/containers/c9/attach", null, CancellationToken.None));
        Assert.Equal(HttpStatusCode.NotFound, e.Status);
        Assert.Equal("Error response from daemon: No such container: c9", e.Message);
        Assert.Equal(DockerApiClient.FallbackApiVersion, client.ApiVersion); // no API-Version header on that ping
        await server;
    }

    private static async Task<string> ReadHeadAsync(Socket s)
    {
        var sb = new StringBuilder();
        var one = new byte[1];
        while (!sb.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await s.ReceiveAsync(one) > 0)
        {
            sb.Append((char)one[0]);
        }
        return sb.ToString();
    }
}
