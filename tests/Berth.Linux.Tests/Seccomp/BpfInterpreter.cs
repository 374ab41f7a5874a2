using Berth.Linux.Seccomp;

namespace Berth.Linux.Tests.Seccomp;

/// <summary>The input of a seccomp filter (struct seccomp_data).</summary>
public readonly record struct SeccompData(uint Arch, uint Nr, ulong[] Args, ulong Ip = 0)
{
    public override string ToString() => $"arch 0x{Arch:x} nr 0x{Nr:x} args [{string.Join(", ", Args.Select(a => "0x" + a.ToString("x")))}]";
}

/// <summary>
/// A classic BPF interpreter with the kernel's seccomp checks (seccomp_check_filter and bpf_check_classic): only
/// the opcodes seccomp allows, aligned 32-bit loads inside seccomp_data, jumps inside the program, a return at the
/// end, at most BPF_MAXINSNS instructions. Tests run compiled programs — ours and libseccomp's — through it.
/// </summary>
public static class BpfInterpreter
{
    private const int DataSize = 64;

    public static void Validate(ReadOnlySpan<SockFilter> program)
    {
        if (program.Length is 0 or > Bpf.MaxInstructions)
        {
            throw new InvalidOperationException($"program length {program.Length} is outside 1..{Bpf.MaxInstructions}");
        }
        for (var pc = 0; pc < program.Length; pc++)
        {
            var f = program[pc];
            var cls = f.Code & 0x07;
            switch (f.Code)
            {
                case Bpf.LD | Bpf.W | Bpf.ABS:
                    if (f.K >= DataSize || (f.K & 3) != 0)
                    {
                        throw new InvalidOperationException($"{pc}: load of seccomp_data offset {f.K} is out of range or unaligned");
                    }
                    break;
                case Bpf.LD | Bpf.W | Bpf.LEN:
                case Bpf.LDX | Bpf.W | Bpf.LEN:
                case Bpf.LD | Bpf.IMM:
                case Bpf.LDX | Bpf.IMM:
                case Bpf.LD | Bpf.MEM:
                case Bpf.LDX | Bpf.MEM:
                case Bpf.ST:
                case Bpf.STX:
                case Bpf.MISC | 0x00:
                case Bpf.MISC | 0x80:
                case Bpf.RET | Bpf.K:
                case Bpf.RET | Bpf.A:
                    var scratch = f.Code == (Bpf.LD | Bpf.MEM) || f.Code == (Bpf.LDX | Bpf.MEM) || f.Code == Bpf.ST || f.Code == Bpf.STX;
                    if (scratch && f.K >= 16)
                    {
                        throw new InvalidOperationException($"{pc}: scratch memory index {f.K} out of range");
                    }
                    break;
                case Bpf.ALU | Bpf.ADD | Bpf.K:
                case Bpf.ALU | Bpf.SUB | Bpf.K:
                case Bpf.ALU | Bpf.MUL | Bpf.K:
                case Bpf.ALU | Bpf.DIV | Bpf.K:
                case Bpf.ALU | Bpf.AND | Bpf.K:
                case Bpf.ALU | Bpf.OR | Bpf.K:
                case Bpf.ALU | Bpf.XOR | Bpf.K:
                case Bpf.ALU | Bpf.LSH | Bpf.K:
                case Bpf.ALU | Bpf.RSH | Bpf.K:
                case Bpf.ALU | Bpf.NEG:
                    if (f.Code == (Bpf.ALU | Bpf.DIV | Bpf.K) && f.K == 0)
                    {
                        throw new InvalidOperationException($"{pc}: division by zero");
                    }
                    break;
                case Bpf.JMP | Bpf.JA:
                    if ((long)pc + 1 + f.K >= program.Length)
                    {
                        throw new InvalidOperationException($"{pc}: ja +{f.K} leaves the program");
                    }
                    break;
                case Bpf.JMP | Bpf.JEQ | Bpf.K:
                case Bpf.JMP | Bpf.JGT | Bpf.K:
                case Bpf.JMP | Bpf.JGE | Bpf.K:
                case Bpf.JMP | Bpf.JSET | Bpf.K:
                case Bpf.JMP | Bpf.JEQ | Bpf.X:
                case Bpf.JMP | Bpf.JGT | Bpf.X:
                case Bpf.JMP | Bpf.JGE | Bpf.X:
                case Bpf.JMP | Bpf.JSET | Bpf.X:
                    if (pc + 1 + f.Jt >= program.Length || pc + 1 + f.Jf >= program.Length)
                    {
                        throw new InvalidOperationException($"{pc}: jump jt {f.Jt} jf {f.Jf} leaves the program");
                    }
                    break;
                default:
                    throw new InvalidOperationException($"{pc}: opcode 0x{f.Code:x} (class {cls}) is not allowed in a seccomp filter");
            }
        }
        var last = program[^1].Code;
        if (last != (Bpf.RET | Bpf.K) && last != (Bpf.RET | Bpf.A))
        {
            throw new InvalidOperationException("the last instruction is not a return");
        }
    }

