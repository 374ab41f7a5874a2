using Berth.Linux.Seccomp;

namespace Berth.Linux.Tests.Seccomp;

/// <summary>Random profiles and the inputs most likely to tell two implementations apart.</summary>
public static class RandomProfiles
{
    /// <summary>
    /// No socket or SysV IPC calls: libseccomp also filters their i386 socketcall/ipc multiplexers, which Berth
    /// does not (docs/design/seccomp.md); the differential test would only rediscover that.
    /// </summary>
    public static readonly string[] Pool =
    [
        "read", "write", "open", "openat", "close", "mkdir", "mkdirat", "personality", "clone", "clone3", "futex",
        "ioctl", "getpid", "kill", "ptrace", "prctl", "setns", "unshare", "mount", "umount2", "chroot", "pivot_root",
        "keyctl", "bpf", "perf_event_open", "clock_gettime", "rseq", "io_uring_setup", "close_range", "faccessat2",
        "statx", "socketcall", "_llseek", "mmap2", "fstat64", "ugetrlimit", "arch_prctl", "set_thread_area",
        "exit_group", "execve", "no_such_call",
    ];

    private static readonly SeccompAction[] Actions =
    [
        SeccompAction.Allow, SeccompAction.Errno, SeccompAction.KillThread, SeccompAction.KillProcess, SeccompAction.Trap,
        SeccompAction.Trace, SeccompAction.Log,
    ];

    private static readonly SeccompArchitecture[][] RealisticArchitectures =
    [
        [],
        [SeccompArchitecture.X86_64],
        [SeccompArchitecture.X86_64, SeccompArchitecture.X86, SeccompArchitecture.X32],
        [SeccompArchitecture.X86_64, SeccompArchitecture.X86],
        [SeccompArchitecture.X86_64, SeccompArchitecture.X32],
        [SeccompArchitecture.X86],
        [SeccompArchitecture.X86_64, SeccompArchitecture.Aarch64],
        [SeccompArchitecture.Aarch64, SeccompArchitecture.Arm],
    ];

    private static readonly SeccompArchitecture[] Arches =
    [
        SeccompArchitecture.X86, SeccompArchitecture.X32, SeccompArchitecture.Aarch64, SeccompArchitecture.Arm,
    ];

    /// <param name="overlapping">
    /// false: profiles whose meaning libseccomp 2.5 gets right. A call gets at most one conditional rule, with each
    /// argument compared once, or else several rules that each compare argument 0 for equality (Docker's personality
    /// rules), all with one action. With several conditional rules on one call that compare different arguments or
    /// ranges, libseccomp's filter does not always return the OR of the rules (docs/design/seccomp.md); Berth does.
    /// </param>
    public static (SeccompProfile Profile, string[] Names) Generate(Random random, bool overlapping)
    {
        var names = Pool.OrderBy(_ => random.Next()).Take(random.Next(3, 14)).ToArray();
        var defaultAction = Pick(random, Actions);
        uint? defaultErrno = random.Next(3) == 0 ? (uint)random.Next(1, 40) : null;
        var conditionalAction = names.ToDictionary(n => n, _ => (Pick(random, Actions), (uint?)(uint)random.Next(1, 4)));
        var equalityOnly = names.ToDictionary(n => n, _ => random.Next(2) == 0);
        var hasConditional = new HashSet<string>();
        var rules = new List<SeccompRule>();
        var count = random.Next(1, 16);
        for (var i = 0; i < count; i++)
        {
            var ruleNames = overlapping ? names.OrderBy(_ => random.Next()).Take(random.Next(1, 3)).ToList() : [Pick(random, names)];
            var conditions = random.Next(3) == 0 ? [] : Enumerable.Range(0, random.Next(1, 4)).Select(_ => Condition(random)).ToArray();
            if (!overlapping && conditions.Length > 0)
            {
                if (equalityOnly[ruleNames[0]])
                {
                    conditions = [new SeccompCondition(0, SeccompOperator.Equal, Value(random))];
                }
                else if (!hasConditional.Add(ruleNames[0]))
                {
                    conditions = [];
                }
                else
                {
                    conditions = conditions.DistinctBy(c => c.Index).ToArray();
                }
            }
            SeccompAction action;
            uint? errno;
            if (!overlapping && conditions.Length > 0)
            {
                (action, errno) = conditionalAction[ruleNames[0]];
            }
            else
            {
                action = Pick(random, Actions);
                errno = random.Next(2) == 0 ? (uint)random.Next(1, 4) : null;
            }
            rules.Add(new SeccompRule(ruleNames, action, errno, conditions));
        }
        List<SeccompArchitecture> arches;
        if (overlapping)
        {
            arches = Arches.Where(_ => random.Next(2) == 0).ToList();
            if (random.Next(3) > 0)
            {
                arches.Insert(random.Next(arches.Count + 1), SeccompArchitecture.X86_64);
            }
        }
        else
        {
            // lists engines send, plus foreign ones
            arches = [.. Pick(random, RealisticArchitectures)];
        }
        return (new SeccompProfile(defaultAction, rules, defaultErrno, arches), names);
    }

