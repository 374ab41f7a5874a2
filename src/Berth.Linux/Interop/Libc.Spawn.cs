using System.Runtime.InteropServices;

namespace Berth.Linux.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawn_file_actions_init(void* actions);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawn_file_actions_adddup2(void* actions, int fd, int newfd);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawn_file_actions_destroy(void* actions);
}
