using Berth.Core;
using Berth.Engine.Api;

namespace Berth.Engine.Volumes;

/// <summary>
/// A volume mounted into a container, resolved at create time and kept in the container's record (Docker's
/// MountPoints): which volume (an anonymous one gets its generated name here), where, how.
/// </summary>
public sealed class VolumeMountPoint
{
    public string Name { get; set; } = "";

    public string Destination { get; set; } = "";

    /// <summary>The volume's data directory on the host.</summary>
    public string Source { get; set; } = "";

    public string Driver { get; set; } = VolumeStore.LocalDriver;

    public bool RW { get; set; } = true;

    /// <summary>As docker inspect shows it: "z" for -v name:/path (Docker's default label mode), the given mode otherwise.</summary>
    public string Mode { get; set; } = "";

    /// <summary>Copy the image's content at the destination into the volume when it is first mounted while empty.</summary>
    public bool CopyData { get; set; } = true;

    /// <summary>Created for this container (anonymous): `docker rm -v` and `--rm` remove it with the container.</summary>
    public bool Anonymous { get; set; }
}

/// <summary>A requested volume mount before the volume exists (a null name is a new anonymous volume).</summary>
public sealed record VolumeRequest(
    string? Name,
    string Destination,
    bool ReadOnly,
    bool NoCopy,
    string Mode,
    IReadOnlyDictionary<string, string>? Labels = null,
    string? Driver = null,
    IReadOnlyDictionary<string, string>? Options = null);

/// <summary>Docker's volume syntax: `-v name:/path[:ro|rw][,nocopy]`, `--mount type=volume,...`, and Config.Volumes.</summary>
public static class VolumeSpec
{
    /// <summary>
    /// A Binds entry whose source is not an absolute path: a named volume. Null when the entry is a host-path bind
    /// (left to the bind parser). Modes: ro, rw, nocopy, z, Z (labels; no SELinux here, accepted as Docker does).
    /// </summary>
    public static VolumeRequest? ParseBind(string bind)
    {
        var parts = bind.Split(':');
        if (parts.Length is < 2 or > 3 || parts[0].Length == 0 || parts[0].StartsWith('/'))
        {
            return null;
        }
        var name = parts[0];
        var destination = parts[1];
        VolumeStore.ValidateName(name);
        ValidateDestination(destination, bind);
        var ro = false;
        var nocopy = false;
        var mode = parts.Length == 3 ? parts[2] : "";
        foreach (var o in mode.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            switch (o)
            {
                case "ro": ro = true; break;
                case "rw": ro = false; break;
                case "nocopy": nocopy = true; break;
                case "z" or "Z" or "consistent" or "cached" or "delegated":
                    break;
                default:
                    throw BerthException.InvalidArgument($"invalid mode: {o} in volume specification '{bind}'; a volume takes ro, rw and nocopy");
            }
        }
        // dockerd reports Mode "z" for a named volume given without a mode (its default SELinux relabel mode).
        return new VolumeRequest(name, destination, ro, nocopy, mode.Length == 0 ? "z" : mode);
    }

    /// <summary>`--mount type=volume,...` (HostConfig.Mounts); an empty source is a new anonymous volume.</summary>
    public static VolumeRequest FromMount(MountSpec m)
    {
        var target = m.Target ?? "";
        ValidateDestination(target, "type=volume,target=" + target);
        if (m.BindOptions is not null)
        {
            throw BerthException.InvalidArgument($"invalid mount config for type \"volume\": field BindOptions must not be specified");
        }
        if (m.TmpfsOptions is not null)
        {
            throw BerthException.InvalidArgument($"invalid mount config for type \"volume\": field TmpfsOptions must not be specified");
        }
        var name = string.IsNullOrEmpty(m.Source) ? null : m.Source;
        if (name is not null)
        {
            if (name.StartsWith('/'))
            {
                throw BerthException.InvalidArgument($"invalid mount config for type \"volume\": the source '{name}' is a path, a volume source is a name; use type=bind for a host directory");
            }
            VolumeStore.ValidateName(name);
        }
        var o = m.VolumeOptions;
        var driver = o?.DriverConfig?.Name;
        var options = o?.DriverConfig?.Options;
        if (options is { Count: > 0 })
        {
            VolumeStore.ValidateOptions(name ?? "anonymous volume", options);
        }
        if (!string.IsNullOrEmpty(o?.Subpath))
        {
            throw BerthException.Unsupported($"volume subpath '{o.Subpath}' at {target}; mount the whole volume");
        }
        // dockerd shows Mode "z" for every --mount volume, named or anonymous.
        return new VolumeRequest(name, target, m.ReadOnly, o?.NoCopy == true, "z", o?.Labels, driver, options);
    }

