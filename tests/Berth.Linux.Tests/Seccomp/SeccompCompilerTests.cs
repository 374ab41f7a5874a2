using Berth.Core;
using Berth.Linux.Seccomp;

namespace Berth.Linux.Tests.Seccomp;

public class SeccompCompilerTests
{
    internal const uint X86_64 = 0xC000003E, I386 = 0x40000003, Aarch64 = 0xC00000B7, Arm = 0x40000028;
    internal const uint Allow = 0x7fff0000, KillThread = 0, KillProcess = 0x80000000, Trap = 0x00030000, Log = 0x7ffc0000;
    internal const uint Eperm = 0x00050001;
    internal const uint Enosys = 0x00050000 | 38;

    // mkdir: x86_64 83, i386 39, x32 0x40000053; aarch64 has only mkdirat (34)
    private const uint Mkdir = 83, MkdirI386 = 39, MkdirX32 = 0x40000053;
    private const uint Read = 0, Write = 1;

    internal static readonly ulong[] Edges =
    [
        0, 1, 2, 0x7f, 0xff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x100000000, 0x100000001, 0x1ffffffff,
        0x7fffffffffffffff, 0x8000000000000000, 0x8000000000000001, 0xffffffff00000000, 0xfffffffffffffffe, ulong.MaxValue,
    ];

    internal static SeccompProgram Compile(SeccompProfile profile, bool enosys = false, SeccompArchitecture native = SeccompArchitecture.X86_64)
    {
        var program = SeccompCompiler.Compile(profile, new SeccompCompileOptions { NativeArchitecture = native, EnosysForNewerSyscalls = enosys });
        BpfInterpreter.Validate(program.Instructions);
        return program;
    }

    private static uint Run(SeccompProgram program, uint arch, uint nr, params ulong[] args)
    {
        var full = new ulong[6];
        args.CopyTo(full, 0);
        return BpfInterpreter.Eval(program.Instructions, new SeccompData(arch, nr, full));
    }

    private static SeccompProfile Profile(SeccompAction defaultAction, params SeccompRule[] rules) =>
        new(defaultAction, rules, architectures: [SeccompArchitecture.X86_64]);

    [Theory]
    [InlineData(SeccompAction.KillThread, null, KillThread)]
    [InlineData(SeccompAction.KillProcess, null, KillProcess)]
    [InlineData(SeccompAction.Trap, null, Trap)]
    [InlineData(SeccompAction.Errno, null, Eperm)]
    [InlineData(SeccompAction.Errno, 13u, 0x0005000du)]
    [InlineData(SeccompAction.Errno, 0u, 0x00050000u)]
    [InlineData(SeccompAction.Trace, null, 0x7ff00001u)]
    [InlineData(SeccompAction.Trace, 42u, 0x7ff0002au)]
    [InlineData(SeccompAction.Log, null, Log)]
    public void Each_action_returns_the_kernel_value(SeccompAction action, uint? errno, uint expected)
    {
        var program = Compile(Profile(SeccompAction.Allow, new SeccompRule(["mkdir"], action, errno)));
        Assert.Equal(expected, Run(program, X86_64, Mkdir));
        Assert.Equal(Allow, Run(program, X86_64, Read));
    }

    [Theory]
    [InlineData(SeccompAction.Errno, null, Eperm)]
    [InlineData(SeccompAction.Errno, 38u, Enosys)]
    [InlineData(SeccompAction.KillProcess, null, KillProcess)]
    [InlineData(SeccompAction.Trap, null, Trap)]
    [InlineData(SeccompAction.Log, null, Log)]
    public void The_default_action_covers_every_other_call(SeccompAction action, uint? errno, uint expected)
    {
        var program = Compile(new SeccompProfile(action, [new SeccompRule(["read", "write"], SeccompAction.Allow)], errno));
        Assert.Equal(Allow, Run(program, X86_64, Read));
        Assert.Equal(Allow, Run(program, X86_64, Write));
        foreach (var nr in new uint[] { 2, 3, Mkdir, 334, 335, 449, 1000, 0x3fffffff })
        {
            Assert.Equal(expected, Run(program, X86_64, nr));
        }
    }

    public static TheoryData<SeccompOperator> Operators => new()
    {
        SeccompOperator.Equal, SeccompOperator.NotEqual, SeccompOperator.LessThan, SeccompOperator.LessOrEqual,
        SeccompOperator.GreaterThan, SeccompOperator.GreaterOrEqual, SeccompOperator.MaskedEqual,
    };

