using System.Runtime.InteropServices;
using Berth.Cgroups.Interop;
using Berth.Core;
using Berth.Oci.Runtime;

namespace Berth.Cgroups.V2;

/// <summary>
/// cgroup v2 device rules: the v1 rule list is evaluated the way the v1 device controller would (default deny or
/// allow plus exceptions), then compiled into a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup.
/// A program stays attached until the cgroup is removed; an update attaches the new one before detaching the old,
/// so there is never a moment without a filter.
/// </summary>
internal static unsafe class DeviceFilter
{
    // bpf_cgroup_dev_ctx.access_type: low 16 bits the type, high 16 bits the access.
    private const int DevBlock = 1;
    private const int DevChar = 2;
    private const int AccMknod = 1;
    private const int AccRead = 2;
    private const int AccWrite = 4;

    private static readonly byte[] License = "Apache-2.0\0"u8.ToArray();

    /// <summary>The v1 device controller's state after the rules, starting from deny-all: default plus exceptions.</summary>
    public static (bool DefaultAllow, List<(int Type, long Major, long Minor, int Access)> Exceptions) Emulate(IReadOnlyList<DeviceCgroup> rules)
    {
        var defaultAllow = false;
        var exceptions = new List<(int Type, long Major, long Minor, int Access)>();
        foreach (var rule in rules)
        {
            var type = rule.Type switch { "c" => DevChar, "b" => DevBlock, _ => 0 };
            var access = Access(rule.Access);
            if (type == 0)
            {
                // "a": a new default, exceptions cleared (as writing "a" to devices.allow/deny does).
                defaultAllow = rule.Allow;
                exceptions.Clear();
                continue;
            }
            var major = rule.Major ?? -1;
            var minor = rule.Minor ?? -1;
            if (rule.Allow != defaultAllow)
            {
                exceptions.Add((type, major, minor, access));
                continue;
            }
            // A rule with the default's action takes its access bits out of the identical exception.
            for (var i = exceptions.Count - 1; i >= 0; i--)
            {
                var e = exceptions[i];
                if (e.Type == type && e.Major == major && e.Minor == minor)
                {
                    var left = e.Access & ~access;
                    if (left == 0)
                    {
                        exceptions.RemoveAt(i);
                    }
                    else
                    {
                        exceptions[i] = e with { Access = left };
                    }
                }
            }
        }
        return (defaultAllow, exceptions);
    }

    /// <summary>The program: load the context into r2..r5, one block per exception, then the default.</summary>
    public static ulong[] Compile(IReadOnlyList<DeviceCgroup> rules)
    {
        var (defaultAllow, exceptions) = Emulate(rules);
        var insns = new List<ulong>
        {
            Insn(0x61, 2, 1, 0, 0),        // r2 = *(u32 *)(r1 + 0)      access_type
            Insn(0x54, 2, 0, 0, 0xFFFF),   // w2 &= 0xffff               type
            Insn(0x61, 3, 1, 0, 0),        // r3 = *(u32 *)(r1 + 0)
            Insn(0x74, 3, 0, 0, 16),       // w3 >>= 16                  access
            Insn(0x61, 4, 1, 4, 0),        // r4 = *(u32 *)(r1 + 4)      major
            Insn(0x61, 5, 1, 8, 0),        // r5 = *(u32 *)(r1 + 8)      minor
        };
        var action = defaultAllow ? 0 : 1;
        foreach (var e in exceptions)
        {
            var hasAccess = e.Access != (AccMknod | AccRead | AccWrite);
            // Each failed check jumps past the rest of the block (its return) to the next block.
            var length = 1 + (hasAccess ? 3 : 0) + (e.Major >= 0 ? 1 : 0) + (e.Minor >= 0 ? 1 : 0) + 2;
            var start = insns.Count;
            short Skip(int emittedIncludingThis) => (short)(length - emittedIncludingThis);
            insns.Add(Insn(0x55, 2, 0, Skip(1), e.Type));                           // if type != T goto next
            if (hasAccess)
            {
                insns.Add(Insn(0xbc, 1, 3, 0, 0));                                   // w1 = w3
                insns.Add(Insn(0x54, 1, 0, 0, e.Access));                            // w1 &= A
                insns.Add(Insn(0x5d, 1, 3, Skip(insns.Count - start + 1), 0));       // if r1 != r3 goto next: asks more than A
            }
            if (e.Major >= 0)
            {
                insns.Add(Insn(0x55, 4, 0, Skip(insns.Count - start + 1), (int)e.Major)); // if major != M goto next
            }
            if (e.Minor >= 0)
            {
                insns.Add(Insn(0x55, 5, 0, Skip(insns.Count - start + 1), (int)e.Minor)); // if minor != m goto next
            }
            insns.Add(Insn(0xb4, 0, 0, 0, action));                                  // w0 = action
            insns.Add(Insn(0x95, 0, 0, 0, 0));                                       // exit
        }
        insns.Add(Insn(0xb4, 0, 0, 0, defaultAllow ? 1 : 0));
        insns.Add(Insn(0x95, 0, 0, 0, 0));
        return [.. insns];
    }

