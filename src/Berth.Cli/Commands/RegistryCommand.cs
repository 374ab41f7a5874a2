using System.Globalization;
using Berth.Core;
using Berth.Registry;
using Microsoft.Extensions.Logging;

namespace Berth.Cli.Commands;

/// <summary>
/// <c>berth registry [flags]</c> serves an OCI distribution registry until interrupted;
/// <c>berth registry gc [flags]</c> runs one garbage collection over a registry root (safe while it serves).
/// </summary>
public static class RegistryCommand
{
    public const string Usage = """
        Usage: berth registry [flags]          serve an OCI distribution (v2) registry
               berth registry gc [flags]       delete blobs no manifest references

        Flags:
          --addr HOST:PORT      listen address (default 127.0.0.1:5000; :5000 for every interface)
          --root DIR            storage root (default /var/lib/berth/registry)
          --htpasswd FILE       bcrypt htpasswd file; enables authentication
          --access-file FILE    per-repository rules: "USER|*|anonymous REPO-PATTERN pull,push,delete"
          --anonymous-pull      let clients without credentials pull
          --token               Bearer token authentication (token endpoint at /token) instead of Basic
          --token-service NAME  service name in token challenges (default berth-registry)
          --token-key FILE      ECDSA P-256 PEM key that signs tokens (created if missing)
          --tls-cert FILE       PEM certificate for HTTPS (with --tls-key)
          --tls-key FILE        PEM private key for HTTPS
          --max-manifest SIZE   largest manifest accepted (default 4MiB)
          --gc-interval DUR     also collect garbage every DUR while serving (e.g. 1h; default off)
          --gc-grace DUR        never delete blobs younger than DUR (default 1h)
          --dry-run             (gc) report what would be deleted
          -v, --verbose         log every request (warnings and errors are always logged)
        """;

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(args);
        try
        {
            if (args.Length > 0 && args[0] is "-h" or "--help" or "help")
            {
                Console.Out.WriteLine(Usage);
                return 0;
            }
            if (args.Length > 0 && args[0] == "gc")
            {
                return RunGc(Parse(args[1..]));
            }
            return await ServeAsync(Parse(args), ct).ConfigureAwait(false);
        }
        catch (BerthException e)
        {
            Console.Error.WriteLine("berth: " + e.Message);
            return 1;
        }
    }

    private sealed class Flags
    {
        public string Addr { get; set; } = "127.0.0.1:5000";

        public string Root { get; set; } = "/var/lib/berth/registry";

        public string? Htpasswd { get; set; }

        public string? AccessFile { get; set; }

        public bool AnonymousPull { get; set; }

        public bool Token { get; set; }

        public string TokenService { get; set; } = "berth-registry";

        public string? TokenKey { get; set; }

        public string? TlsCert { get; set; }

        public string? TlsKey { get; set; }

        public long MaxManifest { get; set; } = 4 * 1024 * 1024;

        public TimeSpan? GcInterval { get; set; }

        public TimeSpan GcGrace { get; set; } = TimeSpan.FromHours(1);

        public bool DryRun { get; set; }

        public bool Verbose { get; set; }

        public RegistryOptions ToOptions() => new()
        {
            RootDirectory = Root,
            ListenAddress = Addr,
            HtpasswdFile = Htpasswd,
            AccessFile = AccessFile,
            AnonymousPull = AnonymousPull,
            Token = Token ? new RegistryTokenOptions { Service = TokenService, SigningKeyFile = TokenKey ?? Path.Combine(Root, "token-signing-key.pem") } : null,
            TlsCertificateFile = TlsCert,
            TlsKeyFile = TlsKey,
            MaxManifestBytes = MaxManifest,
            GcGracePeriod = GcGrace,
            Logging = logging => logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(Verbose ? LogLevel.Information : LogLevel.Warning),
        };
    }

    private static Flags Parse(string[] args)
    {
        var flags = new Flags();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }
            string Value()
            {
                if (inline is not null)
                {
                    return inline;
                }
                if (i + 1 >= args.Length)
                {
                    throw BerthException.InvalidArgument($"flag {arg} needs a value; see 'berth registry --help'");
                }
                return args[++i];
            }
            switch (arg)
            {
                case "--addr": flags.Addr = Value(); break;
                case "--root": flags.Root = Value(); break;
                case "--htpasswd": flags.Htpasswd = Value(); break;
                case "--access-file": flags.AccessFile = Value(); break;
                case "--anonymous-pull": flags.AnonymousPull = true; break;
                case "--token": flags.Token = true; break;
                case "--token-service": flags.TokenService = Value(); break;
                case "--token-key": flags.TokenKey = Value(); break;
                case "--tls-cert": flags.TlsCert = Value(); break;
                case "--tls-key": flags.TlsKey = Value(); break;
                case "--max-manifest": flags.MaxManifest = ParseSize(Value()); break;
                case "--gc-interval": flags.GcInterval = ParseDuration(Value(), arg); break;
                case "--gc-grace": flags.GcGrace = ParseDuration(Value(), arg); break;
                case "--dry-run": flags.DryRun = true; break;
                case "-v" or "--verbose": flags.Verbose = true; break;
                default: throw BerthException.InvalidArgument($"unknown flag '{args[i]}' for 'berth registry'; see 'berth registry --help'");
            }
        }
        return flags;
    }

    internal static TimeSpan ParseDuration(string text, string flag)
    {
        var units = new (string Suffix, double Seconds)[] { ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400) };
        foreach (var (suffix, seconds) in units.OrderByDescending(u => u.Suffix.Length))
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(text[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= 0)
            {
                return TimeSpan.FromSeconds(n * seconds);
            }
        }
        throw BerthException.InvalidArgument($"{flag} '{text}' is not a duration; use e.g. 30s, 10m, 1h, 7d");
    }

    internal static long ParseSize(string text)
    {
        var units = new (string Suffix, long Factor)[] { ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("KB", 1000), ("MB", 1_000_000), ("B", 1) };
        foreach (var (suffix, factor) in units)
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && long.TryParse(text[..^suffix.Length], NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                return n * factor;
            }
        }
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes)
            ? bytes
            : throw BerthException.InvalidArgument($"--max-manifest '{text}' is not a size; use e.g. 4MiB or 4194304");
    }

    private static async Task<int> ServeAsync(Flags flags, CancellationToken ct)
    {
        Directory.CreateDirectory(flags.Root);
        await using var server = await RegistryServer.StartAsync(flags.ToOptions(), ct).ConfigureAwait(false);
        var auth = flags.Token ? "token" : flags.Htpasswd is not null ? "basic" : "none";
        Console.Error.WriteLine($"berth registry: serving {server.BaseAddress} from {Path.GetFullPath(flags.Root)} (auth: {auth})");
        try
        {
            if (flags.GcInterval is { } interval && interval > TimeSpan.Zero)
            {
                using var timer = new PeriodicTimer(interval);
                while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
                {
                    var result = server.Service.CollectGarbage(ct: ct);
                    Console.Error.WriteLine($"berth registry: gc deleted {result.BlobsDeleted} blobs ({result.BytesFreed} bytes), kept {result.BlobsKept}");
                }
            }
            else
            {
                await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        Console.Error.WriteLine("berth registry: stopped");
        return 0;
    }

    private static int RunGc(Flags flags)
    {
        if (!Directory.Exists(flags.Root))
        {
            throw BerthException.NotFound($"registry root {flags.Root} does not exist; pass --root DIR");
        }
        var result = new RegistryGarbageCollector(flags.ToOptions()).Run(flags.DryRun);
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(flags.DryRun ? "would delete" : "deleted")} {result.BlobsDeleted} blobs ({result.BytesFreed} bytes); kept {result.BlobsKept}; " +
            $"{result.BlobsInGracePeriod} unreferenced blobs younger than {flags.GcGrace}; {result.UploadsExpired} expired uploads; {result.TempFilesRemoved} temp files"));
        return 0;
    }
}
