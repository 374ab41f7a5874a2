using Berth.Linux.Seccomp;
using Berth.Testing;
using Xunit.Abstractions;

namespace Berth.Linux.Tests.Seccomp;

/// <summary>
/// The same profiles compiled by Berth and by libseccomp (as runc drives it), both programs run through the
/// interpreter on the same inputs: every answer must agree. The programs themselves differ (a binary search
/// against libseccomp's chain of jeq), only their meaning is compared.
/// </summary>
public class LibseccompDifferentialTests(ITestOutputHelper output)
{
    private static readonly SeccompCompileOptions Options = new() { NativeArchitecture = SeccompArchitecture.X86_64, EnosysForNewerSyscalls = false };

    private static readonly uint[] AuditArches = Enum.GetValues<SeccompArchitecture>().Select(SeccompSyscalls.AuditArch).Distinct().ToArray();

    /// <summary>
    /// libseccomp 2.5.4 sometimes jumps from an architecture check straight into call-number comparisons without
    /// loading the number (the accumulator still holds the architecture), so every call of that ABI gets the
    /// default action (LibseccompDivergenceTests shows one). Such programs are skipped, and counted.
    /// </summary>
    internal static bool LoadsCallNumberAfterEachArchCheck(SockFilter[] program)
    {
        for (var pc = 0; pc < program.Length; pc++)
        {
            var f = program[pc];
            if (f.Code == (Bpf.JMP | Bpf.JEQ | Bpf.K) && AuditArches.Contains(f.K))
            {
                var target = program[pc + 1 + f.Jt];
                if (target.Code != (Bpf.RET | Bpf.K) && target != new SockFilter(Bpf.LD | Bpf.W | Bpf.ABS, 0, 0, Bpf.OffsetNr))
                {
                    return false;
                }
            }
        }
        return true;
    }

    private static SockFilter[][] ExportWithLibseccomp(IReadOnlyList<SeccompProfile> profiles, TempDirectory dir, bool optimize = false)
    {
        var input = string.Concat(profiles.Select((p, i) => NativeHelpers.Describe(p, dir.Combine(i + ".bpf"), optimize)));
        var (code, text) = NativeHelpers.Run(NativeHelpers.Exporter, "", input);
        Assert.True(code == 0, "libseccomp exporter failed: " + text);
        return profiles.Select((_, i) => SeccompProgram.FromBytes(File.ReadAllBytes(dir.Combine(i + ".bpf")))).ToArray();
    }

    [Theory]
    [InlineData(11, false)]
    [InlineData(12, true)]
    [InlineData(13, false)]
    public void Random_profiles_mean_the_same_as_under_libseccomp(int seed, bool optimize)
    {
        var random = new Random(seed);
        var cases = Enumerable.Range(0, 150).Select(_ => RandomProfiles.Generate(random, overlapping: false)).ToArray();
        using var dir = new TempDirectory("berth-seccomp-diff");
        var theirs = ExportWithLibseccomp(cases.Select(c => c.Profile).ToArray(), dir, optimize);
        var compared = 0;
        var ourLength = 0;
        var theirLength = 0;
        var skipped = 0;
        for (var i = 0; i < cases.Length; i++)
        {
            if (!LoadsCallNumberAfterEachArchCheck(theirs[i]))
            {
                skipped++;
                continue;
            }
            var ours = SeccompCompiler.Compile(cases[i].Profile, Options).Instructions;
            BpfInterpreter.Validate(ours);
            BpfInterpreter.Validate(theirs[i]);
            ourLength += ours.Length;
            theirLength += theirs[i].Length;
            foreach (var data in RandomProfiles.Inputs(random, cases[i].Profile, cases[i].Names, 400))
            {
                var want = BpfInterpreter.Eval(theirs[i], data);
                var got = BpfInterpreter.Eval(ours, data);
                Assert.True(want == got,
                    $"profile {i}, {data}: Berth 0x{got:x}, libseccomp 0x{want:x}\n{NativeHelpers.Describe(cases[i].Profile, "-")}");
                compared++;
            }
        }
        output.WriteLine($"{compared} inputs over {cases.Length - skipped} profiles agree ({skipped} skipped: libseccomp left out a load); instructions: Berth {ourLength}, libseccomp {theirLength}");
        Assert.InRange(skipped, 0, cases.Length / 5);
    }

