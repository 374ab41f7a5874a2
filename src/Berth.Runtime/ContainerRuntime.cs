using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Berth.Cgroups;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

/// <summary>
/// The container lifecycle behind berth-runtime's verbs. Each verb is a short-lived process: state lives in
/// <see cref="StateDirectory"/>, the container's processes are never children of a long-running runtime.
/// </summary>
public sealed partial class ContainerRuntime(StateDirectory states, string selfExecutable)
{
    private CgroupLayout? _layout;

    public StateDirectory States => states;

    private CgroupLayout Layout => _layout ??= CgroupLayout.Detect();

    /// <summary>The OCI state of a container, with its live status.</summary>
    public State GetState(string id)
    {
        var record = states.Load(id);
        var status = StatusOf(record);
        return ToState(record, status);
    }

    private static State ToState(ContainerRecord record, ContainerStatus status) => new()
    {
        Id = record.Id,
        Pid = status == ContainerStatus.Stopped ? 0 : record.Pid,
        Status = status.ToOci(),
        Bundle = record.Bundle,
        Rootfs = record.Rootfs,
        Created = record.Created,
        Owner = record.Owner,
        Annotations = record.Annotations,
    };

    public ContainerStatus StatusOf(ContainerRecord record)
    {
        var stat = ProcStat.Read(record.Pid);
        if (stat is null || stat.Value.IsZombieOrDead || stat.Value.StartTime != record.PidStartTime)
        {
            return ContainerStatus.Stopped;
        }
        if (File.Exists(states.FifoOf(record.Id)))
        {
            return ContainerStatus.Created;
        }
        if (record.CgroupPath.Length > 0 && LoadCgroup(record).GetFreezerState() != FreezerState.Thawed)
        {
            return ContainerStatus.Paused;
        }
        return ContainerStatus.Running;
    }

    private ICgroupManager LoadCgroup(ContainerRecord record) => CgroupManager.Load(Layout, record.CgroupPath);

    public IEnumerable<State> List()
    {
        foreach (var id in states.Ids())
        {
            State? state;
            try
            {
                state = GetState(id);
            }
            catch (BerthException)
            {
                continue;
            }
            yield return state;
        }
    }

    /// <summary>
    /// The OCI state as JSON (`state`, hooks' stdin), written by hand in the serializer's indented shape: engines call
    /// `state` often, and the serializer's first use would cost each such process milliseconds.
    /// </summary>
    public static string StateJson(State state)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("ociVersion", state.OciVersion);
            w.WriteString("id", state.Id);
            w.WriteString("status", state.Status);
            w.WriteNumber("pid", state.Pid);
            w.WriteString("bundle", state.Bundle);
            JsonWrite.OptionalString(w, "rootfs", state.Rootfs);
            if (state.Created is { } created)
            {
                w.WriteString("created", created);
            }
            JsonWrite.OptionalString(w, "owner", state.Owner);
            JsonWrite.StringMap(w, "annotations", state.Annotations);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WritePidFile(string? pidFile, int pid)
    {
        if (!string.IsNullOrEmpty(pidFile))
        {
            AtomicFile.WriteAllText(Path.GetFullPath(pidFile), pid.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Waits up to <paramref name="timeout"/> for a process to be gone (or a zombie).</summary>
    private static bool WaitGone(int pid, ulong startTime, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var delay = 1;
        while (true)
        {
            var stat = ProcStat.Read(pid);
            if (stat is null || stat.Value.IsZombieOrDead || stat.Value.StartTime != startTime)
            {
                return true;
            }
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }
            Thread.Sleep(delay);
            delay = Math.Min(delay * 2, 20);
        }
    }
}

public enum ContainerStatus
{
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

public static class ContainerStatusExtensions
{
    public static string ToOci(this ContainerStatus status) => status switch
    {
        ContainerStatus.Creating => "creating",
        ContainerStatus.Created => "created",
        ContainerStatus.Running => "running",
        ContainerStatus.Paused => "paused",
        _ => "stopped",
    };
}
