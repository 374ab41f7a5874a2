namespace Berth.Linux.Netlink;

/// <summary>
/// Network namespaces pinned by a bind mount on a file (what `ip netns add` does), so they outlive every process
/// in them: a container's namespace exists before its process starts (CNI ADD runs first) and after it exits
/// (CNI DEL runs last).
/// </summary>
public static class PersistentNetworkNamespace
{
    /// <summary>
    /// Creates a new network namespace pinned at <paramref name="path"/>, with its loopback up. The unshare happens
    /// on a fresh thread that ends right after, so no pooled thread of the CLR ever changes namespace.
    /// </summary>
    public static void Create(string path)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using (File.Create(path))
                {
                }
                Sys.Unshare(NamespaceFlags.Network);
                Sys.Mount("/proc/thread-self/ns/net", path, null, MountFlags.Bind, null);
                // The socket is created on this thread, so it acts in the new namespace.
                using var nl = RtNetlink.Open();
                if (nl.FindLink("lo") is { } lo)
                {
                    nl.SetUp(lo.Index, "lo");
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, maxStackSize: 256 * 1024)
        {
            IsBackground = true,
            Name = "berth-netns-create",
        };
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            Remove(path);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
    }

    /// <summary>Whether <paramref name="path"/> is a mounted namespace (not just the empty file left by a crash).</summary>
    public static bool IsMounted(string path) => MountInfo.IsMountPoint(path);

    /// <summary>Unmounts (lazily) and deletes the pin; the namespace goes when nothing else holds it. Idempotent.</summary>
    public static void Remove(string path)
    {
        // Each call detaches the topmost mount; EINVAL says nothing is mounted there any more (ENOENT: no pin at all).
        for (var i = 0; i < 64 && Sys.TryUnmount(path, Sys.MNT_DETACH) == 0; i++)
        {
        }
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
