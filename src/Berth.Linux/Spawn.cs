using System.Runtime.InteropServices;
using System.Text;
using Berth.Linux.Interop;

namespace Berth.Linux;

/// <summary>
/// posix_spawn and execve with argv/envp built in unmanaged memory. posix_spawn (vfork + exec in glibc) is the
/// safe way to start a process from a multithreaded .NET process: the child runs no managed code before exec, and
/// it inherits the calling thread's namespaces, which is how containers are entered.
/// </summary>
public static unsafe partial class Spawn
{
    /// <summary>Starts <paramref name="path"/> from the calling thread; descriptors without O_CLOEXEC are inherited.</summary>
    public static int Start(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp)
    {
        using var block = new NativeStrings(path, argv, envp);
        int pid;
        var rc = Libc.posix_spawn(&pid, block.Path, null, null, block.Argv, block.Envp);
        return rc != 0 ? throw new LinuxSyscallException("posix_spawn", path, rc) : pid;
    }

    /// <summary>Starts a process whose descriptors 0, 1 and 2 are <paramref name="stdio"/> (-1 keeps ours).</summary>
    public static int Start(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp, (int In, int Out, int Err) stdio)
    {
        using var block = new NativeStrings(path, argv, envp);
        var actions = stackalloc byte[256];
        Interop.Libc.posix_spawn_file_actions_init(actions);
        try
        {
            if (stdio.In >= 0)
            {
                Libc.posix_spawn_file_actions_adddup2(actions, stdio.In, 0);
            }
            if (stdio.Out >= 0)
            {
                Libc.posix_spawn_file_actions_adddup2(actions, stdio.Out, 1);
            }
            if (stdio.Err >= 0)
            {
                Libc.posix_spawn_file_actions_adddup2(actions, stdio.Err, 2);
            }
            int pid;
            var rc = Libc.posix_spawn(&pid, block.Path, actions, null, block.Argv, block.Envp);
            return rc != 0 ? throw new LinuxSyscallException("posix_spawn", path, rc) : pid;
        }
        finally
        {
            Libc.posix_spawn_file_actions_destroy(actions);
        }
    }

    /// <summary>
    /// Like <see cref="Start(string, IReadOnlyList{string}, IReadOnlyList{string})"/>, but the child is born in the
    /// cgroup2 cgroup whose directory <paramref name="cgroupFd"/> is open (clone3 with CLONE_INTO_CGROUP; in every other
    /// hierarchy it is born where the calling thread is), which saves the RCU grace period of a move afterwards. With
    /// <paramref name="resetSignals"/> every signal goes back to its default action and none is blocked in the child.
    /// Returns null, having started nothing, where that cannot be done: a kernel without clone3 or CLONE_INTO_CGROUP,
    /// a caller not allowed to put the child there, or a process without the native library (only the NativeAOT
    /// executables that link it have it); the caller then spawns and moves the child itself.
    /// </summary>
    public static int? TryStartInCgroup(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp, int cgroupFd, bool resetSignals)
    {
        if (!s_cgroupSpawnAvailable)
        {
            return null;
        }
        using var block = new NativeStrings(path, argv, envp);
        int pid;
        int rc;
        try
        {
            rc = BerthSpawn.SpawnIntoCgroup(block.Path, block.Argv, block.Envp, cgroupFd, resetSignals ? 1 : 0, &pid);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            s_cgroupSpawnAvailable = false;
            return null;
        }
        if (rc < 0)
        {
            // The clone failed: nothing was started.
            if (-rc is Errno.ENOSYS or Errno.E2BIG or Errno.EINVAL)
            {
                s_cgroupSpawnAvailable = false;
            }
            return null;
        }
        return rc != 0 ? throw new LinuxSyscallException("clone3", path, rc) : pid;
    }

    /// <summary>clone3 with CLONE_INTO_CGROUP exists from Linux 5.7 on.</summary>
    private static bool s_cgroupSpawnAvailable = Environment.OSVersion.Version >= new Version(5, 7);

    /// <summary>
    /// False on a kernel older than 5.7 and once <see cref="TryStartInCgroup"/> has found it cannot work in this
    /// process (no native library, clone3 or CLONE_INTO_CGROUP refused); callers use it to prepare the slower way in time.
    /// </summary>
    public static bool CanStartInCgroup => s_cgroupSpawnAvailable;

    /// <summary>Replaces this process image; returns only by throwing.</summary>
    public static void Exec(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp)
    {
        using var block = new NativeStrings(path, argv, envp);
        Libc.execve(block.Path, block.Argv, block.Envp);
        throw new LinuxSyscallException("exec", path, Marshal.GetLastPInvokeError());
    }

    /// <summary>The environment of this process as KEY=VALUE strings.</summary>
    public static List<string> CurrentEnvironment()
    {
        var list = new List<string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            list.Add(e.Key + "=" + e.Value);
        }
        return list;
    }

    private sealed class NativeStrings : IDisposable
    {
        private readonly nint _memory;

        public NativeStrings(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp)
        {
            var size = Encoding.UTF8.GetByteCount(path) + 1;
            foreach (var a in argv)
            {
                size += Encoding.UTF8.GetByteCount(a) + 1;
            }
            foreach (var e in envp)
            {
                size += Encoding.UTF8.GetByteCount(e) + 1;
            }
            var pointers = (argv.Count + envp.Count + 2) * sizeof(nint);
            _memory = (nint)NativeMemory.Alloc((nuint)(pointers + size));
            var table = (byte**)_memory;
            var text = (byte*)_memory + pointers;
            Argv = table;
            Envp = table + argv.Count + 1;
            Path = Put(ref text, path);
            for (var i = 0; i < argv.Count; i++)
            {
                Argv[i] = Put(ref text, argv[i]);
            }
            Argv[argv.Count] = null;
            for (var i = 0; i < envp.Count; i++)
            {
                Envp[i] = Put(ref text, envp[i]);
            }
            Envp[envp.Count] = null;
        }

        public byte* Path { get; }

        public byte** Argv { get; }

        public byte** Envp { get; }

        private static byte* Put(ref byte* text, string s)
        {
            var start = text;
            var n = Encoding.UTF8.GetBytes(s, new Span<byte>(text, int.MaxValue));
            text[n] = 0;
            text += n + 1;
            return start;
        }

        public void Dispose() => NativeMemory.Free((void*)_memory);
    }
}
