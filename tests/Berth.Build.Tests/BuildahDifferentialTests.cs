using System.Diagnostics;
using System.Formats.Tar;
using System.Text.Json;
using Berth.Testing;

namespace Berth.Build.Tests;

/// <summary>
/// Builds the same Dockerfile with Berth (on the recording backend) and with buildah, the real peer, and compares
/// the image config and the root filesystem. Only Dockerfiles without RUN: the recording backend runs no processes.
/// </summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class BuildahDifferentialTests : IDisposable
{
    private readonly TempDirectory _dir = new("berth-build-buildah");

    public void Dispose()
    {
        try
        {
            Buildah("rm", "--all");
        }
        catch (InvalidOperationException)
        {
        }
        _dir.Dispose();
    }

    private string Context => _dir.Combine("context");

    private string Buildah(params string[] args)
    {
        var psi = new ProcessStartInfo("buildah")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in (string[])["--root", _dir.Combine("root"), "--runroot", _dir.Combine("runroot"), "--storage-driver", "vfs", .. args])
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start buildah");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"buildah {string.Join(' ', args)} failed ({process.ExitCode}): {stderr.Result}");
        }
        return stdout.Result.Trim();
    }

    private void Write(string rel, string content, string mode = "644")
    {
        var path = Path.Combine(Context, rel);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32(mode, 8));
    }

    /// <summary>Owners of everything under a directory, read with find (tests have no lstat).</summary>
    private static Dictionary<string, string> FindOwners(string root)
    {
        var psi = new ProcessStartInfo("find") { RedirectStandardOutput = true };
        foreach (var a in new[] { root, "-mindepth", "1", "-printf", "%P\t%U:%G\n" })
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToDictionary(p => p[0], p => p[1]);
    }

    private static SortedDictionary<string, string> Tree(string root, Func<string, string> owner)
    {
        var tree = Tree(root);
        foreach (var key in tree.Keys.ToList())
        {
            tree[key] = owner(key) + " " + tree[key];
        }
        return tree;
    }

    private static SortedDictionary<string, string> Tree(string root)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        void Walk(DirectoryInfo dir)
        {
            foreach (var e in dir.EnumerateFileSystemInfos())
            {
                var rel = Path.GetRelativePath(root, e.FullName);
                if (e.LinkTarget is not null)
                {
                    result[rel] = "link -> " + e.LinkTarget;
                }
                else if (e is DirectoryInfo d)
                {
                    result[rel] = "dir " + Convert.ToString((int)File.GetUnixFileMode(d.FullName), 8);
                    Walk(d);
                }
                else
                {
                    result[rel] = "file " + Convert.ToString((int)File.GetUnixFileMode(e.FullName), 8) + " " + File.ReadAllText(e.FullName);
                }
            }
        }
        Walk(new DirectoryInfo(root));
        return result;
    }

    private static string Normalize(JsonElement config)
    {
        var fields = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in new[] { "User", "ExposedPorts", "Env", "Cmd", "Entrypoint", "Volumes", "WorkingDir", "Labels", "StopSignal", "Healthcheck", "Shell", "OnBuild" })
        {
            if (!config.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            {
                continue;
            }
            var text = value.ValueKind == JsonValueKind.Object && name is "ExposedPorts" or "Volumes"
                ? string.Join(",", value.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal))
                : name == "Labels"
                    ? string.Join(",", value.EnumerateObject().Where(p => !p.Name.StartsWith("io.buildah", StringComparison.Ordinal)).Select(p => p.Name + "=" + p.Value.GetString()).Order(StringComparer.Ordinal))
                    : value.GetRawText().Replace(" ", string.Empty, StringComparison.Ordinal).Replace("\n", string.Empty, StringComparison.Ordinal);
            if (text is "" or "[]" or "\"\"")
            {
                continue;
            }
            fields[name] = text;
        }
        return string.Join("\n", fields.Select(f => f.Key + ": " + f.Value));
    }

    // Known divergence, by design: buildah keeps "EXPOSE 8000-8001" as one "8000-8001/tcp" key; Docker (and Berth)
    // expand a range to one key per port. The Dockerfile below avoids ranges for that reason.
    [Fact]
    public async Task Config_and_rootfs_match_buildah()
    {
        Privileged.Require();
        Write("a.txt", "hi\n");
        Write("b.txt", "bee\n", "600");
        Write("script.sh", "#!/bin/sh\n", "755");
        Write("dir/sub/c.txt", "c\n");
        Write("dir/top.txt", "top\n");
        Write("ignored.log", "no\n");
        Write(".dockerignore", "*.log\n");
        File.SetUnixFileMode(Path.Combine(Context, "dir/sub"), (UnixFileMode)Convert.ToInt32("751", 8));
        File.CreateSymbolicLink(Path.Combine(Context, "dir/link"), "top.txt");
        await using (var tar = File.Create(Path.Combine(Context, "bundle.tar")))
        await using (var writer = new TarWriter(tar, TarEntryFormat.Pax))
        {
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, "pkg/") { Mode = (UnixFileMode)Convert.ToInt32("750", 8) });
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "pkg/data.txt")
            { DataStream = new MemoryStream("data\n"u8.ToArray()), Mode = (UnixFileMode)Convert.ToInt32("640", 8) });
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.SymbolicLink, "pkg/rel") { LinkName = "data.txt" });
        }
        const string dockerfile = """
            # syntax=docker/dockerfile:1
            ARG V=1
            ARG BASE=scratch
            FROM ${BASE}
            ARG V
            ARG W=w-$V
            ENV A=1 B="two words" \
                Q='single $A'
            ENV C=$A-${B} D=${UNSET:-def} E=${A:+alt} F=${UNSET:+no}
            LABEL a=1 "b c"="d e" v=$V w=$W
            WORKDIR /app
            WORKDIR sub/../rel
            COPY a.txt dir ./
            COPY --chmod=0700 a.txt /x/y
            COPY *.txt /globbed/
            COPY ["script.sh", "/json dest/"]
            COPY dir/ /dircopy
            COPY . /ctx/
            COPY --chown=1:2 dir /new/deep/
            COPY --chown=3:4 a.txt /other/x/y
            COPY --chown=5:6 b.txt /w/
            COPY --chown=5:6 dir/ /new/
            COPY --chmod=0700 dir /c/d/
            ADD bundle.tar /extracted/
            EXPOSE 80 53/udp 8000/tcp
            VOLUME /data
            VOLUME ["/cache", "/logs"]
            USER 1000:1000
            ENTRYPOINT ["/e"]
            CMD echo hi
            STOPSIGNAL SIGINT
            HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD check --quick
            SHELL ["/bin/bash", "-c"]
            """;
        File.WriteAllText(Path.Combine(Context, "Dockerfile"), dockerfile);

        Buildah("bud", "--format", "docker", "--build-arg", "V=7", "-t", "berth-difftest", Context);
        using var inspect = JsonDocument.Parse(Buildah("inspect", "--type", "image", "berth-difftest"));
        var theirsConfig = Normalize(inspect.RootElement.GetProperty("Docker").GetProperty("config"));
        var container = Buildah("from", "--pull=never", "berth-difftest");
        var theirsRoot = Buildah("mount", container);
        var theirOwners = FindOwners(theirsRoot);
        var theirsTree = Tree(theirsRoot, rel => theirOwners[rel]);

        var owners = new RecordingOwnership();
        using var backend = new RecordingBackend { Owners = owners };
        var builder = new Builder(backend, new InMemoryCacheStore(), owners);
        var result = await builder.BuildFileAsync(new BuildRequest
        {
            ContextDirectory = Context,
            BuildArgs = new Dictionary<string, string> { ["V"] = "7" },
        }, null, CancellationToken.None);
        using var ours = JsonDocument.Parse(result.Config.ToJson());
        var oursConfig = Normalize(ours.RootElement.GetProperty("config"));
        var layerRoot = backend.LayerPath(result.Layer!);
        var oursTree = Tree(layerRoot, rel => owners.GetOwner(Path.Combine(layerRoot, rel)) is var (u, g) ? $"{u}:{g}" : "?");

        // The comparison covers what matters: expansion, .dockerignore, ADD extraction, globs, links, modes.
        Assert.Contains("Env: [\"PATH=", theirsConfig, StringComparison.Ordinal);
        Assert.Contains("extracted/pkg/data.txt", theirsTree.Keys);
        Assert.Contains("ctx/dir/link", theirsTree.Keys);
        Assert.DoesNotContain("ctx/ignored.log", theirsTree.Keys);
        Assert.StartsWith("1:2 dir", theirsTree["new/deep"], StringComparison.Ordinal);
        Assert.Equal(theirsConfig, oursConfig);
        Assert.Equal(string.Join("\n", theirsTree.Select(kv => kv.Key + ": " + kv.Value)), string.Join("\n", oursTree.Select(kv => kv.Key + ": " + kv.Value)));
    }

    [Fact]
    public async Task Multi_stage_arg_scoping_and_target_match_buildah()
    {
        Privileged.Require();
        Write("app/main.txt", "main\n");
        Write("app/extra.txt", "extra\n");
        const string dockerfile = """
            ARG G=global
            ARG ONLYFROM=scratch
            FROM ${ONLYFROM} AS build
            ARG G
            LABEL g=$G missing="[$ONLYFROM]"
            COPY app /src/
            COPY app/main.txt /out/bin

            FROM scratch AS other
            COPY app/extra.txt /other

            FROM scratch
            ARG G=redeclared-$G
            ENV FROM_ENV=$G
            ARG FROM_ENV=arg-loses
            LABEL e=$FROM_ENV
            COPY --from=build /out/bin /bin/app
            COPY --from=1 /other /o
            COPY --from=build /src /copied-src
            """;
        File.WriteAllText(Path.Combine(Context, "Dockerfile"), dockerfile);

        foreach (var target in new string?[] { null, "build" })
        {
            var tag = "berth-difftest-" + (target ?? "final");
            Buildah(["bud", "--format", "docker", "--build-arg", "G=cli", "-t", tag, .. target is null ? Array.Empty<string>() : ["--target", target], Context]);
            using var inspect = JsonDocument.Parse(Buildah("inspect", "--type", "image", tag));
            var theirsConfig = Normalize(inspect.RootElement.GetProperty("Docker").GetProperty("config"));
            var theirsTree = Tree(Buildah("mount", Buildah("from", "--pull=never", tag)));

            using var backend = new RecordingBackend();
            var result = await new Builder(backend, new InMemoryCacheStore(), new RecordingOwnership()).BuildFileAsync(new BuildRequest
            {
                ContextDirectory = Context,
                Target = target,
                BuildArgs = new Dictionary<string, string> { ["G"] = "cli" },
            }, null, CancellationToken.None);
            using var ours = JsonDocument.Parse(result.Config.ToJson());
            Assert.Contains(target is null ? "e=cli" : "g=cli,missing=[]", theirsConfig, StringComparison.Ordinal);
            Assert.Equal(theirsConfig, Normalize(ours.RootElement.GetProperty("config")));
            Assert.Equal(string.Join("\n", theirsTree.Select(kv => kv.Key + ": " + kv.Value)),
                string.Join("\n", Tree(backend.LayerPath(result.Layer!)).Select(kv => kv.Key + ": " + kv.Value)));
        }
    }
}
