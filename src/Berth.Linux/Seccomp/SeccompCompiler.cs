using Berth.Core;

namespace Berth.Linux.Seccomp;

/// <summary>
/// Compiles a <see cref="SeccompProfile"/> to a classic BPF seccomp program with the semantics runc gives the
/// same profile through libseccomp (see docs/design/seccomp.md), but with a binary search over the system call
/// numbers instead of a linear chain.
/// </summary>
/// <remarks>
/// Program shape: load seccomp_data.arch and jump to the section of that ABI (or return KILL_THREAD, libseccomp's
/// bad-architecture action). A section loads the call number and walks a balanced tree of <c>jge</c> over the
/// number line, cut into intervals that share one outcome: a return, or a block that tests the arguments. The
/// program is built backwards so every jump target already exists; a conditional jump that would exceed the
/// 8-bit offset goes through an adjacent <c>ja</c> (or a fresh <c>ret</c> when the target is a return).
/// </remarks>
public static class SeccompCompiler
{
    private const int MaxArgs = 6;
    private const uint Enosys = 38;

    public static SeccompProgram Compile(SeccompProfile profile, SeccompCompileOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        options ??= SeccompCompileOptions.Default;
        var warnings = new List<string>();

        var defaultRet = Ret(profile.DefaultAction, profile.DefaultErrnoRet, "defaultAction");

        // The native ABI first (libseccomp always filters it), then the listed ones, each once.
        var native = options.NativeArchitecture ?? Architectures.Native;
        var modes = new List<SeccompArchitecture>(4) { native };
        foreach (var arch in profile.Architectures)
        {
            if (!modes.Contains(arch))
            {
                modes.Add(arch);
            }
        }

        var rules = Expand(profile, defaultRet, warnings);

        // x86_64 and x32 share AUDIT_ARCH_X86_64 and so one section; x32 numbers carry bit 30.
        var sections = new List<Section>(modes.Count);
        foreach (var mode in modes)
        {
            var audit = Architectures.Audit(mode);
            var section = sections.Find(s => s.Audit == audit);
            if (section is null)
            {
                section = new Section(audit);
                sections.Add(section);
            }
            section.Modes.Add(mode);
        }

        var stub = options.EnosysForNewerSyscalls && profile.DefaultAction is not (SeccompAction.Allow or SeccompAction.Log or SeccompAction.Trace);
        var emitter = new Emitter(Math.Max(64, rules.Count * 2));

        var entries = new Target[sections.Count];
        for (var i = sections.Count - 1; i >= 0; i--)
        {
            entries[i] = EmitSection(emitter, sections[i], rules, profile, defaultRet, stub, warnings);
        }

        var next = emitter.Ret(Bpf.RetKillThread);
        for (var i = sections.Count - 1; i >= 0; i--)
        {
            next = emitter.Cond(Bpf.JEQ, sections[i].Audit, entries[i], next);
        }
        emitter.Stmt(Bpf.LD | Bpf.W | Bpf.ABS, Bpf.OffsetArch, next);

        var program = emitter.ToProgram();
        if (program.Length > Bpf.MaxInstructions)
        {
            throw BerthException.InvalidArgument(
                $"the seccomp profile compiles to {program.Length} BPF instructions, more than the kernel's limit of {Bpf.MaxInstructions}; use fewer argument conditions or architectures");
        }
        return new SeccompProgram(program, profile.Flags, warnings);
    }

    /// <summary>The seccomp return value of an action, with runc's errno defaults (EPERM).</summary>
    internal static uint Ret(SeccompAction action, uint? errno, string what) => action switch
    {
        SeccompAction.KillThread => Bpf.RetKillThread,
        SeccompAction.KillProcess => Bpf.RetKillProcess,
        SeccompAction.Trap => Bpf.RetTrap,
        SeccompAction.Errno => Bpf.RetErrno | ((errno ?? 1) & Bpf.RetData),
        SeccompAction.Trace => Bpf.RetTrace | ((errno ?? 1) & Bpf.RetData),
        SeccompAction.Allow => Bpf.RetAllow,
        SeccompAction.Log => Bpf.RetLog,
        SeccompAction.Notify => throw BerthException.Unsupported(
            $"SCMP_ACT_NOTIFY in {what}: Berth has no seccomp user-space notification listener (listenerPath); use SCMP_ACT_ERRNO or SCMP_ACT_TRACE"),
        _ => throw new ArgumentOutOfRangeException(nameof(action)),
    };

