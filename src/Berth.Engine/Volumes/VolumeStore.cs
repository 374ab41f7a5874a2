using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Berth.Core;
using Berth.Linux;

namespace Berth.Engine.Volumes;

/// <summary>
/// One volume of the <c>local</c> driver as stored in <c>&lt;data-root&gt;/volumes/&lt;name&gt;/volume.json</c>; its data
/// lives in <c>_data</c> next to it (Docker's layout, so the Mountpoint paths look the same).
/// </summary>
public sealed class VolumeRecord
{
    public string Name { get; set; } = "";

    public string Driver { get; set; } = VolumeStore.LocalDriver;

    public DateTimeOffset CreatedAt { get; set; }

    public Dictionary<string, string>? Labels { get; set; }

    /// <summary>The local driver's options: type, device, o (mount(8) style).</summary>
    public Dictionary<string, string>? Options { get; set; }

    [JsonIgnore]
    public bool Anonymous => Labels?.ContainsKey(VolumeStore.AnonymousLabel) == true;

    [JsonIgnore]
    public bool HasMountOptions => Options is { Count: > 0 } o && o.ContainsKey("type");
}

/// <summary>
/// The <c>local</c> volume driver: a directory per volume under <c>&lt;data-root&gt;/volumes</c>, created whole or
/// not at all (built under a temp name, then renamed into place), optionally a mount (tmpfs, a bind of a host
/// directory, any fs type with a device) made while a container uses it.
/// </summary>
public sealed partial class VolumeStore
{
    public const string LocalDriver = "local";
    public const string AnonymousLabel = "com.docker.volume.anonymous";
    private const string MetadataFile = "volume.json";
    private const string TempPrefix = ".tmp-";

    private readonly Dictionary<string, VolumeRecord> _volumes = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;

    private VolumeStore(string root, TimeProvider time)
    {
        Root = root;
        _time = time;
    }

    /// <summary><c>&lt;data-root&gt;/volumes</c>.</summary>
    public string Root { get; }

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")]
    private static partial Regex NamePattern();

    /// <summary>Loads every volume; a half-built one (the temp directory of a create that died) is deleted.</summary>
    public static VolumeStore Open(string root, TimeProvider time)
    {
        Directory.CreateDirectory(root);
        var store = new VolumeStore(root, time);
        foreach (var dir in Directory.EnumerateDirectories(root))
        {
            var name = Path.GetFileName(dir);
            if (name.StartsWith(TempPrefix, StringComparison.Ordinal))
            {
                ContainerEngine.TryDeleteDirectory(dir);
                continue;
            }
            var meta = Path.Combine(dir, MetadataFile);
            if (!File.Exists(meta))
            {
                continue;
            }
            try
            {
                var record = JsonSerializer.Deserialize(File.ReadAllBytes(meta), VolumeJsonContext.Default.VolumeRecord);
                if (record is not null && record.Name == name)
                {
                    store._volumes[name] = record;
                }
            }
            catch (JsonException)
            {
                // An unreadable record is left on disk for the operator; it is not served.
            }
        }
        return store;
    }

    public string Mountpoint(string name) => Path.Combine(Root, name, "_data");

    /// <summary>Docker's rule for local volume names; the message is dockerd's.</summary>
    public static void ValidateName(string name)
    {
        if (name.Length == 1 && char.IsAsciiLetterOrDigit(name[0]))
        {
            throw BerthException.InvalidArgument($"create {name}: volume name is too short, names should be at least two alphanumeric characters");
        }
        if (!NamePattern().IsMatch(name))
        {
            throw BerthException.InvalidArgument($"create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path");
        }
    }

