using System.Runtime.InteropServices;

namespace Berth.Linux.Interop;

// Entry points for supervisors (berth-shim): spawn attributes, poll, non-blocking descriptors, signal dispositions.
internal static unsafe partial class Libc
{
    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawnattr_init(void* attr);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawnattr_destroy(void* attr);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawnattr_setflags(void* attr, short flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawnattr_setsigdefault(void* attr, void* sigset);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawnattr_setsigmask(void* attr, void* sigset);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawn_file_actions_addopen(void* actions, int fd, byte* path, int oflag, uint mode);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawn_file_actions_addclose(void* actions, int fd);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial nint signal(int signum, nint handler);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int dup(int oldfd);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int bind(int fd, byte* addr, int len);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int listen(int fd, int backlog);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int accept4(int fd, void* addr, void* len, int flags);
}