    /// <summary>Rules on socket and SysV IPC calls also cover i386's socketcall/ipc multiplexers, as in libseccomp.</summary>
    [Fact]
    public void Socket_and_ipc_rules_cover_the_i386_multiplexers_as_under_libseccomp()
    {
        var random = new Random(21);
        var names = SeccompOracle.Multiplexed.Keys.ToArray();
        var actions = new[] { SeccompAction.Allow, SeccompAction.Errno, SeccompAction.KillProcess, SeccompAction.Trap, SeccompAction.Log };
        var profiles = Enumerable.Range(0, 60).Select(_ =>
        {
            var rules = names.OrderBy(_ => random.Next()).Take(random.Next(1, 12))
                .Select(n => new SeccompRule([n], actions[random.Next(actions.Length)], (uint)random.Next(1, 5))).ToList();
            if (random.Next(3) == 0)
            {
                rules.Insert(random.Next(rules.Count + 1), new SeccompRule([random.Next(2) == 0 ? "socketcall" : "ipc"], actions[random.Next(actions.Length)]));
            }
            return new SeccompProfile(actions[random.Next(actions.Length)], rules, 7,
                [SeccompArchitecture.X86_64, SeccompArchitecture.X86, SeccompArchitecture.X32]);
        }).ToArray();
        using var dir = new TempDirectory("berth-seccomp-diff");
        var theirs = ExportWithLibseccomp(profiles, dir);
        var nrs = names.Concat(["socketcall", "ipc"]).Select(n => SeccompSyscalls.Resolve(n, SeccompArchitecture.X86)).OfType<uint>().ToArray();
        var skipped = 0;
        for (var i = 0; i < profiles.Length; i++)
        {
            if (!LoadsCallNumberAfterEachArchCheck(theirs[i]))
            {
                skipped++;
                continue;
            }
            var ours = SeccompCompiler.Compile(profiles[i], Options).Instructions;
            foreach (var nr in nrs)
            {
                for (ulong a0 = 0; a0 <= 25; a0++)
                {
                    var data = new SeccompData(SeccompCompilerTests.I386, nr, [a0, 1, 2, 3, 4, 5]);
                    var want = BpfInterpreter.Eval(theirs[i], data);
                    Assert.True(want == BpfInterpreter.Eval(ours, data), $"profile {i}, {data}: Berth 0x{BpfInterpreter.Eval(ours, data):x}, libseccomp 0x{want:x}\n{NativeHelpers.Describe(profiles[i], "-")}");
                    Assert.Equal(SeccompOracle.Eval(profiles[i], SeccompArchitecture.X86_64, false, data), want);
                }
            }
        }
        output.WriteLine($"{profiles.Length - skipped} socket/ipc profiles agree ({skipped} skipped: libseccomp left out a load)");
        Assert.InRange(skipped, 0, profiles.Length / 3);
    }

    [Fact]
    public void Edge_values_of_every_operator_mean_the_same_as_under_libseccomp()
    {
        var profiles = new List<SeccompProfile>();
        foreach (var op in Enum.GetValues<SeccompOperator>())
        {
            foreach (var value in SeccompCompilerTests.Edges)
            {
                var two = op == SeccompOperator.MaskedEqual ? value & 0x0000ffffffff0000 : 0;
                profiles.Add(new SeccompProfile(SeccompAction.Errno,
                    [new SeccompRule(["write"], SeccompAction.Allow, conditions: [new SeccompCondition(2, op, value, two)])],
                    architectures: [SeccompArchitecture.X86_64, SeccompArchitecture.X86, SeccompArchitecture.X32, SeccompArchitecture.Aarch64]));
            }
        }
        using var dir = new TempDirectory("berth-seccomp-diff");
        var theirs = ExportWithLibseccomp(profiles, dir);
        var archs = new[] { SeccompArchitecture.X86_64, SeccompArchitecture.X86, SeccompArchitecture.X32, SeccompArchitecture.Aarch64 };
        var args = SeccompCompilerTests.Edges.SelectMany(e => new[] { e - 1, e, e + 1 }).Distinct().ToArray();
        for (var i = 0; i < profiles.Count; i++)
        {
            var ours = SeccompCompiler.Compile(profiles[i], Options).Instructions;
            foreach (var arch in archs)
            {
                var nr = SeccompSyscalls.Resolve("write", arch)!.Value;
                foreach (var arg in args)
                {
                    var data = new SeccompData(SeccompSyscalls.AuditArch(arch), nr, [0, 0, arg, 0, 0, 0]);
                    Assert.Equal(BpfInterpreter.Eval(theirs[i], data), BpfInterpreter.Eval(ours, data));
                }
            }
        }
    }