    /// <summary>One (system call name, conditions, return) after runc's rewrites.</summary>
    private readonly record struct FlatRule(int Row, SeccompCondition[] Conditions, uint Ret, bool Redundant);

    private static List<FlatRule> Expand(SeccompProfile profile, uint defaultRet, List<string> warnings)
    {
        var flat = new List<FlatRule>(profile.Rules.Count * 4);
        List<string>? errors = null;
        Span<int> perArg = stackalloc int[MaxArgs];
        for (var r = 0; r < profile.Rules.Count; r++)
        {
            var rule = profile.Rules[r];
            if (rule.Names.Count == 0)
            {
                (errors ??= []).Add($"syscalls[{r}]: names is empty; name at least one system call");
                continue;
            }
            var ret = Ret(rule.Action, rule.ErrnoRet, $"syscalls[{r}] ({rule.Names[0]})");

            // runc skips a rule whose action equals the default (libseccomp refuses it), but its names still count
            // for the -ENOSYS stub.
            var redundant = ret == defaultRet;

            perArg.Clear();
            var valid = true;
            for (var a = 0; a < rule.Conditions.Count; a++)
            {
                var c = rule.Conditions[a];
                if ((uint)c.Index >= MaxArgs)
                {
                    (errors ??= []).Add($"syscalls[{r}].args[{a}] ({rule.Names[0]}): argument index {c.Index} is out of range; system calls have arguments 0 to 5");
                    valid = false;
                    continue;
                }
                if (c.Op is < SeccompOperator.NotEqual or > SeccompOperator.MaskedEqual)
                {
                    (errors ??= []).Add($"syscalls[{r}].args[{a}] ({rule.Names[0]}): unknown operator {(int)c.Op}");
                    valid = false;
                    continue;
                }
                perArg[c.Index]++;
            }
            if (!valid)
            {
                continue;
            }

            // runc: when one argument is compared more than once, each comparison becomes a rule of its own (OR).
            var split = false;
            foreach (var n in perArg)
            {
                split |= n > 1;
            }

            var conditions = rule.Conditions is SeccompCondition[] array ? array : [.. rule.Conditions];
            foreach (var name in rule.Names)
            {
                var row = SyscallTable.IndexOf(name);
                if (row < 0)
                {
                    warnings.Add($"seccomp: system call '{name}' is unknown on every architecture ({SyscallTable.Source} tables); its rule is skipped");
                    continue;
                }
                if (split)
                {
                    foreach (var c in rule.Conditions)
                    {
                        flat.Add(new FlatRule(row, [c], ret, redundant));
                    }
                }
                else
                {
                    flat.Add(new FlatRule(row, conditions, ret, redundant));
                }
            }
        }
        if (errors is not null)
        {
            throw BerthException.InvalidArgument("invalid seccomp profile: " + string.Join("; ", errors));
        }
        return flat;
    }

    private sealed class Section(uint audit)
    {
        public uint Audit { get; } = audit;

        public List<SeccompArchitecture> Modes { get; } = new(2);
    }

    /// <summary>The conditional rules of one call number in one ABI, in profile order.</summary>
    private sealed class CallRules(bool is64, bool bigEndian, List<FlatRule> conditional)
    {
        public bool Is64 { get; } = is64;

        public bool BigEndian { get; } = bigEndian;

        public List<FlatRule> Conditional { get; } = conditional;
    }

    /// <summary>A stretch of call numbers with one outcome: a return value, or an argument block.</summary>
    private struct Segment
    {
        public uint Start;
        public bool IsBlock;
        public uint Ret;
        public CallRules? Block;
    }

