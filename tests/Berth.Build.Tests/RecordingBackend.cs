using System.Collections.Concurrent;
using Berth.Core;
using Berth.Testing;

namespace Berth.Build.Tests;

/// <summary>
/// An in-memory-ish backend for engine unit tests: layers are full directory snapshots under a temp dir, a mount is
/// a fresh copy of its layer, and RUN is a tiny interpreter over the mount (commands joined by &amp;&amp;):
/// <c>echo TEXT</c>, <c>write PATH TEXT</c>, <c>cp SRC DST</c>, <c>cat PATH</c>, <c>env</c>, <c>exit N</c>. Every call is
/// recorded so tests can assert what the builder asked for.
/// </summary>
internal sealed class RecordingBackend : IBuildBackend, IDisposable
{
    private readonly TempDirectory _dir = new("berth-build-backend");
    private readonly ConcurrentDictionary<string, string> _layers = new();
    private readonly Dictionary<string, BaseImage> _images = [];
    private int _next;

    public List<string> Calls { get; } = [];

    /// <summary>When set, owners recorded under a mount follow its content into committed layers and later mounts.</summary>
    public RecordingOwnership? Owners { get; init; }

    private void CarryOwners(string from, string to)
    {
        if (Owners is null)
        {
            return;
        }
        foreach (var (path, owner) in Owners.Owners.ToArray())
        {
            if (path.StartsWith(from + "/", StringComparison.Ordinal))
            {
                Owners.Owners[to + path[from.Length..]] = owner;
            }
        }
    }

    public List<RunSpec> Runs { get; } = [];

    public int OpenMounts { get; private set; }

    public IReadOnlyDictionary<string, string> Layers => _layers;

    /// <summary>Adds an image whose single layer holds the given files (path → content).</summary>
    public BaseImage AddImage(string reference, IReadOnlyDictionary<string, string> files, ImageConfigDraft? config = null)
    {
        var layerId = NewLayerId();
        var path = Path.Combine(_dir.Path, layerId);
        Directory.CreateDirectory(path);
        foreach (var (name, content) in files)
        {
            var full = Path.Combine(path, name.TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, content);
        }
        _layers[layerId] = path;
        config ??= new ImageConfigDraft();
        config.Config.Env ??= ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];
        config.History.Add(new HistoryDraft { CreatedBy = "base layer of " + reference });
        var image = new BaseImage("sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(reference + layerId))), config, layerId);
        _images[reference] = image;
        return image;
    }

    /// <summary>Adds an image whose single layer is a copy of <paramref name="directory"/> (binaries, links and all).</summary>
    public BaseImage AddImageFromDirectory(string reference, string directory, ImageConfigDraft? config = null)
    {
        var image = AddImage(reference, new Dictionary<string, string>(), config);
        CopyDirectory(directory, _layers[image.Layer!]);
        return image;
    }

    public void DeleteLayer(string layer) => _layers.TryRemove(layer, out _);

    private string NewLayerId() => "layer" + Interlocked.Increment(ref _next);

    public Task<BaseImage> ResolveImageAsync(string reference, string platform, CancellationToken cancellationToken)
    {
        lock (Calls)
        {
            Calls.Add("resolve " + reference);
        }
        return _images.TryGetValue(reference, out var image)
            ? Task.FromResult(image)
            : throw BerthException.NotFound($"image {reference} not found");
    }

    public Task<IBuildMount> MountAsync(string? layer, bool readOnly, CancellationToken cancellationToken)
    {
        var path = Path.Combine(_dir.Path, "mount" + Interlocked.Increment(ref _next));
        Directory.CreateDirectory(path);
        if (layer is not null)
        {
            CopyDirectory(_layers[layer], path);
            CarryOwners(_layers[layer], path);
        }
        lock (Calls)
        {
            Calls.Add($"mount {layer ?? "scratch"}{(readOnly ? " ro" : string.Empty)}");
            OpenMounts++;
        }
        return Task.FromResult<IBuildMount>(new Mount(this, path, layer));
    }

