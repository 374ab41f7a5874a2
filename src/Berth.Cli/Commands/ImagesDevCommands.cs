using System.Globalization;
using Berth.Core;
using Berth.Images.BaseImages;
using Berth.Images.Content;
using Berth.Images.Formats;
using Berth.Images.Snapshots;
using Berth.Images.Store;
using Berth.Oci.Image;

namespace Berth.Cli.Commands;

/// <summary>
/// Hidden developer commands over the image library, for make targets and benchmarks until the user-facing
/// `berth image …` commands exist. State lives under --root (default /var/lib/berth):
/// content/, overlay/, images/.
/// </summary>
public static class ImagesDevCommands
{
    public const string Name = "images-dev";

    public const string Usage = """
        usage: berth images-dev <command> [--root DIR]
          busybox [--tag NAME] [--busybox PATH]        build busybox:latest from the host's busybox-static
          debian  [--tag NAME] [--suite SUITE]          build a Debian image with debootstrap (slow)
          import  FILE|DIR                              import a docker-archive tar or an OCI layout dir
          save    NAME (--oci DIR | --docker-archive FILE)
          unpack  NAME DEST [--platform OS/ARCH]        flatten an image into DEST (like umoci raw unpack)
          unpack-layout DIR REF DEST                    flatten an image straight from an OCI layout
          ls | inspect NAME | history NAME | rmi NAME | gc
          pull | push | login | logout | tags ...       the registry client (berth images-dev pull for its usage)
          build   [-t TAG] [-f FILE] [--build-arg K=V] [--target T] [--no-cache] [--runtime PATH] CONTEXT
        """;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, CancellationToken cancellationToken = default)
    {
        if (args.Count > 0 && ImagesDevRegistryCommands.Commands.Contains(args[0]))
        {
            return await ImagesDevRegistryCommands.RunAsync(args, stdout, Console.In, terminal: !Console.IsOutputRedirected && ReferenceEquals(stdout, Console.Out), cancellationToken).ConfigureAwait(false);
        }
        if (args.Count > 0 && args[0] == "build")
        {
            // Boolean and repeated flags: its own parser.
            return await ImagesDevBuildCommand.RunAsync(args.Skip(1).ToList(), stdout, cancellationToken).ConfigureAwait(false);
        }
        var positional = new List<string>();
        var flags = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                if (i + 1 >= args.Count)
                {
                    throw BerthException.InvalidArgument($"{args[i]} needs a value\n{Usage}");
                }
                flags[args[i][2..]] = args[++i];
            }
            else
            {
                positional.Add(args[i]);
            }
        }
        if (positional.Count == 0)
        {
            stdout.WriteLine(Usage);
            return 2;
        }
        var root = flags.GetValueOrDefault("root", "/var/lib/berth");
        var content = new LocalContentStore(Path.Combine(root, "content"));
        var images = new ImageStore(content, new OverlaySnapshotter(Path.Combine(root, "overlay")), Path.Combine(root, "images"));
        var platform = flags.TryGetValue("platform", out var p) ? Platform.Parse(p) : null;
        string Arg(int i) => positional.Count > i ? positional[i] : throw BerthException.InvalidArgument($"{positional[0]}: missing argument {i}\n{Usage}");

        switch (positional[0])
        {
            case "busybox":
            {
                var manifest = await BaseImageBuilder.BuildBusyboxAsync(content, flags.GetValueOrDefault("busybox", "/bin/busybox"), cancellationToken).ConfigureAwait(false);
                var record = await images.TagAsync(flags.GetValueOrDefault("tag", "busybox:latest"), manifest, cancellationToken).ConfigureAwait(false);
                stdout.WriteLine($"{record.Name} {manifest.Digest}");
                return 0;
            }
            case "debian":
            {
                var suite = flags.GetValueOrDefault("suite", "bookworm");
                var manifest = await BaseImageBuilder.BuildDebianAsync(content, suite, cancellationToken: cancellationToken).ConfigureAwait(false);
                var record = await images.TagAsync(flags.GetValueOrDefault("tag", "debian:" + suite), manifest, cancellationToken).ConfigureAwait(false);
                stdout.WriteLine($"{record.Name} {manifest.Digest}");
                return 0;
            }
            case "import":
            {
                var source = Arg(1);
                if (Directory.Exists(source))
                {
                    foreach (var (target, refName) in await OciLayout.ImportAsync(source, content, cancellationToken).ConfigureAwait(false))
                    {
                        var name = target.Annotations?.GetValueOrDefault(Annotations.ContainerdImageName) ?? refName;
                        if (name is not null)
                        {
                            await images.TagAsync(name, target, cancellationToken).ConfigureAwait(false);
                        }
                        stdout.WriteLine($"{name ?? "(untagged)"} {target.Digest}");
                    }
                    return 0;
                }
                await using var file = File.OpenRead(source);
                foreach (var image in await DockerArchive.ImportAsync(file, content, cancellationToken).ConfigureAwait(false))
                {
                    foreach (var tag in image.RepoTags)
                    {
                        await images.TagAsync(tag, image.Manifest, cancellationToken).ConfigureAwait(false);
                    }
                    stdout.WriteLine($"{string.Join(',', image.RepoTags)} {image.Manifest.Digest}");
                }
                return 0;
            }
            case "save":
            {
                var image = await images.InspectAsync(Arg(1), platform, cancellationToken).ConfigureAwait(false);
                if (flags.TryGetValue("oci", out var dir))
                {
                    await OciLayout.WriteAsync(dir, content, [(image.Target, image.Reference?.Tag)], cancellationToken).ConfigureAwait(false);
                }
                else if (flags.TryGetValue("docker-archive", out var path))
                {
                    await using var file = File.Create(path);
                    await DockerArchive.ExportAsync(file, content, [(image.Target, image.RepoTags)], platform, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    throw BerthException.InvalidArgument("save needs --oci DIR or --docker-archive FILE");
                }
                return 0;
            }
            case "unpack":
            {
                var image = await images.InspectAsync(Arg(1), platform, cancellationToken).ConfigureAwait(false);
                await ImageUnpacker.UnpackAsync(content, image.ManifestDocument, Arg(2), cancellationToken: cancellationToken).ConfigureAwait(false);
                return 0;
            }
            case "unpack-layout":
            {
                var imported = await OciLayout.ImportAsync(Arg(1), content, cancellationToken).ConfigureAwait(false);
                var entry = imported.FirstOrDefault(i => i.RefName == Arg(2));
                if (entry.Target is null)
                {
                    throw BerthException.NotFound($"OCI layout {Arg(1)} has no image named {Arg(2)}");
                }
                var (_, manifest) = await ImageResolver.ResolveManifestAsync(content, entry.Target, platform, cancellationToken).ConfigureAwait(false);
                await ImageUnpacker.UnpackAsync(content, manifest, Arg(3), cancellationToken: cancellationToken).ConfigureAwait(false);
                return 0;
            }
            case "ls":
                foreach (var r in await images.ListAsync(cancellationToken).ConfigureAwait(false))
                {
                    stdout.WriteLine($"{ImageReference.Parse(r.Name).FamiliarString}\t{r.Target.Digest}");
                }
                return 0;
            case "inspect":
            {
                var image = await images.InspectAsync(Arg(1), platform, cancellationToken).ConfigureAwait(false);
                stdout.WriteLine(System.Text.Json.JsonSerializer.Serialize(image.Config, ImageJsonContext.Default.ImageConfig));
                return 0;
            }
            case "history":
                foreach (var h in await images.HistoryAsync(Arg(1), platform, cancellationToken).ConfigureAwait(false))
                {
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{h.Id}\t{h.Created:u}\t{h.Size}\t{h.CreatedBy}"));
                }
                return 0;
            case "rmi":
                foreach (var n in await images.RemoveAsync(Arg(1), cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    stdout.WriteLine("Untagged: " + ImageReference.Parse(n).FamiliarString);
                }
                return 0;
            case "gc":
            {
                var result = await images.GarbageCollectAsync(cancellationToken).ConfigureAwait(false);
                stdout.WriteLine($"removed {result.RemovedBlobs.Count} blobs, {result.RemovedSnapshots.Count} snapshots");
                return 0;
            }
            default:
                throw BerthException.InvalidArgument($"unknown images-dev command \"{positional[0]}\"\n{Usage}");
        }
    }
}
