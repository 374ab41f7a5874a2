using System.Text.Json;
using Berth.Linux.Seccomp;
using Berth.Testing;

namespace Berth.Linux.Tests.Seccomp;

/// <summary>
/// docker-default.json: the linux.seccomp that Docker hands a runtime for its default profile on amd64 with the
/// default capabilities (366 names, conditional personality/clone/socket rules, clone3 → ENOSYS). Mapped to the
/// Berth model the way the runtime maps Berth.Oci's Seccomp.
/// </summary>
public static class DockerProfile
{
    public static string Path => System.IO.Path.Combine(Repo.Root, "tests", "Berth.Linux.Tests", "Seccomp", "docker-default.json");

    public static SeccompProfile Load() => Parse(File.ReadAllText(Path));

    public static SeccompProfile Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var rules = new List<SeccompRule>();
        var i = 0;
        foreach (var s in root.GetProperty("syscalls").EnumerateArray())
        {
            var field = $"linux.seccomp.syscalls[{i++}]";
            var conditions = new List<SeccompCondition>();
            if (s.TryGetProperty("args", out var args))
            {
                foreach (var a in args.EnumerateArray())
                {
                    conditions.Add(new SeccompCondition(
                        a.GetProperty("index").GetInt32(),
                        SeccompNames.ParseOperator(a.GetProperty("op").GetString()!, field + ".op"),
                        a.GetProperty("value").GetUInt64(),
                        a.TryGetProperty("valueTwo", out var two) ? two.GetUInt64() : 0));
                }
            }
            rules.Add(new SeccompRule(
                s.GetProperty("names").EnumerateArray().Select(n => n.GetString()!).ToArray(),
                SeccompNames.ParseAction(s.GetProperty("action").GetString()!, field + ".action"),
                s.TryGetProperty("errnoRet", out var errno) ? errno.GetUInt32() : null,
                conditions));
        }
        var arches = root.TryGetProperty("architectures", out var list)
            ? list.EnumerateArray().Select(a => SeccompNames.ParseArchitecture(a.GetString()!)).OfType<SeccompArchitecture>().ToArray()
            : [];
        return new SeccompProfile(
            SeccompNames.ParseAction(root.GetProperty("defaultAction").GetString()!, "linux.seccomp.defaultAction"),
            rules,
            root.TryGetProperty("defaultErrnoRet", out var d) ? d.GetUInt32() : null,
            arches);
    }

    public static string[] Names(SeccompProfile profile) => profile.Rules.SelectMany(r => r.Names).Distinct().ToArray();
}
