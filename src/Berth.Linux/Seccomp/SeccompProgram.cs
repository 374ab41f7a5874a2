using System.Runtime.InteropServices;

namespace Berth.Linux.Seccomp;

/// <summary>How a profile is compiled.</summary>
public sealed class SeccompCompileOptions
{
    public static readonly SeccompCompileOptions Default = new();

    /// <summary>The ABI of the process that loads the filter (always filtered, as libseccomp does); null: this process's.</summary>
    public SeccompArchitecture? NativeArchitecture { get; init; }

    /// <summary>
    /// runc's -ENOSYS stub: when the default action denies (not ALLOW, LOG or TRACE), a system call numbered above
    /// every call the profile names for a listed architecture fails with ENOSYS instead of the default action, so
    /// that libc falls back from calls newer than the profile (clone3, fchmodat2, ...). On by default, as in runc.
    /// </summary>
    public bool EnosysForNewerSyscalls { get; init; } = true;
}

/// <summary>A compiled filter: the classic BPF program to load, the flags to load it with, and what was skipped.</summary>
public sealed class SeccompProgram
{
    internal SeccompProgram(SockFilter[] instructions, SeccompFilterFlags flags, IReadOnlyList<string> warnings)
    {
        Instructions = instructions;
        Flags = flags;
        Warnings = warnings;
    }

    public SockFilter[] Instructions { get; }

    public int Length => Instructions.Length;

    public SeccompFilterFlags Flags { get; }

    /// <summary>Things skipped that a log should mention, e.g. a system call no architecture knows.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>The program as the kernel reads it (host byte order), e.g. to hand to a loader in another process.</summary>
    public byte[] ToBytes() => MemoryMarshal.AsBytes(Instructions.AsSpan()).ToArray();

    /// <summary>Reads a program written by <see cref="ToBytes"/> (or libseccomp's seccomp_export_bpf).</summary>
    public static SockFilter[] FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length % 8 != 0)
        {
            throw Berth.Core.BerthException.InvalidArgument($"a BPF program is a multiple of 8 bytes; got {bytes.Length}");
        }
        return MemoryMarshal.Cast<byte, SockFilter>(bytes).ToArray();
    }

    public override string ToString()
    {
        var sb = new System.Text.StringBuilder();
        for (var i = 0; i < Instructions.Length; i++)
        {
            sb.Append(i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture)).Append(": ").Append(Bpf.Disassemble(Instructions[i])).Append('\n');
        }
        return sb.ToString();
    }
}