    /// <summary>Every operator against every edge value and its neighbours, on a 64-bit ABI and on i386 (low word).</summary>
    [Theory]
    [MemberData(nameof(Operators))]
    public void Operators_compare_unsigned_64_bit_values_across_both_words(SeccompOperator op)
    {
        var failures = new List<string>();
        var args = Edges.SelectMany(e => new[] { e - 1, e, e + 1 }).Distinct().ToArray();
        foreach (var value in Edges)
        {
            foreach (var two in op == SeccompOperator.MaskedEqual ? new ulong[] { 0, value, value & 0xffff0000ffff0000, 0x12 } : [0UL])
            {
                foreach (var index in new[] { 0, 3, 5 })
                {
                    var cond = new SeccompCondition(index, op, value, two);
                    var profile = new SeccompProfile(SeccompAction.Errno, [new SeccompRule(["write"], SeccompAction.Allow, conditions: [cond])],
                        architectures: [SeccompArchitecture.X86]);
                    var program = Compile(profile);
                    foreach (var arg in args)
                    {
                        var full = new ulong[6];
                        full[index] = arg;
                        full[(index + 1) % 6] = ~arg; // other arguments must not matter
                        var got64 = BpfInterpreter.Eval(program.Instructions, new SeccompData(X86_64, Write, full));
                        var want64 = SeccompOracle.Holds(cond, arg, wide: true) ? Allow : Eperm;
                        if (got64 != want64)
                        {
                            failures.Add($"x86_64 {op} arg{index} value 0x{value:x} two 0x{two:x} arg 0x{arg:x}: got 0x{got64:x} want 0x{want64:x}");
                        }
                        var got32 = BpfInterpreter.Eval(program.Instructions, new SeccompData(I386, 4, full));
                        var want32 = SeccompOracle.Holds(cond, arg, wide: false) ? Allow : Eperm;
                        if (got32 != want32)
                        {
                            failures.Add($"i386 {op} arg{index} value 0x{value:x} two 0x{two:x} arg 0x{arg:x}: got 0x{got32:x} want 0x{want32:x}");
                        }
                    }
                }
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    [Fact]
    public void Masked_equal_uses_value_as_the_mask_and_valueTwo_as_the_datum()
    {
        // Docker's clone rule: no namespace flags (CLONE_NEW* = 0x7E020000) allowed
        var clone = new SeccompRule(["clone"], SeccompAction.Allow, conditions: [new SeccompCondition(0, SeccompOperator.MaskedEqual, 0x7E020000, 0)]);
        var program = Compile(Profile(SeccompAction.Errno, clone));
        Assert.Equal(Allow, Run(program, X86_64, 56, 0x01200011));             // fork-like flags
        Assert.Equal(Eperm, Run(program, X86_64, 56, 0x01200011 | 0x20000000));  // CLONE_NEWUSER
        Assert.Equal(Allow, Run(program, X86_64, 56, 0xffffffff00000000));      // high word outside the mask

        // libseccomp (so runc) compares with datum & mask: datum bits outside the mask are ignored
        var outside = Compile(Profile(SeccompAction.Errno, new SeccompRule(["write"], SeccompAction.Allow,
            conditions: [new SeccompCondition(1, SeccompOperator.MaskedEqual, 0xf0, 0x1f)])));
        Assert.Equal(Allow, Run(outside, X86_64, Write, 0, 0x11f));
        Assert.Equal(Allow, Run(outside, X86_64, Write, 0, 0x10));
        Assert.Equal(Eperm, Run(outside, X86_64, Write, 0, 0x20));
        Assert.Equal(Eperm, Run(outside, X86_64, Write, 0, 0x0f));
    }

    [Fact]
    public void Conditions_of_one_rule_all_have_to_hold()
    {
        var rule = new SeccompRule(["write"], SeccompAction.Errno, 5, [
            new SeccompCondition(0, SeccompOperator.Equal, 2),
            new SeccompCondition(2, SeccompOperator.GreaterThan, 0x100000000),
            new SeccompCondition(5, SeccompOperator.MaskedEqual, 0xff, 0x12)]);
        var program = Compile(Profile(SeccompAction.Allow, rule));
        Assert.Equal(0x00050005u, Run(program, X86_64, Write, 2, 0, 0x100000001, 0, 0, 0x3312));
        Assert.Equal(Allow, Run(program, X86_64, Write, 3, 0, 0x100000001, 0, 0, 0x3312));
        Assert.Equal(Allow, Run(program, X86_64, Write, 2, 0, 0x100000000, 0, 0, 0x3312));
        Assert.Equal(Allow, Run(program, X86_64, Write, 2, 0, 0x100000001, 0, 0, 0x3313));
    }

    [Fact]
    public void Rules_for_one_call_are_tried_in_order_and_the_first_match_decides()
    {
        var program = Compile(Profile(SeccompAction.Errno,
            new SeccompRule(["personality"], SeccompAction.Allow, conditions: [new SeccompCondition(0, SeccompOperator.Equal, 0)]),
            new SeccompRule(["personality"], SeccompAction.Allow, conditions: [new SeccompCondition(0, SeccompOperator.Equal, 8)]),
            new SeccompRule(["personality"], SeccompAction.Trap, conditions: [new SeccompCondition(0, SeccompOperator.GreaterOrEqual, 8)]),
            new SeccompRule(["personality"], SeccompAction.Allow, conditions: [new SeccompCondition(0, SeccompOperator.Equal, 0xffffffff)])));
        const uint Personality = 135;
        Assert.Equal(Allow, Run(program, X86_64, Personality, 0));
        Assert.Equal(Allow, Run(program, X86_64, Personality, 8));
        Assert.Equal(Trap, Run(program, X86_64, Personality, 9));
        Assert.Equal(Trap, Run(program, X86_64, Personality, 0xffffffff)); // the GE rule comes first
        Assert.Equal(Eperm, Run(program, X86_64, Personality, 4));
    }

    [Fact]
    public void The_first_unconditional_rule_wins_as_in_libseccomp()
    {
        var program = Compile(Profile(SeccompAction.Errno,
            new SeccompRule(["mkdir"], SeccompAction.Errno, 5, [new SeccompCondition(0, SeccompOperator.Equal, 7)]),
            new SeccompRule(["mkdir"], SeccompAction.Allow),
            new SeccompRule(["mkdir"], SeccompAction.Errno, 6)));
        Assert.Equal(Allow, Run(program, X86_64, Mkdir, 7));
        Assert.Equal(Allow, Run(program, X86_64, Mkdir, 8));
    }

    [Fact]
    public void A_rule_whose_only_conditions_have_a_zero_mask_counts_as_unconditional_as_in_libseccomp()
    {
        // on i386 the mask 0xffffffff00000000 truncates to 0: the TRAP rule becomes unconditional there and, being
        // first, wins; on x86_64 it stays conditional and the unconditional LOG wins
        var profile = new SeccompProfile(SeccompAction.KillProcess, [
            new SeccompRule(["arch_prctl", "read"], SeccompAction.Trap, conditions: [new SeccompCondition(0, SeccompOperator.MaskedEqual, 0xffffffff00000000, 5)]),
            new SeccompRule(["arch_prctl", "read"], SeccompAction.Log)], architectures: [SeccompArchitecture.X86]);
        var program = Compile(profile);
        Assert.Equal(Log, Run(program, X86_64, 158, 0xffffffff00000000));
        Assert.Equal(Trap, Run(program, I386, 384, 0));
        Assert.Equal(Trap, Run(program, I386, 3, 12345));
    }

    [Fact]
    public void A_rule_with_the_default_action_is_dropped_as_runc_does()
    {
        // runc skips the first rule (libseccomp refuses it), so the unconditional ALLOW decides
        var program = Compile(Profile(SeccompAction.Errno,
            new SeccompRule(["mkdir"], SeccompAction.Errno, conditions: [new SeccompCondition(0, SeccompOperator.Equal, 7)]),
            new SeccompRule(["mkdir"], SeccompAction.Allow)));
        Assert.Equal(Allow, Run(program, X86_64, Mkdir, 7));
    }

    [Fact]
    public void Repeated_argument_index_turns_into_separate_rules_as_runc_does()
    {
        // runc: {a0 >= 10, a0 <= 20} on one rule becomes two rules, so a0 = 5 (<= 20) matches
        var program = Compile(Profile(SeccompAction.Errno, new SeccompRule(["write"], SeccompAction.Allow, conditions: [
            new SeccompCondition(0, SeccompOperator.GreaterOrEqual, 10), new SeccompCondition(0, SeccompOperator.LessOrEqual, 20)])));
        Assert.Equal(Allow, Run(program, X86_64, Write, 5));
        Assert.Equal(Allow, Run(program, X86_64, Write, 15));
        Assert.Equal(Allow, Run(program, X86_64, Write, 25));
    }

    [Fact]
    public void Architectures_get_their_own_numbers_and_unknown_ones_are_killed()
    {
        var profile = new SeccompProfile(SeccompAction.Errno, [new SeccompRule(["mkdir", "mkdirat"], SeccompAction.Allow)],
            architectures: [SeccompArchitecture.X86_64, SeccompArchitecture.X86, SeccompArchitecture.X32, SeccompArchitecture.Aarch64]);
        var program = Compile(profile);
        Assert.Equal(Allow, Run(program, X86_64, Mkdir));
        Assert.Equal(Allow, Run(program, I386, MkdirI386));
        Assert.Equal(Allow, Run(program, X86_64, MkdirX32));
        Assert.Equal(Allow, Run(program, Aarch64, 34));          // mkdirat on aarch64
        Assert.Equal(Eperm, Run(program, Aarch64, Mkdir));        // 83 is fsync there
        Assert.Equal(Eperm, Run(program, I386, Mkdir));
        Assert.Equal(KillThread, Run(program, Arm, MkdirI386));  // ARM not in the filter
        Assert.Equal(KillThread, Run(program, 0x12345678, 0));
    }

    [Fact]
    public void X32_calls_in_an_x86_64_only_filter_get_the_bad_architecture_action()
    {
        var program = Compile(Profile(SeccompAction.Allow, new SeccompRule(["mkdir"], SeccompAction.Errno)));
        Assert.Equal(Eperm, Run(program, X86_64, Mkdir));
        Assert.Equal(Allow, Run(program, X86_64, Read));
        Assert.Equal(KillThread, Run(program, X86_64, MkdirX32));
        Assert.Equal(KillThread, Run(program, X86_64, 0x40000000));
        Assert.Equal(KillThread, Run(program, X86_64, 0x80000000));
        Assert.Equal(Allow, Run(program, X86_64, uint.MaxValue)); // nr -1 (a tracer skipped the call): default
        Assert.Equal(Allow, Run(program, X86_64, 0x3fffffff));
    }

    [Fact]
    public void An_x32_only_filter_kills_plain_x86_64_calls()
    {
        var profile = new SeccompProfile(SeccompAction.Errno, [new SeccompRule(["mkdir"], SeccompAction.Allow)], architectures: [SeccompArchitecture.X32]);
        var program = Compile(profile, native: SeccompArchitecture.X32);
        Assert.Equal(Allow, Run(program, X86_64, MkdirX32));
        Assert.Equal(KillThread, Run(program, X86_64, Mkdir));
        Assert.Equal(Eperm, Run(program, X86_64, 0x40000000));
    }

    [Fact]
    public void Big_endian_abis_read_the_high_word_first()
    {
        var profile = new SeccompProfile(SeccompAction.Errno, [new SeccompRule(["write"], SeccompAction.Allow,
            conditions: [new SeccompCondition(1, SeccompOperator.Equal, 0x100000002)])], architectures: [SeccompArchitecture.S390x]);
        var program = Compile(profile);
        var s390xWrite = SeccompSyscalls.Resolve("write", SeccompArchitecture.S390x)!.Value;
        var s390x = SeccompSyscalls.AuditArch(SeccompArchitecture.S390x);
        Assert.Equal(Allow, Run(program, s390x, s390xWrite, 0, 0x100000002));
        Assert.Equal(Eperm, Run(program, s390x, s390xWrite, 0, 0x200000001));
    }

    [Fact]
    public void The_enosys_stub_covers_calls_newer_than_the_profile()
    {
        var profile = new SeccompProfile(SeccompAction.Errno, [new SeccompRule(["read", "mkdir", "close_range"], SeccompAction.Allow)],
            architectures: [SeccompArchitecture.X86_64, SeccompArchitecture.X86]);
        var program = Compile(profile, enosys: true);
        const uint CloseRange = 436;
        Assert.Equal(Allow, Run(program, X86_64, CloseRange));
        Assert.Equal(Eperm, Run(program, X86_64, 435)); // clone3: below the newest named call
        Assert.Equal(Enosys, Run(program, X86_64, 437));
        Assert.Equal(Enosys, Run(program, X86_64, 0x3fffffff));
        Assert.Equal(KillThread, Run(program, X86_64, MkdirX32)); // x32 not listed
        Assert.Equal(Enosys, Run(program, I386, 1000));
        Assert.Equal(Eperm, Run(program, I386, 400));

        // a permissive default gets no stub
        var permissive = Compile(new SeccompProfile(SeccompAction.Allow, [new SeccompRule(["mkdir"], SeccompAction.Errno)],
            architectures: [SeccompArchitecture.X86_64]), enosys: true);
        Assert.Equal(Allow, Run(permissive, X86_64, 1000));
    }

    [Fact]
    public void Unknown_names_are_skipped_with_a_warning_and_names_known_elsewhere_silently()
    {
        var program = Compile(Profile(SeccompAction.Errno,
            new SeccompRule(["read", "no_such_call", "socketcall"], SeccompAction.Allow)));
        Assert.Equal(Allow, Run(program, X86_64, Read));
        var warning = Assert.Single(program.Warnings);
        Assert.Contains("no_such_call", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void Notify_is_refused_as_not_supported()
    {
        var ex = Assert.Throws<BerthException>(() => Compile(Profile(SeccompAction.Errno, new SeccompRule(["mkdir"], SeccompAction.Notify))));
        Assert.Equal(ErrorCode.Unsupported, ex.Code);
        Assert.Contains("SCMP_ACT_NOTIFY", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_input_is_refused_with_the_reason()
    {
        var index = Assert.Throws<BerthException>(() => Compile(Profile(SeccompAction.Errno,
            new SeccompRule(["mkdir"], SeccompAction.Allow, conditions: [new SeccompCondition(6, SeccompOperator.Equal, 1)]))));
        Assert.Equal(ErrorCode.InvalidArgument, index.Code);
        Assert.Contains("argument index 6", index.Message, StringComparison.Ordinal);

        var empty = Assert.Throws<BerthException>(() => Compile(Profile(SeccompAction.Errno, new SeccompRule([], SeccompAction.Allow))));
        Assert.Contains("names is empty", empty.Message, StringComparison.Ordinal);

        // every error at once, each with its place in the profile
        var both = Assert.Throws<BerthException>(() => Compile(Profile(SeccompAction.Errno,
            new SeccompRule([], SeccompAction.Allow),
            new SeccompRule(["read"], SeccompAction.Allow, conditions: [new SeccompCondition(0, SeccompOperator.Equal, 1), new SeccompCondition(9, SeccompOperator.Equal, 1)]))));
        Assert.Contains("syscalls[0]: names is empty", both.Message, StringComparison.Ordinal);
        Assert.Contains("syscalls[1].args[1] (read): argument index 9", both.Message, StringComparison.Ordinal);

        Assert.Throws<BerthException>(() => SeccompNames.ParseAction("SCMP_ACT_NOPE"));
        Assert.Throws<BerthException>(() => SeccompNames.ParseOperator("SCMP_CMP_ABOUT"));
        Assert.Throws<BerthException>(() => SeccompNames.ParseFlag("SECCOMP_FILTER_FLAG_NOPE"));
        Assert.Throws<BerthException>(() => SeccompNames.ParseArchitecture("SCMP_ARCH_Z80"));
        Assert.Null(SeccompNames.ParseArchitecture("SCMP_ARCH_MIPS64"));
        Assert.Equal(SeccompArchitecture.X32, SeccompNames.ParseArchitecture("SCMP_ARCH_X32"));
        Assert.Equal(SeccompAction.KillThread, SeccompNames.ParseAction("SCMP_ACT_KILL"));
        Assert.Equal(SeccompFilterFlags.SpecAllow, SeccompNames.ParseFlag("SECCOMP_FILTER_FLAG_SPEC_ALLOW"));
    }

    [Fact]
    public void Flags_are_passed_through_to_the_program()
    {
        var profile = new SeccompProfile(SeccompAction.Allow, [], flags: SeccompFilterFlags.Log | SeccompFilterFlags.SpecAllow);
        var program = Compile(profile);
        Assert.Equal(SeccompFilterFlags.Log | SeccompFilterFlags.SpecAllow, program.Flags);
        Assert.Equal(Allow, Run(program, X86_64, Mkdir));
    }

    /// <summary>Hundreds of argument blocks push targets past 255 instructions: the trampolines must keep every answer right.</summary>
    [Fact]
    public void Long_programs_reach_far_targets_through_trampolines()
    {
        var names = SeccompSyscalls.Names.ToArray().Where(n => SeccompSyscalls.Resolve(n, SeccompArchitecture.X86_64) is not null).Take(200).ToArray();
        var rules = names.Select((n, i) => new SeccompRule([n], (i % 3) switch { 0 => SeccompAction.Allow, 1 => SeccompAction.Trap, _ => SeccompAction.Errno },
            (uint)(i % 50 + 2), [new SeccompCondition(i % 6, SeccompOperator.GreaterThan, (ulong)i << 20), new SeccompCondition((i + 1) % 6, SeccompOperator.NotEqual, (ulong)i)])).ToArray();
        var profile = new SeccompProfile(SeccompAction.Errno, rules, architectures: [SeccompArchitecture.X86_64, SeccompArchitecture.X86]);
        var program = Compile(profile);
        Assert.InRange(program.Length, 1000, Bpf.MaxInstructions);
        Assert.Contains(program.Instructions, f => f.Code == (Bpf.JMP | Bpf.JA));
        var rets = program.Instructions.Count(f => f.Code == (Bpf.RET | Bpf.K));
        var jas = program.Instructions.Count(f => f.Code == (Bpf.JMP | Bpf.JA));
        Console.WriteLine($"trampoline test: {program.Length} instructions, {rets} returns, {jas} ja");

        var random = new Random(7);
        for (var i = 0; i < 5000; i++)
        {
            var arch = random.Next(2) == 0 ? SeccompArchitecture.X86_64 : SeccompArchitecture.X86;
            var name = names[random.Next(names.Length)];
            var nr = SeccompSyscalls.Resolve(name, arch) ?? (uint)random.Next(500);
            var args = Enumerable.Range(0, 6).Select(_ => random.Next(3) == 0 ? (ulong)random.Next(300) : Edges[random.Next(Edges.Length)] + (ulong)random.Next(3)).ToArray();
            var data = new SeccompData(SeccompSyscalls.AuditArch(arch), nr, args);
            Assert.Equal(SeccompOracle.Eval(profile, SeccompArchitecture.X86_64, false, data), BpfInterpreter.Eval(program.Instructions, data));
        }
    }

    [Fact]
    public void A_profile_beyond_the_kernel_limit_is_refused()
    {
        var names = SeccompSyscalls.Names.ToArray().Where(n => SeccompSyscalls.Resolve(n, SeccompArchitecture.X86_64) is not null).Take(300).ToArray();
        var conditions = Enumerable.Range(0, 6).Select(i => new SeccompCondition(i, SeccompOperator.LessThan, 0x100000000UL * (ulong)(i + 1))).ToArray();
        var rules = names.Select(n => new SeccompRule([n], SeccompAction.Allow, conditions: conditions)).ToArray();
        var ex = Assert.Throws<BerthException>(() => SeccompCompiler.Compile(new SeccompProfile(SeccompAction.Errno, rules),
            new SeccompCompileOptions { NativeArchitecture = SeccompArchitecture.X86_64 }));
        Assert.Contains("limit of 4096", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>Random profiles against the oracle: every arch/nr/argument the generator can think of.</summary>
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, true)]
    [InlineData(3, false)]
    [InlineData(4, true)]
    public void Random_profiles_agree_with_the_oracle(int seed, bool enosys)
    {
        var random = new Random(seed);
        for (var round = 0; round < 60; round++)
        {
            var (profile, pool) = RandomProfiles.Generate(random, overlapping: true);
            var program = Compile(profile, enosys);
            foreach (var data in RandomProfiles.Inputs(random, profile, pool, 300))
            {
                var want = SeccompOracle.Eval(profile, SeccompArchitecture.X86_64, enosys, data);
                var got = BpfInterpreter.Eval(program.Instructions, data);
                Assert.True(want == got, $"round {round}, {data}: program 0x{got:x}, oracle 0x{want:x}\n{NativeHelpers.Describe(profile, "-")}\n{program}");
            }
        }
    }
}

public class SeccompTableAndMultiplexerTests
{
    [Theory]
    [InlineData("read", SeccompArchitecture.X86_64, 0u)]
    [InlineData("mkdir", SeccompArchitecture.X86_64, 83u)]
    [InlineData("clone3", SeccompArchitecture.X86_64, 435u)]
    [InlineData("mkdir", SeccompArchitecture.X86, 39u)]
    [InlineData("socketcall", SeccompArchitecture.X86, 102u)]
    [InlineData("socket", SeccompArchitecture.X86, 359u)]    // direct call, hidden behind a pseudo-number in libseccomp's name table
    [InlineData("sendmmsg", SeccompArchitecture.X86, 345u)]
    [InlineData("shmget", SeccompArchitecture.X86, 395u)]
    [InlineData("socket", SeccompArchitecture.Ppc64le, 326u)]
    [InlineData("socket", SeccompArchitecture.S390x, 359u)]
    [InlineData("mkdir", SeccompArchitecture.X32, 0x40000053u)]
    [InlineData("execve", SeccompArchitecture.X32, 0x40000208u)]
    [InlineData("mkdirat", SeccompArchitecture.Aarch64, 34u)]
    [InlineData("mkdir", SeccompArchitecture.Arm, 39u)]
    [InlineData("cacheflush", SeccompArchitecture.Arm, 0xf0002u)]
    public void Tables_hold_the_kernel_numbers(string name, SeccompArchitecture arch, uint nr) =>
        Assert.Equal(nr, SeccompSyscalls.Resolve(name, arch));

    [Theory]
    [InlineData("mkdir", SeccompArchitecture.Aarch64)]
    [InlineData("accept", SeccompArchitecture.X86)]     // only through socketcall
    [InlineData("pause", SeccompArchitecture.Aarch64)]
    [InlineData("no_such_call", SeccompArchitecture.X86_64)]
    public void Tables_know_what_an_abi_lacks(string name, SeccompArchitecture arch) => Assert.Null(SeccompSyscalls.Resolve(name, arch));

    [Fact]
    public void The_docker_profile_compiles_without_warnings_for_every_abi_it_lists()
    {
        var program = SeccompCompiler.Compile(DockerProfile.Load(), new SeccompCompileOptions { NativeArchitecture = SeccompArchitecture.X86_64 });
        Assert.Empty(program.Warnings);
        BpfInterpreter.Validate(program.Instructions);
    }

    [Fact]
    public void A_socket_rule_also_covers_socketcall_on_i386()
    {
        var profile = new SeccompProfile(SeccompAction.Allow, [new SeccompRule(["socket", "shmget"], SeccompAction.Errno, 13)],
            architectures: [SeccompArchitecture.X86_64, SeccompArchitecture.X86]);
        var program = SeccompCompiler.Compile(profile, new SeccompCompileOptions { NativeArchitecture = SeccompArchitecture.X86_64 });
        uint Run(uint nr, ulong a0) => BpfInterpreter.Eval(program.Instructions, new SeccompData(SeccompCompilerTests.I386, nr, [a0, 0, 0, 0, 0, 0]));
        Assert.Equal(0x0005000du, Run(359, 2));  // socket()
        Assert.Equal(0x0005000du, Run(102, 1));  // socketcall(SYS_SOCKET)
        Assert.Equal(SeccompCompilerTests.Allow, Run(102, 2)); // socketcall(SYS_BIND)
        Assert.Equal(0x0005000du, Run(117, 23)); // ipc(SHMGET)
        Assert.Equal(SeccompCompilerTests.Allow, Run(117, 21));
        Assert.Empty(program.Warnings);
    }

    [Fact]
    public void A_conditional_socket_rule_warns_that_socketcall_stays_open()
    {
        var profile = new SeccompProfile(SeccompAction.Allow,
            [new SeccompRule(["socket"], SeccompAction.Errno, 97, [new SeccompCondition(0, SeccompOperator.Equal, 40)])],
            architectures: [SeccompArchitecture.X86]);
        var program = SeccompCompiler.Compile(profile, new SeccompCompileOptions { NativeArchitecture = SeccompArchitecture.X86_64 });
        var warning = Assert.Single(program.Warnings);
        Assert.Contains("'socket'", warning, StringComparison.Ordinal);
        Assert.Contains("multiplexer", warning, StringComparison.Ordinal);

        // naming socketcall decides it, and the warning goes away
        var decided = new SeccompProfile(SeccompAction.Allow, [.. profile.Rules, new SeccompRule(["socketcall"], SeccompAction.Errno, 1)],
            architectures: [SeccompArchitecture.X86]);
        Assert.Empty(SeccompCompiler.Compile(decided, new SeccompCompileOptions { NativeArchitecture = SeccompArchitecture.X86_64 }).Warnings);
    }
}
