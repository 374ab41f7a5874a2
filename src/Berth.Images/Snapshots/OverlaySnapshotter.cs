using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using Berth.Core;

namespace Berth.Images.Snapshots;

/// <summary>
/// Snapshots on overlayfs, laid out like Docker's overlay2:
/// <c>root/snapshots/&lt;id&gt;/{fs,work}</c> holds each layer; <c>root/l/&lt;26 chars&gt;</c> are short symlinks
/// to the fs dirs so a 128-layer lowerdir list stays within the one-page mount data limit;
/// <c>root/metadata.json</c> maps keys to snapshots (written temp+rename).
/// </summary>
public sealed class OverlaySnapshotter : ISnapshotter
{
    private readonly string _root;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _lock = new(1, 1);

    public OverlaySnapshotter(string root, TimeProvider? timeProvider = null)
    {
        _root = Path.GetFullPath(root);
        _time = timeProvider ?? TimeProvider.System;
        Directory.CreateDirectory(Path.Combine(_root, "snapshots"));
        Directory.CreateDirectory(Path.Combine(_root, "l"));
    }

    public string Root => _root;

    private string MetadataPath => Path.Combine(_root, "metadata.json");

    public string UpperDirectory(SnapshotInfo info) => Path.Combine(_root, "snapshots", info.Id, "fs");

    private string WorkDirectory(SnapshotInfo info) => Path.Combine(_root, "snapshots", info.Id, "work");

    private string LinkPath(SnapshotInfo info) => Path.Combine(_root, "l", info.Link);

    public Task<IReadOnlyList<SnapshotMount>> PrepareAsync(string key, string? parent, IReadOnlyDictionary<string, string>? labels = null, CancellationToken cancellationToken = default) =>
        CreateAsync(key, parent, SnapshotKind.Active, labels, cancellationToken);

    public Task<IReadOnlyList<SnapshotMount>> ViewAsync(string key, string parent, CancellationToken cancellationToken = default) =>
        CreateAsync(key, parent, SnapshotKind.View, null, cancellationToken);

