using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Berth.Core;
using Berth.Engine.Api;
using Berth.Engine.Containers;
using Berth.Images.Content;
using Berth.Images.Snapshots;
using Berth.Images.Store;
using Microsoft.Extensions.Logging;

namespace Berth.Engine;

/// <summary>
/// The engine: containers (records on disk, a berth-shim per running container), images through Berth.Images,
/// and events. The Docker API (<see cref="Api.DockerApiServer"/>) is one client of it.
/// </summary>
public sealed partial class ContainerEngine : IAsyncDisposable
{
    private static readonly Regex NamePattern = new("^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$", RegexOptions.Compiled);
    private readonly Dictionary<string, Container> _containers = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stopping = new();

    private ContainerEngine(EngineOptions options, ImageStore images, ILogger logger)
    {
        Options = options;
        Images = images;
        Logger = logger;
        Time = options.TimeProvider;
        Events = new EventHub(Time);
        Networks = new Networks.NetworkManager(this);
    }

    public Networks.NetworkManager Networks { get; }

    public EngineOptions Options { get; }

    public ImageStore Images { get; }

    public EventHub Events { get; }

    public TimeProvider Time { get; }

    internal ILogger Logger { get; }

    internal CancellationToken Stopping => _stopping.Token;

    public DateTimeOffset StartedAt { get; private set; }

    /// <summary>Opens the data root and exec root, loads container records and reconnects to live shims.</summary>
    public static async Task<ContainerEngine> OpenAsync(EngineOptions options, ILogger logger, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(options.DataRoot);
        Directory.CreateDirectory(options.ContainersDirectory);
        Directory.CreateDirectory(Path.Combine(options.ExecRoot, "containers"));
        Directory.CreateDirectory(Path.Combine(options.ExecRoot, "bundles"));
        Directory.CreateDirectory(options.RuntimeRoot);
        var content = new LocalContentStore(Path.Combine(options.DataRoot, "content"));
        var images = new ImageStore(content, new OverlaySnapshotter(Path.Combine(options.DataRoot, "overlay")), Path.Combine(options.DataRoot, "images"), options.TimeProvider);
        var engine = new ContainerEngine(options, images, logger) { StartedAt = options.TimeProvider.GetUtcNow() };
        engine.Networks.Load();
        foreach (var dir in Directory.EnumerateDirectories(options.ContainersDirectory))
        {
            var path = Path.Combine(dir, "config.v2.json");
            if (!File.Exists(path))
            {
                continue;
            }
            try
            {
                var record = JsonSerializer.Deserialize(File.ReadAllBytes(path), EngineJsonContext.Default.ContainerRecord);
                if (record is not null)
                {
                    engine._containers[record.Id] = new Container(engine, record);
                }
            }
            catch (JsonException e)
            {
                Log.UnreadableRecord(logger, path, e.Message);
            }
        }
        await engine.RestoreAsync(cancellationToken).ConfigureAwait(false);
        await engine.Networks.ReconcileAsync().ConfigureAwait(false);
        return engine;
    }

    public IReadOnlyList<Container> List()
    {
        lock (_lock)
        {
            return _containers.Values.OrderByDescending(c => c.Record.Created).ToList();
        }
    }

    /// <summary>By full ID, name (with or without '/'), or unique ID prefix — Docker's lookup order.</summary>
    public Container Get(string idOrName)
    {
        return TryGet(idOrName) ?? throw BerthException.NotFound($"No such container: {idOrName}");
    }

    public Container? TryGet(string idOrName)
    {
        if (string.IsNullOrEmpty(idOrName))
        {
            return null;
        }
        lock (_lock)
        {
            if (_containers.TryGetValue(idOrName, out var c))
            {
                return c;
            }
            var name = "/" + idOrName.TrimStart('/');
            c = _containers.Values.FirstOrDefault(x => x.Record.Name == name);
            if (c is not null)
            {
                return c;
            }
            var matches = _containers.Values.Where(x => x.Id.StartsWith(idOrName, StringComparison.Ordinal)).ToList();
            if (matches.Count > 1)
            {
                throw BerthException.InvalidArgument($"multiple containers match the ID prefix {idOrName}; give more characters");
            }
            return matches.FirstOrDefault();
        }
    }

