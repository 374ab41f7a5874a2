using Berth.Testing;

namespace Berth.Engine.Tests;

/// <summary>
/// The default seccomp profile in real containers, driven by the docker CLI against berth daemon: the filter is
/// on (Seccomp: 2 in /proc/self/status), calls the profile leaves out fail with EPERM while ordinary commands
/// work, and --privileged / seccomp=unconfined / a profile file change that as they do with dockerd.
/// </summary>
[Collection(EngineCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class SeccompCliTests(EngineFixture f)
{
    private static readonly string[] Run = ["run", "--rm", "--network", "none"];

    private static string SeccompMode(Cli.Result r) =>
        r.Stdout.Split('\n').Single(l => l.StartsWith("Seccomp:", StringComparison.Ordinal)).Split('\t', ' ').Last();

    [Fact]
    public void Containers_run_under_the_default_profile()
    {
        var status = f.Run([.. Run, "busybox", "cat", "/proc/self/status"]).Ok();
        Assert.Equal("2", SeccompMode(status));

        // Ordinary work is allowed: files, processes, sockets.
        var work = f.Run([.. Run, "busybox", "sh", "-c", "mkdir /tmp/d && echo x > /tmp/d/f && cat /tmp/d/f && ls /proc/1 >/dev/null && nc -l -p 1 & sleep 0.1; echo ok"]).Ok();
        Assert.Contains("x\n", work.Stdout, StringComparison.Ordinal);
        Assert.Contains("ok\n", work.Stdout, StringComparison.Ordinal);

        // A new user namespace needs no capability, so only the profile stands in the way of unshare(CLONE_NEWUSER).
        var userns = f.Run([.. Run, "busybox", "unshare", "-U", "true"]);
        Assert.NotEqual(0, userns.ExitCode);
        Assert.Contains("Operation not permitted", userns.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Exec_processes_run_under_the_containers_profile()
    {
        var name = "scx-" + Guid.NewGuid().ToString("N")[..6];
        f.Run("run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "60").Ok();
        try
        {
            Assert.Equal("2", SeccompMode(f.Run("exec", name, "cat", "/proc/self/status").Ok()));
            var userns = f.Run("exec", name, "unshare", "-U", "true");
            Assert.NotEqual(0, userns.ExitCode);
            Assert.Contains("Operation not permitted", userns.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            f.Run("rm", "-f", name);
        }
    }

    [Fact]
    public void Unconfined_and_privileged_run_without_a_filter()
    {
        var unconfined = f.Run([.. Run, "--security-opt", "seccomp=unconfined", "busybox", "cat", "/proc/self/status"]).Ok();
        Assert.Equal("0", SeccompMode(unconfined));
        Assert.Equal(0, f.Run([.. Run, "--security-opt", "seccomp=unconfined", "busybox", "unshare", "-U", "true"]).ExitCode);

        var privileged = f.Run([.. Run, "--privileged", "busybox", "cat", "/proc/self/status"]).Ok();
        Assert.Equal("0", SeccompMode(privileged));

        // CAP_SYS_ADMIN opens unshare in the profile (as in Docker's).
        Assert.Equal(0, f.Run([.. Run, "--cap-add", "SYS_ADMIN", "busybox", "unshare", "-U", "true"]).ExitCode);
    }

    [Fact]
    public void A_profile_file_replaces_the_default_and_inspect_shows_the_option_as_given()
    {
        using var dir = new TempDirectory("seccomp");
        var profile = dir.Combine("no-mkdir.json");
        File.WriteAllText(profile, """
            {
              "defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [ { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 } ]
            }
            """);
        var name = "sc-" + Guid.NewGuid().ToString("N")[..6];
        var r = f.Run("run", "--name", name, "--network", "none", "--security-opt", "seccomp=" + profile, "busybox", "sh", "-c",
            "grep Seccomp: /proc/self/status; mkdir /tmp/x; unshare -U true && echo userns-ok");
        try
        {
            Assert.Contains("Seccomp:\t2", r.Stdout, StringComparison.Ordinal);
            Assert.Contains("Permission denied", r.Stderr, StringComparison.Ordinal); // errnoRet 13 = EACCES
            Assert.Contains("userns-ok", r.Stdout, StringComparison.Ordinal); // the default profile is not in force
            var opt = f.Run("inspect", "-f", "{{json .HostConfig.SecurityOpt}}", name).Ok().Stdout;
            Assert.Contains("seccomp=", opt, StringComparison.Ordinal);
            Assert.Contains("SCMP_ACT_ERRNO", opt, StringComparison.Ordinal);
        }
        finally
        {
            f.Run("rm", "-f", name);
        }

        var bad = dir.Combine("bad.json");
        File.WriteAllText(bad, "{ \"defaultAction\": ");
        var refused = f.Run([.. Run, "--security-opt", "seccomp=" + bad, "busybox", "true"]);
        Assert.NotEqual(0, refused.ExitCode);
    }

    [Fact]
    public void Docker_info_lists_the_builtin_seccomp_profile()
    {
        var info = f.Run("info", "--format", "{{json .SecurityOptions}}").Ok().Stdout;
        Assert.Contains("name=seccomp,profile=builtin", info, StringComparison.Ordinal);
        Assert.DoesNotContain("seccomp", f.Run("info", "--format", "{{json .Warnings}}").Ok().Stdout, StringComparison.Ordinal);
    }
}
