using System.Runtime.InteropServices;

namespace Berth.Linux.Seccomp;

/// <summary>One classic BPF instruction, laid out as the kernel's <c>struct sock_filter</c> (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct SockFilter(ushort Code, byte Jt, byte Jf, uint K)
{
    public override string ToString() => Bpf.Disassemble(this);
}

/// <summary>The classic BPF opcodes and seccomp return values the compiler emits.</summary>
public static class Bpf
{
    /// <summary>BPF_MAXINSNS: the kernel refuses longer programs.</summary>
    public const int MaxInstructions = 4096;

    // instruction classes, sizes, modes, operations and sources (linux/filter.h, linux/bpf_common.h)
    public const ushort LD = 0x00, LDX = 0x01, ST = 0x02, STX = 0x03, ALU = 0x04, JMP = 0x05, RET = 0x06, MISC = 0x07;
    public const ushort W = 0x00, H = 0x08, B = 0x10;
    public const ushort IMM = 0x00, ABS = 0x20, IND = 0x40, MEM = 0x60, LEN = 0x80, MSH = 0xa0;
    public const ushort ADD = 0x00, SUB = 0x10, MUL = 0x20, DIV = 0x30, OR = 0x40, AND = 0x50, LSH = 0x60, RSH = 0x70, NEG = 0x80, MOD = 0x90, XOR = 0xa0;
    public const ushort JA = 0x00, JEQ = 0x10, JGT = 0x20, JGE = 0x30, JSET = 0x40;
    public const ushort K = 0x00, X = 0x08, A = 0x10;

    // seccomp return values (linux/seccomp.h)
    public const uint RetKillProcess = 0x80000000;
    public const uint RetKillThread = 0x00000000;
    public const uint RetTrap = 0x00030000;
    public const uint RetErrno = 0x00050000;
    public const uint RetUserNotif = 0x7fc00000;
    public const uint RetTrace = 0x7ff00000;
    public const uint RetLog = 0x7ffc0000;
    public const uint RetAllow = 0x7fff0000;
    public const uint RetActionFull = 0xffff0000;
    public const uint RetData = 0x0000ffff;

    // struct seccomp_data offsets
    public const uint OffsetNr = 0;
    public const uint OffsetArch = 4;
    public const uint OffsetIp = 8;
    public const uint OffsetArgs = 16;

    /// <summary>The x32 ABI marks its system call numbers with this bit (same AUDIT_ARCH as x86_64).</summary>
    public const uint X32SyscallBit = 0x40000000;

    public static SockFilter Stmt(ushort code, uint k) => new(code, 0, 0, k);

    public static SockFilter Jump(ushort code, uint k, byte jt, byte jf) => new(code, jt, jf, k);

    /// <summary>A readable form for messages and test failures: "jeq #0x3b jt 2 jf 0".</summary>
    public static string Disassemble(SockFilter f)
    {
        return f.Code switch
        {
            LD | W | ABS => $"ld [{f.K}]",
            LD | W | IMM => $"ld #0x{f.K:x}",
            LD | W | MEM => $"ld M[{f.K}]",
            LDX | W | MEM => $"ldx M[{f.K}]",
            ST => $"st M[{f.K}]",
            STX => $"stx M[{f.K}]",
            ALU | AND | K => $"and #0x{f.K:x}",
            ALU | OR | K => $"or #0x{f.K:x}",
            JMP | JA => $"ja +{f.K}",
            JMP | JEQ | K => $"jeq #0x{f.K:x} jt {f.Jt} jf {f.Jf}",
            JMP | JGT | K => $"jgt #0x{f.K:x} jt {f.Jt} jf {f.Jf}",
            JMP | JGE | K => $"jge #0x{f.K:x} jt {f.Jt} jf {f.Jf}",
            JMP | JSET | K => $"jset #0x{f.K:x} jt {f.Jt} jf {f.Jf}",
            RET | K => $"ret #0x{f.K:x}",
            RET | A => "ret a",
            MISC | 0x00 => "tax",
            MISC | 0x80 => "txa",
            _ => $"op 0x{f.Code:x4} jt {f.Jt} jf {f.Jf} k 0x{f.K:x}",
        };
    }
}