    private static Target EmitSection(Emitter e, Section section, List<FlatRule> rules, SeccompProfile profile, uint defaultRet, bool stub, List<string> warnings)
    {
        var ranges = new List<(uint Lo, uint Hi, uint Ret)>(8) { (0, uint.MaxValue, defaultRet) };

        var hasX86_64 = section.Modes.Contains(SeccompArchitecture.X86_64);
        var hasX32 = section.Modes.Contains(SeccompArchitecture.X32);
        if (section.Audit == Architectures.AuditX86_64)
        {
            // libseccomp: in an x86_64-only filter an x32 call (bit 30) gets the bad-arch action, except nr -1
            // (a tracer's skipped call); in an x32-only filter a plain x86_64 call does.
            if (!hasX32)
            {
                Paint(ranges, Bpf.X32SyscallBit, uint.MaxValue - 1, Bpf.RetKillThread);
            }
            if (!hasX86_64)
            {
                Paint(ranges, 0, Bpf.X32SyscallBit - 1, Bpf.RetKillThread);
            }
        }

        // (call number, mode, rule index) packed into one sortable key: sorting groups the rules of each call
        // in profile order, and a call number belongs to one mode of the section (x32 numbers carry bit 30)
        var keys = new ulong[rules.Count * section.Modes.Count * 2];
        var count = 0;
        List<FlatRule>? muxRules = null;
        List<(int Row, uint MuxNr)>? muxSkipped = null;
        for (var m = 0; m < section.Modes.Count; m++)
        {
            var mode = section.Modes[m];
            var table = Architectures.Table(mode);
            var multiplexes = Multiplexer.Applies(mode);
            var max = -1L;
            for (var i = 0; i < rules.Count; i++)
            {
                var rule = rules[i];
                var nr = table[rule.Row];
                if (nr >= 0)
                {
                    max = Math.Max(max, (uint)nr);
                    if (!rule.Redundant)
                    {
                        keys[count++] = ((ulong)(uint)nr << 32) | ((ulong)m << 24) | (uint)i;
                    }
                }
                if (multiplexes && !rule.Redundant && Multiplexer.Of(rule.Row) is (int muxRow, uint code) && table[muxRow] >= 0)
                {
                    // libseccomp: a rule on socket() also covers socketcall(SYS_SOCKET, ...) on i386, s390x and
                    // ppc64le; the call's own arguments sit in memory there, out of a filter's reach
                    if (rule.Conditions.Length == 0)
                    {
                        muxRules ??= new List<FlatRule>(8);
                        muxRules.Add(new FlatRule(muxRow, [new SeccompCondition(0, SeccompOperator.Equal, code)], rule.Ret, false));
                        keys[count++] = ((ulong)(uint)table[muxRow] << 32) | ((ulong)m << 24) | (uint)(rules.Count + muxRules.Count - 1);
                    }
                    else
                    {
                        (muxSkipped ??= []).Add((rule.Row, (uint)table[muxRow]));
                    }
                }
            }

            // runc's -ENOSYS stub covers the architectures the profile lists (not the implicit native one).
            if (stub && max > 0 && profile.Architectures.Contains(mode))
            {
                var enosys = Bpf.RetErrno | Enosys;
                var top = (uint)max;
                if (mode == SeccompArchitecture.X86_64)
                {
                    Paint(ranges, top + 1, 0x3fffffff, enosys);
                    Paint(ranges, 0x80000000, 0xbfffffff, enosys);
                }
                else if (mode == SeccompArchitecture.X32)
                {
                    if (top < 0x7fffffff)
                    {
                        Paint(ranges, top + 1, 0x7fffffff, enosys);
                    }
                    Paint(ranges, 0xc0000000, uint.MaxValue, enosys);
                }
                else if (top < uint.MaxValue)
                {
                    Paint(ranges, top + 1, uint.MaxValue, enosys);
                }
            }
        }
        Array.Sort(keys, 0, count);

        var points = new List<(uint Nr, Segment Seg)>(count);
        HashSet<uint>? decided = null;
        for (var k = 0; k < count;)
        {
            var nr = (uint)(keys[k] >> 32);
            var mode = section.Modes[(int)((keys[k] >> 24) & 0xff)];
            var is64 = Architectures.Is64Bit(mode);
            uint? unconditional = null;
            List<FlatRule>? conditional = null;
            for (; k < count && (uint)(keys[k] >> 32) == nr; k++)
            {
                var index = (int)(keys[k] & 0xffffff);
                var rule = index < rules.Count ? rules[index] : muxRules![index - rules.Count];
                if (IsUnconditional(rule.Conditions, is64))
                {
                    unconditional ??= rule.Ret;
                }
                else
                {
                    (conditional ??= new List<FlatRule>(2)).Add(rule);
                }
            }
            var seg = new Segment { Start = nr };
            if (unconditional is uint ret)
            {
                seg.Ret = ret;
                (decided ??= []).Add(nr);
            }
            else
            {
                seg.IsBlock = true;
                seg.Block = new CallRules(is64, Architectures.IsBigEndian(mode), conditional!);
            }
            points.Add((nr, seg));
        }

        if (muxSkipped is not null)
        {
            foreach (var (row, muxNr) in muxSkipped)
            {
                if (decided is null || !decided.Contains(muxNr))
                {
                    warnings.Add($"seccomp: the rule for '{SyscallTable.Names[row]}' has argument conditions, so it does not cover the socketcall/ipc multiplexer (call {muxNr}) of audit arch 0x{section.Audit:x8}; name the multiplexer in the profile to decide it");
                }
            }
        }

        var segments = new List<Segment>(points.Count * 2 + ranges.Count);
        var p = 0;
        foreach (var (lo, hi, ret) in ranges)
        {
            ulong cursor = lo;
            for (; p < points.Count && points[p].Nr <= hi; p++)
            {
                if (cursor < points[p].Nr)
                {
                    Append(segments, new Segment { Start = (uint)cursor, Ret = ret });
                }
                Append(segments, points[p].Seg);
                cursor = (ulong)points[p].Nr + 1;
            }
            if (cursor <= hi)
            {
                Append(segments, new Segment { Start = (uint)cursor, Ret = ret });
            }
        }

        var root = EmitTree(e, segments, 0, segments.Count - 1, defaultRet);
        return e.Stmt(Bpf.LD | Bpf.W | Bpf.ABS, Bpf.OffsetNr, root);
    }