    public static void ValidateDestination(string destination, string spec)
    {
        if (destination.Length == 0 || !destination.StartsWith('/'))
        {
            throw BerthException.InvalidArgument($"invalid volume specification: '{spec}': invalid mount config: the container path '{destination}' must be absolute");
        }
        if (destination.TrimEnd('/').Length == 0)
        {
            throw BerthException.InvalidArgument($"invalid volume specification: '{spec}': destination can't be '/'");
        }
    }

    internal static string Clean(string destination) => "/" + string.Join('/', destination.Split('/', StringSplitOptions.RemoveEmptyEntries));

    /// <summary>
    /// Every volume the container needs, in Docker's precedence: Binds and Mounts (named or anonymous), then
    /// Config.Volumes and the image's VOLUMEs as anonymous volumes where nothing else (bind, tmpfs, volume) is mounted.
    /// Two explicit mounts at one destination are refused ("Duplicate mount point").
    /// </summary>
    public static List<VolumeRequest> Plan(HostConfig h, IEnumerable<string> configVolumes) => Plan(h, configVolumes, [], out _);

    /// <summary>
    /// <see cref="Plan(HostConfig, IEnumerable{string})"/> with the mounts inherited through --volumes-from: as in
    /// Docker, an explicit bind, tmpfs or volume at an inherited destination wins over the inherited mount, and an
    /// inherited mount wins over Config.Volumes and the image's VOLUMEs. <paramref name="kept"/> holds the inherited
    /// mounts that stay (the first one at each destination). One set of destinations decides all of it.
    /// </summary>
    public static List<VolumeRequest> Plan(HostConfig h, IEnumerable<string> configVolumes, IEnumerable<VolumeMountPoint> inherited, out List<VolumeMountPoint> kept)
    {
        var taken = new HashSet<string>(StringComparer.Ordinal);
        var requests = new List<VolumeRequest>();
        void Take(string destination)
        {
            if (!taken.Add(Clean(destination)))
            {
                throw BerthException.InvalidArgument($"Duplicate mount point: {Clean(destination)}");
            }
        }
        foreach (var bind in h.Binds ?? [])
        {
            var parts = bind.Split(':');
            var request = ParseBind(bind);
            if (request is not null)
            {
                requests.Add(request);
            }
            if (parts.Length >= 2)
            {
                Take(parts[1]);
            }
        }
        foreach (var m in h.Mounts ?? [])
        {
            if (m.Type == "volume")
            {
                requests.Add(FromMount(m));
            }
            Take(m.Target ?? "");
        }
        foreach (var dst in (h.Tmpfs ?? []).Keys)
        {
            Take(dst);
        }
        kept = [];
        foreach (var m in inherited)
        {
            if (taken.Add(Clean(m.Destination)))
            {
                kept.Add(m);
            }
        }
        foreach (var dst in configVolumes)
        {
            ValidateDestination(dst, dst);
            if (taken.Add(Clean(dst)))
            {
                requests.Add(new VolumeRequest(null, dst, false, false, ""));
            }
        }
        return requests;
    }
}
