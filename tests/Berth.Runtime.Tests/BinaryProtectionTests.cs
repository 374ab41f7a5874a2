using System.Runtime.InteropServices;
using Berth.Oci.Runtime;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>
/// CVE-2019-5736: a container process that holds /proc/PID/exe of the runtime's init must not be able to reopen it
/// for writing once the init has exec'd, which would overwrite the runtime binary on the host.
/// </summary>
[Trait(Traits.Category, Traits.Privileged)]
public partial class BinaryProtectionTests
{
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc")]
    private static partial int close(int fd);

    [Fact]
    public void RuntimeBinaryCannotBeOpenedForWritingThroughProcExe()
    {
        Privileged.Require();
        // A private copy: while any other process runs the binary, a write open fails with ETXTBSY anyway, which
        // would hide whether the read-only mount protects it.
        using var copyDir = new TempDirectory("berth-rt-copy");
        var copy = copyDir.Combine("berth-runtime");
        File.Copy(Repo.Executable("berth-runtime"), copy);
        File.SetUnixFileMode(copy, (UnixFileMode)0x1ed);
        using var rt = OciRuntime.BerthAt(copy);
        using var bundle = new Bundle(s => s.Process!.Args = ["sleep", "100"]);
        var id = Bundle.NewId();
        var pidFile = Path.Combine(bundle.Path, "pid");
        rt.Cmd("create", "--bundle", bundle.Path, "--pid-file", pidFile, id).Ok();
        var pid = File.ReadAllText(pidFile).Trim();
        // While init waits for start, its exe is the runtime binary: grab it as an attacker would (O_PATH).
        var exeFd = open($"/proc/{pid}/exe", 0x200000 /* O_PATH */);
        Assert.True(exeFd >= 0, "open O_PATH of the init's exe failed");
        try
        {
            var inode = (string path) => Cli.Run("/usr/bin/stat", ["-L", "-c", "%d:%i", path]).Ok().Stdout.Trim();
            Assert.Equal(inode(rt.Path), inode($"/proc/{Environment.ProcessId}/fd/{exeFd}"));
            rt.Cmd("start", id).Ok();
            LifecycleTests.WaitFor(() => File.ResolveLinkTarget($"/proc/{pid}/exe", false)?.FullName.EndsWith("busybox", StringComparison.Ordinal) == true);
            // The init has exec'd: the binary is no longer busy, so only the read-only mount stands in the way.
            var writable = open($"/proc/self/fd/{exeFd}", 1 /* O_WRONLY */);
            var errno = Marshal.GetLastPInvokeError();
            if (writable >= 0)
            {
                close(writable);
            }
            Assert.True(writable < 0, "the runtime binary could be opened for writing through /proc/PID/exe");
            Assert.Equal(30 /* EROFS */, errno);
        }
        finally
        {
            close(exeFd);
            rt.Cmd("delete", "--force", id);
        }
    }
}