    public Task<int> RunAsync(IBuildMount mount, RunSpec spec, Action<string> output, CancellationToken cancellationToken)
    {
        lock (Calls)
        {
            Calls.Add("run " + string.Join(' ', spec.Args));
            Runs.Add(spec);
        }
        var script = spec.Args[^1];
        foreach (var raw in script.Split("&&"))
        {
            var command = raw.Trim();
            var parts = command.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
            string InRoot(string p) => Path.Combine(mount.RootPath, (p.StartsWith('/') ? p : spec.WorkingDir.TrimEnd('/') + "/" + p).TrimStart('/'));
            switch (parts[0])
            {
                case "echo":
                    output(command.Length > 5 ? command[5..] : string.Empty);
                    break;
                case "write":
                    {
                        var target = InRoot(parts[1]);
                        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                        File.WriteAllText(target, parts.Length > 2 ? parts[2] : string.Empty);
                        break;
                    }
                case "cp":
                    {
                        var target = InRoot(parts[2]);
                        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                        File.Copy(InRoot(parts[1]), target, overwrite: true);
                        break;
                    }
                case "cat":
                    output(File.ReadAllText(InRoot(parts[1])));
                    break;
                case "env":
                    foreach (var e in spec.Env)
                    {
                        output(e);
                    }
                    break;
                case "exit":
                    return Task.FromResult(int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
                case var file when file.StartsWith('/') && File.Exists(InRoot(file)):
                    // An executable script: report its interpreter line, as proof it was there while running.
                    output("script " + File.ReadLines(InRoot(file)).First());
                    break;
                default:
                    output("sh: " + parts[0] + ": not found");
                    return Task.FromResult(127);
            }
        }
        return Task.FromResult(0);
    }

    public Task<string> CommitAsync(IBuildMount mount, CancellationToken cancellationToken)
    {
        var id = NewLayerId();
        var path = Path.Combine(_dir.Path, id);
        Directory.CreateDirectory(path);
        CopyDirectory(mount.RootPath, path);
        CarryOwners(mount.RootPath, path);
        _layers[id] = path;
        ((Mount)mount).Committed = true;
        lock (Calls)
        {
            Calls.Add($"commit {mount.BaseLayer ?? "scratch"} -> {id}");
        }
        return Task.FromResult(id);
    }

    public Task<bool> LayerExistsAsync(string layer, CancellationToken cancellationToken) => Task.FromResult(_layers.ContainsKey(layer));

    /// <summary>The files of a layer as path → content (directories and links listed with a marker).</summary>
    public SortedDictionary<string, string> Snapshot(string? layer)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (layer is null)
        {
            return result;
        }
        var root = _layers[layer];
        void Walk(DirectoryInfo dir)
        {
            foreach (var entry in dir.EnumerateFileSystemInfos())
            {
                var rel = Path.GetRelativePath(root, entry.FullName);
                if (entry.LinkTarget is not null)
                {
                    result[rel] = "-> " + entry.LinkTarget;
                }
                else if (entry is DirectoryInfo sub)
                {
                    result[rel] = "<dir>";
                    Walk(sub);
                }
                else
                {
                    result[rel] = File.ReadAllText(entry.FullName);
                }
            }
        }
        Walk(new DirectoryInfo(root));
        return result;
    }

    public string LayerPath(string layer) => _layers[layer];

    internal static void CopyDirectory(string from, string to)
    {
        foreach (var entry in new DirectoryInfo(from).EnumerateFileSystemInfos())
        {
            var target = Path.Combine(to, entry.Name);
            if (entry.LinkTarget is not null)
            {
                File.CreateSymbolicLink(target, entry.LinkTarget);
            }
            else if (entry is DirectoryInfo)
            {
                Directory.CreateDirectory(target);
                File.SetUnixFileMode(target, File.GetUnixFileMode(entry.FullName));
                CopyDirectory(entry.FullName, target);
            }
            else
            {
                File.Copy(entry.FullName, target);
            }
        }
    }

    public void Dispose() => _dir.Dispose();

    private sealed class Mount(RecordingBackend owner, string path, string? layer) : IBuildMount
    {
        public string RootPath { get; } = path;

        public string? BaseLayer { get; } = layer;

        public bool Committed { get; set; }

        public ValueTask DisposeAsync()
        {
            lock (owner.Calls)
            {
                owner.OpenMounts--;
                if (!Committed)
                {
                    owner.Calls.Add($"discard {BaseLayer ?? "scratch"}");
                }
            }
            Directory.Delete(RootPath, recursive: true);
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>Records owners set by the builder (tests need no root for it); unknown paths read as 0:0.</summary>
internal sealed class RecordingOwnership : IFileOwnership
{
    public ConcurrentDictionary<string, (int Uid, int Gid)> Owners { get; } = new();

    public (int Uid, int Gid) GetOwner(string path) => Owners.TryGetValue(path, out var o) ? o : (0, 0);

    public void SetOwner(string path, int uid, int gid) => Owners[path] = (uid, gid);
}

/// <summary>Collects progress events and renders them as the plain writer would.</summary>
internal sealed class RecordingProgress : IBuildProgress
{
    private readonly StringWriter _text = new();
    private readonly PlainBuildProgress _plain;

    public RecordingProgress() => _plain = new PlainBuildProgress(_text);

    public List<BuildEvent> Events { get; } = [];

    public string Text => _text.ToString();

    public void Report(BuildEvent buildEvent)
    {
        lock (Events)
        {
            Events.Add(buildEvent);
        }
        _plain.Report(buildEvent);
    }
}
