using System.Diagnostics;
using System.Runtime.InteropServices;
using Berth.Core;
using Berth.Linux.Seccomp;
using Berth.Testing;

namespace Berth.Linux.Tests.Seccomp;

/// <summary>
/// Filters loaded into the real kernel. A filter can never be removed, so none is loaded into a thread the test
/// host keeps: either a child process (the C loader execs the command under the filter) or a dedicated thread
/// that ends with the test (seccomp filters and no_new_privs belong to the thread and the children it starts).
/// </summary>
[Trait(Traits.Category, Traits.Privileged)]
public partial class SeccompLoadTests
{
    private static readonly SeccompProfile DenyMkdir = new(SeccompAction.Allow,
        [new SeccompRule(["mkdir", "mkdirat"], SeccompAction.Errno, 1)]);

    private static (int Code, string Output) RunUnder(SeccompProgram program, TempDirectory dir, string command, params string[] args)
    {
        var file = dir.Combine("filter.bpf");
        File.WriteAllBytes(file, program.ToBytes());
        var psi = new ProcessStartInfo(NativeHelpers.Loader) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(file);
        psi.ArgumentList.Add(((uint)program.Flags).ToString(System.Globalization.CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(command);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }

    [Fact]
    public void A_denied_mkdir_fails_with_EPERM_and_an_allowed_one_works()
    {
        Privileged.Require();
        using var dir = new TempDirectory("berth-seccomp-load");

        var denied = RunUnder(SeccompCompiler.Compile(DenyMkdir), dir, "mkdir", dir.Combine("denied"));
        Assert.NotEqual(0, denied.Code);
        Assert.Contains("Operation not permitted", denied.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir.Combine("denied")));

        var allowOnly = new SeccompProfile(SeccompAction.Allow, [new SeccompRule(["rmdir"], SeccompAction.Errno, 1)]);
        var allowed = RunUnder(SeccompCompiler.Compile(allowOnly), dir, "mkdir", dir.Combine("allowed"));
        Assert.True(allowed.Code == 0, allowed.Output);
        Assert.True(Directory.Exists(dir.Combine("allowed")));
    }

    [Fact]
    public void An_argument_condition_is_enforced_by_the_kernel()
    {
        Privileged.Require();
        using var dir = new TempDirectory("berth-seccomp-load");
        // mkdir/mkdirat denied only for mode 0700 (argument 1 of mkdir, 2 of mkdirat)
        var profile = new SeccompProfile(SeccompAction.Allow, [
            new SeccompRule(["mkdir"], SeccompAction.Errno, 13, [new SeccompCondition(1, SeccompOperator.Equal, Convert.ToUInt64("700", 8))]),
            new SeccompRule(["mkdirat"], SeccompAction.Errno, 13, [new SeccompCondition(2, SeccompOperator.Equal, Convert.ToUInt64("700", 8))])]);
        var program = SeccompCompiler.Compile(profile);

        var denied = RunUnder(program, dir, "mkdir", "-m", "700", dir.Combine("private"));
        Assert.NotEqual(0, denied.Code);
        Assert.Contains("Permission denied", denied.Output, StringComparison.Ordinal);

        var allowed = RunUnder(program, dir, "mkdir", "-m", "755", dir.Combine("public"));
        Assert.True(allowed.Code == 0, allowed.Output);
    }

    [Fact]
    public void The_docker_default_profile_runs_a_shell()
    {
        Privileged.Require();
        using var dir = new TempDirectory("berth-seccomp-load");
        var program = SeccompCompiler.Compile(DockerProfile.Load());
        var result = RunUnder(program, dir, "/bin/sh", "-c", "echo ok; ls / >/dev/null && cat /proc/self/status | grep '^Seccomp:'");
        Assert.True(result.Code == 0, result.Output);
        Assert.Contains("ok\n", result.Output, StringComparison.Ordinal);
        Assert.Contains("Seccomp:\t2", result.Output, StringComparison.Ordinal);

        // and it still denies what Docker denies: unshare(CLONE_NEWNS) through util-linux's unshare
        var unshare = RunUnder(program, dir, "unshare", "--mount", "true");
        Assert.NotEqual(0, unshare.Code);
        Assert.Contains("Operation not permitted", unshare.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Filter_flags_reach_the_kernel()
    {
        Privileged.Require();
        Assert.True(SeccompFilter.IsFlagSupported(SeccompFilterFlags.Log));
        Assert.True(SeccompFilter.IsFlagSupported(SeccompFilterFlags.SpecAllow));
        using var dir = new TempDirectory("berth-seccomp-load");
        var profile = new SeccompProfile(SeccompAction.Allow, [new SeccompRule(["mkdir", "mkdirat"], SeccompAction.Errno, 1)],
            flags: SeccompFilterFlags.Log | SeccompFilterFlags.SpecAllow);
        var result = RunUnder(SeccompCompiler.Compile(profile), dir, "mkdir", dir.Combine("x"));
        Assert.Contains("Operation not permitted", result.Output, StringComparison.Ordinal);
    }

    /// <summary>SeccompFilter.Load itself, on a thread of its own: that thread and its children are filtered, no other.</summary>
    [Fact]
    public void Load_filters_the_calling_thread_and_the_processes_it_starts()
    {
        Privileged.Require();
        using var dir = new TempDirectory("berth-seccomp-load");
        var program = SeccompCompiler.Compile(DenyMkdir);
        int errno = 0, childExit = -1;
        string status = "", childOutput = "";
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                SeccompFilter.Load(program);
                status = File.ReadAllText("/proc/thread-self/status");
                if (mkdir(dir.Combine("from-thread"), Convert.ToUInt32("755", 8)) != 0)
                {
                    errno = Marshal.GetLastPInvokeError();
                }
                var psi = new ProcessStartInfo("mkdir", dir.Combine("from-child")) { RedirectStandardError = true };
                using var child = Process.Start(psi)!;
                childOutput = child.StandardError.ReadToEnd();
                child.WaitForExit();
                childExit = child.ExitCode;
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        thread.Start();
        thread.Join();
        Assert.Null(failure);
        Assert.Contains("Seccomp:\t2", status, StringComparison.Ordinal);
        Assert.Equal(1, errno); // EPERM
        Assert.NotEqual(0, childExit);
        Assert.Contains("Operation not permitted", childOutput, StringComparison.Ordinal);

        // the test host's other threads are not filtered
        Directory.CreateDirectory(dir.Combine("from-host"));
        Assert.Contains("Seccomp:\t0", File.ReadAllText("/proc/thread-self/status"), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_refuses_a_program_the_kernel_rejects_and_installs_nothing()
    {
        Privileged.Require();
        Exception? failure = null;
        string status = "";
        var thread = new Thread(() =>
        {
            try
            {
                // a jump past the end: the kernel's checker says EINVAL
                SeccompFilter.Load([new SockFilter(Bpf.JMP | Bpf.JA, 0, 0, 5), new SockFilter(Bpf.RET | Bpf.K, 0, 0, Bpf.RetAllow)], SeccompFilterFlags.None);
            }
            catch (Exception ex)
            {
                failure = ex;
            }
            status = File.ReadAllText("/proc/thread-self/status");
        });
        thread.Start();
        thread.Join();
        var error = Assert.IsType<BerthException>(failure);
        Assert.Equal(ErrorCode.InvalidArgument, error.Code);
        Assert.Contains("EINVAL", error.Message, StringComparison.Ordinal);
        Assert.Contains("Seccomp:\t0", status, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_refuses_flags_it_cannot_honour_before_calling_the_kernel()
    {
        var ex = Assert.Throws<BerthException>(() => SeccompFilter.Load([new SockFilter(Bpf.RET | Bpf.K, 0, 0, Bpf.RetAllow)], (SeccompFilterFlags)8));
        Assert.Equal(ErrorCode.Unsupported, ex.Code);
        Assert.Throws<BerthException>(() => SeccompFilter.Load([], SeccompFilterFlags.None));
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkdir(string path, uint mode);
}
