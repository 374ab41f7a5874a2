using Berth.Cli.Progress;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Distribution;
using Berth.Images.Snapshots;
using Berth.Images.Store;
using Berth.Oci.Image;

namespace Berth.Cli.Commands;

/// <summary>
/// `berth images-dev pull|push|login|logout|tags`: the registry client over the local image store, for tests and
/// benchmarks until `berth pull/push/login` go through the engine.
/// </summary>
public static class ImagesDevRegistryCommands
{
    public static readonly string[] Commands = ["pull", "push", "login", "logout", "tags"];

    public const string Usage = """
        usage: berth images-dev <command> [--root DIR] [--config FILE] [--insecure-registry HOST]...
          pull   REF [--platform OS/ARCH] [--quiet]        pull into the image store (progress bars on a terminal)
          push   NAME [REMOTE] [--platform OS/ARCH] [--chunk-size BYTES] [--quiet]
          login  REGISTRY --username U (--password P | --password-stdin)
          logout REGISTRY
          tags   REPOSITORY
        --config: a docker config.json (default $DOCKER_CONFIG/config.json or ~/.docker/config.json)
        --concurrency N: blobs transferred at once (default 6)
        """;

    private static readonly HashSet<string> BooleanFlags = new(StringComparer.Ordinal) { "quiet", "password-stdin", "debug" };

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextReader stdin, bool terminal, CancellationToken cancellationToken = default)
    {
        var positional = new List<string>();
        var flags = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                positional.Add(arg);
                continue;
            }
            var name = arg[2..];
            string value;
            var eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else if (BooleanFlags.Contains(name))
            {
                value = "true";
            }
            else if (i + 1 < args.Count)
            {
                value = args[++i];
            }
            else
            {
                throw BerthException.InvalidArgument($"--{name} needs a value\n{Usage}");
            }
            if (!flags.TryGetValue(name, out var list))
            {
                flags[name] = list = [];
            }
            list.Add(value);
        }
        string? Flag(string name) => flags.TryGetValue(name, out var v) ? v[^1] : null;
        string Arg(int i) => positional.Count > i ? positional[i] : throw BerthException.InvalidArgument($"{positional[0]}: missing argument\n{Usage}");

        var root = Flag("root") ?? "/var/lib/berth";
        var content = new LocalContentStore(Path.Combine(root, "content"));
        var images = new ImageStore(content, new OverlaySnapshotter(Path.Combine(root, "overlay")), Path.Combine(root, "images"));
        var credentials = new CredentialStore(Flag("config") ?? CredentialStore.DefaultPath);
        var concurrency = Flag("concurrency") is { } c ? int.Parse(c, System.Globalization.CultureInfo.InvariantCulture) : 6;
        long? chunk = Flag("chunk-size") is { } cs ? long.Parse(cs, System.Globalization.CultureInfo.InvariantCulture) : null;
        var options = new RegistryClientOptions
        {
            Credentials = credentials,
            InsecureRegistries = flags.GetValueOrDefault("insecure-registry") ?? [],
            MaxConcurrentDownloads = concurrency,
            MaxConcurrentUploads = concurrency,
            UploadChunkSize = chunk,
        };
        using var client = new RegistryClient(images, options);
        var platform = Flag("platform") is { } p ? Platform.Parse(p) : null;
        var quiet = Flag("quiet") is not null;

        switch (positional[0])
        {
            case "pull":
            {
                var reference = ImageReference.Parse(Arg(1));
                if (!quiet)
                {
                    stdout.WriteLine($"{reference.Tag ?? reference.Digest?.ToString()}: Pulling from {reference.FamiliarRepository}");
                }
                var renderer = quiet ? null : new TransferProgressRenderer(stdout, terminal);
                PullResult result;
                try
                {
                    result = await client.PullAsync(reference, new PullOptions { Platform = platform }, renderer, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    renderer?.Complete();
                }
                if (!quiet)
                {
                    stdout.WriteLine("Digest: " + result.Target.Digest);
                    stdout.WriteLine(result.Downloaded ? $"Status: Downloaded newer image for {reference.FamiliarString}" : $"Status: Image is up to date for {reference.FamiliarString}");
                }
                stdout.WriteLine(reference.FamiliarString);
                return 0;
            }
            case "push":
            {
                var local = Arg(1);
                var remote = positional.Count > 2 ? positional[2] : local;
                var destination = ImageReference.Parse(remote);
                if (!quiet)
                {
                    stdout.WriteLine($"The push refers to repository [{destination.Repository}]");
                }
                var renderer = quiet ? null : new TransferProgressRenderer(stdout, terminal, push: true);
                PushResult result;
                try
                {
                    result = await client.PushAsync(local, remote, new PushOptions { Platform = platform }, renderer, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    renderer?.Complete();
                }
                stdout.WriteLine($"{destination.Tag ?? "(digest)"}: digest: {result.Target.Digest} size: {result.Target.Size}");
                return 0;
            }
            case "login":
            {
                var registry = Arg(1);
                var user = Flag("username") ?? throw BerthException.InvalidArgument("login needs --username");
                var password = Flag("password-stdin") is not null ? (await stdin.ReadToEndAsync(cancellationToken).ConfigureAwait(false)).TrimEnd('\n', '\r') : Flag("password");
                if (string.IsNullOrEmpty(password))
                {
                    throw BerthException.InvalidArgument("login needs --password or --password-stdin");
                }
                await client.LoginAsync(registry, new RegistryCredentials(user, password), cancellationToken).ConfigureAwait(false);
                stdout.WriteLine($"Login Succeeded (credentials saved in {credentials.Path})");
                return 0;
            }
            case "logout":
            {
                var registry = Arg(1);
                if (!await client.LogoutAsync(registry, cancellationToken).ConfigureAwait(false))
                {
                    stdout.WriteLine($"Not logged in to {registry}");
                    return 0;
                }
                stdout.WriteLine($"Removing login credentials for {registry}");
                return 0;
            }
            case "tags":
                foreach (var tag in await client.ListTagsAsync(Arg(1), cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    stdout.WriteLine(tag);
                }
                return 0;
            default:
                throw BerthException.InvalidArgument($"unknown images-dev command \"{positional[0]}\"\n{Usage}");
        }
    }
}
