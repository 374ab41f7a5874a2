using Berth.Core;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

/// <summary>Compiles the spec's seccomp profile to BPF and loads it on the calling thread.</summary>
internal static class SeccompBinding
{
    public static void Load(Seccomp profile) =>
        throw BerthException.Unsupported($"seccomp profiles (default action {profile.DefaultAction}) are not compiled yet");
}
