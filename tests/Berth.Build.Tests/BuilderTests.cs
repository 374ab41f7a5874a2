using System.Formats.Tar;
using System.Text.Json;
using Berth.Core;
using Berth.Testing;

namespace Berth.Build.Tests;

public sealed class BuilderTests : IDisposable
{
    private readonly TempDirectory _context = new("berth-build-context");
    private readonly RecordingBackend _backend = new();
    private readonly RecordingOwnership _owners = new();
    private readonly InMemoryCacheStore _cache = new();

    public BuilderTests()
    {
        _backend.AddImage("base", new Dictionary<string, string>
        {
            ["etc/passwd"] = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n",
            ["etc/group"] = "root:x:0:\nstaff:x:50:\napp:x:1001:\n",
            ["bin/sh"] = "#!shell",
        }, new ImageConfigDraft { Config = { Cmd = ["sh"] } });
    }

    public void Dispose()
    {
        _backend.Dispose();
        _context.Dispose();
    }

    private void Write(string rel, string content)
    {
        var path = _context.Combine(rel);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    private async Task<(BuildResult Result, RecordingProgress Progress)> BuildAsync(string dockerfile, string? target = null,
        Dictionary<string, string>? args = null, bool noCache = false)
    {
        var progress = new RecordingProgress();
        var builder = new Builder(_backend, _cache, _owners);
        var result = await builder.BuildAsync(DockerfileParser.Parse(dockerfile), new BuildRequest
        {
            ContextDirectory = _context.Path,
            Target = target,
            BuildArgs = args ?? [],
            NoCache = noCache,
        }, progress, CancellationToken.None);
        Assert.Equal(0, _backend.OpenMounts);
        return (result, progress);
    }

    private static List<int> CachedSteps(RecordingProgress progress) =>
        progress.Events.OfType<StepCached>().Select(c => c.Step).ToList();

    private static List<int> RebuiltSteps(RecordingProgress progress) =>
        progress.Events.OfType<StepCompleted>().Where(c => !c.Cached).Select(c => c.Step).ToList();

    private const string MultiStage = """
        FROM base AS build
        WORKDIR /src
        COPY main.c .
        COPY lib/ ./lib/
        RUN cp main.c /out/app && echo compiled
        FROM base AS unused
        RUN write /unused yes
        FROM base
        COPY --from=build /out/app /app
        CMD ["/app"]
        """;

    [Fact]
    public async Task Multi_stage_build_builds_only_the_stages_the_target_needs()
    {
        Write("main.c", "int main() { return 0; }");
        Write("lib/util.c", "util");
        var (result, progress) = await BuildAsync(MultiStage);

        Assert.DoesNotContain(_backend.Calls, c => c.Contains("/unused", StringComparison.Ordinal));
        Assert.Single(_backend.Runs);
        Assert.Equal(["cp main.c /out/app && echo compiled"], _backend.Runs.Select(r => r.Args[^1]));
        Assert.Equal("/src", _backend.Runs[0].WorkingDir);
        Assert.Equal(RunNetwork.Default, _backend.Runs[0].Network);

        var files = _backend.Snapshot(result.Layer);
        Assert.Equal("int main() { return 0; }", files["app"]);
        Assert.False(files.ContainsKey("src/main.c"), "the build stage's sources must not leak into the final image");
        Assert.Equal(["/app"], result.Config.Config.Cmd);
        Assert.Equal([0, 2], result.Stages.Keys.Order());
        Assert.Equal(8, result.Steps);

        Assert.Contains("Step 1/8 : FROM base AS build", progress.Text, StringComparison.Ordinal);
        Assert.Contains("Step 5/8 : RUN cp main.c /out/app && echo compiled", progress.Text, StringComparison.Ordinal);
        Assert.Contains("compiled", progress.Text, StringComparison.Ordinal);

        // The build stage alone.
        var (stage, _) = await BuildAsync(MultiStage, target: "build");
        Assert.Equal("int main() { return 0; }", _backend.Snapshot(stage.Layer)["src/main.c"]);
        Assert.Equal("/src", stage.Config.Config.WorkingDir);
    }

    [Fact]
    public async Task Second_build_hits_the_cache_for_every_step()
    {
        Write("main.c", "v1");
        Write("lib/util.c", "util");
        var (first, _) = await BuildAsync(MultiStage);
        var calls = _backend.Calls.Count;
        var runs = _backend.Runs.Count;

        var (second, progress) = await BuildAsync(MultiStage);
        Assert.Equal(first.Layer, second.Layer);
        Assert.Equal(first.CacheKey, second.CacheKey);
        Assert.Equal(first.Config.ToJson(), second.Config.ToJson());
        Assert.Equal(runs, _backend.Runs.Count);
        Assert.DoesNotContain(_backend.Calls.Skip(calls), c => c.StartsWith("commit", StringComparison.Ordinal));
        // Every step but the two FROMs came from the cache.
        Assert.Equal(6, second.CachedSteps);
        Assert.Equal([2, 3, 4, 5, 7, 8], CachedSteps(progress));
        Assert.Contains(" ---> Using cache", progress.Text, StringComparison.Ordinal);
    }

    private const string Layered = """
        FROM base
        ENV A=1
        COPY a.txt /a.txt
        RUN write /x 1
        COPY b.txt /b.txt
        RUN write /y 2
        """;

    [Fact]
    public async Task Changing_one_copied_file_invalidates_exactly_the_steps_from_that_copy_on()
    {
        Write("a.txt", "a1");
        Write("b.txt", "b1");
        await BuildAsync(Layered);

        Write("b.txt", "b2");
        var (result, progress) = await BuildAsync(Layered);
        Assert.Equal([2, 3, 4], CachedSteps(progress));
        Assert.Equal([1, 5, 6], RebuiltSteps(progress));
        Assert.Equal("b2", _backend.Snapshot(result.Layer)["b.txt"]);

        Write("a.txt", "a2");
        (_, progress) = await BuildAsync(Layered);
        Assert.Equal([2], CachedSteps(progress));
        Assert.Equal([1, 3, 4, 5, 6], RebuiltSteps(progress));
    }

    [Fact]
    public async Task Touching_a_file_without_changing_it_keeps_the_cache()
    {
        Write("a.txt", "a1");
        Write("b.txt", "b1");
        await BuildAsync(Layered);
        File.SetLastWriteTimeUtc(_context.Combine("a.txt"), DateTime.UtcNow.AddHours(1));
        File.WriteAllText(_context.Combine("b.txt"), "b1");
        var (_, progress) = await BuildAsync(Layered);
        Assert.Equal([2, 3, 4, 5, 6], CachedSteps(progress));
    }

    [Fact]
    public async Task No_cache_runs_every_step_and_a_collected_layer_is_a_miss()
    {
        Write("a.txt", "a1");
        Write("b.txt", "b1");
        await BuildAsync(Layered);
        var (fresh, progress) = await BuildAsync(Layered, noCache: true);
        Assert.Empty(CachedSteps(progress));
        Assert.Equal(6, RebuiltSteps(progress).Count);

        // The cache remembers a layer that garbage collection removed: rebuilt, not reused.
        _backend.DeleteLayer(fresh.Layer!);
        (_, progress) = await BuildAsync(Layered);
        Assert.Equal([2, 3, 4, 5], CachedSteps(progress));
        Assert.Equal([1, 6], RebuiltSteps(progress));
    }

    [Fact]
    public async Task A_failing_run_reports_exit_code_and_output_and_leaves_no_layer()
    {
        const string dockerfile = "FROM base\nRUN write /ok 1\nRUN echo compiling && echo boom && exit 3\nRUN write /never 1\n";
        var builder = new Builder(_backend, _cache, _owners);
        var e = await Assert.ThrowsAsync<BuildStepFailedException>(() => builder.BuildAsync(DockerfileParser.Parse(dockerfile),
            new BuildRequest { ContextDirectory = _context.Path }, null, CancellationToken.None));
        Assert.Equal(3, e.ExitCode);
        Assert.Equal(["compiling", "boom"], e.Output);
        Assert.Equal(ErrorCode.FailedPrecondition, e.Code);
        Assert.StartsWith("Dockerfile:3: RUN: the command '/bin/sh -c echo compiling && echo boom && exit 3' returned a non-zero code: 3", e.Message, StringComparison.Ordinal);
        Assert.Contains("boom", e.Message, StringComparison.Ordinal);

        Assert.Equal(0, _backend.OpenMounts);
        Assert.Equal(1, _backend.Calls.Count(c => c.StartsWith("commit", StringComparison.Ordinal)));
        Assert.Contains(_backend.Calls, c => c.StartsWith("discard", StringComparison.Ordinal));
        Assert.DoesNotContain(_backend.Runs, r => r.Args[^1].Contains("/never", StringComparison.Ordinal));

        // Only the good step was cached; the failed one runs again.
        var (_, progress) = await BuildAsync("FROM base\nRUN write /ok 1\nRUN echo fixed\n");
        Assert.Equal([2], CachedSteps(progress));
    }

    [Fact]
    public async Task Unknown_command_in_run_is_a_failure_with_127()
    {
        var e = await Assert.ThrowsAsync<BuildStepFailedException>(() => BuildAsync("FROM base\nRUN make\n"));
        Assert.Equal(127, e.ExitCode);
        Assert.Equal(["sh: make: not found"], e.Output);
    }

    [Fact]
    public async Task Arg_scoping_and_build_args()
    {
        const string dockerfile = """
            ARG BASE=base
            ARG VERSION=1
            FROM ${BASE}
            RUN env
            ARG VERSION
            RUN env
            ARG OTHER=x
            ENV OTHER=fromenv
            RUN env
            ARG WITHDEF=$VERSION-suffix
            LABEL v=$VERSION w=$WITHDEF
            """;
        var (result, progress) = await BuildAsync(dockerfile, args: new() { ["NOPE"] = "1", ["BASE"] = "base", ["HTTP_PROXY"] = "http://proxy:3128" });

        Assert.Contains(_backend.Calls, c => c == "resolve base");
        var env1 = _backend.Runs[0].Env;
        Assert.DoesNotContain(env1, e => e.StartsWith("VERSION=", StringComparison.Ordinal));
        Assert.Contains("HTTP_PROXY=http://proxy:3128", env1);
        Assert.Contains("VERSION=1", _backend.Runs[1].Env);
        Assert.Single(_backend.Runs[2].Env, e => e.StartsWith("OTHER=", StringComparison.Ordinal));
        Assert.Contains("OTHER=fromenv", _backend.Runs[2].Env);
        Assert.Equal("1", result.Config.Config.Labels!["v"]);
        Assert.Equal("1-suffix", result.Config.Config.Labels!["w"]);

        Assert.Contains("one or more build-args [NOPE] were not consumed", result.Warnings);
        Assert.DoesNotContain(result.Warnings, w => w.Contains("BASE", StringComparison.Ordinal));
        Assert.Contains("[Warning] one or more build-args [NOPE] were not consumed", progress.Text, StringComparison.Ordinal);
        // Build args in effect are in the RUN history; proxies never are.
        Assert.Contains(result.Config.History, h => h.CreatedBy == "RUN |1 VERSION=1 /bin/sh -c env");
        Assert.DoesNotContain(result.Config.History, h => h.CreatedBy!.Contains("proxy", StringComparison.Ordinal));

        // --build-arg overrides; only the steps that see the arg rebuild. A different proxy changes nothing.
        (result, progress) = await BuildAsync(dockerfile, args: new() { ["VERSION"] = "2", ["HTTP_PROXY"] = "http://other:1" });
        Assert.Contains("VERSION=2", _backend.Runs[^2].Env);
        Assert.Equal("2", result.Config.Config.Labels!["v"]);
        // Only the RUN before ARG VERSION is reused: the ARG step's key holds its value.
        Assert.Equal([2], CachedSteps(progress));
    }

    [Fact]
    public async Task Copy_from_a_rebuilt_stage_with_the_same_output_is_still_cached()
    {
        const string dockerfile = "FROM base AS b\nCOPY notes.txt /n\nRUN write /out/app fixed\nFROM scratch\nCOPY --from=b /out/app /app\n";
        Write("notes.txt", "1");
        await BuildAsync(dockerfile);
        Write("notes.txt", "2");
        var (_, progress) = await BuildAsync(dockerfile);
        Assert.Equal([2, 3], RebuiltSteps(progress).Where(s => s is not 1 and not 4));
        Assert.Equal([5], CachedSteps(progress));
    }

    [Fact]
    public async Task Run_heredoc_with_an_interpreter_line_runs_as_a_file_that_is_not_committed()
    {
        var (result, progress) = await BuildAsync("FROM base\nRUN <<EOF\n#!/bin/busybox sh\necho hi\nEOF\n");
        Assert.Contains("script #!/bin/busybox sh", progress.Text, StringComparison.Ordinal);
        Assert.Equal([RunInstruction.ScriptPath], _backend.Runs[^1].Args);
        Assert.False(_backend.Snapshot(result.Layer).ContainsKey(RunInstruction.ScriptPath.TrimStart('/')));
        Assert.Equal("RUN <<EOF\n#!/bin/busybox sh\necho hi\nEOF", result.Config.History[^1].CreatedBy);
    }

    [Fact]
    public async Task Copy_from_expands_global_args()
    {
        var (result, _) = await BuildAsync("ARG SRC=build\nFROM base AS build\nRUN write /made 1\nFROM base AS unused\nRUN write /no 1\nFROM scratch\nCOPY --from=$SRC /made /made\n");
        Assert.Equal("1", _backend.Snapshot(result.Layer)["made"]);
        Assert.DoesNotContain(_backend.Runs, r => r.Args[^1].Contains("/no", StringComparison.Ordinal));
        Assert.Contains(result.Config.History, h => h.CreatedBy!.StartsWith("COPY --from=build file:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Global_args_are_visible_only_in_from_unless_redeclared()
    {
        var (result, _) = await BuildAsync("ARG TAG=x\nFROM base\nLABEL tag=\"[$TAG]\"\n");
        Assert.Equal("[]", result.Config.Config.Labels!["tag"]);
        (result, _) = await BuildAsync("ARG TAG=x\nFROM base\nARG TAG\nLABEL tag=\"[$TAG]\"\n");
        Assert.Equal("[x]", result.Config.Config.Labels!["tag"]);
        (result, _) = await BuildAsync("FROM base\nARG TARGETARCH\nARG TARGETOS\nLABEL p=$TARGETOS/$TARGETARCH\n");
        Assert.Equal("linux/amd64", result.Config.Config.Labels!["p"]);
    }

    [Fact]
    public async Task Blank_base_name_and_missing_target_are_clear_errors()
    {
        var e = await Assert.ThrowsAsync<DockerfileException>(() => BuildAsync("ARG IMG\nFROM $IMG\n"));
        Assert.Equal("Dockerfile:2: FROM: base name ($IMG) should not be blank; set the ARG it uses with --build-arg or a default", e.Message);
        e = await Assert.ThrowsAsync<DockerfileException>(() => BuildAsync("FROM base AS a\nFROM base AS b\n", target: "c"));
        Assert.Equal("Dockerfile: target stage \"c\" could not be found (stages: a, b)", e.Message);
        e = await Assert.ThrowsAsync<DockerfileException>(() => BuildAsync("FROM base AS a\nCOPY --from=b /x /x\nFROM base AS b\nCOPY --from=a /y /y\n"));
        Assert.Equal("Dockerfile:3: circular dependency between stages: b -> a -> b", e.Message);
        e = await Assert.ThrowsAsync<DockerfileException>(() => BuildAsync("FROM base\nCOPY --from=3 /x /x\n"));
        Assert.Equal("Dockerfile:2: COPY --from=3: there is no stage 3 (stages are numbered from 0; this Dockerfile has 1)", e.Message);
        e = await Assert.ThrowsAsync<DockerfileException>(() => BuildAsync("FROM base\nENV A=\"${B:?needs B}\"\n"));
        Assert.Equal("Dockerfile:2: ENV: B: needs B", e.Message);
        var nf = await Assert.ThrowsAsync<BerthException>(() => BuildAsync("FROM base\nCOPY nothere /x\n"));
        Assert.Equal("Dockerfile:2: COPY: \"nothere\" not found in the build context (is it excluded by .dockerignore?)", nf.Message);
        var missingImage = await Assert.ThrowsAsync<BerthException>(() => BuildAsync("FROM nosuchimage\n"));
        Assert.Equal(ErrorCode.NotFound, missingImage.Code);
    }

    [Fact]
    public async Task Config_evolves_with_docker_field_names_and_history()
    {
        const string dockerfile = """
            FROM base
            ENV A=1 B="two words"
            ENV C=$A-${B} A=2
            LABEL a=1 "b c"="d e"
            WORKDIR /app
            WORKDIR sub/../lib
            USER app:staff
            EXPOSE 80 53/udp 8000-8002
            VOLUME /data
            VOLUME ["/cache"]
            ENTRYPOINT ["/bin/app"]
            STOPSIGNAL SIGINT
            HEALTHCHECK --interval=5s --retries=2 CMD check
            SHELL ["/bin/bash", "-c"]
            CMD echo hi
            ONBUILD RUN echo child
            MAINTAINER me@example.com
            """;
        var (result, _) = await BuildAsync(dockerfile);
        var c = result.Config.Config;
        Assert.Contains("A=2", c.Env!);
        Assert.Contains("B=two words", c.Env!);
        Assert.Contains("C=1-two words", c.Env!);
        Assert.Equal("/app/lib", c.WorkingDir);
        Assert.Equal("app:staff", c.User);
        Assert.Equal(["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"], c.ExposedPorts!.Keys);
        Assert.Equal(["/cache", "/data"], c.Volumes!.Keys);
        Assert.Equal(["/bin/app"], c.Entrypoint);
        Assert.Equal(["/bin/bash", "-c", "echo hi"], c.Cmd);
        Assert.Equal("SIGINT", c.StopSignal);
        Assert.Equal(["CMD-SHELL", "check"], c.Healthcheck!.Test);
        Assert.Equal(5_000_000_000, c.Healthcheck.Interval);
        Assert.Equal(["/bin/bash", "-c"], c.Shell);
        Assert.Equal(["RUN echo child"], c.OnBuild);
        Assert.Equal("d e", c.Labels!["b c"]);
        Assert.Equal("me@example.com", result.Config.Author);
        Assert.Null(result.Layer is null ? "no layer" : null);

        var history = result.Config.History.Skip(1).ToList();
        // Only the WORKDIRs that created a directory made layers.
        Assert.Equal(["WORKDIR /app", "WORKDIR /app/lib"], history.Where(h => !h.EmptyLayer).Select(h => h.CreatedBy));
        Assert.Equal("ENV A=1 B=two words", history[0].CreatedBy);
        Assert.Equal("ENV C=1-two words A=2", history[1].CreatedBy);
        Assert.Equal("WORKDIR /app/lib", history[4].CreatedBy);
        Assert.Equal("CMD [\"/bin/bash\",\"-c\",\"echo hi\"]", history[13].CreatedBy);

        using var json = JsonDocument.Parse(result.Config.ToJson());
        var config = json.RootElement.GetProperty("config");
        foreach (var field in new[] { "User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal", "Healthcheck", "Shell", "OnBuild" })
        {
            Assert.True(config.TryGetProperty(field, out _), field);
        }
        Assert.Equal(JsonValueKind.Object, config.GetProperty("ExposedPorts").GetProperty("80/tcp").ValueKind);
        Assert.Equal("linux", json.RootElement.GetProperty("os").GetString());
        Assert.True(json.RootElement.GetProperty("history")[2].GetProperty("empty_layer").GetBoolean());
    }

    [Fact]
    public async Task Workdir_creates_missing_directories_owned_by_the_user()
    {
        var (result, _) = await BuildAsync("FROM base\nWORKDIR /etc\nUSER app\nWORKDIR /home/app/work\nWORKDIR /\n");
        var history = result.Config.History.Skip(1).ToList();
        Assert.Equal([true, true, false, true], history.Select(h => h.EmptyLayer));
        Assert.Equal("<dir>", _backend.Snapshot(result.Layer)["home/app/work"]);
        Assert.Contains(_owners.Owners, o => o.Key.EndsWith("/home/app/work", StringComparison.Ordinal) && o.Value == (1000, 1001));
        Assert.Equal("/", result.Config.Config.WorkingDir);

        var e = await Assert.ThrowsAsync<DockerfileException>(() => BuildAsync("FROM base\nUSER ghost\nWORKDIR /w\n"));
        Assert.Equal("Dockerfile:3: WORKDIR as USER ghost: unable to find user ghost: no matching entries in passwd file", e.Message);
    }

    [Fact]
    public async Task Entrypoint_clears_an_inherited_cmd_but_not_one_set_in_the_stage()
    {
        var (result, _) = await BuildAsync("FROM base\nENTRYPOINT [\"/e\"]\n");
        Assert.Null(result.Config.Config.Cmd);
        (result, _) = await BuildAsync("FROM base\nCMD [\"x\"]\nENTRYPOINT [\"/e\"]\n");
        Assert.Equal(["x"], result.Config.Config.Cmd);
    }

    [Theory]
    [InlineData("EXPOSE 80/icmp", "Dockerfile:2: EXPOSE: invalid protocol \"icmp\" in \"80/icmp\" (use tcp, udp or sctp)")]
    [InlineData("EXPOSE 0", "Dockerfile:2: EXPOSE: invalid port \"0\" (use port[/protocol] or start-end[/protocol], ports 1-65535)")]
    [InlineData("EXPOSE 1.2.3.4:80:80", "Dockerfile:2: EXPOSE: invalid port \"1.2.3.4:80:80\" (use port[/protocol] or start-end[/protocol], ports 1-65535)")]
    [InlineData("STOPSIGNAL SIGFOO", "Dockerfile:2: STOPSIGNAL: invalid signal \"SIGFOO\" (use a name such as SIGTERM or a number)")]
    [InlineData("ARG E\nUSER $E", "Dockerfile:3: USER expands to an empty string")]
    [InlineData("COPY a b c", "Dockerfile:2: When using COPY with more than one source file, the destination must be a directory and end with a /")]
    [InlineData("ADD https://example.com/x/repo.git /x", "Dockerfile:2: not supported: ADD from a git repository (https://example.com/x/repo.git); clone it in a RUN step instead")]
    [InlineData("ADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 a /x", "Dockerfile:2: ADD --checksum applies to http(s) URLs only, not to \"a\"")]
    [InlineData("COPY --chown=nobody a /a", "Dockerfile:2: COPY --chown=nobody: unable to find user nobody: no matching entries in passwd file")]
    public async Task Bad_values_found_while_building(string line, string message)
    {
        Write("a", "a");
        var e = await Assert.ThrowsAnyAsync<BerthException>(() => BuildAsync("FROM base\n" + line + "\n"));
        Assert.Equal(message, e.Message);
    }

    [Theory]
    [InlineData("SIGTERM", true)]
    [InlineData("term", true)]
    [InlineData("9", true)]
    [InlineData("SIGRTMIN+3", true)]
    [InlineData("RTMAX-1", true)]
    [InlineData("0", false)]
    [InlineData("65", false)]
    [InlineData("SIGRTMIN+40", false)]
    public void Stop_signals(string signal, bool valid) => Assert.Equal(valid, Builder.IsValidSignal(signal));

    [Fact]
    public async Task Onbuild_triggers_run_in_the_child_and_are_not_inherited()
    {
        _backend.AddImage("parent", new Dictionary<string, string> { ["etc/passwd"] = "root:x:0:0::/:/bin/sh\n" },
            new ImageConfigDraft { Config = { OnBuild = ["RUN write /triggered yes", "ENV T=1", "COPY a /from-trigger"] } });
        Write("a", "context file");
        var (result, progress) = await BuildAsync("FROM parent\nRUN cat /triggered\n");
        Assert.Equal(["write /triggered yes", "cat /triggered"], _backend.Runs.Select(r => r.Args[^1]));
        Assert.Contains("T=1", result.Config.Config.Env!);
        Assert.Null(result.Config.Config.OnBuild);
        Assert.Equal("context file", _backend.Snapshot(result.Layer)["from-trigger"]);
        Assert.Contains("# Executing 3 build triggers", progress.Text, StringComparison.Ordinal);

        // Through a stage as well.
        (result, _) = await BuildAsync("FROM base AS p\nONBUILD ENV X=1\nFROM p\n");
        Assert.Contains("X=1", result.Config.Config.Env!);
        Assert.Null(result.Config.Config.OnBuild);
    }

    [Fact]
    public async Task Copy_semantics_files_directories_chown_chmod()
    {
        Write("file.txt", "f");
        Write("dir/a.txt", "a");
        Write("dir/sub/b.txt", "b");
        Write("x1.conf", "1");
        Write("x2.conf", "2");
        var (result, _) = await BuildAsync("""
            FROM base
            WORKDIR /w
            COPY file.txt renamed.txt
            COPY file.txt /opt/
            COPY dir /copied
            COPY x*.conf /etc/conf.d/
            COPY --chown=app --chmod=0700 file.txt /owned
            COPY --chown=1:50 dir /numeric/
            COPY ["file.txt", "/json form/"]
            """);
        var files = _backend.Snapshot(result.Layer);
        Assert.Equal("f", files["w/renamed.txt"]);
        Assert.Equal("f", files["opt/file.txt"]);
        Assert.Equal("a", files["copied/a.txt"]);
        Assert.Equal("b", files["copied/sub/b.txt"]);
        Assert.False(files.ContainsKey("copied/dir"));
        Assert.Equal("1", files["etc/conf.d/x1.conf"]);
        Assert.Equal("2", files["etc/conf.d/x2.conf"]);
        Assert.Equal("f", files["json form/file.txt"]);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute,
            File.GetUnixFileMode(Path.Combine(_backend.LayerPath(result.Layer!), "owned")));
        Assert.Contains(_owners.Owners, o => o.Key.EndsWith("/owned", StringComparison.Ordinal) && o.Value == (1000, 1001));
        Assert.Contains(_owners.Owners, o => o.Key.EndsWith("/numeric/sub/b.txt", StringComparison.Ordinal) && o.Value == (1, 50));
        Assert.Contains(result.Config.History, h => h.CreatedBy!.StartsWith("COPY file:", StringComparison.Ordinal) && h.CreatedBy.EndsWith(" in /w/renamed.txt", StringComparison.Ordinal));
        Assert.Contains(result.Config.History, h => h.CreatedBy!.StartsWith("COPY dir:", StringComparison.Ordinal));
        Assert.Contains(result.Config.History, h => h.CreatedBy!.StartsWith("COPY multi:", StringComparison.Ordinal));
        Assert.Equal(1 + 1 + 7, result.Config.History.Count(h => !h.EmptyLayer));
    }

    [Fact]
    public async Task Copy_never_writes_through_a_symlink_in_the_image()
    {
        using var outside = new TempDirectory("berth-build-outside");
        Write("payload/evil", "pwned");
        // The image has /escape -> <absolute path>; inside the rootfs that path means <root>/<path>, never the host's.
        var linkedRoot = _backend.LayerPath(_backend.AddImage("linked2", new Dictionary<string, string> { ["etc/passwd"] = string.Empty }).Layer!);
        File.CreateSymbolicLink(Path.Combine(linkedRoot, "escape"), outside.Path);
        var (result, _) = await BuildAsync("FROM linked2\nCOPY payload /escape/\n");
        Assert.Empty(Directory.GetFileSystemEntries(outside.Path));
        Assert.Equal("pwned", _backend.Snapshot(result.Layer)[Path.Combine(outside.Path.TrimStart('/'), "evil")]);
    }

    [Fact]
    public async Task Copy_from_an_image_and_heredocs()
    {
        _backend.AddImage("tools", new Dictionary<string, string> { ["usr/bin/tool"] = "binary" });
        var (result, _) = await BuildAsync("""
            FROM base
            ARG NAME=world
            COPY --from=tools /usr/bin/tool /bin/
            COPY <<EOF /etc/greeting
            hello $NAME
            EOF
            COPY <<'RAW' /etc/raw
            hello $NAME
            RAW
            RUN <<EOF
            write /script-ran yes
            EOF
            """);
        var files = _backend.Snapshot(result.Layer);
        Assert.Equal("binary", files["bin/tool"]);
        Assert.Equal("hello world\n", files["etc/greeting"]);
        Assert.Equal("hello $NAME\n", files["etc/raw"]);
        Assert.Equal("yes", files["script-ran"]);
        Assert.Contains("resolve tools", _backend.Calls);
    }

    [Fact]
    public async Task Add_extracts_local_tars_and_keeps_entries_inside_the_destination()
    {
        var tarPath = _context.Combine("bundle.tar.gz");
        await using (var file = File.Create(tarPath))
        await using (var gzip = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionLevel.Fastest))
        await using (var writer = new TarWriter(gzip, TarEntryFormat.Pax))
        {
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, "pkg/") { Mode = (UnixFileMode)Convert.ToInt32("755", 8) });
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "pkg/data.txt")
            { DataStream = new MemoryStream("data"u8.ToArray()), Uid = 7, Gid = 8, Mode = (UnixFileMode)Convert.ToInt32("640", 8) });
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "../../evil.txt") { DataStream = new MemoryStream("x"u8.ToArray()) });
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.SymbolicLink, "pkg/etc") { LinkName = "/etc" });
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "pkg/etc/injected") { DataStream = new MemoryStream("y"u8.ToArray()) });
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.HardLink, "pkg/hard") { LinkName = "pkg/data.txt" });
        }
        Write("plain.txt", "not a tar");
        var (result, _) = await BuildAsync("FROM base\nADD bundle.tar.gz /opt/\nADD plain.txt /opt/\nCOPY bundle.tar.gz /copied/\n");
        var files = _backend.Snapshot(result.Layer);
        Assert.Equal("data", files["opt/pkg/data.txt"]);
        Assert.Equal("data", files["opt/pkg/hard"]);
        Assert.Equal("x", files["opt/evil.txt"]);
        Assert.False(files.ContainsKey("evil.txt"));
        // The link points at /etc of the image, so the entry written "through" it lands in the rootfs's /etc.
        Assert.Equal("-> /etc", files["opt/pkg/etc"]);
        Assert.Equal("y", files["etc/injected"]);
        Assert.Equal("not a tar", files["opt/plain.txt"]);
        Assert.True(files.ContainsKey("copied/bundle.tar.gz"));
        Assert.Contains(_owners.Owners, o => o.Key.EndsWith("/opt/pkg/data.txt", StringComparison.Ordinal) && o.Value == (7, 8));
    }

    [Fact]
    public async Task Dockerignore_excluded_files_are_not_copied()
    {
        Write(".dockerignore", "*.log\nsecret\n");
        Write("app.txt", "app");
        Write("debug.log", "log");
        Write("secret", "s");
        var (result, _) = await BuildAsync("FROM base\nCOPY . /ctx/\n");
        var files = _backend.Snapshot(result.Layer);
        Assert.True(files.ContainsKey("ctx/app.txt"));
        Assert.False(files.ContainsKey("ctx/debug.log"));
        Assert.False(files.ContainsKey("ctx/secret"));

        // An ignored file changing does not invalidate the cache.
        Write("debug.log", "other log");
        var (_, progress) = await BuildAsync("FROM base\nCOPY . /ctx/\n");
        Assert.Equal([2], CachedSteps(progress));
    }

    [Fact]
    public async Task Scratch_stage_and_layer_history_line_up()
    {
        Write("hello", "hi");
        var (result, _) = await BuildAsync("FROM scratch\nCOPY hello /\nENV X=1\nCMD [\"/hello\"]\n");
        Assert.Equal(["hello"], _backend.Snapshot(result.Layer).Keys);
        Assert.Equal(1, result.Config.History.Count(h => !h.EmptyLayer));
        Assert.Equal("amd64", result.Config.Architecture);
        Assert.Equal(["PATH=" + Builder.DefaultPath, "X=1"], result.Config.Config.Env);

        (_, _) = await BuildAsync("FROM scratch\nRUN env\n");
        Assert.Equal(["PATH=" + Builder.DefaultPath], _backend.Runs[^1].Env);
        Assert.DoesNotContain(_backend.Calls, c => c.StartsWith("resolve", StringComparison.Ordinal));
    }

    [Fact]
    public async Task File_cache_store_persists_across_builders()
    {
        using var dir = new TempDirectory("berth-build-cache");
        var store = new FileCacheStore(dir.Path);
        await store.PutAsync("sha256:" + new string('a', 64), new CacheEntry("layer1", "{\"os\":\"linux\"}"), CancellationToken.None);
        var back = await new FileCacheStore(dir.Path).GetAsync("sha256:" + new string('a', 64), CancellationToken.None);
        Assert.Equal(new CacheEntry("layer1", "{\"os\":\"linux\"}"), back);
        Assert.Null(await store.GetAsync("sha256:" + new string('b', 64), CancellationToken.None));
        await File.WriteAllTextAsync(Path.Combine(dir.Path, new string('c', 64) + ".json"), "{torn");
        Assert.Null(await store.GetAsync("sha256:" + new string('c', 64), CancellationToken.None));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public async Task Tty_progress_rewrites_one_line_per_step()
    {
        Write("a.txt", "a");
        var text = new StringWriter();
        var builder = new Builder(_backend, _cache, _owners);
        await builder.BuildAsync(DockerfileParser.Parse("FROM base\nCOPY a.txt /\nRUN echo done\n"),
            new BuildRequest { ContextDirectory = _context.Path }, new TtyBuildProgress(text), CancellationToken.None);
        var output = text.ToString();
        Assert.Contains("\r\u001b[2K[3/3] RUN echo done", output, StringComparison.Ordinal);
        Assert.Contains("=> built", output, StringComparison.Ordinal);
    }

    /// <summary>Delegates to the recording backend; a RUN of "echo a" waits until a RUN of "echo b" has begun.</summary>
    private sealed class GatedBackend(RecordingBackend inner) : IBuildBackend
    {
        private readonly TaskCompletionSource _bStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<BaseImage> ResolveImageAsync(string reference, string platform, CancellationToken cancellationToken) => inner.ResolveImageAsync(reference, platform, cancellationToken);

        public Task<IBuildMount> MountAsync(string? layer, bool readOnly, CancellationToken cancellationToken) => inner.MountAsync(layer, readOnly, cancellationToken);

        public async Task<int> RunAsync(IBuildMount mount, RunSpec spec, Action<string> output, CancellationToken cancellationToken)
        {
            if (spec.Args[^1].StartsWith("echo b", StringComparison.Ordinal))
            {
                _bStarted.TrySetResult();
            }
            else if (spec.Args[^1].StartsWith("echo a", StringComparison.Ordinal))
            {
                await _bStarted.Task.WaitAsync(TimeSpan.FromSeconds(20), cancellationToken);
            }
            return await inner.RunAsync(mount, spec, output, cancellationToken);
        }

        public Task<string> CommitAsync(IBuildMount mount, CancellationToken cancellationToken) => inner.CommitAsync(mount, cancellationToken);

        public Task<bool> LayerExistsAsync(string layer, CancellationToken cancellationToken) => inner.LayerExistsAsync(layer, cancellationToken);
    }

    private const string TwoBranches = """
        FROM base AS a
        RUN echo a && write /a 1
        FROM base AS b
        RUN echo b && write /b 1
        FROM scratch
        COPY --from=a /a /a
        COPY --from=b /b /b
        """;

    [Fact]
    public async Task Independent_stages_build_side_by_side_when_allowed()
    {
        var progress = new RecordingProgress();
        var builder = new Builder(new GatedBackend(_backend), _cache, _owners);
        var result = await builder.BuildAsync(DockerfileParser.Parse(TwoBranches),
            new BuildRequest { ContextDirectory = _context.Path, MaxParallelStages = 2 }, progress, CancellationToken.None);
        Assert.Equal(["a", "b"], _backend.Snapshot(result.Layer).Keys);
        // Step numbers come from the plan, whatever order the stages ran in.
        Assert.Equal([1, 2, 3, 4, 5, 6, 7], progress.Events.OfType<StepStarted>().Select(s => s.Step).Order());
        Assert.Equal(0, _backend.OpenMounts);

        // Sequentially the same Dockerfile gives the same result from the cache.
        var (again, _) = await BuildAsync(TwoBranches);
        Assert.Equal(result.CacheKey, again.CacheKey);
        Assert.Equal(4, again.CachedSteps);
    }

    [Fact]
    public async Task A_failing_stage_stops_the_parallel_build_with_its_own_error()
    {
        var builder = new Builder(_backend, _cache, _owners);
        var e = await Assert.ThrowsAsync<BuildStepFailedException>(() => builder.BuildAsync(
            DockerfileParser.Parse("FROM base AS a\nRUN exit 4\nFROM base AS b\nRUN echo b\nFROM scratch\nCOPY --from=a /x /x\nCOPY --from=b /y /y\n"),
            new BuildRequest { ContextDirectory = _context.Path, MaxParallelStages = 4 }, null, CancellationToken.None));
        Assert.Equal(4, e.ExitCode);
        Assert.Equal(0, _backend.OpenMounts);
    }

    /// <summary>A one-file HTTP/1.1 server on 127.0.0.1:0 answering every GET with the same body (or 404 for /missing).</summary>
    private sealed class TinyHttpServer : IAsyncDisposable
    {
        private readonly System.Net.Sockets.TcpListener _listener = new(System.Net.IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        public TinyHttpServer(byte[] body)
        {
            _listener.Start();
            _loop = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    System.Net.Sockets.TcpClient client;
                    try
                    {
                        client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                    using (client)
                    {
                        var stream = client.GetStream();
                        var reader = new StreamReader(stream);
                        var requestLine = await reader.ReadLineAsync() ?? string.Empty;
                        while (!string.IsNullOrEmpty(await reader.ReadLineAsync()))
                        {
                        }
                        Requests++;
                        var missing = requestLine.Contains("/missing", StringComparison.Ordinal);
                        var payload = missing ? [] : body;
                        var head = (missing ? "HTTP/1.1 404 Not Found\r\n" : "HTTP/1.1 200 OK\r\n")
                            + "Content-Length: " + payload.Length + "\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n";
                        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head));
                        await stream.WriteAsync(payload);
                    }
                }
            });
        }

        public int Requests { get; private set; }

        public string Url(string path) => $"http://127.0.0.1:{((System.Net.IPEndPoint)_listener.LocalEndpoint).Port}{path}";

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _loop;
            _stop.Dispose();
        }
    }

    [Fact]
    public async Task Add_downloads_urls_with_mode_0600_and_checks_checksums()
    {
        var body = "downloaded content\n"u8.ToArray();
        await using var server = new TinyHttpServer(body);
        var digest = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body));
        var dockerfile = $"FROM base\nADD --checksum={digest} {server.Url("/files/tool.tar.gz")} /opt/\nADD {server.Url("/other")} /renamed\n";
        var (result, _) = await BuildAsync(dockerfile);
        var files = _backend.Snapshot(result.Layer);
        // Downloads are never extracted, even when named like an archive.
        Assert.Equal("downloaded content\n", files["opt/tool.tar.gz"]);
        Assert.Equal("downloaded content\n", files["renamed"]);
        var layer = _backend.LayerPath(result.Layer!);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(layer, "opt/tool.tar.gz")));
        Assert.Equal(new DateTime(2015, 10, 21, 7, 28, 0, DateTimeKind.Utc), File.GetLastWriteTimeUtc(Path.Combine(layer, "renamed")));

        // The key is the content: downloaded again, same bytes, cache hit.
        var (_, progress) = await BuildAsync(dockerfile);
        Assert.Equal([2, 3], CachedSteps(progress));
        Assert.Equal(4, server.Requests);

        var bad = await Assert.ThrowsAsync<DockerfileException>(() => BuildAsync($"FROM base\nADD --checksum=sha256:{new string('a', 64)} {server.Url("/x")} /x\n"));
        Assert.StartsWith($"Dockerfile:2: ADD {server.Url("/x")}: checksum mismatch: expected sha256:{new string('a', 64)}, got {digest}", bad.Message, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<BerthException>(() => BuildAsync($"FROM base\nADD {server.Url("/missing")} /x\n"));
        Assert.Equal($"Dockerfile:2: ADD {server.Url("/missing")}: the server answered 404 Not Found", missing.Message);
        Assert.Equal(ErrorCode.Unavailable, missing.Code);
    }

    [Fact]
    public async Task Docker_json_progress_is_the_engine_api_build_stream()
    {
        Write("a.txt", "a");
        using var stream = new MemoryStream();
        var progress = new DockerJsonBuildProgress(stream);
        var builder = new Builder(_backend, _cache, _owners);
        await builder.BuildAsync(DockerfileParser.Parse("FROM base\nCOPY a.txt /\nRUN echo \"quoted\"\n"),
            new BuildRequest { ContextDirectory = _context.Path }, progress, CancellationToken.None);
        progress.WriteImageId("sha256:" + new string('e', 64));
        progress.WriteError("boom");
        var lines = System.Text.Encoding.UTF8.GetString(stream.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var docs = lines.Select(l => JsonDocument.Parse(l)).ToList();
        Assert.Equal("Step 1/3 : FROM base\n", docs[0].RootElement.GetProperty("stream").GetString());
        Assert.Contains(docs, d => d.RootElement.TryGetProperty("stream", out var s) && s.GetString() == "\"quoted\"\n");
        Assert.Contains(docs, d => d.RootElement.TryGetProperty("aux", out var aux) && aux.GetProperty("ID").GetString() == "sha256:" + new string('e', 64));
        Assert.Equal("Successfully built eeeeeeeeeeee\n", docs[^2].RootElement.GetProperty("stream").GetString());
        Assert.Equal("boom", docs[^1].RootElement.GetProperty("errorDetail").GetProperty("message").GetString());
        foreach (var d in docs)
        {
            d.Dispose();
        }
    }
}
