using Berth.Testing;

namespace Berth.Build.Tests;

/// <summary>
/// The build scenario with RUN executed for real (busybox sh in new namespaces via unshare): a multi-stage
/// build, a second build that hits the cache for every step, and one changed file invalidating exactly the steps
/// from its COPY on.
/// </summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class RealRunBuildTests : IDisposable
{
    private readonly TempDirectory _context = new("berth-build-context");
    private readonly RecordingBackend _inner = new();
    private readonly InMemoryCacheStore _cache = new();
    private readonly RecordingOwnership _owners = new();

    public RealRunBuildTests()
    {
        Privileged.Require();
        UnshareBackend.AddBusybox(_inner);
    }

    public void Dispose()
    {
        _inner.Dispose();
        _context.Dispose();
    }

    private const string Dockerfile = """
        FROM busybox AS build
        ARG GREETING=hello
        WORKDIR /src
        COPY main.txt .
        COPY notes.txt .
        RUN mkdir -p /out && cat main.txt > /out/app && echo "$GREETING from $(pwd)" > /out/stamp && echo built
        RUN ip link 2>&1 | wc -l > /out/links

        FROM busybox AS unused
        RUN echo never > /never

        FROM busybox
        COPY --from=build /out/ /app/
        CMD ["cat", "/app/app"]
        """;

    private async Task<(BuildResult Result, RecordingProgress Progress)> BuildAsync()
    {
        var progress = new RecordingProgress();
        var result = await new Builder(new UnshareBackend(_inner), _cache, _owners).BuildAsync(DockerfileParser.Parse(Dockerfile),
            new BuildRequest { ContextDirectory = _context.Path }, progress, CancellationToken.None);
        return (result, progress);
    }

    [Fact]
    public async Task Multi_stage_build_with_real_runs_caches_and_invalidates_precisely()
    {
        File.WriteAllText(_context.Combine("main.txt"), "v1\n");
        File.WriteAllText(_context.Combine("notes.txt"), "n1\n");

        var (first, progress) = await BuildAsync();
        var files = _inner.Snapshot(first.Layer);
        Assert.Equal("v1\n", files["app/app"]);
        Assert.Equal("hello from /src\n", files["app/stamp"]);
        // No network by default: only the loopback device exists in the step's network namespace.
        Assert.Equal("2", files["app/links"].Trim());
        Assert.False(files.ContainsKey("never"));
        Assert.Contains("built", progress.Text, StringComparison.Ordinal);
        Assert.Equal(["cat", "/app/app"], first.Config.Config.Cmd);

        var (second, warm) = await BuildAsync();
        Assert.Equal(first.Layer, second.Layer);
        Assert.Equal(second.Steps - 2, second.CachedSteps);

        // notes.txt is copied at step 5: steps 2-4 stay cached, 5 on rebuild (and the final stage's COPY --from
        // finds the same /out content, so it is cached again).
        File.WriteAllText(_context.Combine("notes.txt"), "n2\n");
        var (third, changed) = await BuildAsync();
        Assert.Equal([2, 3, 4, 9, 10], changed.Events.OfType<StepCached>().Select(c => c.Step));
        Assert.Equal(first.Layer, third.Layer);
        _ = warm;
    }

    [Fact]
    public async Task Failing_real_run_reports_exit_code_and_output()
    {
        var e = await Assert.ThrowsAsync<BuildStepFailedException>(() => new Builder(new UnshareBackend(_inner), _cache, _owners).BuildAsync(
            DockerfileParser.Parse("FROM busybox\nRUN echo partial > /half && echo oops >&2 && exit 42\n"),
            new BuildRequest { ContextDirectory = _context.Path }, null, CancellationToken.None));
        Assert.Equal(42, e.ExitCode);
        Assert.Equal(["oops"], e.Output);
        Assert.Equal(0, _inner.OpenMounts);
        Assert.DoesNotContain(_inner.Calls, c => c.StartsWith("commit", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Heredocs_run_for_real()
    {
        var result = await new Builder(new UnshareBackend(_inner), _cache, _owners).BuildAsync(DockerfileParser.Parse("""
            FROM busybox
            RUN <<EOF
            echo one > /one
            echo two >> /one
            EOF
            RUN <<SCRIPT
            #!/bin/sh
            echo "interpreted by $0" > /two
            SCRIPT
            RUN cat > /three <<EOT
            three
            EOT
            """), new BuildRequest { ContextDirectory = _context.Path }, null, CancellationToken.None);
        var files = _inner.Snapshot(result.Layer);
        Assert.Equal("one\ntwo\n", files["one"]);
        Assert.Equal("interpreted by /.berth-run-script\n", files["two"]);
        Assert.Equal("three\n", files["three"]);
        Assert.False(files.ContainsKey(".berth-run-script"));
    }
}
