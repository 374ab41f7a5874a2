using System.Text.Json;
using Berth.Core;
using Berth.Engine.Api;
using Berth.Engine.Containers;
using Berth.Oci.Runtime;
using Berth.Testing;

namespace Berth.Engine.Tests;

/// <summary>
/// Docker's default seccomp profile as Berth resolves it, against what Docker 28 hands runc for a container with
/// the default capabilities on amd64 (tests/Berth.Linux.Tests/Seccomp/docker-default.json), and the
/// capability, architecture and option rules around it. No root needed.
/// </summary>
public sealed class SeccompProfileTests
{
    private static readonly Version Kernel = new(6, 1);

    private static Seccomp Default(IEnumerable<string>? caps = null, string arch = "amd64") =>
        DefaultSeccompProfile.Resolve(DefaultSeccompProfile.Profile, [.. caps ?? SpecGenerator.DefaultCapabilities], arch, Kernel)!;

    private static bool Allows(Seccomp s, string name) =>
        s.Syscalls!.Any(r => r.Names.Contains(name) && r.Action == "SCMP_ACT_ALLOW" && r.Args is null);

    [Fact]
    public void Default_capabilities_on_amd64_give_exactly_what_docker_28_gives_runc()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repo.Root, "tests", "Berth.Linux.Tests", "Seccomp", "docker-default.json")));
        var docker = doc.RootElement;
        var ours = Default();
        Assert.Equal("SCMP_ACT_ERRNO", ours.DefaultAction);
        Assert.Equal(docker.GetProperty("defaultErrnoRet").GetUInt32(), ours.DefaultErrnoRet);
        Assert.Equal(docker.GetProperty("architectures").EnumerateArray().Select(a => a.GetString()), ours.Architectures!);
        // Rule order differs between Docker's JSON and its Go source; for these rules (no two conditional rules on
        // one call with different outcomes) it does not change what the filter does, so they compare as sets.
        static string Key(IEnumerable<string> names, string action, uint? errno, IEnumerable<(uint, ulong, ulong, string)> args) =>
            $"{string.Join(',', names)} {action} {errno} [{string.Join(';', args)}]";
        var expected = docker.GetProperty("syscalls").EnumerateArray().Select(r => Key(
            r.GetProperty("names").EnumerateArray().Select(n => n.GetString()!),
            r.GetProperty("action").GetString()!,
            r.TryGetProperty("errnoRet", out var e) ? e.GetUInt32() : null,
            r.TryGetProperty("args", out var a)
                ? a.EnumerateArray().Select(x => (x.GetProperty("index").GetUInt32(), x.GetProperty("value").GetUInt64(),
                    x.TryGetProperty("valueTwo", out var two) ? two.GetUInt64() : 0, x.GetProperty("op").GetString()!))
                : [])).Order(StringComparer.Ordinal).ToList();
        var actual = ours.Syscalls!.Select(r => Key(r.Names, r.Action, r.ErrnoRet,
            (r.Args ?? []).Select(x => (x.Index, x.Value, x.ValueTwo, x.Op)))).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Capabilities_open_the_calls_they_guard()
    {
        var plain = Default();
        Assert.False(Allows(plain, "unshare"));
        Assert.False(Allows(plain, "mount"));
        Assert.False(Allows(plain, "keyctl"));
        Assert.False(Allows(plain, "kcmp"));
        Assert.Contains(plain.Syscalls!, r => r.Names.SequenceEqual(["clone3"]) && r.ErrnoRet == 38);
        Assert.Contains(plain.Syscalls!, r => r.Names.SequenceEqual(["clone"]) && r.Args is [{ Op: "SCMP_CMP_MASKED_EQ", Value: 0x7E020000 }]);

        var admin = Default([.. SpecGenerator.DefaultCapabilities, "CAP_SYS_ADMIN"]);
        Assert.True(Allows(admin, "unshare"));
        Assert.True(Allows(admin, "mount"));
        Assert.True(Allows(admin, "clone"));
        Assert.True(Allows(admin, "clone3"));
        Assert.DoesNotContain(admin.Syscalls!, r => r.Action == "SCMP_ACT_ERRNO");
        Assert.DoesNotContain(admin.Syscalls!, r => r.Names.Contains("clone") && r.Args is not null);

        var ptrace = Default([.. SpecGenerator.DefaultCapabilities, "CAP_SYS_PTRACE"]);
        Assert.True(Allows(ptrace, "kcmp"));
        Assert.True(Allows(ptrace, "pidfd_getfd"));

        // CAP_SYS_CHROOT is a default capability: dropping it takes chroot away.
        Assert.True(Allows(plain, "chroot"));
        Assert.False(Allows(Default(SpecGenerator.DefaultCapabilities.Where(c => c != "CAP_SYS_CHROOT")), "chroot"));
    }

    [Fact]
    public void Architecture_and_kernel_pick_rules_like_docker()
    {
        var arm = Default(arch: "arm64");
        Assert.Equal(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"], arm.Architectures!);
        // Every archMap entry is reached from its Go name; an architecture with no entry gets none.
        Assert.Equal(["SCMP_ARCH_S390X", "SCMP_ARCH_S390"], Default(arch: "s390x").Architectures!);
        Assert.Equal(["SCMP_ARCH_RISCV64"], Default(arch: "riscv64").Architectures!);
        Assert.Null(Default(arch: "ppc64le").Architectures);
        Assert.Null(Default(arch: "mips64le").Architectures);
        // Without an architecture named, the host's is used (Berth runs on x86_64 and aarch64).
        var host = DefaultSeccompProfile.Resolve(DefaultSeccompProfile.Profile, SpecGenerator.DefaultCapabilities)!;
        var native = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.Arm64
            ? "SCMP_ARCH_AARCH64" : "SCMP_ARCH_X86_64";
        Assert.Equal(native, host.Architectures![0]);
        Assert.True(Allows(arm, "set_tls"));
        Assert.False(Allows(arm, "arch_prctl"));
        Assert.False(Allows(Default(), "set_tls"));
        Assert.True(Allows(Default(), "modify_ldt"));

        var old = DefaultSeccompProfile.Resolve(DefaultSeccompProfile.Profile, SpecGenerator.DefaultCapabilities, "amd64", new Version(4, 4))!;
        Assert.False(Allows(old, "ptrace")); // minKernel 4.8
        Assert.True(Allows(Default(), "ptrace"));
    }

    private static HostConfig Host(params string[] securityOpt) => new() { SecurityOpt = [.. securityOpt] };

    [Fact]
    public void Privileged_and_unconfined_run_without_seccomp_builtin_and_none_get_the_default()
    {
        var caps = SpecGenerator.DefaultCapabilities;
        Assert.Null(DefaultSeccompProfile.ForContainer(new HostConfig { Privileged = true }, caps));
        Assert.Null(DefaultSeccompProfile.ForContainer(Host("seccomp=unconfined"), caps));
        Assert.Null(DefaultSeccompProfile.ForContainer(Host("seccomp:unconfined"), caps));
        Assert.Equal("SCMP_ACT_ERRNO", DefaultSeccompProfile.ForContainer(Host(), caps)!.DefaultAction);
        Assert.Equal("SCMP_ACT_ERRNO", DefaultSeccompProfile.ForContainer(Host("seccomp=builtin", "no-new-privileges"), caps)!.DefaultAction);
    }

    [Fact]
    public void A_profile_in_dockers_format_is_resolved_with_its_filters()
    {
        const string json = """
        {
          "defaultAction": "SCMP_ACT_ALLOW",
          "archMap": [ { "architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"] },
                       { "architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"] } ],
          "syscalls": [
            { "name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13 },
            { "names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "comment": "x",
              "args": [ { "index": 2, "value": 448, "valueTwo": 0, "op": "SCMP_CMP_EQ" } ] },
            { "names": ["reboot"], "action": "SCMP_ACT_ERRNO", "excludes": { "caps": ["CAP_SYS_BOOT"] } },
            { "names": ["syslog"], "action": "SCMP_ACT_ERRNO", "includes": { "caps": ["CAP_SYSLOG"] } }
          ]
        }
        """;
        var s = DefaultSeccompProfile.Resolve(DefaultSeccompProfile.Parse(json), SpecGenerator.DefaultCapabilities, "amd64", Kernel)!;
        Assert.Equal("SCMP_ACT_ALLOW", s.DefaultAction);
        Assert.Equal(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], s.Architectures!);
        Assert.Equal(3, s.Syscalls!.Count);
        Assert.Equal(["mkdir"], s.Syscalls[0].Names);
        Assert.Equal(13u, s.Syscalls[0].ErrnoRet);
        Assert.Equal((2u, 448ul, "SCMP_CMP_EQ"), (s.Syscalls[1].Args![0].Index, s.Syscalls[1].Args![0].Value, s.Syscalls[1].Args![0].Op));
        Assert.Equal(["reboot"], s.Syscalls[2].Names);

        // The docker CLI sends the file's content as the option's value.
        var viaOption = DefaultSeccompProfile.ForContainer(Host("seccomp=" + json), SpecGenerator.DefaultCapabilities)!;
        Assert.Equal("SCMP_ACT_ALLOW", viaOption.DefaultAction);
    }

    [Fact]
    public void Bad_profiles_are_refused_with_the_reason()
    {
        var caps = SpecGenerator.DefaultCapabilities;
        var notJson = Assert.Throws<BerthException>(() => DefaultSeccompProfile.ForContainer(Host("seccomp={not json"), caps));
        Assert.Equal(ErrorCode.InvalidArgument, notJson.Code);
        Assert.StartsWith("Decoding seccomp profile failed", notJson.Message, StringComparison.Ordinal);

        var both = Assert.Throws<BerthException>(() => DefaultSeccompProfile.Resolve(DefaultSeccompProfile.Parse("""
            { "defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
              "archMap": [ { "architecture": "SCMP_ARCH_X86_64" } ],
              "syscalls": [ { "name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW" } ] }
            """), caps));
        Assert.Contains("both 'architectures' and 'archMap'", both.Message, StringComparison.Ordinal);
        Assert.Contains("use either 'name' or 'names'", both.Message, StringComparison.Ordinal);

        // Neither a default action nor rules: Docker reads that as no seccomp.
        Assert.Null(DefaultSeccompProfile.Resolve(DefaultSeccompProfile.Parse("{}"), caps));
    }

    [Fact]
    public void The_generated_spec_carries_the_profile_for_the_containers_capabilities()
    {
        using var dir = new TempDirectory("spec");
        ContainerRecord Record(HostConfig h) => new()
        {
            Id = new string('a', 64),
            Name = "/t",
            Path = "true",
            Config = new ContainerCreateRequest(),
            HostConfig = h,
        };
        var plain = SpecGenerator.Generate(Record(new HostConfig()), dir.Path, null, hostNetwork: false);
        Assert.False(Allows(plain.Linux!.Seccomp!, "unshare"));
        var admin = SpecGenerator.Generate(Record(new HostConfig { CapAdd = ["SYS_ADMIN"] }), dir.Path, null, hostNetwork: false);
        Assert.True(Allows(admin.Linux!.Seccomp!, "unshare"));
        Assert.Null(SpecGenerator.Generate(Record(new HostConfig { Privileged = true }), dir.Path, null, hostNetwork: false).Linux!.Seccomp);
        Assert.Null(SpecGenerator.Generate(Record(new HostConfig { SecurityOpt = ["seccomp=unconfined"] }), dir.Path, null, hostNetwork: false).Linux!.Seccomp);
    }
}
