using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Berth.Testing;

namespace Berth.Linux.Tests;

/// <summary>
/// <see cref="Spawn.TryStartInCgroup"/> with the real berth-spawn.c (which berth-runtime links statically), built here
/// as a shared library with cc and bound to this JIT-hosted process's Berth.Linux; children are placed into a real
/// cgroup2 cgroup made for the test.
/// </summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class SpawnIntoCgroupTests : IDisposable
{
    private static readonly Lazy<bool> Bound = new(BindLibrary);
    private readonly string cgroup;
    private readonly int cgroupFd;

    public SpawnIntoCgroupTests()
    {
        Privileged.Require();
        Assert.True(Bound.Value);
        cgroup = Path.Combine(OwnUnifiedDirectory(), "berth-spawn-test-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(cgroup);
        cgroupFd = Sys.Open(cgroup, Sys.O_PATH | Sys.O_DIRECTORY);
    }

    public void Dispose()
    {
        Sys.Close(cgroupFd);
        Directory.Delete(cgroup);
    }

    [Fact]
    public void The_child_is_born_in_the_cgroup_with_its_signals_as_asked()
    {
        foreach (var reset in new[] { true, false })
        {
            var pid = Spawn.TryStartInCgroup("/bin/sleep", ["sleep", "30"], [], cgroupFd, resetSignals: reset);
            Assert.NotNull(pid);
            try
            {
                var unifiedLine = File.ReadAllLines($"/proc/{pid}/cgroup").Single(l => l.StartsWith("0::", StringComparison.Ordinal));
                Assert.EndsWith("/" + Path.GetFileName(cgroup), unifiedLine, StringComparison.Ordinal);
                Assert.Contains(pid.Value.ToString(CultureInfo.InvariantCulture), File.ReadAllText(Path.Combine(cgroup, "cgroup.procs")), StringComparison.Ordinal);
                // Born elsewhere in no other way: the v1 hierarchies are the spawning thread's (this test's own).
                var status = File.ReadAllLines($"/proc/{pid}/status").ToDictionary(l => l.Split(':')[0], l => l.Split(':', 2)[1].Trim());
                Assert.Equal("0000000000000000", status["SigBlk"]);
                // .NET ignores SIGPIPE: kept as posix_spawn keeps it, unless the child was asked for default actions.
                var ignored = ulong.Parse(status["SigIgn"], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                Assert.Equal(!reset, (ignored & (1UL << (13 - 1)) /* SIGPIPE */) != 0);
            }
            finally
            {
                Sys.Kill(pid.Value, Signals.SIGKILL);
                Sys.WaitPid(pid.Value, noHang: false, out _);
            }
        }
    }

    [Fact]
    public void A_program_that_cannot_be_executed_is_an_error_naming_it_and_leaves_no_child()
    {
        var e = Assert.Throws<LinuxSyscallException>(() => Spawn.TryStartInCgroup("/nonexistent/program", ["program"], [], cgroupFd, resetSignals: true));
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Contains("/nonexistent/program", e.Message, StringComparison.Ordinal);
        Assert.Equal("", File.ReadAllText(Path.Combine(cgroup, "cgroup.procs")));
    }

    [Fact]
    public void A_descriptor_that_is_no_cgroup_starts_nothing_and_says_so_with_null()
    {
        var file = Sys.Open("/dev/null", Sys.O_RDONLY);
        try
        {
            Assert.Null(Spawn.TryStartInCgroup("/bin/true", ["true"], [], file, resetSignals: true));
        }
        finally
        {
            Sys.Close(file);
        }
        // Refused for this call only: the next one with a real cgroup still works.
        Assert.True(Spawn.CanStartInCgroup);
        var pid = Spawn.TryStartInCgroup("/bin/true", ["true"], [], cgroupFd, resetSignals: true);
        Assert.NotNull(pid);
        Sys.WaitPid(pid.Value, noHang: false, out _);
    }

    /// <summary>This process's own cgroup in the cgroup2 hierarchy (the unified tree of a hybrid host, or the only one).</summary>
    private static string OwnUnifiedDirectory()
    {
        var own = File.ReadAllLines("/proc/self/cgroup").Single(l => l.StartsWith("0::", StringComparison.Ordinal))[3..];
        var mount = File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(" - ")).First(p => p[1].StartsWith("cgroup2 ", StringComparison.Ordinal))[0].Split(' ')[4];
        return MountInfo.Unescape(mount) + own.TrimEnd('/');
    }

    private static bool BindLibrary()
    {
        var dir = Directory.CreateTempSubdirectory("berth-spawn-lib-").FullName;
        var library = Path.Combine(dir, "libberth-spawn.so");
        var source = Path.Combine(Repo.Root, "src/Berth.Linux/native/berth-spawn.c");
        using (var cc = Process.Start(new ProcessStartInfo("cc", $"-shared -fPIC -O2 -Wall -Wextra -Werror -o {library} {source}") { RedirectStandardError = true })!)
        {
            var errors = cc.StandardError.ReadToEnd();
            cc.WaitForExit();
            Assert.True(cc.ExitCode == 0, "cc berth-spawn.c failed (deps/userns.apt: gcc, libc6-dev): " + errors);
        }
        var handle = NativeLibrary.Load(library);
        NativeLibrary.SetDllImportResolver(typeof(Spawn).Assembly, (name, _, _) => name == "libberth-spawn" ? handle : IntPtr.Zero);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(dir, recursive: true);
        return true;
    }
}
