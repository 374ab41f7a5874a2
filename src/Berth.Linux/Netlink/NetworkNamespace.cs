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
        var (thread, done) = Start(work);
        thread.Join();
        return done.GetAwaiter().GetResult();
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a fresh thread inside this namespace like <see cref="Run{T}"/>, without
    /// blocking the caller while it does.
    /// </summary>
    public Task<T> RunAsync<T>(Func<T> work) => Start(work).Done;

    /// <summary>The one thread body of <see cref="Run{T}"/> and <see cref="RunAsync{T}"/>: join, work, restore, report.</summary>
    private (Thread Thread, Task<T> Done) Start<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                using var original = Current();
                Sys.SetNs(Fd, NamespaceFlags.Network, Path);
                T result;
                try
                {
                    result = work();
                }
                finally
                {
                    // If restoring fails the thread still ends, and its namespace ends with it.
                    _ = Libc.setns(original.Fd, (int)NamespaceFlags.Network);
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
        return (thread, done.Task);
    }

    public void Dispose() => Handle.Dispose();
}