    [Fact]
    public void The_docker_default_profile_means_the_same_as_under_libseccomp()
    {
        var profile = DockerProfile.Load();
        using var dir = new TempDirectory("berth-seccomp-diff");
        var theirs = ExportWithLibseccomp([profile], dir)[0];
        var theirsOptimized = ExportWithLibseccomp([profile], dir, optimize: true)[0];
        var ours = SeccompCompiler.Compile(profile, Options).Instructions;
        var random = new Random(5);
        var names = DockerProfile.Names(profile).Concat(["mount", "unshare", "setns", "bpf", "ptrace", "kexec_load", "no_such_call"]).ToArray();
        var compared = 0;
        foreach (var data in RandomProfiles.Inputs(random, profile, names, 20000))
        {
            var want = BpfInterpreter.Eval(theirs, data);
            Assert.True(want == BpfInterpreter.Eval(ours, data), $"{data}: Berth 0x{BpfInterpreter.Eval(ours, data):x}, libseccomp 0x{want:x}");
            Assert.Equal(want, BpfInterpreter.Eval(theirsOptimized, data));
            compared++;
        }
        output.WriteLine($"docker profile: {compared} inputs agree; instructions: Berth {ours.Length}, libseccomp {theirs.Length} (binary tree: {theirsOptimized.Length})");
    }
}

/// <summary>
/// Profiles that libseccomp 2.5.4 (Debian 12, what runc and crun link here) compiles wrongly, checked on this
/// kernel by hand (docs/design/seccomp.md). Berth must give the meaning the profile states; what libseccomp
/// returns is only printed, so that a fixed libseccomp does not fail the test.
/// </summary>
public class LibseccompDivergenceTests(ITestOutputHelper output)
{
    public static TheoryData<string, SeccompProfile, SeccompData> Cases => new()
    {
        {
            // two conditional rules on one call comparing different arguments: the OR of the rules
            "OR of rules with different arguments",
            new SeccompProfile(SeccompAction.Errno, [
                new SeccompRule(["getpriority"], SeccompAction.Allow, conditions: [new SeccompCondition(0, SeccompOperator.GreaterThan, 2)]),
                new SeccompRule(["getpriority"], SeccompAction.Allow, conditions: [
                    new SeccompCondition(3, SeccompOperator.GreaterThan, 1), new SeccompCondition(0, SeccompOperator.LessOrEqual, 13205255961980272701)])],
                5),
            new SeccompData(SeccompCompilerTests.X86_64, 140, [0x200000002, 0, 0, 0, 0, 0])
        },
        {
            // the second architecture's section compares the call number without loading it
            "second architecture section",
            new SeccompProfile(SeccompAction.KillProcess, [
                new SeccompRule(["kill"], SeccompAction.Trap, conditions: [new SeccompCondition(0, SeccompOperator.GreaterOrEqual, 0x100000000)]),
                new SeccompRule(["ugetrlimit"], SeccompAction.Trap, conditions: [new SeccompCondition(0, SeccompOperator.Equal, 0)])],
                architectures: [SeccompArchitecture.X86_64, SeccompArchitecture.Aarch64]),
            new SeccompData(SeccompCompilerTests.Aarch64, 129, [ulong.MaxValue, 0, 0, 0, 0, 0])
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Berth_gives_the_meaning_the_profile_states(string what, SeccompProfile profile, SeccompData data)
    {
        var options = new SeccompCompileOptions { NativeArchitecture = SeccompArchitecture.X86_64, EnosysForNewerSyscalls = false };
        var ours = BpfInterpreter.Eval(SeccompCompiler.Compile(profile, options).Instructions, data);
        var meaning = SeccompOracle.Eval(profile, SeccompArchitecture.X86_64, false, data);
        Assert.Equal(meaning, ours);

        using var dir = new TempDirectory("berth-seccomp-diff");
        var input = NativeHelpers.Describe(profile, dir.Combine("p.bpf"));
        var (code, text) = NativeHelpers.Run(NativeHelpers.Exporter, "", input);
        Assert.True(code == 0, text);
        var program = SeccompProgram.FromBytes(File.ReadAllBytes(dir.Combine("p.bpf")));
        var theirs = BpfInterpreter.Eval(program, data);
        output.WriteLine($"{what}: {data}: profile means 0x{meaning:x}, Berth 0x{ours:x}, libseccomp 0x{theirs:x}" +
            (LibseccompDifferentialTests.LoadsCallNumberAfterEachArchCheck(program) ? "" : " (libseccomp's program skips loading the call number)"));
    }
}
