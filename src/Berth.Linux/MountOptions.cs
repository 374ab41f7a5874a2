using System.Text;
namespace Berth.Linux;

/// <summary>
/// Mount options (an OCI mount's, a local volume's <c>o=</c>) split the way mount(2) wants them: flags, propagation,
/// and the rest as filesystem data.
/// </summary>
public sealed record MountOptions(MountFlags Flags, MountFlags Propagation, string? Data, bool Bind, bool Recursive)
{
    public static MountOptions Parse(IEnumerable<string>? options, string? type)
    {
        var flags = MountFlags.None;
        var propagation = MountFlags.None;
        var data = new StringBuilder();
        var bind = type == "bind";
        var recursive = false;
        foreach (var option in options ?? [])
        {
            switch (option)
            {
                case "bind":
                    bind = true;
                    break;
                case "rbind":
                    bind = true;
                    recursive = true;
                    break;
                case "ro":
                    flags |= MountFlags.ReadOnly;
                    break;
                case "rw":
                    flags &= ~MountFlags.ReadOnly;
                    break;
                case "nosuid":
                    flags |= MountFlags.NoSuid;
                    break;
                case "suid":
                    flags &= ~MountFlags.NoSuid;
                    break;
                case "nodev":
                    flags |= MountFlags.NoDev;
                    break;
                case "dev":
                    flags &= ~MountFlags.NoDev;
                    break;
                case "noexec":
                    flags |= MountFlags.NoExec;
                    break;
                case "exec":
                    flags &= ~MountFlags.NoExec;
                    break;
                case "sync":
                    flags |= MountFlags.Synchronous;
                    break;
                case "async":
                    flags &= ~MountFlags.Synchronous;
                    break;
                case "dirsync":
                    flags |= MountFlags.DirSync;
                    break;
                case "remount":
                    flags |= MountFlags.Remount;
                    break;
                case "mand":
                    flags |= MountFlags.Mandlock;
                    break;
                case "noatime":
                    flags |= MountFlags.NoAtime;
                    break;
                case "nodiratime":
                    flags |= MountFlags.NoDirAtime;
                    break;
                case "relatime":
                    flags |= MountFlags.RelAtime;
                    break;
                case "strictatime":
                    flags |= MountFlags.StrictAtime;
                    break;
                case "atime" or "diratime" or "norelatime" or "defaults" or "nostrictatime" or "loud":
                    break;
                case "silent":
                    flags |= MountFlags.Silent;
                    break;
                case "lazytime":
                    flags |= MountFlags.LazyTime;
                    break;
                case "nosymfollow":
                    flags |= MountFlags.NoSymFollow;
                    break;
                default:
                    if (PropagationFlag(option) is { } p)
                    {
                        propagation |= p;
                    }
                    else
                    {
                        if (data.Length > 0)
                        {
                            data.Append(',');
                        }
                        data.Append(option);
                    }
                    break;
            }
        }
        return new MountOptions(flags, propagation, data.Length > 0 ? data.ToString() : null, bind, recursive);
    }

    /// <summary>The mount(2) flags of a propagation word ("rprivate", "shared", ...); null if it is not one.</summary>
    public static MountFlags? PropagationFlag(string name) => name switch
    {
        "shared" => MountFlags.Shared,
        "rshared" => MountFlags.Shared | MountFlags.Rec,
        "slave" => MountFlags.Slave,
        "rslave" => MountFlags.Slave | MountFlags.Rec,
        "private" => MountFlags.Private,
        "rprivate" => MountFlags.Private | MountFlags.Rec,
        "unbindable" => MountFlags.Unbindable,
        "runbindable" => MountFlags.Unbindable | MountFlags.Rec,
        _ => null,
    };
}