    /// <summary>
    /// No conditions, or only masked comparisons whose mask is 0 on this ABI (libseccomp drops those, so such a
    /// rule becomes unconditional and takes part in "the first unconditional rule wins").
    /// </summary>
    private static bool IsUnconditional(SeccompCondition[] conditions, bool is64)
    {
        foreach (var c in conditions)
        {
            if (c.Op != SeccompOperator.MaskedEqual || (is64 ? c.Value : (uint)c.Value) != 0)
            {
                return false;
            }
        }
        return true;
    }

    private static void Append(List<Segment> segments, Segment seg)
    {
        if (segments.Count > 0)
        {
            var last = segments[^1];
            if (!last.IsBlock && !seg.IsBlock && last.Ret == seg.Ret)
            {
                return;
            }
        }
        segments.Add(seg);
    }

    /// <summary>Sets [lo, hi] to ret in a sorted list of disjoint ranges that covers every number.</summary>
    private static void Paint(List<(uint Lo, uint Hi, uint Ret)> ranges, uint lo, uint hi, uint ret)
    {
        if (lo > hi)
        {
            return;
        }
        var result = new List<(uint, uint, uint)>(ranges.Count + 2);
        foreach (var (a, b, r) in ranges)
        {
            if (b < lo || a > hi)
            {
                result.Add((a, b, r));
                continue;
            }
            if (a < lo)
            {
                result.Add((a, lo - 1, r));
            }
            if (b > hi)
            {
                result.Add((hi + 1, b, r));
            }
        }
        result.Add((lo, hi, ret));
        result.Sort(static (x, y) => x.Item1.CompareTo(y.Item1));
        ranges.Clear();
        ranges.AddRange(result);
    }

    /// <summary>
    /// The search over segments [lo, hi]. An argument block is emitted where its leaf is, right after the jge
    /// that leads to it, so the tree rarely needs a trampoline to reach one.
    /// </summary>
    private static Target EmitTree(Emitter e, List<Segment> segments, int lo, int hi, uint defaultRet)
    {
        if (lo == hi)
        {
            var s = segments[lo];
            return s.IsBlock ? EmitArgBlock(e, s.Block!, defaultRet) : e.Ret(s.Ret);
        }
        var mid = (lo + hi + 1) / 2;
        var right = EmitTree(e, segments, mid, hi, defaultRet);
        var left = EmitTree(e, segments, lo, mid - 1, defaultRet);
        return e.Cond(Bpf.JGE, segments[mid].Start, right, left);
    }