    /// <summary>The local driver's options: type, device and o (as mount(8)); size needs quotas Berth does not have.</summary>
    public static void ValidateOptions(string name, IReadOnlyDictionary<string, string>? options)
    {
        if (options is null || options.Count == 0)
        {
            return;
        }
        foreach (var key in options.Keys)
        {
            if (key == "size")
            {
                throw BerthException.InvalidArgument($"create {name}: not supported: option \"size\" (volume quotas); leave it out or use type=tmpfs,o=size=...");
            }
            if (key is not ("type" or "device" or "o"))
            {
                throw BerthException.InvalidArgument($"create {name}: invalid option: \"{key}\"; the local driver takes type, device and o");
            }
        }
        options.TryGetValue("type", out var type);
        options.TryGetValue("device", out var device);
        if (string.IsNullOrEmpty(type))
        {
            throw BerthException.InvalidArgument($"create {name}: missing required option: \"type\" (e.g. type=tmpfs,device=tmpfs or type=none,o=bind,device=/path)");
        }
        if (string.IsNullOrEmpty(device))
        {
            throw BerthException.InvalidArgument($"create {name}: missing required option: \"device\" (e.g. device=tmpfs, or the host path for o=bind)");
        }
        var (flags, _) = ParseMountOptions(options.GetValueOrDefault("o"));
        if ((flags & MountFlags.Bind) != 0 && !device.StartsWith('/'))
        {
            throw BerthException.InvalidArgument($"create {name}: the device \"{device}\" of a bind volume must be an absolute host path");
        }
    }

    public IReadOnlyList<VolumeRecord> List()
    {
        lock (_lock)
        {
            return _volumes.Values.OrderBy(v => v.Name, StringComparer.Ordinal).ToList();
        }
    }

    public VolumeRecord? TryGet(string name)
    {
        lock (_lock)
        {
            return _volumes.GetValueOrDefault(name);
        }
    }

    public VolumeRecord Get(string name) => TryGet(name) ?? throw BerthException.NotFound($"get {name}: no such volume");

