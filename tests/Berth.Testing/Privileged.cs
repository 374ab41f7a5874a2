namespace Berth.Testing;

/// <summary>
/// Guards for privileged tests. They never skip silently: run as non-root, a privileged test fails with a
/// message saying how to filter it out (<c>--filter Category!=Privileged</c>).
/// </summary>
public static class Privileged
{
    public static bool IsRoot => Environment.UserName == "root" || geteuid() == 0;

    public static void Require()
    {
        if (!IsRoot)
        {
            throw new InvalidOperationException(
                "this test needs root (namespaces, cgroups, mounts); run as root or filter with --filter Category!=Privileged");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();
}
