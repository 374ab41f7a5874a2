using System.Globalization;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

/// <summary>
/// Which namespaces a container gets new and which it joins. New ones are unshared on the spawning thread (so only the
/// init inherits them), except the cgroup namespace, which init unshares itself once it sits in its cgroup so that the
/// namespace is rooted there. User namespaces cannot be entered from a multithreaded process and are refused.
/// </summary>
internal sealed class NamespacePlan
{
    public NamespaceFlags Unshare { get; private set; }

    public List<(string Path, NamespaceFlags Flag, string Type)> Join { get; } = [];

    public HashSet<string> Own { get; } = [];

    public HashSet<string> All { get; } = [];

    public static NamespacePlan From(Spec spec)
    {
        var plan = new NamespacePlan();
        var flags = NamespaceFlags.None;
        foreach (var ns in spec.Linux?.Namespaces ?? [])
        {
            var (flag, _) = NamespaceKinds.FromOci(ns.Type)!.Value;
            plan.All.Add(ns.Type);
            if (string.IsNullOrEmpty(ns.Path))
            {
                plan.Own.Add(ns.Type);
                if (flag != NamespaceFlags.Cgroup)
                {
                    flags |= flag;
                }
            }
            else
            {
                plan.Join.Add((ns.Path, flag, ns.Type));
            }
        }
        if (plan.All.Contains("user"))
        {
            throw BerthException.Unsupported("user namespaces (linux.namespaces type \"user\"); remove it or run with runc/crun");
        }
        if (!plan.Own.Contains("mount"))
        {
            throw BerthException.InvalidArgument("linux.namespaces: a new mount namespace (type \"mount\" without a path) is required");
        }
        plan.Unshare = flags;
        return plan;
    }

    /// <summary>Runs on the spawning thread: join, then unshare, then set time offsets for the new time namespace.</summary>
    public void Enter(Dictionary<string, TimeOffset>? timeOffsets)
    {
        foreach (var (path, flag, type) in Join)
        {
            var fd = Sys.Open(path, Sys.O_RDONLY);
            try
            {
                Sys.SetNs(fd, flag, type + " " + path);
            }
            finally
            {
                Sys.Close(fd);
            }
        }
        if (Unshare != NamespaceFlags.None)
        {
            Sys.Unshare(Unshare);
        }
        if (timeOffsets is { Count: > 0 } && Unshare.HasFlag(NamespaceFlags.Time))
        {
            var lines = string.Join('\n', timeOffsets.Select(kv =>
                string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value.Secs} {kv.Value.Nanosecs}")));
            Sys.WriteFile("/proc/thread-self/timens_offsets", lines);
        }
    }
}