    /// <summary>
    /// Creates the volume, or returns the existing one of that name (Docker's create is idempotent; a different
    /// driver is a conflict). <paramref name="created"/> says whether this call made it.
    /// </summary>
    public VolumeRecord Create(string? name, string? driver, IReadOnlyDictionary<string, string>? labels, IReadOnlyDictionary<string, string>? options, out bool created)
    {
        created = false;
        var anonymous = string.IsNullOrEmpty(name);
        name = anonymous ? EngineFormat.NewId() : name!;
        ValidateName(name);
        driver = string.IsNullOrEmpty(driver) ? LocalDriver : driver;
        if (driver != LocalDriver)
        {
            throw BerthException.InvalidArgument($"create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found; Berth has the local driver only");
        }
        ValidateOptions(name, options);
        lock (_lock)
        {
            if (_volumes.TryGetValue(name, out var existing))
            {
                return existing;
            }
            var record = new VolumeRecord
            {
                Name = name,
                Driver = driver,
                CreatedAt = _time.GetUtcNow(),
                // dockerd reports no labels or options as null, also when the request sent empty maps.
                Labels = labels is not { Count: > 0 } ? null : new Dictionary<string, string>(labels, StringComparer.Ordinal),
                Options = options is not { Count: > 0 } ? null : new Dictionary<string, string>(options, StringComparer.Ordinal),
            };
            if (anonymous)
            {
                record.Labels ??= new Dictionary<string, string>(StringComparer.Ordinal);
                record.Labels[AnonymousLabel] = "";
            }
            // Built under a temp name and renamed into place: a crash leaves a temp dir (deleted at the next start), never
            // a volume without its record.
            var temp = Path.Combine(Root, TempPrefix + Guid.NewGuid().ToString("N"));
            var final = Path.Combine(Root, name);
            try
            {
                Directory.CreateDirectory(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                Directory.CreateDirectory(Path.Combine(temp, "_data"));
                File.SetUnixFileMode(Path.Combine(temp, "_data"), (UnixFileMode)0x1ed);
                AtomicFile.WriteAllBytes(Path.Combine(temp, MetadataFile), JsonSerializer.SerializeToUtf8Bytes(record, VolumeJsonContext.Default.VolumeRecord));
                if (Directory.Exists(final))
                {
                    throw new BerthException(ErrorCode.Conflict, $"create {name}: {final} exists but is not a volume Berth knows; move it away");
                }
                Directory.Move(temp, final);
            }
            catch
            {
                ContainerEngine.TryDeleteDirectory(temp);
                throw;
            }
            _volumes[name] = record;
            created = true;
            return record;
        }
    }

    /// <summary>
    /// Unregisters the volume (the caller checked that no container uses it): unmounts it, deletes its record and
    /// renames its directory to a trash name, which it returns. The caller deletes that directory without holding
    /// any lock (a big volume would block every other volume operation); a trash name left behind is deleted by
    /// <see cref="Open"/>.
    /// </summary>
    public string Remove(string name)
    {
        lock (_lock)
        {
            if (!_volumes.TryGetValue(name, out var record))
            {
                throw BerthException.NotFound($"get {name}: no such volume");
            }
            var dir = Path.Combine(Root, name);
            if (record.HasMountOptions)
            {
                Unmount(record);
            }
            // The record goes first: a crash half-way leaves a directory without volume.json, which is not served.
            var meta = Path.Combine(dir, MetadataFile);
            if (File.Exists(meta))
            {
                File.Delete(meta);
            }
            _volumes.Remove(name);
            var trash = Path.Combine(Root, TempPrefix + Guid.NewGuid().ToString("N"));
            try
            {
                Directory.Move(dir, trash);
                return trash;
            }
            catch (IOException)
            {
                // Not renamable (gone already, or busy): deleted in place; without volume.json it is not served.
                return dir;
            }
        }
    }

    /// <summary>Bytes under the volume's data directory (system df).</summary>
    public long Size(string name) => DirectorySize(Mountpoint(name));

    /// <summary>Bytes of the files under <paramref name="path"/> (0 when it is gone).</summary>
    public static long DirectorySize(string path)
    {
        var dir = new DirectoryInfo(path);
        if (!dir.Exists)
        {
            return 0;
        }
        try
        {
            return dir.EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true }).Sum(f => f.Length);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>Makes the volume's mount (for volumes with type/device/o) unless it is there; a plain volume needs none.</summary>
    public void Mount(VolumeRecord v)
    {
        if (!v.HasMountOptions)
        {
            return;
        }
        var target = Mountpoint(v.Name);
        if (MountInfo.IsMountPoint(target))
        {
            return;
        }
        var o = v.Options!;
        var (flags, data) = ParseMountOptions(o.GetValueOrDefault("o"));
        var type = o["type"];
        var device = o["device"];
        if ((flags & MountFlags.Bind) != 0)
        {
            if (!Directory.Exists(device) && !File.Exists(device))
            {
                throw BerthException.InvalidArgument($"error while mounting volume '{target}': failed to mount local volume: the device {device} of volume {v.Name} does not exist on the host; create it or recreate the volume with another device");
            }
            type = "none";
        }
        try
        {
            Sys.Mount(device, target, type == "none" ? null : type, flags & ~MountFlags.ReadOnly, data.Length == 0 ? null : data);
            if ((flags & MountFlags.ReadOnly) != 0 && (flags & MountFlags.Bind) != 0)
            {
                // A bind mount ignores MS_RDONLY on the first call; read-only takes a remount.
                Sys.Mount(null, target, null, MountFlags.Bind | MountFlags.Remount | MountFlags.ReadOnly, null);
            }
            else if ((flags & MountFlags.ReadOnly) != 0)
            {
                Sys.Mount(null, target, null, MountFlags.Remount | MountFlags.ReadOnly | (flags & ~MountFlags.Bind), data.Length == 0 ? null : data);
            }
        }
        catch (LinuxSyscallException e)
        {
            Unmount(v);
            throw BerthException.InvalidArgument($"error while mounting volume '{target}': failed to mount local volume: {e.Message}");
        }
    }

    /// <summary>Undoes <see cref="Mount"/>; nothing for a plain volume or one that is not mounted.</summary>
    public void Unmount(VolumeRecord v)
    {
        if (!v.HasMountOptions)
        {
            return;
        }
        var target = Mountpoint(v.Name);
        for (var i = 0; i < 10 && MountInfo.IsMountPoint(target); i++)
        {
            if (Sys.TryUnmount(target, 0) != 0)
            {
                _ = Sys.TryUnmount(target, Sys.MNT_DETACH); // a busy mount goes once its last user does
            }
        }
    }

    /// <summary>mount(8)'s -o: flag words become MS_* flags, the rest is the file system's data string.</summary>
    public static (MountFlags Flags, string Data) ParseMountOptions(string? o)
    {
        var m = MountOptions.Parse(o?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), null);
        var flags = m.Flags | (m.Bind ? MountFlags.Bind : MountFlags.None) | (m.Recursive ? MountFlags.Rec : MountFlags.None);
        return (flags, m.Data ?? "");
    }

    internal static string FormatTime(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(VolumeRecord))]
internal sealed partial class VolumeJsonContext : JsonSerializerContext;