    /// <summary>The rules of one call in order: the first whose conditions all hold decides; none: the default.</summary>
    private static Target EmitArgBlock(Emitter e, CallRules call, uint defaultRet)
    {
        var next = e.Ret(defaultRet);
        var rules = call.Conditional;
        for (var r = rules.Count - 1; r >= 0; r--)
        {
            var rule = rules[r];
            var onTrue = e.Ret(rule.Ret);
            for (var c = rule.Conditions.Length - 1; c >= 0; c--)
            {
                onTrue = EmitCondition(e, rule.Conditions[c], call.Is64, call.BigEndian, onTrue, next);
            }
            next = onTrue;
        }
        return next;
    }

    private static Target EmitCondition(Emitter e, SeccompCondition c, bool is64, bool bigEndian, Target t, Target f)
    {
        var lowOffset = Bpf.OffsetArgs + (uint)(8 * c.Index) + (bigEndian ? 4u : 0u);
        var highOffset = Bpf.OffsetArgs + (uint)(8 * c.Index) + (bigEndian ? 0u : 4u);
        var value = c.Value;
        var mask = ulong.MaxValue;
        if (c.Op == SeccompOperator.MaskedEqual)
        {
            // libseccomp compares against datum & mask, so a datum bit outside the mask is ignored, not a never-match
            mask = c.Value;
            value = c.ValueTwo & c.Value;
        }
        const ushort Ld = Bpf.LD | Bpf.W | Bpf.ABS;

        if (!is64)
        {
            // libseccomp on 32-bit ABIs (and x32): the low word only, against the truncated value.
            var v = (uint)value;
            return c.Op switch
            {
                SeccompOperator.Equal => e.Stmt(Ld, lowOffset, e.Cond(Bpf.JEQ, v, t, f)),
                SeccompOperator.NotEqual => e.Stmt(Ld, lowOffset, e.Cond(Bpf.JEQ, v, f, t)),
                SeccompOperator.GreaterThan => e.Stmt(Ld, lowOffset, e.Cond(Bpf.JGT, v, t, f)),
                SeccompOperator.GreaterOrEqual => e.Stmt(Ld, lowOffset, e.Cond(Bpf.JGE, v, t, f)),
                SeccompOperator.LessThan => e.Stmt(Ld, lowOffset, e.Cond(Bpf.JGE, v, f, t)),
                SeccompOperator.LessOrEqual => e.Stmt(Ld, lowOffset, e.Cond(Bpf.JGT, v, f, t)),
                SeccompOperator.MaskedEqual => (uint)mask == 0 ? t : e.Stmt(Ld, lowOffset, e.Stmt(Bpf.ALU | Bpf.AND | Bpf.K, (uint)mask, e.Cond(Bpf.JEQ, v, t, f))),
                _ => throw new ArgumentOutOfRangeException(nameof(c)),
            };
        }

        var hi = (uint)(value >> 32);
        var lo = (uint)value;
        return c.Op switch
        {
            SeccompOperator.Equal => Equal64(e, lowOffset, highOffset, hi, lo, t, f),
            SeccompOperator.NotEqual => Equal64(e, lowOffset, highOffset, hi, lo, f, t),
            SeccompOperator.GreaterThan => Greater64(e, lowOffset, highOffset, hi, lo, Bpf.JGT, t, f),
            SeccompOperator.GreaterOrEqual => Greater64(e, lowOffset, highOffset, hi, lo, Bpf.JGE, t, f),
            SeccompOperator.LessOrEqual => Greater64(e, lowOffset, highOffset, hi, lo, Bpf.JGT, f, t),
            SeccompOperator.LessThan => Greater64(e, lowOffset, highOffset, hi, lo, Bpf.JGE, f, t),
            SeccompOperator.MaskedEqual => MaskedEqual64(e, lowOffset, highOffset, (uint)(mask >> 32), (uint)mask, hi, lo, t, f),
            _ => throw new ArgumentOutOfRangeException(nameof(c)),
        };
    }

    // hi == vh && lo == vl
    private static Target Equal64(Emitter e, uint lowOffset, uint highOffset, uint hi, uint lo, Target t, Target f)
    {
        const ushort Ld = Bpf.LD | Bpf.W | Bpf.ABS;
        var low = e.Stmt(Ld, lowOffset, e.Cond(Bpf.JEQ, lo, t, f));
        return e.Stmt(Ld, highOffset, e.Cond(Bpf.JEQ, hi, low, f));
    }

