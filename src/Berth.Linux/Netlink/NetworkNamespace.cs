using Berth.Linux.Interop;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux.Netlink;

/// <summary>
/// An open network namespace (/var/run/netns/X or /proc/PID/ns/net). Work that must run inside it runs on a fresh
/// thread that joins the namespace and restores the original one before it ends, so no pooled thread of the
/// multithreaded CLR is ever left in a foreign namespace.
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    private const int CloneNewNet = 0x40000000;

    private NetworkNamespace(SafeFileHandle handle, string path)
    {
        Handle = handle;
        Path = path;
    }

    public SafeFileHandle Handle { get; }

    public string Path { get; }

    public int Fd => (int)Handle.DangerousGetHandle();

    /// <summary>Opens a namespace by path; throws <see cref="LinuxSyscallException"/> (ENOENT when it does not exist).</summary>
    public static NetworkNamespace Open(string path)
    {
        var fd = LinuxSyscallException.Check(Libc.open(path, Sys.O_RDONLY | Sys.O_CLOEXEC, 0), "open netns", path);
        return new NetworkNamespace(new SafeFileHandle(fd, ownsHandle: true), path);
    }

    /// <summary>The calling thread's current network namespace.</summary>
    public static NetworkNamespace Current() => Open("/proc/thread-self/ns/net");

    /// <summary>Runs <paramref name="work"/> synchronously on a fresh thread inside this namespace.</summary>
    public T Run<T>(Func<T> work)
    {
        T? result = default;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var original = Current();
                LinuxSyscallException.Check(Libc.setns(Fd, CloneNewNet), "setns", Path);
                try
                {
                    result = work();
                }
                finally
                {
                    // If restoring fails the thread still ends, and its namespace ends with it.
                    _ = Libc.setns(original.Fd, CloneNewNet);
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, maxStackSize: 256 * 1024)
        {
            IsBackground = true,
            Name = "berth-netns",
        };
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
        return result!;
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a fresh thread inside this namespace like <see cref="Run{T}"/>, without
    /// blocking the caller while it does.
    /// </summary>
    public Task<T> RunAsync<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                using var original = Current();
                LinuxSyscallException.Check(Libc.setns(Fd, CloneNewNet), "setns", Path);
                T result;
                try
                {
                    result = work();
                }
                finally
                {
                    _ = Libc.setns(original.Fd, CloneNewNet);
                }
                done.SetResult(result);
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        }, maxStackSize: 256 * 1024)
        {
            IsBackground = true,
            Name = "berth-netns",
        };
        thread.Start();
        return done.Task;
    }

    public void Dispose() => Handle.Dispose();
}