    public async Task<(Container Container, List<string> Warnings)> CreateAsync(string? name, ContainerCreateRequest request, CancellationToken cancellationToken)
    {
        var warnings = new List<string>();
        if (string.IsNullOrEmpty(request.Image))
        {
            throw BerthException.InvalidArgument("no image given: Config.Image is required");
        }
        var hostConfig = request.HostConfig ?? new HostConfig();
        var network = Networks.ResolveForCreate(request, hostConfig);
        ImageDetails image;
        try
        {
            image = await Images.InspectAsync(request.Image, null, cancellationToken).ConfigureAwait(false);
        }
        catch (BerthException e) when (e.Code == ErrorCode.NotFound)
        {
            throw BerthException.NotFound($"No such image: {FamiliarName(request.Image)}");
        }
        catch (FormatException e)
        {
            throw BerthException.InvalidArgument($"invalid reference format: {request.Image}: {e.Message}");
        }
        var merged = ConfigMerge.Merge(request, image.Config.Config);
        var argv = ConfigMerge.Command(merged);
        var id = EngineFormat.NewId();
        var record = new ContainerRecord
        {
            Id = id,
            Created = Time.GetUtcNow(),
            Image = image.Id.ToString(),
            ImageName = request.Image,
            Path = argv[0],
            Args = argv.Skip(1).ToList(),
            Config = merged,
            HostConfig = hostConfig,
            LogPath = Path.Combine(Options.ContainersDirectory, id, id + "-json.log"),
        };
        SpecGenerator.Validate(record);
        var container = new Container(this, record);
        lock (_lock)
        {
            record.Name = "/" + ReserveName(name, id);
            _containers[id] = container;
        }
        List<string> newVolumes = [];
        try
        {
            newVolumes = CreateContainerVolumes(record, image.Config.Config?.Volumes?.Keys);
            Directory.CreateDirectory(Path.Combine(Options.ContainersDirectory, id));
            Networks.SaveCreated(id, network);
            var hostNetwork = hostConfig.NetworkMode == "host";
            var init = new InitFiles(SpecGenerator.Hostname(record, hostNetwork), Berth.Engine.Networks.ContainerDnsFiles.Hosts(record, hostNetwork, Networks.HostGateway()),
                Berth.Engine.Networks.ContainerDnsFiles.Resolv(Berth.Networking.Dns.ResolvConf.Load(Berth.Engine.Networks.ContainerDnsFiles.HostResolvConfPath), hostConfig, embedded: false, containerNamespace: false));
            await Images.PrepareContainerAsync(id, image.Id.ToString(), init, null, cancellationToken).ConfigureAwait(false);
            container.Save();
        }
        catch
        {
            lock (_lock)
            {
                _containers.Remove(id);
            }
            Networks.Forget(id);
            await Images.RemoveContainerAsync(id, CancellationToken.None).ConfigureAwait(false);
            TryDeleteDirectory(Path.Combine(Options.ContainersDirectory, id));
            RemoveVolumesQuietly(newVolumes);
            throw;
        }
        container.Publish("create");
        return (container, warnings);
    }