    // hi > vh || (hi == vh && lo (> or >=) vl): unsigned 64-bit comparison from two 32-bit words
    private static Target Greater64(Emitter e, uint lowOffset, uint highOffset, uint hi, uint lo, ushort lowOp, Target t, Target f)
    {
        const ushort Ld = Bpf.LD | Bpf.W | Bpf.ABS;
        var low = e.Stmt(Ld, lowOffset, e.Cond(lowOp, lo, t, f));
        var equal = e.Cond(Bpf.JEQ, hi, low, f);
        return e.Stmt(Ld, highOffset, e.Cond(Bpf.JGT, hi, t, equal));
    }

    private static Target MaskedEqual64(Emitter e, uint lowOffset, uint highOffset, uint maskHi, uint maskLo, uint hi, uint lo, Target t, Target f)
    {
        const ushort Ld = Bpf.LD | Bpf.W | Bpf.ABS;
        const ushort And = Bpf.ALU | Bpf.AND | Bpf.K;

        // the datum is already masked, so a word whose mask is 0 always matches and needs no test
        var low = maskLo == 0 ? t : e.Stmt(Ld, lowOffset, e.Stmt(And, maskLo, e.Cond(Bpf.JEQ, lo, t, f)));
        return maskHi == 0 ? low : e.Stmt(Ld, highOffset, e.Stmt(And, maskHi, e.Cond(Bpf.JEQ, hi, low, f)));
    }

    /// <summary>An emitted instruction, by its distance from the end of the program (the last one is 0).</summary>
    private readonly record struct Target(int Pos, bool IsRet, uint RetValue);

    /// <summary>Builds the program from its last instruction to its first, so jump targets always exist.</summary>
    private sealed class Emitter(int capacity)
    {
        private SockFilter[] _reversed = new SockFilter[capacity];
        private int _count;

        // where the nearest "ret K" sits, so returns are shared while they are in reach
        private readonly Dictionary<uint, int> _rets = new(8);

        public Target Ret(uint k) => _rets.TryGetValue(k, out var pos) ? new Target(pos, true, k) : NewRet(k);

        private Target NewRet(uint k)
        {
            Add(Bpf.Stmt(Bpf.RET | Bpf.K, k));
            _rets[k] = _count - 1;
            return new Target(_count - 1, true, k);
        }

        /// <summary>A conditional jump; a target beyond 255 instructions is reached through an adjacent trampoline.</summary>
        public Target Cond(ushort op, uint k, Target t, Target f)
        {
            if (t.Pos == f.Pos)
            {
                return t;
            }
            while (true)
            {
                var dt = _count - 1 - t.Pos;
                var df = _count - 1 - f.Pos;
                if (dt > byte.MaxValue)
                {
                    t = Near(t);
                    continue;
                }
                if (df > byte.MaxValue)
                {
                    f = Near(f);
                    continue;
                }
                Add(Bpf.Jump((ushort)(Bpf.JMP | op | Bpf.K), k, (byte)dt, (byte)df));
                return new Target(_count - 1, false, 0);
            }
        }

        /// <summary>A non-jump instruction, which falls through to <paramref name="next"/>.</summary>
        public Target Stmt(ushort code, uint k, Target next)
        {
            if (next.Pos != _count - 1)
            {
                Near(next);
            }
            Add(Bpf.Stmt(code, k));
            return new Target(_count - 1, false, 0);
        }

        /// <summary>An instruction right here that leads to <paramref name="target"/>: a copy of a return, or a ja.</summary>
        private Target Near(Target target)
        {
            if (target.IsRet)
            {
                return NewRet(target.RetValue);
            }
            Add(Bpf.Stmt(Bpf.JMP | Bpf.JA, (uint)(_count - 1 - target.Pos)));
            return new Target(_count - 1, false, 0);
        }

        private void Add(SockFilter f)
        {
            if (_count == _reversed.Length)
            {
                Array.Resize(ref _reversed, _reversed.Length * 2);
            }
            _reversed[_count++] = f;
        }

        public SockFilter[] ToProgram()
        {
            var program = new SockFilter[_count];
            for (var i = 0; i < _count; i++)
            {
                program[i] = _reversed[_count - 1 - i];
            }
            return program;
        }
    }
}
