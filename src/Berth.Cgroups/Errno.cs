using System.Runtime.InteropServices;

namespace Berth.Cgroups;

/// <summary>errno as people read it: "EBUSY (Device or resource busy)".</summary>
public static class Errno
{
    public static string Name(int errno) => errno switch
    {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        4 => "EINTR",
        5 => "EIO",
        7 => "E2BIG",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        19 => "ENODEV",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        24 => "EMFILE",
        28 => "ENOSPC",
        30 => "EROFS",
        34 => "ERANGE",
        38 => "ENOSYS",
        39 => "ENOTEMPTY",
        95 => "EOPNOTSUPP",
        _ => "errno " + errno.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public static string Describe(int errno) => Name(errno) + " (" + Marshal.GetPInvokeErrorMessage(errno) + ")";
}
