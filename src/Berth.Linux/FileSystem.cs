using System.Runtime.InteropServices;
using System.Text;
using Berth.Linux.Interop;

namespace Berth.Linux;

/// <summary>File-system helpers the rootfs setup needs: mount flags of a path, symlinks resolved inside a root.</summary>
public static unsafe class FileSystem
{
    /// <summary>The ST_* flags of the mount holding <paramref name="path"/> (they equal the matching MS_* flags).</summary>
    public static MountFlags MountFlagsOf(string path)
    {
        var buf = stackalloc byte[128];
        LinuxSyscallException.Check(Libc.statfs(path, buf), "statfs", path);
        // struct statfs on 64-bit: f_flags at offset 0x48
        var flags = *(long*)(buf + 0x48);
        return (MountFlags)((ulong)flags & (ulong)(MountFlags.ReadOnly | MountFlags.NoSuid | MountFlags.NoDev | MountFlags.NoExec |
            MountFlags.NoAtime | MountFlags.NoDirAtime | MountFlags.RelAtime));
    }

    /// <summary>The target of a symlink, or null when <paramref name="path"/> is not one.</summary>
    public static string? ReadLink(string path)
    {
        var buf = stackalloc byte[4096];
        var n = Libc.readlink(path, buf, 4096);
        return n < 0 ? null : Encoding.UTF8.GetString(buf, (int)n);
    }

    /// <summary>
    /// Joins <paramref name="unsafePath"/> to <paramref name="root"/> resolving symlinks as if <paramref name="root"/> were
    /// "/", so that no component (nor "..") can escape it. Missing components are appended as they are.
    /// </summary>
    public static string SecureJoin(string root, string unsafePath)
    {
        root = root.TrimEnd('/');
        var pending = new Stack<string>();
        PushComponents(pending, unsafePath);
        var resolved = new List<string>();
        var links = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part is "" or ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }
                continue;
            }
            var candidate = root + "/" + string.Join('/', resolved) + (resolved.Count > 0 ? "/" : "") + part;
            var target = ReadLink(candidate);
            if (target is null)
            {
                resolved.Add(part);
                continue;
            }
            if (++links > 255)
            {
                throw new LinuxSyscallException("resolve", unsafePath, Errno.ELOOP);
            }
            if (target.StartsWith('/'))
            {
                resolved.Clear();
            }
            PushComponents(pending, target);
        }
        return resolved.Count == 0 ? root : root + "/" + string.Join('/', resolved);
    }

    private static void PushComponents(Stack<string> stack, string path)
    {
        var parts = path.Split('/');
        for (var i = parts.Length - 1; i >= 0; i--)
        {
            stack.Push(parts[i]);
        }
    }

    /// <summary>Waits until <paramref name="fd"/> is readable or <paramref name="timeoutMs"/> passes; true when readable or hung up.</summary>
    public static bool PollReadable(int fd, int timeoutMs)
    {
        var pfd = stackalloc int[2];
        pfd[0] = fd;
        pfd[1] = 1; // events = POLLIN, revents = 0
        while (true)
        {
            var r = Libc.poll(pfd, 1, timeoutMs);
            if (r >= 0)
            {
                return r > 0;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno != Errno.EINTR)
            {
                throw new LinuxSyscallException("poll", "fd " + fd, errno);
            }
        }
    }
}
