using Berth.Linux.Seccomp;

namespace Berth.Linux.Tests.Seccomp;

/// <summary>
/// What a profile means, evaluated straight from the profile (no BPF): the runc + libseccomp semantics the
/// compiler promises, written independently of it so that property tests can compare the two.
/// </summary>
public static class SeccompOracle
{
    private const uint KillThread = 0;

    public static uint Eval(SeccompProfile profile, SeccompArchitecture native, bool enosysStub, SeccompData data)
    {
        var modes = new List<SeccompArchitecture> { native };
        modes.AddRange(profile.Architectures.Where(a => a != native));
        var present = modes.Where(m => SeccompSyscalls.AuditArch(m) == data.Arch).Distinct().ToList();
        if (present.Count == 0)
        {
            return KillThread;
        }

        var defaultRet = RetOf(profile.DefaultAction, profile.DefaultErrnoRet);

        // runc's stub runs before the libseccomp filter
        if (enosysStub && profile.DefaultAction is not (SeccompAction.Allow or SeccompAction.Log or SeccompAction.Trace))
        {
            foreach (var mode in profile.Architectures.Distinct())
            {
                if (SeccompSyscalls.AuditArch(mode) != data.Arch)
                {
                    continue;
                }
                var bit30 = (data.Nr & 0x40000000) != 0;
                if ((mode == SeccompArchitecture.X86_64 && bit30) || (mode == SeccompArchitecture.X32 && !bit30))
                {
                    continue;
                }
                uint max = 0;
                foreach (var rule in profile.Rules)
                {
                    foreach (var name in rule.Names)
                    {
                        if (SeccompSyscalls.Resolve(name, mode) is uint nr && nr > max)
                        {
                            max = nr;
                        }
                    }
                }
                if (max != 0 && data.Nr > max)
                {
                    return 0x00050000 | 38;
                }
            }
        }

        SeccompArchitecture arch;
        if (data.Arch == SeccompSyscalls.AuditArch(SeccompArchitecture.X86_64))
        {
            var has64 = present.Contains(SeccompArchitecture.X86_64);
            var has32 = present.Contains(SeccompArchitecture.X32);
            if (has64 && !has32 && data.Nr >= 0x40000000)
            {
                return data.Nr == uint.MaxValue ? defaultRet : KillThread;
            }
            if (has32 && !has64 && data.Nr < 0x40000000)
            {
                return KillThread;
            }
            arch = (data.Nr & 0x40000000) != 0 || !has64 ? SeccompArchitecture.X32 : SeccompArchitecture.X86_64;
        }
        else
        {
            arch = present[0];
        }
        var wide = SeccompSyscalls.Compares64BitArguments(arch);

        uint? unconditional = null;
        var conditional = new List<(SeccompCondition[] Conds, uint Ret)>();
        foreach (var rule in profile.Rules)
        {
            var ret = RetOf(rule.Action, rule.ErrnoRet);
            if (ret == defaultRet)
            {
                continue;
            }
            if (!rule.Names.Any(n => SeccompSyscalls.Resolve(n, arch) == data.Nr))
            {
                continue;
            }
            // runc: one rule per comparison when an argument is compared twice
            var parts = rule.Conditions.GroupBy(c => c.Index).Any(g => g.Count() > 1)
                ? rule.Conditions.Select(c => new[] { c }).ToList()
                : [rule.Conditions.ToArray()];
            foreach (var part in parts)
            {
                // libseccomp: zero-mask comparisons are dropped, which can leave a rule unconditional
                if (part.All(c => c.Op == SeccompOperator.MaskedEqual && (wide ? c.Value : (uint)c.Value) == 0))
                {
                    unconditional ??= ret;
                }
                else
                {
                    conditional.Add((part, ret));
                }
            }
        }
        // i386, s390x, ppc64le: an unconditional rule on a socket or SysV IPC call also covers its code in the
        // socketcall/ipc multiplexer, after the profile's own rules
        if (arch is SeccompArchitecture.X86 or SeccompArchitecture.S390x or SeccompArchitecture.Ppc64le)
        {
            foreach (var rule in profile.Rules)
            {
                var ret = RetOf(rule.Action, rule.ErrnoRet);
                if (ret == defaultRet || rule.Conditions.Count > 0)
                {
                    continue;
                }
                foreach (var name in rule.Names)
                {
                    if (Multiplexed.TryGetValue(name, out var mux) && SeccompSyscalls.Resolve(mux.Call, arch) == data.Nr)
                    {
                        conditional.Add(([new SeccompCondition(0, SeccompOperator.Equal, mux.Code)], ret));
                    }
                }
            }
        }
        if (unconditional is uint u)
        {
            return u;
        }
        foreach (var (conds, ret) in conditional)
        {
            if (conds.All(c => Holds(c, data.Args[c.Index], wide)))
            {
                return ret;
            }
        }
        return defaultRet;
    }

