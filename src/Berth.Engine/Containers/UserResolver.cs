using System.Globalization;
using Berth.Core;
using OciUser = Berth.Oci.Runtime.User;

namespace Berth.Engine.Containers;

/// <summary>Resolves Docker's `--user name|uid[:group|gid]` against the container's /etc/passwd and /etc/group.</summary>
public static class UserResolver
{
    public static OciUser Resolve(string rootfs, string? user)
    {
        if (string.IsNullOrEmpty(user))
        {
            user = "0";
        }
        var colon = user.IndexOf(':', StringComparison.Ordinal);
        var name = colon < 0 ? user : user[..colon];
        var group = colon < 0 ? null : user[(colon + 1)..];
        var passwd = ReadDb(rootfs, "passwd");
        var groups = ReadDb(rootfs, "group");
        uint uid;
        uint gid = 0;
        string? userName = null;
        var entry = passwd.FirstOrDefault(p => p.Length >= 4 && (p[0] == name || p[2] == name));
        if (entry is not null && uint.TryParse(entry[2], CultureInfo.InvariantCulture, out uid))
        {
            userName = entry[0];
            _ = uint.TryParse(entry[3], CultureInfo.InvariantCulture, out gid);
        }
        else if (!uint.TryParse(name, CultureInfo.InvariantCulture, out uid))
        {
            throw BerthException.InvalidArgument($"unable to find user {name}: no matching entries in the container's /etc/passwd; use a numeric uid");
        }
        if (group is { Length: > 0 })
        {
            var g = groups.FirstOrDefault(x => x.Length >= 3 && (x[0] == group || x[2] == group));
            if (g is not null && uint.TryParse(g[2], CultureInfo.InvariantCulture, out var byName))
            {
                gid = byName;
            }
            else if (!uint.TryParse(group, CultureInfo.InvariantCulture, out gid))
            {
                throw BerthException.InvalidArgument($"unable to find group {group}: no matching entries in the container's /etc/group; use a numeric gid");
            }
        }
        var additional = userName is null
            ? []
            : groups.Where(x => x.Length >= 4 && x[3].Split(',').Contains(userName) && uint.TryParse(x[2], CultureInfo.InvariantCulture, out _))
                .Select(x => uint.Parse(x[2], CultureInfo.InvariantCulture)).Where(x => x != gid).Distinct().ToList();
        return new OciUser { Uid = uid, Gid = gid, AdditionalGids = additional.Count > 0 ? additional : null };
    }

    private static List<string[]> ReadDb(string rootfs, string file)
    {
        var path = Path.Combine(rootfs, "etc", file);
        try
        {
            // A symlink could point out of the rootfs; such a database is treated as absent.
            var info = new FileInfo(path);
            if (!info.Exists || info.LinkTarget is not null)
            {
                return [];
            }
            return File.ReadLines(path).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split(':')).ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }
}
