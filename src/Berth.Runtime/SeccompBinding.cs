using Berth.Core;
using Berth.Linux.Seccomp;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

/// <summary>Maps the spec's seccomp section onto Berth.Linux.Seccomp, compiles it to BPF and loads it on the calling thread.</summary>
internal static class SeccompBinding
{
    public static void Load(Seccomp seccomp) => SeccompFilter.Load(SeccompCompiler.Compile(ToProfile(seccomp)));

    public static SeccompProfile ToProfile(Seccomp seccomp)
    {
        if (!string.IsNullOrEmpty(seccomp.ListenerPath))
        {
            throw BerthException.Unsupported("linux.seccomp.listenerPath (seccomp user notification)");
        }
        var rules = new List<SeccompRule>();
        for (var i = 0; i < (seccomp.Syscalls?.Count ?? 0); i++)
        {
            var s = seccomp.Syscalls![i];
            var conditions = new List<SeccompCondition>();
            for (var j = 0; j < (s.Args?.Count ?? 0); j++)
            {
                var a = s.Args![j];
                conditions.Add(new SeccompCondition((int)a.Index,
                    SeccompNames.ParseOperator(a.Op, $"linux.seccomp.syscalls[{i}].args[{j}].op"), a.Value, a.ValueTwo));
            }
            rules.Add(new SeccompRule(s.Names, SeccompNames.ParseAction(s.Action, $"linux.seccomp.syscalls[{i}].action"), s.ErrnoRet, conditions));
        }
        var architectures = new List<SeccompArchitecture>();
        foreach (var a in seccomp.Architectures ?? [])
        {
            if (SeccompNames.ParseArchitecture(a) is { } arch)
            {
                architectures.Add(arch);
            }
        }
        var flags = SeccompFilterFlags.None;
        foreach (var f in seccomp.Flags ?? [])
        {
            flags |= SeccompNames.ParseFlag(f);
        }
        return new SeccompProfile(SeccompNames.ParseAction(seccomp.DefaultAction, "linux.seccomp.defaultAction"), rules, seccomp.DefaultErrnoRet, architectures, flags);
    }
}