    private static SeccompCondition Condition(Random random)
    {
        var op = (SeccompOperator)random.Next(7);
        return new SeccompCondition(random.Next(3) == 0 ? random.Next(6) : random.Next(2), op, Value(random), op == SeccompOperator.MaskedEqual ? Value(random) : 0);
    }

    private static ulong Value(Random random) => random.Next(4) switch
    {
        0 => (ulong)random.Next(16),
        1 => SeccompCompilerTests.Edges[random.Next(SeccompCompilerTests.Edges.Length)],
        2 => (ulong)random.NextInt64() ^ ((ulong)random.Next(2) << 63),
        _ => ((ulong)random.Next(4) << 32) | (uint)random.Next(4),
    };

    public static IEnumerable<SeccompData> Inputs(Random random, SeccompProfile profile, string[] names, int count)
    {
        var archValues = new List<uint> { SeccompCompilerTests.X86_64, 0xdeadbeef };
        archValues.AddRange(profile.Architectures.Select(SeccompSyscalls.AuditArch));
        archValues.Add(SeccompSyscalls.AuditArch(Pick(random, Arches)));
        var values = profile.Rules.SelectMany(r => r.Conditions).SelectMany(c => new[] { c.Value, c.ValueTwo }).ToList();
        for (var i = 0; i < count; i++)
        {
            var arch = Pick(random, archValues);
            var modes = Enum.GetValues<SeccompArchitecture>().Where(m => SeccompSyscalls.AuditArch(m) == arch).ToArray();
            uint nr;
            if (modes.Length > 0 && random.Next(4) > 0)
            {
                var known = names.Select(n => SeccompSyscalls.Resolve(n, Pick(random, modes))).OfType<uint>().ToArray();
                nr = known.Length > 0 ? Pick(random, known) + (uint)(random.Next(5) == 0 ? random.Next(3) - 1 : 0) : 0;
            }
            else
            {
                nr = Pick(random, new uint[] { 0, 1, 500, 1000, 0x3fffffff, 0x40000000, 0x40000001, 0x40000200, 0x400003ff, 0x7fffffff, 0x80000000, 0xc0000000, 0xfffffffe, uint.MaxValue });
            }
            var args = new ulong[6];
            for (var a = 0; a < 6; a++)
            {
                args[a] = random.Next(3) switch
                {
                    0 when values.Count > 0 => Pick(random, values) + (ulong)(random.Next(3) - 1),
                    1 => Value(random),
                    _ => random.Next(2) == 0 ? 0 : (ulong)random.NextInt64(),
                };
            }
            yield return new SeccompData(arch, nr, args);
        }
    }

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];
}
