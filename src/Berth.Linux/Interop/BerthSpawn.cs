using System.Runtime.InteropServices;

namespace Berth.Linux.Interop;

/// <summary>
/// src/Berth.Linux/native/berth-spawn.c, linked statically into the NativeAOT executables that list it (berth-runtime);
/// elsewhere (JIT hosts, test processes) the library is absent and <see cref="Spawn.TryStartInCgroup"/> says so.
/// </summary>
internal static unsafe partial class BerthSpawn
{
    internal const string Lib = "libberth-spawn";

    [LibraryImport(Lib, EntryPoint = "berth_spawn_into_cgroup")]
    internal static partial int SpawnIntoCgroup(byte* path, byte** argv, byte** envp, int cgroupFd, int resetSignals, int* pid);
}
