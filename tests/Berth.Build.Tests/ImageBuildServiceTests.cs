using System.Formats.Tar;
using System.IO.Compression;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Layers;
using Berth.Testing;

namespace Berth.Build.Tests;

/// <summary>
/// Dockerfile → image for real: overlay snapshots of the image library, RUN in containers started by
/// out/berth-runtime, layers in the content store, the image written and tagged in the image store, then run.
/// </summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class ImageBuildServiceTests : IDisposable
{
    private readonly RealBuildRoot _root;

    public ImageBuildServiceTests()
    {
        Privileged.Require();
        _root = new RealBuildRoot();
    }

    public void Dispose() => _root.Dispose();

    private const string MultiStage = """
        FROM busybox AS build
        ARG GREETING=hello
        WORKDIR /src
        COPY main.txt .
        COPY notes.txt .
        RUN mkdir -p /out && cat main.txt notes.txt > /out/app && echo "$GREETING from $(pwd)" >> /out/app && echo built
        RUN ls /sys/class/net >> /out/app

        FROM busybox AS unused
        RUN echo never > /never && exit 1

        FROM busybox
        COPY --from=build /out/ /app/
        RUN rm /bin/vi && echo gone
        CMD ["cat", "/app/app"]
        """;

    [Fact]
    public async Task Multi_stage_build_runs_then_caches_every_step_and_a_changed_file_invalidates_from_its_copy_on()
    {
        _root.Write("main.txt", "v1\n");
        _root.Write("notes.txt", "n1\n");

        var (first, progress) = await _root.BuildAsync(MultiStage, tags: ["app:v1"]);
        Assert.Contains("built", progress.Text, StringComparison.Ordinal);
        Assert.Equal(["docker.io/library/app:v1"], first.Tags);
        Assert.Equal(0, first.Build.CachedSteps);

        // The image runs: its CMD prints what the first stage made; the step had no network (only loopback).
        var (exit, output) = await _root.RunImageAsync(first);
        Assert.Equal(0, exit);
        Assert.Equal(["v1", "n1", "hello from /src", "lo"], output);

        // RUN rm became a whiteout: the flattened image has no /bin/vi; the unused stage never ran.
        var rootfs = await _root.UnpackAsync(first);
        Assert.False(Path.Exists(Path.Combine(rootfs, "bin/vi")));
        Assert.True(File.Exists(Path.Combine(rootfs, "bin/busybox")));
        Assert.False(File.Exists(Path.Combine(rootfs, "never")));
        Assert.DoesNotContain("never", progress.Text, StringComparison.Ordinal);

        var details = await _root.Images.InspectAsync("app:v1");
        Assert.Equal(first.ImageId, details.Id);
        Assert.Equal(["cat", "/app/app"], details.Config.Config!.Cmd);
        // busybox's layer + COPY --from + RUN rm; history lines up with the layers.
        Assert.Equal(3, details.Config.RootFs.DiffIds.Count);
        Assert.Equal(3, details.Config.History!.Count(h => h.EmptyLayer != true));

        // Warm: every step but the two FROMs comes from the cache, and the image is the same.
        var (warm, _) = await _root.BuildAsync(MultiStage, tags: ["app:v1"]);
        Assert.Equal(warm.Build.Steps - 2, warm.Build.CachedSteps);
        Assert.Equal(first.ImageId, warm.ImageId);

        // Touching a file (new mtime, same content) keeps the cache.
        File.SetLastWriteTimeUtc(Path.Combine(_root.Context, "main.txt"), DateTime.UtcNow.AddHours(1));
        var (touched, _) = await _root.BuildAsync(MultiStage);
        Assert.Equal(first.ImageId, touched.ImageId);

        // notes.txt is copied at step 5: steps 2-4 stay cached, 5 on re-run (and the final stage sees new /out).
        _root.Write("notes.txt", "n2\n");
        var (changed, changedProgress) = await _root.BuildAsync(MultiStage, tags: ["app:v2"]);
        Assert.Equal([2, 3, 4], changedProgress.Events.OfType<StepCached>().Select(c => c.Step));
        Assert.NotEqual(first.ImageId, changed.ImageId);
        var (_, changedOutput) = await _root.RunImageAsync(changed);
        Assert.Equal(["v1", "n2", "hello from /src", "lo"], changedOutput);

        // Nothing is left mounted or half-written.
        var counts = await _root.CountAsync();
        Assert.Equal(0, counts.Mounts);
        Assert.Equal(0, counts.ScratchEntries);
        Assert.Equal(counts.Snapshots, counts.SnapshotDirs);
    }

    [Fact]
    public async Task Garbage_collection_drops_build_only_layers_and_a_rebuild_reruns_just_those()
    {
        _root.Write("main.txt", "v1\n");
        _root.Write("notes.txt", "n1\n");
        var (first, _) = await _root.BuildAsync(MultiStage, tags: ["app:v1"]);
        var gc = await _root.Images.GarbageCollectAsync();
        // The first stage's layers (WORKDIR, two COPYs, two RUNs) belong to no named image.
        Assert.Equal(5, gc.RemovedSnapshots.Count);
        Assert.Equal(5, gc.RemovedBlobs.Count);

        var (again, progress) = await _root.BuildAsync(MultiStage, tags: ["app:v1"]);
        // ARG is cached (no layer); steps 3-7 lost their layers and run again; the final stage is cached because
        // COPY --from finds the same content.
        Assert.Equal([2, 9, 10, 11], progress.Events.OfType<StepCached>().Select(c => c.Step));
        Assert.Equal(first.ImageId, again.ImageId);
        var (exit, output) = await _root.RunImageAsync(again);
        Assert.Equal(0, exit);
        Assert.Equal(["v1", "n1", "hello from /src", "lo"], output);
    }

    [Fact]
    public async Task Failing_run_reports_exit_code_and_output_and_leaves_nothing_half_made()
    {
        await _root.BuildAsync("FROM busybox\nRUN echo ok > /ok\n");
        var before = await _root.CountAsync();

        var e = await Assert.ThrowsAsync<BuildStepFailedException>(() => _root.BuildAsync(
            "FROM busybox\nRUN echo partial > /half && echo to-stdout && echo oops >&2 && exit 42\n", tags: ["broken:latest"]));
        Assert.Equal(42, e.ExitCode);
        Assert.Equal(["to-stdout", "oops"], e.Output);
        Assert.Contains("Dockerfile:2: RUN", e.Message, StringComparison.Ordinal);
        Assert.Contains("returned a non-zero code: 42", e.Message, StringComparison.Ordinal);

        var after = await _root.CountAsync();
        Assert.Equal(before, after);
        Assert.Equal(0, after.Mounts);
        Assert.Equal(0, after.ScratchEntries);
    }

    [Fact]
    public async Task Cancelling_a_running_step_kills_it_and_leaves_nothing_behind()
    {
        await _root.BuildAsync("FROM busybox\nRUN echo ok > /ok\n");
        var before = await _root.CountAsync();
        using var cts = new CancellationTokenSource();
        _root.Write("Dockerfile", "FROM busybox\nRUN echo started && sleep 60\n");
        var progress = new StartedProbe(cts);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _root.Service.BuildAsync(
            new ImageBuildRequest { ContextDirectory = _root.Context }, progress, cts.Token));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"cancel took {watch.Elapsed}");
        Assert.Equal(before, await _root.CountAsync());
    }

    [Fact]
    public async Task A_build_killed_mid_run_is_cleaned_up_by_the_next_build()
    {
        const string baseline = "FROM busybox\nRUN echo ok > /ok\n";
        await _root.BuildAsync(baseline);
        var before = await _root.CountAsync();

        // `berth images-dev build` on the same state root, killed with SIGKILL while its RUN sleeps.
        _root.Write("Dockerfile", "FROM busybox\nRUN echo started && sleep 60\n");
        var psi = new System.Diagnostics.ProcessStartInfo(Repo.Executable("berth"),
            ["images-dev", "build", "--root", _root.Path, "--runtime", _root.Runtime, _root.Context]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using (var cli = System.Diagnostics.Process.Start(psi)!)
        {
            while (await cli.StandardOutput.ReadLineAsync() is { } line && line != "started")
            {
            }
            cli.Kill();
            await cli.WaitForExitAsync();
        }
        var left = await _root.CountAsync();
        Assert.True(left.Mounts > 0 && left.ScratchEntries > 0 && left.Snapshots > before.Snapshots, $"the killed build left nothing to clean up: {left}");

        // The next build finds no other build running, removes the leftovers (and kills the orphaned step).
        var (again, _) = await _root.BuildAsync(baseline);
        Assert.Equal(again.Build.Steps - 1, again.Build.CachedSteps);
        Assert.Equal(before, await _root.CountAsync());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_root.BuildState, "runtime")));
    }

    private sealed class StartedProbe(CancellationTokenSource cts) : IBuildProgress
    {
        public void Report(BuildEvent buildEvent)
        {
            if (buildEvent is StepOutput { Line: "started" })
            {
                cts.CancelAfter(200);
            }
        }
    }

    [Fact]
    public async Task User_workdir_and_env_take_effect_in_run()
    {
        var (result, _) = await _root.BuildAsync("""
            FROM busybox
            ENV GREETING=hi NAME=berth
            RUN mkdir /data && chown nobody:nogroup /data && grep CapEff /proc/self/status > /data/root-caps
            USER nobody
            WORKDIR /data/mine
            RUN echo "$GREETING $NAME $(pwd) $(id -u):$(id -g) $HOME" > who && touch file && grep CapEff /proc/self/status > caps
            USER 1234:5678
            RUN id -u > /tmp/uid && id -g >> /tmp/uid
            """, tags: ["users:test"]);
        var rootfs = await _root.UnpackAsync(result);
        Assert.Equal("hi berth /data/mine 65534:65534 /home\n", File.ReadAllText(Path.Combine(rootfs, "data/mine/who")));
        Assert.Equal((65534, 65534), FileOwner.Get(Path.Combine(rootfs, "data/mine/file")));
        Assert.Equal((65534, 65534), FileOwner.Get(Path.Combine(rootfs, "data/mine")));
        Assert.Equal("1234\n5678\n", File.ReadAllText(Path.Combine(rootfs, "tmp/uid")));
        // Docker's default capability set for root; none effective for another user.
        Assert.Equal("CapEff:\t00000000a80425fb", File.ReadAllText(Path.Combine(rootfs, "data/root-caps")).Trim());
        Assert.Equal("CapEff:\t0000000000000000", File.ReadAllText(Path.Combine(rootfs, "data/mine/caps")).Trim());
        var details = await _root.Images.InspectAsync("users:test");
        Assert.Equal(result.ImageId, details.Id);
        Assert.Equal("1234:5678", details.Config.Config!.User);
        Assert.Equal("/data/mine", details.Config.Config.WorkingDir);
    }

    [Fact]
    public async Task Unknown_user_fails_the_run_step_with_a_clear_error()
    {
        var e = await Assert.ThrowsAnyAsync<BerthException>(() => _root.BuildAsync("FROM busybox\nUSER ghost\nRUN true\n"));
        Assert.Contains("unable to find user ghost", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await _root.CountAsync()).Mounts);
    }

    [Fact]
    public async Task Add_extracts_local_tar_archives()
    {
        var source = Path.Combine(_root.Path, "tar-source");
        Directory.CreateDirectory(Path.Combine(source, "dir"));
        File.WriteAllText(Path.Combine(source, "dir", "x.txt"), "from gzip tar\n");
        using (var gz = new GZipStream(File.Create(Path.Combine(_root.Context, "files.tar.gz")), CompressionLevel.Fastest))
        {
            await TarFile.CreateFromDirectoryAsync(source, gz, includeBaseDirectory: false);
        }
        File.WriteAllText(Path.Combine(source, "dir", "x.txt"), "from plain tar\n");
        await TarFile.CreateFromDirectoryAsync(source, Path.Combine(_root.Context, "plain.tar"), includeBaseDirectory: false);

        var (result, _) = await _root.BuildAsync("""
            FROM busybox
            ADD files.tar.gz /opt/
            ADD plain.tar /plain/
            COPY plain.tar /copied/
            RUN cat /opt/dir/x.txt /plain/dir/x.txt > /result && test -f /copied/plain.tar
            """);
        var rootfs = await _root.UnpackAsync(result);
        Assert.Equal("from gzip tar\nfrom plain tar\n", File.ReadAllText(Path.Combine(rootfs, "result")));
    }

    [Fact]
    public async Task Dockerignore_keeps_files_out_of_the_context_and_the_cache_key()
    {
        _root.Write("keep.txt", "keep\n");
        _root.Write("secret.txt", "secret\n");
        _root.Write("logs/a.log", "log\n");
        _root.Write(".dockerignore", "secret.txt\nlogs\n");
        const string dockerfile = "FROM busybox\nCOPY . /ctx/\nRUN ls -a /ctx > /listing\n";
        var (first, _) = await _root.BuildAsync(dockerfile);
        var listing = File.ReadAllLines(Path.Combine(await _root.UnpackAsync(first), "listing"));
        Assert.Contains("keep.txt", listing);
        Assert.DoesNotContain("secret.txt", listing);
        Assert.DoesNotContain("logs", listing);

        // An ignored file's change is invisible to the build.
        _root.Write("secret.txt", "another secret\n");
        var (second, _) = await _root.BuildAsync(dockerfile);
        Assert.Equal(first.ImageId, second.ImageId);
        Assert.Equal(second.Build.Steps - 1, second.Build.CachedSteps);
    }

    [Fact]
    public async Task Target_builds_only_the_stages_it_needs()
    {
        const string dockerfile = """
            FROM busybox AS base
            RUN echo base > /base
            FROM base AS tester
            RUN echo testing && exit 7
            FROM base AS app
            RUN cat /base > /app
            FROM tester
            """;
        var (app, progress) = await _root.BuildAsync(dockerfile, target: "app");
        Assert.DoesNotContain("testing", progress.Text, StringComparison.Ordinal);
        Assert.Equal("base\n", File.ReadAllText(Path.Combine(await _root.UnpackAsync(app), "app")));

        // The last stage needs the tester, which really runs (and fails).
        var e = await Assert.ThrowsAsync<BuildStepFailedException>(() => _root.BuildAsync(dockerfile));
        Assert.Equal(7, e.ExitCode);
        Assert.Equal(["testing"], e.Output);
    }

    [Fact]
    public async Task Context_can_be_a_tar_stream_with_a_dockerfile_elsewhere_in_it()
    {
        _root.Write("src/hello.txt", "hello from a tar context\n");
        _root.Write("build/app.Dockerfile", "FROM busybox\nCOPY src/hello.txt /\nRUN cat /hello.txt > /again\n");
        using var tar = new MemoryStream();
        await TarFile.CreateFromDirectoryAsync(_root.Context, tar, includeBaseDirectory: false);
        tar.Position = 0;
        var result = await _root.Service.BuildAsync(new ImageBuildRequest { ContextTar = tar, Dockerfile = "build/app.Dockerfile", Tags = ["from-tar"] }, null, CancellationToken.None);
        Assert.Equal("hello from a tar context\n", File.ReadAllText(Path.Combine(await _root.UnpackAsync(result), "again")));
        Assert.Equal(result.ImageId, (await _root.Images.InspectAsync("from-tar")).Id);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_root.BuildState, "contexts")));
    }

    [Fact]
    public async Task A_tar_context_cannot_name_a_dockerfile_outside_itself()
    {
        var outside = Path.Combine(_root.Path, "outside.Dockerfile");
        File.WriteAllText(outside, "FROM busybox\nRUN echo outside\n");
        _root.Write("Dockerfile", "FROM busybox\n");
        using var tar = new MemoryStream();
        await TarFile.CreateFromDirectoryAsync(_root.Context, tar, includeBaseDirectory: false);
        foreach (var path in new[] { outside, "../outside.Dockerfile" })
        {
            tar.Position = 0;
            var e = await Assert.ThrowsAnyAsync<BerthException>(() => _root.Service.BuildAsync(
                new ImageBuildRequest { ContextTar = tar, Dockerfile = path }, null, CancellationToken.None));
            Assert.Equal(ErrorCode.NotFound, e.Code);
        }
    }

    [Fact]
    public async Task A_base_from_a_docker_archive_gives_an_oci_image_that_skopeo_reads()
    {
        // busybox through `docker save` format and back: Docker schema 2 manifest, Docker layer media types.
        var busybox = await _root.Images.InspectAsync("busybox");
        var archive = Path.Combine(_root.Path, "busybox.tar");
        await using (var file = File.Create(archive))
        {
            await Berth.Images.Formats.DockerArchive.ExportAsync(file, _root.Content, [(busybox.Target, (IReadOnlyList<string>)["dockerbox:1"])]);
        }
        await using (var file = File.OpenRead(archive))
        {
            var imported = Assert.Single(await Berth.Images.Formats.DockerArchive.ImportAsync(file, _root.Content));
            await _root.Images.TagAsync("dockerbox:1", imported.Manifest);
        }
        var (result, _) = await _root.BuildAsync("FROM dockerbox:1\nRUN echo layered > /layered\nLABEL built=yes\n", tags: ["layered:1"]);
        var manifest = await _root.Content.ReadJsonAsync(result.Manifest.Digest, Berth.Oci.Image.ImageJsonContext.Default.ImageManifest);
        // docker save stores layers uncompressed: the base keeps its blob as an OCI tar layer, the new one is gzip.
        Assert.Equal([Berth.Oci.Image.MediaTypes.OciLayer, Berth.Oci.Image.MediaTypes.OciLayerGzip], manifest.Layers.Select(l => l.MediaType));

        // A real peer reads the image: skopeo inspects the OCI layout Berth writes.
        var layout = Path.Combine(_root.Path, "layout");
        await Berth.Images.Formats.OciLayout.WriteAsync(layout, _root.Content, [(result.Manifest, "layered")]);
        var psi = new System.Diagnostics.ProcessStartInfo("skopeo", ["inspect", "--config", "oci:" + layout + ":layered"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var skopeo = System.Diagnostics.Process.Start(psi)!;
        var json = await skopeo.StandardOutput.ReadToEndAsync();
        var err = await skopeo.StandardError.ReadToEndAsync();
        await skopeo.WaitForExitAsync();
        Assert.True(skopeo.ExitCode == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        Assert.Equal("yes", doc.RootElement.GetProperty("config").GetProperty("Labels").GetProperty("built").GetString());
        Assert.Equal(2, doc.RootElement.GetProperty("rootfs").GetProperty("diff_ids").GetArrayLength());
        Assert.Equal("layered\n", File.ReadAllText(Path.Combine(await _root.UnpackAsync(result), "layered")));
    }

    [Fact]
    public async Task From_scratch_runs_steps_and_leaves_no_runtime_mount_points_in_the_layers()
    {
        var (result, _) = await _root.BuildAsync("""
            FROM busybox AS tools
            FROM scratch
            COPY --from=tools /bin/busybox /busybox
            RUN ["/busybox", "sh", "-c", "echo from scratch > /made"]
            ENTRYPOINT ["/busybox"]
            CMD ["cat", "/made"]
            """);
        var rootfs = await _root.UnpackAsync(result);
        Assert.Equal(["busybox", "made"], Directory.EnumerateFileSystemEntries(rootfs).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var (exit, output) = await _root.RunImageAsync(result);
        Assert.Equal(0, exit);
        Assert.Equal(["from scratch"], output);
    }

    [Fact]
    public async Task Builds_run_side_by_side_on_one_service()
    {
        _root.Write("main.txt", "shared\n");
        Directory.CreateDirectory(Path.Combine(_root.Path, "other"));
        _root.Write("a.Dockerfile", "FROM busybox\nCOPY main.txt /\nRUN cat /main.txt > /a && sleep 1\n");
        _root.Write("b.Dockerfile", "FROM busybox\nCOPY main.txt /\nRUN cat /main.txt > /b && sleep 1\n");
        Task<ImageBuildResult> Build(string file, string tag) => _root.Service.BuildAsync(
            new ImageBuildRequest { ContextDirectory = _root.Context, Dockerfile = file, Tags = [tag] }, null, CancellationToken.None);
        var results = await Task.WhenAll(Build("a.Dockerfile", "a:1"), Build("b.Dockerfile", "b:1"));
        Assert.Equal("shared\n", File.ReadAllText(Path.Combine(await _root.UnpackAsync(results[0]), "a")));
        Assert.Equal("shared\n", File.ReadAllText(Path.Combine(await _root.UnpackAsync(results[1]), "b")));
        var counts = await _root.CountAsync();
        Assert.Equal(0, counts.Mounts);
        Assert.Equal(0, counts.ScratchEntries);
        Assert.Equal(counts.Snapshots, counts.SnapshotDirs);
    }

    [Fact]
    public async Task Build_args_reach_run_and_the_cache_key()
    {
        const string dockerfile = """
            FROM busybox
            ARG FLAVOUR=plain
            RUN echo $FLAVOUR > /flavour
            RUN <<EOF
            echo "heredoc $FLAVOUR" > /heredoc
            EOF
            RUN <<SCRIPT
            #!/bin/sh
            echo "script as $0" > /script
            SCRIPT
            """;
        var (plain, _) = await _root.BuildAsync(dockerfile);
        var (spicy, _) = await _root.BuildAsync(dockerfile, buildArgs: new Dictionary<string, string> { ["FLAVOUR"] = "spicy" });
        Assert.NotEqual(plain.ImageId, spicy.ImageId);
        var rootfs = await _root.UnpackAsync(spicy);
        Assert.Equal("spicy\n", File.ReadAllText(Path.Combine(rootfs, "flavour")));
        Assert.Equal("heredoc spicy\n", File.ReadAllText(Path.Combine(rootfs, "heredoc")));
        // The script ran from the writable layer and was gone before the commit.
        Assert.Equal("script as /.berth-run-script\n", File.ReadAllText(Path.Combine(rootfs, "script")));
        Assert.False(File.Exists(Path.Combine(rootfs, ".berth-run-script")));
        var (again, _) = await _root.BuildAsync(dockerfile, noCache: true);
        Assert.Equal(0, again.Build.CachedSteps);

        // Built without -t: found by its image ID, and kept by GC.
        await _root.Images.GarbageCollectAsync();
        Assert.Equal(spicy.ImageId, (await _root.Images.InspectAsync(spicy.ImageId.Encoded[..12])).Id);
        Assert.Empty((await _root.Images.InspectAsync(spicy.ImageId.ToString())).RepoTags);
    }
}

/// <summary>The same build with runc instead of berth-runtime: the runtime is selectable.</summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class ImageBuildWithRuncTests
{
    [Fact]
    public async Task Runc_runs_the_steps()
    {
        Privileged.Require();
        using var root = new RealBuildRoot("runc");
        var (result, progress) = await root.BuildAsync("FROM busybox\nRUN echo via-runc && hostname > /host\n");
        Assert.Contains("via-runc", progress.Text, StringComparison.Ordinal);
        Assert.Equal("buildkitsandbox\n", File.ReadAllText(Path.Combine(await root.UnpackAsync(result), "host")));
    }
}

/// <summary>The backend contract, against the real backend (snapshots + berth-runtime).</summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class ImageStoreBackendConformance : BuildBackendConformance, IDisposable
{
    private readonly RealBuildRoot _root;
    private readonly ImageStoreBackend _backend;

    public ImageStoreBackendConformance()
    {
        Privileged.Require();
        _root = new RealBuildRoot();
        _backend = new ImageStoreBackend(_root.Images, _root.BuildState, _root.Runtime);
    }

    protected override IBuildBackend Backend => _backend;

    protected override string ImageWithShell => "busybox";

    public void Dispose()
    {
        _backend.Dispose();
        _root.Dispose();
    }
}
