using Berth.Core;

namespace Berth.Cgroups;

/// <summary>
/// A cgroup file or directory operation the kernel refused. The message names the operation, the path and the
/// errno: "write /sys/fs/cgroup/memory/berth/c1/memory.limit_in_bytes: EBUSY (Device or resource busy)".
/// </summary>
public sealed class CgroupIOException : BerthException
{
    public CgroupIOException(string operation, string path, int errno, string? context = null)
        : base(CodeFor(errno), Format(operation, path, errno, context))
    {
        Operation = operation;
        Path = path;
        Errno = errno;
    }

    public string Operation { get; }

    public string Path { get; }

    public int Errno { get; }

    private static string Format(string operation, string path, int errno, string? context)
    {
        var core = operation + " " + path + ": " + Berth.Cgroups.Errno.Describe(errno);
        return context is null ? core : context + ": " + core;
    }

    private static ErrorCode CodeFor(int errno) => errno switch
    {
        Interop.Libc.ENOENT => ErrorCode.NotFound,
        Interop.Libc.EEXIST => ErrorCode.AlreadyExists,
        Interop.Libc.EPERM or Interop.Libc.EACCES or Interop.Libc.EROFS => ErrorCode.PermissionDenied,
        Interop.Libc.EINVAL or Interop.Libc.ERANGE => ErrorCode.InvalidArgument,
        Interop.Libc.EBUSY or Interop.Libc.ENOTEMPTY => ErrorCode.Conflict,
        Interop.Libc.EOPNOTSUPP => ErrorCode.Unsupported,
        _ => ErrorCode.Internal,
    };
}
