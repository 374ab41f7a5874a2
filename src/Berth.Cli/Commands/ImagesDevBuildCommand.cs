using Berth.Build;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Snapshots;
using Berth.Images.Store;

namespace Berth.Cli.Commands;

/// <summary>
/// <c>berth images-dev build</c>: a Dockerfile build straight into the image store under --root, for benchmarks and
/// manual use until the daemon's POST /build is wired. Same state layout as the other images-dev commands, plus
/// <c>build/</c> (layer cache, layer records, step mounts).
/// </summary>
public static class ImagesDevBuildCommand
{
    public const string Usage = """
        usage: berth images-dev build [-t TAG]... [-f Dockerfile] [--build-arg K=V]... [--label K=V]... [--target STAGE]
                                      [--no-cache] [--platform OS/ARCH] [--root DIR] [--runtime PATH] [-q] CONTEXT
        """;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, CancellationToken cancellationToken = default)
    {
        var tags = new List<string>();
        var buildArgs = new Dictionary<string, string>(StringComparer.Ordinal);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        string? dockerfile = null, target = null, runtime = null, context = null;
        var root = "/var/lib/berth";
        var platform = "linux/amd64";
        bool noCache = false, quiet = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }
            string Value() => inline ?? (i + 1 < args.Count ? args[++i] : throw BerthException.InvalidArgument($"{arg} needs a value\n{Usage}"));
            switch (arg)
            {
                case "-t" or "--tag":
                    tags.Add(Value());
                    break;
                case "-f" or "--file":
                    dockerfile = Value();
                    break;
                case "--build-arg":
                    AddPair(buildArgs, Value(), "--build-arg");
                    break;
                case "--label":
                    AddPair(labels, Value(), "--label");
                    break;
                case "--target":
                    target = Value();
                    break;
                case "--platform":
                    platform = Value();
                    break;
                case "--root":
                    root = Value();
                    break;
                case "--runtime":
                    runtime = Value();
                    break;
                case "--no-cache":
                    noCache = true;
                    break;
                case "-q" or "--quiet":
                    quiet = true;
                    break;
                default:
                    if (arg.StartsWith('-') && arg != "-")
                    {
                        throw BerthException.InvalidArgument($"unknown flag {arg}\n{Usage}");
                    }
                    if (context is not null)
                    {
                        throw BerthException.InvalidArgument($"one build context only (got {context} and {arg})\n{Usage}");
                    }
                    context = arg;
                    break;
            }
        }
        if (context is null)
        {
            throw BerthException.InvalidArgument("a build needs a context directory\n" + Usage);
        }
        context = Path.GetFullPath(context);
        var content = new LocalContentStore(Path.Combine(root, "content"));
        var images = new ImageStore(content, new OverlaySnapshotter(Path.Combine(root, "overlay")), Path.Combine(root, "images"));
        var service = new ImageBuildService(images, Path.Combine(root, "build"), runtime);
        var tty = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
        IBuildProgress progress = quiet
            ? NullBuildProgress.Instance
            : new WithoutSummary(tty ? new TtyBuildProgress(stdout) : new PlainBuildProgress(stdout));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var result = await service.BuildAsync(new ImageBuildRequest
        {
            ContextDirectory = context,
            // -f is relative to the working directory (as docker build's); absolute paths pass through.
            Dockerfile = dockerfile is null ? null : Path.GetFullPath(dockerfile),
            Tags = tags,
            BuildArgs = buildArgs,
            Labels = labels,
            Target = target,
            NoCache = noCache,
            Platform = platform,
        }, progress, cancellationToken).ConfigureAwait(false);
        if (!quiet)
        {
            // Docker's last lines: the image ID (not the builder's cache key), then the names.
            stdout.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"Successfully built {result.ImageId.Encoded[..12]} ({result.Build.Steps} steps, {result.Build.CachedSteps} cached, {watch.Elapsed.TotalSeconds:0.0}s)"));
            foreach (var tag in result.Tags)
            {
                stdout.WriteLine("Successfully tagged " + ImageReference.Parse(tag).FamiliarString);
            }
        }
        stdout.WriteLine(result.ImageId.ToString());
        return 0;
    }

    /// <summary>Drops the builder's own summary line, which names the cache key: the command prints the image ID instead.</summary>
    private sealed class WithoutSummary(IBuildProgress inner) : IBuildProgress
    {
        public void Report(BuildEvent buildEvent)
        {
            if (buildEvent is not BuildCompleted)
            {
                inner.Report(buildEvent);
            }
        }
    }

    private static void AddPair(Dictionary<string, string> into, string value, string flag)
    {
        var eq = value.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            // docker build --build-arg NAME takes the value from the environment.
            if (flag == "--build-arg" && eq < 0 && Environment.GetEnvironmentVariable(value) is { } env)
            {
                into[value] = env;
                return;
            }
            throw BerthException.InvalidArgument($"{flag} {value}: expected NAME=value");
        }
        into[value[..eq]] = value[(eq + 1)..];
    }
}