    public static readonly Dictionary<string, (string Call, uint Code)> Multiplexed = new()
    {
        ["socket"] = ("socketcall", 1), ["bind"] = ("socketcall", 2), ["connect"] = ("socketcall", 3), ["listen"] = ("socketcall", 4),
        ["accept"] = ("socketcall", 5), ["getsockname"] = ("socketcall", 6), ["getpeername"] = ("socketcall", 7), ["socketpair"] = ("socketcall", 8),
        ["send"] = ("socketcall", 9), ["recv"] = ("socketcall", 10), ["sendto"] = ("socketcall", 11), ["recvfrom"] = ("socketcall", 12),
        ["shutdown"] = ("socketcall", 13), ["setsockopt"] = ("socketcall", 14), ["getsockopt"] = ("socketcall", 15), ["sendmsg"] = ("socketcall", 16),
        ["recvmsg"] = ("socketcall", 17), ["accept4"] = ("socketcall", 18), ["recvmmsg"] = ("socketcall", 19), ["sendmmsg"] = ("socketcall", 20),
        ["semop"] = ("ipc", 1), ["semget"] = ("ipc", 2), ["semctl"] = ("ipc", 3), ["semtimedop"] = ("ipc", 4),
        ["msgsnd"] = ("ipc", 11), ["msgrcv"] = ("ipc", 12), ["msgget"] = ("ipc", 13), ["msgctl"] = ("ipc", 14),
        ["shmat"] = ("ipc", 21), ["shmdt"] = ("ipc", 22), ["shmget"] = ("ipc", 23), ["shmctl"] = ("ipc", 24),
    };

    public static bool Holds(SeccompCondition c, ulong arg, bool wide)
    {
        ulong value = c.Value, two = c.ValueTwo;
        if (!wide)
        {
            arg = (uint)arg;
            value = (uint)value;
            two = (uint)two;
        }
        return c.Op switch
        {
            SeccompOperator.Equal => arg == value,
            SeccompOperator.NotEqual => arg != value,
            SeccompOperator.LessThan => arg < value,
            SeccompOperator.LessOrEqual => arg <= value,
            SeccompOperator.GreaterThan => arg > value,
            SeccompOperator.GreaterOrEqual => arg >= value,
            SeccompOperator.MaskedEqual => (arg & value) == (two & value), // libseccomp masks the datum too
            _ => throw new ArgumentOutOfRangeException(nameof(c)),
        };
    }

    public static uint RetOf(SeccompAction action, uint? errno) => action switch
    {
        SeccompAction.KillThread => 0,
        SeccompAction.KillProcess => 0x80000000,
        SeccompAction.Trap => 0x00030000,
        SeccompAction.Errno => 0x00050000 | ((errno ?? 1) & 0xffff),
        SeccompAction.Trace => 0x7ff00000 | ((errno ?? 1) & 0xffff),
        SeccompAction.Allow => 0x7fff0000,
        SeccompAction.Log => 0x7ffc0000,
        _ => throw new ArgumentOutOfRangeException(nameof(action)),
    };
}