    private async Task<IReadOnlyList<SnapshotMount>> CreateAsync(string key, string? parent, SnapshotKind kind, IReadOnlyDictionary<string, string>? labels, CancellationToken cancellationToken)
    {
        ValidateKey(key);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var all = Load();
            if (all.ContainsKey(key))
            {
                throw BerthException.AlreadyExists($"snapshot \"{key}\" already exists; remove it first or choose another key");
            }
            if (parent is not null)
            {
                if (!all.TryGetValue(parent, out var p))
                {
                    throw BerthException.NotFound($"parent snapshot \"{parent}\" not found; unpack the image first");
                }
                if (p.Kind != SnapshotKind.Committed)
                {
                    throw BerthException.FailedPrecondition($"parent snapshot \"{parent}\" is {p.Kind.ToString().ToLowerInvariant()}; only committed snapshots can be parents");
                }
            }
            else if (kind == SnapshotKind.View)
            {
                throw BerthException.InvalidArgument("a view needs a parent snapshot");
            }
            var info = new SnapshotInfo
            {
                Key = key,
                Kind = kind,
                Parent = parent,
                Id = NewId(all),
                Link = NewLink(),
                Created = _time.GetUtcNow(),
                Labels = labels,
            };
            var dir = Path.Combine(_root, "snapshots", info.Id);
            Directory.CreateDirectory(Path.Combine(dir, "fs"));
            Directory.CreateDirectory(Path.Combine(dir, "work"));
            File.CreateSymbolicLink(LinkPath(info), Path.Combine("..", "snapshots", info.Id, "fs"));
            all[key] = info;
            Save(all);
            return BuildMounts(info, all);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<IReadOnlyList<SnapshotMount>> MountsAsync(string key, CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var all = Load();
            if (!all.TryGetValue(key, out var info))
            {
                throw BerthException.NotFound($"snapshot \"{key}\" not found");
            }
            if (info.Kind == SnapshotKind.Committed)
            {
                throw BerthException.FailedPrecondition($"snapshot \"{key}\" is committed; prepare an active snapshot or a view on it to mount it");
            }
            return BuildMounts(info, all);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task CommitAsync(string name, string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(name);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var all = Load();
            if (!all.TryGetValue(key, out var info))
            {
                throw BerthException.NotFound($"snapshot \"{key}\" not found; nothing to commit");
            }
            if (info.Kind != SnapshotKind.Active)
            {
                throw BerthException.FailedPrecondition($"snapshot \"{key}\" is {info.Kind.ToString().ToLowerInvariant()}; only active snapshots can be committed");
            }
            if (all.ContainsKey(name))
            {
                throw BerthException.AlreadyExists($"committed snapshot \"{name}\" already exists; remove the active snapshot \"{key}\" instead");
            }
            // The work dir is only needed while mounted writable.
            var work = WorkDirectory(info);
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
            all.Remove(key);
            all[name] = info with { Key = name, Kind = SnapshotKind.Committed };
            Save(all);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<SnapshotInfo?> StatAsync(string key, CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return Load().GetValueOrDefault(key);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task RemoveAsync(string key, CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var all = Load();
            if (!all.TryGetValue(key, out var info))
            {
                throw BerthException.NotFound($"snapshot \"{key}\" not found");
            }
            var children = all.Values.Where(s => s.Parent == key).Select(s => s.Key).ToList();
            if (children.Count > 0)
            {
                throw BerthException.FailedPrecondition($"snapshot \"{key}\" is the parent of {string.Join(", ", children)}; remove those first");
            }
            all.Remove(key);
            Save(all);
            File.Delete(LinkPath(info));
            var dir = Path.Combine(_root, "snapshots", info.Id);
            if (Directory.Exists(dir))
            {
                // Rename first so a crash mid-delete never leaves a half-removed dir under a live id.
                var trash = Path.Combine(_root, "snapshots", ".removing-" + info.Id);
                Directory.Move(dir, trash);
                Directory.Delete(trash, recursive: true);
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    public async IAsyncEnumerable<SnapshotInfo> WalkAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Dictionary<string, SnapshotInfo> all;
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            all = Load();
        }
        finally
        {
            _lock.Release();
        }
        foreach (var info in all.Values)
        {
            yield return info;
        }
    }

    private List<SnapshotInfo> Chain(SnapshotInfo info, Dictionary<string, SnapshotInfo> all)
    {
        var chain = new List<SnapshotInfo>();
        var parent = info.Parent;
        while (parent is not null)
        {
            var p = all.TryGetValue(parent, out var found) ? found : throw BerthException.NotFound($"snapshot \"{info.Key}\" has a missing ancestor \"{parent}\"");
            chain.Add(p);
            parent = p.Parent;
        }
        return chain;
    }

    private IReadOnlyList<SnapshotMount> BuildMounts(SnapshotInfo info, Dictionary<string, SnapshotInfo> all)
    {
        var parents = Chain(info, all);
        if (info.Kind == SnapshotKind.View)
        {
            if (parents.Count == 1)
            {
                return [new SnapshotMount("bind", UpperDirectory(parents[0]), ["ro", "rbind"])];
            }
            return [new SnapshotMount("overlay", "overlay", ["lowerdir=" + string.Join(':', parents.Select(LinkPath))])];
        }
        if (parents.Count == 0)
        {
            return [new SnapshotMount("bind", UpperDirectory(info), ["rw", "rbind"])];
        }
        return [new SnapshotMount("overlay", "overlay",
        [
            "index=off",
            "workdir=" + WorkDirectory(info),
            "upperdir=" + UpperDirectory(info),
            "lowerdir=" + string.Join(':', parents.Select(LinkPath)),
        ])];
    }

    private static void ValidateKey(string key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > 512 || key.Contains('\0', StringComparison.Ordinal))
        {
            throw BerthException.InvalidArgument($"invalid snapshot key \"{key}\": 1 to 512 characters, no NUL");
        }
    }

    private static string NewId(Dictionary<string, SnapshotInfo> all)
    {
        var next = all.Count == 0 ? 1 : all.Values.Max(s => long.TryParse(s.Id, out var n) ? n : 0) + 1;
        return next.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string NewLink()
    {
        // Docker's overlay2 uses 26 base32 characters; collisions are as unlikely here.
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        Span<byte> random = stackalloc byte[26];
        RandomNumberGenerator.Fill(random);
        return string.Create(26, random.ToArray(), (span, bytes) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = alphabet[bytes[i] & 31];
            }
        });
    }

    private Dictionary<string, SnapshotInfo> Load()
    {
        if (!File.Exists(MetadataPath))
        {
            return new Dictionary<string, SnapshotInfo>(StringComparer.Ordinal);
        }
        var loaded = JsonSerializer.Deserialize(File.ReadAllBytes(MetadataPath), ImagesJsonContext.Default.DictionaryStringSnapshotInfo);
        return loaded is null ? new Dictionary<string, SnapshotInfo>(StringComparer.Ordinal) : new Dictionary<string, SnapshotInfo>(loaded, StringComparer.Ordinal);
    }

    private void Save(Dictionary<string, SnapshotInfo> all) =>
        AtomicFile.WriteAllBytes(MetadataPath, JsonSerializer.SerializeToUtf8Bytes(all, ImagesJsonContext.Default.DictionaryStringSnapshotInfo));
}