    /// <summary>Loads the program for <paramref name="rules"/> and attaches it to <paramref name="dir"/>, replacing older ones.</summary>
    public static void Apply(string dir, IReadOnlyList<DeviceCgroup> rules)
    {
        var program = Compile(rules);
        var cgroupFd = Libc.Open(dir, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (cgroupFd < 0)
        {
            throw new CgroupIOException("open", dir, Marshal.GetLastPInvokeError(), "linux.resources.devices");
        }
        try
        {
            var old = Query(cgroupFd, dir);
            var progFd = Load(program, dir);
            try
            {
                var attr = stackalloc byte[Bpf.AttrSize];
                new Span<byte>(attr, Bpf.AttrSize).Clear();
                *(uint*)attr = (uint)cgroupFd;
                *(uint*)(attr + 4) = (uint)progFd;
                *(uint*)(attr + 8) = Bpf.BPF_CGROUP_DEVICE;
                *(uint*)(attr + 12) = Bpf.BPF_F_ALLOW_MULTI;
                if (Bpf.Call(Bpf.BPF_PROG_ATTACH, attr) < 0)
                {
                    throw new CgroupIOException("bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE)", dir, Marshal.GetLastPInvokeError(), "linux.resources.devices");
                }
            }
            finally
            {
                Libc.Close(progFd);
            }
            foreach (var id in old)
            {
                Detach(cgroupFd, id, dir);
            }
        }
        finally
        {
            Libc.Close(cgroupFd);
        }
    }

    /// <summary>The ids of the device programs attached to the cgroup itself.</summary>
    public static List<uint> Query(string dir)
    {
        var fd = Libc.Open(dir, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new CgroupIOException("open", dir, Marshal.GetLastPInvokeError());
        }
        try
        {
            return Query(fd, dir);
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    private static List<uint> Query(int cgroupFd, string dir)
    {
        const int max = 64;
        var ids = stackalloc uint[max];
        var attr = stackalloc byte[Bpf.AttrSize];
        new Span<byte>(attr, Bpf.AttrSize).Clear();
        *(uint*)attr = (uint)cgroupFd;
        *(uint*)(attr + 4) = Bpf.BPF_CGROUP_DEVICE;
        *(ulong*)(attr + 16) = (ulong)ids;
        *(uint*)(attr + 24) = max;
        if (Bpf.Call(Bpf.BPF_PROG_QUERY, attr) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno is Libc.EPERM or 38 /* ENOSYS */
                ? BerthException.Unsupported($"device rules on cgroup v2: the kernel refused bpf(2) ({Errno.Describe(errno)}) for {dir}")
                : new CgroupIOException("bpf(BPF_PROG_QUERY, BPF_CGROUP_DEVICE)", dir, errno, "linux.resources.devices");
        }
        var count = (int)Math.Min(*(uint*)(attr + 24), max);
        var result = new List<uint>(count);
        for (var i = 0; i < count; i++)
        {
            result.Add(ids[i]);
        }
        return result;
    }

    private static int Load(ulong[] program, string dir)
    {
        const int logSize = 16 * 1024;
        var log = new byte[logSize];
        fixed (ulong* insns = program)
        fixed (byte* license = License)
        fixed (byte* logBuf = log)
        {
            var attr = stackalloc byte[Bpf.AttrSize];
            new Span<byte>(attr, Bpf.AttrSize).Clear();
            *(uint*)attr = Bpf.BPF_PROG_TYPE_CGROUP_DEVICE;
            *(uint*)(attr + 4) = (uint)program.Length;
            *(ulong*)(attr + 8) = (ulong)insns;
            *(ulong*)(attr + 16) = (ulong)license;
            *(uint*)(attr + 24) = 1;            // log_level: explain a rejection
            *(uint*)(attr + 28) = logSize;
            *(ulong*)(attr + 32) = (ulong)logBuf;
            "berth_dev"u8.CopyTo(new Span<byte>(attr + 48, 16));
            var fd = Bpf.Call(Bpf.BPF_PROG_LOAD, attr);
            if (fd < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                var end = Array.IndexOf(log, (byte)0);
                var verifier = System.Text.Encoding.UTF8.GetString(log, 0, end < 0 ? log.Length : end).Trim();
                throw new CgroupIOException("bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE)", dir, errno,
                    "linux.resources.devices" + (verifier.Length > 0 ? " (verifier: " + verifier + ")" : ""));
            }
            return fd;
        }
    }

    private static void Detach(int cgroupFd, uint id, string dir)
    {
        var attr = stackalloc byte[Bpf.AttrSize];
        new Span<byte>(attr, Bpf.AttrSize).Clear();
        *(uint*)attr = id;
        var progFd = Bpf.Call(Bpf.BPF_PROG_GET_FD_BY_ID, attr);
        if (progFd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.ENOENT)
            {
                return; // already gone
            }
            throw new CgroupIOException("bpf(BPF_PROG_GET_FD_BY_ID)", dir, errno, "replacing the device program");
        }
        try
        {
            new Span<byte>(attr, Bpf.AttrSize).Clear();
            *(uint*)attr = (uint)cgroupFd;
            *(uint*)(attr + 4) = (uint)progFd;
            *(uint*)(attr + 8) = Bpf.BPF_CGROUP_DEVICE;
            if (Bpf.Call(Bpf.BPF_PROG_DETACH, attr) < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Libc.ENOENT)
                {
                    throw new CgroupIOException("bpf(BPF_PROG_DETACH, BPF_CGROUP_DEVICE)", dir, errno, "replacing the device program");
                }
            }
        }
        finally
        {
            Libc.Close(progFd);
        }
    }

    private static int Access(string? access)
    {
        if (string.IsNullOrEmpty(access))
        {
            return AccMknod | AccRead | AccWrite;
        }
        var bits = 0;
        foreach (var c in access)
        {
            bits |= c switch { 'r' => AccRead, 'w' => AccWrite, 'm' => AccMknod, _ => 0 };
        }
        return bits;
    }

    // struct bpf_insn { u8 code; u8 dst:4, src:4; s16 off; s32 imm; } little-endian.
    private static ulong Insn(byte code, int dst, int src, short off, int imm) =>
        code | ((ulong)(byte)((src << 4) | dst) << 8) | ((ulong)(ushort)off << 16) | ((ulong)(uint)imm << 32);
}
