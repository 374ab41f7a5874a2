using Berth.Linux.Interop;

namespace Berth.Linux;

/// <summary>What a supervisor sets on a spawned child besides argv and envp.</summary>
public sealed record SpawnOptions
{
    /// <summary>Descriptor for the child's 0, 1, 2: a descriptor of ours, <see cref="Spawn.DevNull"/>, or -1 to inherit ours.</summary>
    public int Stdin { get; init; } = -1;

    public int Stdout { get; init; } = -1;

    public int Stderr { get; init; } = -1;

    /// <summary>setsid() in the child (POSIX_SPAWN_SETSID): no controlling terminal, its own session and process group.</summary>
    public bool NewSession { get; init; }

    /// <summary>
    /// Reset every catchable signal to its default action and clear the signal mask in the child, so an ignored
    /// SIGPIPE or a blocked signal of the parent never leaks into containers.
    /// </summary>
    public bool ResetSignals { get; init; } = true;
}

public static unsafe partial class Spawn
{
    /// <summary>Stdio value meaning "open /dev/null in the child".</summary>
    public const int DevNull = -2;

    private const short PosixSpawnSetSigDef = 0x04;
    private const short PosixSpawnSetSigMask = 0x08;
    private const short PosixSpawnSetSid = 0x80;

    /// <summary>posix_spawn with explicit stdio, an optional new session and default signal dispositions.</summary>
    public static int Start(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp, SpawnOptions options)
    {
        using var block = new NativeStrings(path, argv, envp);
        var actions = stackalloc byte[256];
        var attr = stackalloc byte[512];
        var sigdefault = stackalloc ulong[16];
        var sigmask = stackalloc ulong[16];
        var devNull = stackalloc byte[10];
        "/dev/null\0"u8.CopyTo(new Span<byte>(devNull, 10));
        Libc.posix_spawn_file_actions_init(actions);
        Libc.posix_spawnattr_init(attr);
        try
        {
            AddStdio(actions, options.Stdin, 0, Sys.O_RDONLY, devNull);
            AddStdio(actions, options.Stdout, 1, Sys.O_WRONLY, devNull);
            AddStdio(actions, options.Stderr, 2, Sys.O_WRONLY, devNull);
            short flags = 0;
            if (options.NewSession)
            {
                flags |= PosixSpawnSetSid;
            }
            if (options.ResetSignals)
            {
                new Span<ulong>(sigdefault, 16).Clear();
                new Span<ulong>(sigmask, 16).Clear();
                // Every signal but SIGKILL (9) and SIGSTOP (19), whose actions cannot be changed.
                sigdefault[0] = 0xFFFFFFFFFFFFFFFFUL & ~(1UL << (Signals.SIGKILL - 1)) & ~(1UL << (Signals.SIGSTOP - 1));
                Libc.posix_spawnattr_setsigdefault(attr, sigdefault);
                Libc.posix_spawnattr_setsigmask(attr, sigmask);
                flags |= PosixSpawnSetSigDef | PosixSpawnSetSigMask;
            }
            Libc.posix_spawnattr_setflags(attr, flags);
            int pid;
            var rc = Libc.posix_spawn(&pid, block.Path, actions, attr, block.Argv, block.Envp);
            return rc != 0 ? throw new LinuxSyscallException("posix_spawn", path, rc) : pid;
        }
        finally
        {
            Libc.posix_spawnattr_destroy(attr);
            Libc.posix_spawn_file_actions_destroy(actions);
        }
    }

    /// <summary>
    /// Sets every ignored signal back to its default action, for a process about to execve a program of someone else:
    /// .NET ignores SIGPIPE, and an ignored disposition survives execve (a container's `yes | head` would then never end).
    /// Raw rt_sigaction, because glibc refuses its own reserved real-time signals.
    /// </summary>
    public static void ResetSignalDispositionsForExec()
    {
        var nr = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.Arm64 ? 134L : 13L;
        var act = stackalloc ulong[4]; // struct kernel_sigaction { handler, flags, restorer, mask }
        var old = stackalloc ulong[4];
        for (var sig = 1; sig <= 64; sig++)
        {
            if (sig is Signals.SIGKILL or Signals.SIGSTOP)
            {
                continue;
            }
            if (Libc.syscall(nr, sig, 0, (long)old, 8, 0, 0) == 0 && old[0] == 1 /* SIG_IGN */)
            {
                new Span<ulong>(act, 4).Clear();
                Libc.syscall(nr, sig, (long)act, 0, 8, 0, 0);
            }
        }
    }

    private static void AddStdio(byte* actions, int fd, int target, int openFlags, byte* devNull)
    {
        if (fd == DevNull)
        {
            Libc.posix_spawn_file_actions_addopen(actions, target, devNull, openFlags, 0);
        }
        else if (fd >= 0)
        {
            Libc.posix_spawn_file_actions_adddup2(actions, fd, target);
        }
    }
}
