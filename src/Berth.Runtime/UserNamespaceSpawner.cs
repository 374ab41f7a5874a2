using System.Globalization;
using System.Text;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

/// <summary>
/// Starts a container's init (or an exec helper) in a user namespace through berth-userns, the static single-threaded
/// helper next to the runtime binary (src/Berth.Runtime/native/berth-userns.c documents its protocol). A .NET process
/// cannot unshare or join a user namespace itself (the kernel refuses it for multithreaded processes), so the helper
/// creates or joins it, waits while this process (still privileged in the host) writes uid_map and gid_map, creates the
/// other namespaces inside it, makes the runtime binary read-only in its mount namespace and execs it.
/// </summary>
internal static class UserNamespaceSpawner
{
    public const string HelperName = "berth-userns";

    /// <summary>
    /// Runs <paramref name="argv"/> (the runtime's init or exec-init arguments) through the helper; returns the host PID
    /// of the process that execs them, a child of this process, as with a direct posix_spawn.
    /// </summary>
    /// <param name="runtimeExe">The runtime binary to protect and exec.</param>
    /// <param name="joins">Namespaces to join (the user namespace among them, or <paramref name="mappings"/> for a new one).</param>
    /// <param name="unshare">Namespaces to create inside the user namespace; must contain the mount namespace.</param>
    /// <param name="mappings">uid/gid maps of a new user namespace; null to join one from <paramref name="joins"/>.</param>
    /// <param name="timeOffsets">Offsets of a new time namespace, if any.</param>
    public static int Spawn(string runtimeExe, IReadOnlyList<(string Path, string Type)> joins, NamespaceFlags unshare,
        (List<IdMapping> Uid, List<IdMapping> Gid)? mappings, Dictionary<string, TimeOffset>? timeOffsets, string[] argv)
    {
        var helper = Path.Combine(Path.GetDirectoryName(runtimeExe)!, HelperName);
        if (!File.Exists(helper))
        {
            throw BerthException.FailedPrecondition($"user namespaces need {helper} next to the runtime binary; build it with `make build` (build/build-native.sh)");
        }
        var (childRead, parentWrite) = Sys.Pipe(cloexec: false);
        var (parentRead, childWrite) = Sys.Pipe(cloexec: false);
        Sys.SetCloexec(parentWrite, true);
        Sys.SetCloexec(parentRead, true);
        var sync = new SyncPipe(parentRead, parentWrite);
        List<string> args =
        [
            HelperName,
            "--sync-in", childRead.ToString(CultureInfo.InvariantCulture),
            "--sync-out", childWrite.ToString(CultureInfo.InvariantCulture),
            "--exe", runtimeExe,
            "--unshare", ((int)(unshare & ~NamespaceFlags.User)).ToString(CultureInfo.InvariantCulture),
        ];
        foreach (var (path, type) in joins)
        {
            args.Add("--join");
            args.Add(type + "=" + path);
        }
        if (mappings is not null)
        {
            args.Add("--new-user");
        }
        if (timeOffsets is { Count: > 0 } && unshare.HasFlag(NamespaceFlags.Time))
        {
            args.Add("--timens");
            args.Add(string.Join('\n', timeOffsets.Select(kv =>
                string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value.Secs} {kv.Value.Nanosecs}"))));
        }
        args.Add("--");
        args.AddRange(argv);
        var helperPid = 0;
        var pid = 0;
        try
        {
            try
            {
                helperPid = Berth.Linux.Spawn.Start(helper, args, []);
            }
            finally
            {
                Sys.Close(childRead);
                Sys.Close(childWrite);
            }
            string? error = null;
            while (sync.Receive() is { } message)
            {
                if (message.StartsWith("map ", StringComparison.Ordinal) && mappings is { } m)
                {
                    WriteMappings(helperPid, m.Uid, m.Gid);
                    sync.Send("go");
                }
                else if (message.StartsWith("pid ", StringComparison.Ordinal) && int.TryParse(message.AsSpan(4), CultureInfo.InvariantCulture, out var p))
                {
                    pid = p;
                }
                else
                {
                    error = message.StartsWith("error ", StringComparison.Ordinal) ? message[6..] : "unexpected message: " + message;
                    break;
                }
            }
            if (error is not null || pid <= 0)
            {
                if (error is null)
                {
                    var status = Sys.WaitPid(helperPid, noHang: false, out _);
                    helperPid = 0;
                    error = $"exited without starting the runtime (exit status {(status < 0 ? "unknown" : Sys.ExitCodeOf(status))})";
                }
                throw new BerthException(ErrorCode.FailedPrecondition, "user namespace helper " + helper + ": " + error);
            }
            if (helperPid != pid)
            {
                Sys.WaitPid(helperPid, noHang: false, out _);
            }
            helperPid = 0;
            return pid;
        }
        catch
        {
            foreach (var p in new[] { pid, helperPid }.Where(p => p > 0).Distinct())
            {
                Sys.Kill(p, Signals.SIGKILL);
                Sys.WaitPid(p, noHang: false, out _);
            }
            throw;
        }
        finally
        {
            sync.Close();
        }
    }

    /// <summary>
    /// uid_map, then gid_map, each in one write as the kernel requires. setgroups stays "allow": this process holds
    /// CAP_SETGID in the parent namespace, so additionalGids keep working inside, as with runc run as root.
    /// </summary>
    private static void WriteMappings(int pid, List<IdMapping> uid, List<IdMapping> gid)
    {
        var proc = "/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/";
        Sys.WriteFile(proc + "uid_map", Format(uid));
        Sys.WriteFile(proc + "gid_map", Format(gid));
    }

    private static string Format(List<IdMapping> mappings)
    {
        var text = new StringBuilder();
        foreach (var m in mappings)
        {
            text.Append(CultureInfo.InvariantCulture, $"{m.ContainerID} {m.HostID} {m.Size}\n");
        }
        return text.ToString();
    }

    /// <summary>The host uid a container uid maps to, or null when unmapped.</summary>
    public static long? HostId(List<IdMapping>? mappings, long containerId)
    {
        foreach (var m in mappings ?? [])
        {
            if (containerId >= m.ContainerID && containerId < (long)m.ContainerID + m.Size)
            {
                return m.HostID + (containerId - m.ContainerID);
            }
        }
        return null;
    }
}