    /// <summary>Runs a program; returns the seccomp action value and how many instructions ran.</summary>
    public static (uint Result, int Steps) Run(ReadOnlySpan<SockFilter> program, SeccompData data)
    {
        Span<uint> words = stackalloc uint[DataSize / 4];
        words[0] = data.Nr;
        words[1] = data.Arch;
        words[2] = (uint)data.Ip;
        words[3] = (uint)(data.Ip >> 32);
        var littleEndian = (data.Arch & 0x40000000) != 0; // __AUDIT_ARCH_LE
        for (var i = 0; i < 6; i++)
        {
            var arg = i < data.Args.Length ? data.Args[i] : 0;
            words[4 + 2 * i] = littleEndian ? (uint)arg : (uint)(arg >> 32);
            words[5 + 2 * i] = littleEndian ? (uint)(arg >> 32) : (uint)arg;
        }

        Span<uint> mem = stackalloc uint[16];
        uint a = 0, x = 0;
        var steps = 0;
        for (var pc = 0; pc < program.Length; pc++)
        {
            steps++;
            var f = program[pc];
            switch (f.Code)
            {
                case Bpf.LD | Bpf.W | Bpf.ABS: a = words[(int)(f.K / 4)]; break;
                case Bpf.LD | Bpf.W | Bpf.LEN: a = DataSize; break;
                case Bpf.LDX | Bpf.W | Bpf.LEN: x = DataSize; break;
                case Bpf.LD | Bpf.IMM: a = f.K; break;
                case Bpf.LDX | Bpf.IMM: x = f.K; break;
                case Bpf.LD | Bpf.MEM: a = mem[(int)f.K]; break;
                case Bpf.LDX | Bpf.MEM: x = mem[(int)f.K]; break;
                case Bpf.ST: mem[(int)f.K] = a; break;
                case Bpf.STX: mem[(int)f.K] = x; break;
                case Bpf.MISC | 0x00: x = a; break;
                case Bpf.MISC | 0x80: a = x; break;
                case Bpf.ALU | Bpf.ADD | Bpf.K: a += f.K; break;
                case Bpf.ALU | Bpf.SUB | Bpf.K: a -= f.K; break;
                case Bpf.ALU | Bpf.MUL | Bpf.K: a *= f.K; break;
                case Bpf.ALU | Bpf.DIV | Bpf.K: a /= f.K; break;
                case Bpf.ALU | Bpf.AND | Bpf.K: a &= f.K; break;
                case Bpf.ALU | Bpf.OR | Bpf.K: a |= f.K; break;
                case Bpf.ALU | Bpf.XOR | Bpf.K: a ^= f.K; break;
                case Bpf.ALU | Bpf.LSH | Bpf.K: a <<= (int)f.K; break;
                case Bpf.ALU | Bpf.RSH | Bpf.K: a >>= (int)f.K; break;
                case Bpf.ALU | Bpf.NEG: a = 0 - a; break;
                case Bpf.JMP | Bpf.JA: pc += (int)f.K; break;
                case Bpf.JMP | Bpf.JEQ | Bpf.K: pc += a == f.K ? f.Jt : f.Jf; break;
                case Bpf.JMP | Bpf.JGT | Bpf.K: pc += a > f.K ? f.Jt : f.Jf; break;
                case Bpf.JMP | Bpf.JGE | Bpf.K: pc += a >= f.K ? f.Jt : f.Jf; break;
                case Bpf.JMP | Bpf.JSET | Bpf.K: pc += (a & f.K) != 0 ? f.Jt : f.Jf; break;
                case Bpf.JMP | Bpf.JEQ | Bpf.X: pc += a == x ? f.Jt : f.Jf; break;
                case Bpf.JMP | Bpf.JGT | Bpf.X: pc += a > x ? f.Jt : f.Jf; break;
                case Bpf.JMP | Bpf.JGE | Bpf.X: pc += a >= x ? f.Jt : f.Jf; break;
                case Bpf.JMP | Bpf.JSET | Bpf.X: pc += (a & x) != 0 ? f.Jt : f.Jf; break;
                case Bpf.RET | Bpf.K: return (f.K, steps);
                case Bpf.RET | Bpf.A: return (a, steps);
                default: throw new InvalidOperationException($"{pc}: opcode 0x{f.Code:x} not allowed");
            }
        }
        throw new InvalidOperationException("the program ran off its end");
    }

    public static uint Eval(ReadOnlySpan<SockFilter> program, SeccompData data) => Run(program, data).Result;
}