    private string ReserveName(string? requested, string id)
    {
        if (string.IsNullOrEmpty(requested))
        {
            for (var i = 0; ; i++)
            {
                var n = NameGenerator.Next(i > 5);
                if (!_containers.Values.Any(c => c.Record.Name == "/" + n))
                {
                    return n;
                }
            }
        }
        if (!NamePattern.IsMatch(requested) || requested.TrimStart('/').Length < 2 && requested.TrimStart('/').Length == 0)
        {
            throw BerthException.InvalidArgument($"Invalid container name ({requested}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        }
        var name = requested.TrimStart('/');
        var existing = _containers.Values.FirstOrDefault(c => c.Record.Name == "/" + name);
        if (existing is not null)
        {
            throw new BerthException(ErrorCode.Conflict, $"Conflict. The container name \"/{name}\" is already in use by container \"{existing.Id}\". You have to remove (or rename) that container to be able to reuse that name.");
        }
        _ = id;
        return name;
    }

    public void Rename(string idOrName, string newName)
    {
        var c = Get(idOrName);
        lock (_lock)
        {
            if (!NamePattern.IsMatch(newName))
            {
                throw BerthException.InvalidArgument($"Invalid container name ({newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
            }
            var name = "/" + newName.TrimStart('/');
            if (c.Record.Name == name)
            {
                throw new BerthException(ErrorCode.Conflict, $"Renaming a container with the same name as its current name: {newName}");
            }
            var existing = _containers.Values.FirstOrDefault(x => x.Record.Name == name);
            if (existing is not null)
            {
                throw new BerthException(ErrorCode.Conflict, $"Conflict. The container name \"{name}\" is already in use by container \"{existing.Id}\". You have to remove (or rename) that container to be able to reuse that name.");
            }
            var old = c.Record.Name;
            c.Record.Name = name;
            c.Save();
            // The embedded DNS answers to the new name from now on, and no longer to the old one.
            Networks.Zone.RenameContainer(c.Id, name.TrimStart('/'));
            c.Publish("rename", new Dictionary<string, string> { ["oldName"] = old });
        }
    }

    /// <summary>A removed container leaves the engine's tables, its network state included.</summary>
    internal void Forget(Container c)
    {
        lock (_lock)
        {
            _containers.Remove(c.Id);
        }
        Networks.Forget(c.Id);
    }

    public bool ImageInUse(Digest imageId)
    {
        var id = imageId.ToString();
        lock (_lock)
        {
            return _containers.Values.Any(c => c.Record.Image == id);
        }
    }

    internal static string FamiliarName(string reference)
    {
        try
        {
            var r = ImageReference.Parse(reference);
            return r.Tag is null && r.Digest is null ? r.FamiliarString + ":latest" : r.FamiliarString;
        }
        catch (FormatException)
        {
            return reference;
        }
        catch (BerthException)
        {
            return reference;
        }
    }

    internal static void TryDeleteDirectory(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var c in List())
        {
            await c.DetachAsync().ConfigureAwait(false);
        }
        await Networks.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}

internal static partial class Log
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Skipping unreadable container record {Path}: {Error}")]
    public static partial void UnreadableRecord(ILogger logger, string path, string error);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Container {Id}: {Message}")]
    public static partial void ContainerWarning(ILogger logger, string id, string message);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Information, Message = "Container {Id} restored: {State}")]
    public static partial void Restored(ILogger logger, string id, string state);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Error, Message = "Docker API {Method} {Path} failed")]
    public static partial void RequestFailed(ILogger logger, Exception exception, string method, string path);
}

internal static class NameGenerator
{
    private static readonly string[] Left = ["admiring", "bold", "brave", "calm", "clever", "eager", "focused", "gallant", "happy", "jolly", "keen", "lucid", "nifty", "quirky", "serene", "sharp", "stoic", "vigilant", "wizardly", "zen"];
    private static readonly string[] Right = ["babbage", "curie", "darwin", "euler", "fermi", "gauss", "hopper", "kepler", "lovelace", "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak"];

    public static string Next(bool withNumber)
    {
        var n = Left[RandomNumberGenerator.GetInt32(Left.Length)] + "_" + Right[RandomNumberGenerator.GetInt32(Right.Length)];
        return withNumber ? n + RandomNumberGenerator.GetInt32(10) : n;
    }
}
