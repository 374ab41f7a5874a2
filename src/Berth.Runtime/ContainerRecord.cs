using System.Buffers;
using System.Text.Json;
using Berth.Oci.Runtime;
using static Berth.Runtime.JsonRead;

namespace Berth.Runtime;

/// <summary>What the runtime keeps about a container in its state dir (state.json), written atomically.</summary>
public sealed class ContainerRecord
{
    public string Id { get; set; } = "";

    public int Pid { get; set; }

    /// <summary>Start time of the init process in clock ticks (/proc/PID/stat field 22), to detect PID reuse.</summary>
    public ulong PidStartTime { get; set; }

    public string Bundle { get; set; } = "";

    public string Rootfs { get; set; } = "";

    public DateTimeOffset Created { get; set; }

    public string Owner { get; set; } = "";

    /// <summary>What Berth.Cgroups needs to find the container's cgroup again (ICgroupManager.SavedPath).</summary>
    public string CgroupPath { get; set; } = "";

    public Dictionary<string, string>? Annotations { get; set; }

    /// <summary>The OCI types of the namespaces the container has (new or joined); exec joins the same ones.</summary>
    public List<string> Namespaces { get; set; } = [];

    /// <summary>Set (and saved) by `start` when there are poststop hooks: `delete` runs them only for started containers.</summary>
    public bool Started { get; set; }

    /// <summary>The spec's poststart and poststop hooks as they were at create, so start and delete need not re-read config.json.</summary>
    public List<Oci.Runtime.Hook>? Poststart { get; set; }

    public List<Oci.Runtime.Hook>? Poststop { get; set; }
}

/// <summary>
/// state.json by hand (Utf8JsonWriter/Utf8JsonReader) rather than through the serializer, whose first use in a process
/// costs milliseconds; the shape is the camelCase one the serializer wrote, so state dirs of older builds still load.
/// </summary>
public static class ContainerRecordJson
{
    public static byte[] Write(ContainerRecord c)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("id", c.Id);
            w.WriteNumber("pid", c.Pid);
            w.WriteNumber("pidStartTime", c.PidStartTime);
            w.WriteString("bundle", c.Bundle);
            w.WriteString("rootfs", c.Rootfs);
            w.WriteString("created", c.Created);
            w.WriteString("owner", c.Owner);
            w.WriteString("cgroupPath", c.CgroupPath);
            JsonWrite.StringMap(w, "annotations", c.Annotations);
            JsonWrite.Strings(w, "namespaces", c.Namespaces);
            w.WriteBoolean("started", c.Started);
            WriteHooks(w, "poststart", c.Poststart);
            WriteHooks(w, "poststop", c.Poststop);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteHooks(Utf8JsonWriter w, string name, List<Hook>? hooks)
    {
        if (hooks is null)
        {
            return;
        }
        w.WriteStartArray(name);
        foreach (var h in hooks)
        {
            w.WriteStartObject();
            w.WriteString("path", h.Path);
            JsonWrite.Strings(w, "args", h.Args);
            JsonWrite.Strings(w, "env", h.Env);
            if (h.Timeout is { } timeout)
            {
                w.WriteNumber("timeout", timeout);
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    public static ContainerRecord Read(ReadOnlySpan<byte> json)
    {
        var r = Open(json);
        if (!BeginObject(ref r, ""))
        {
            throw new JsonException("the document is null", "$", null, 0);
        }
        var c = new ContainerRecord();
        while (NextProperty(ref r, out var name))
        {
            switch (name)
            {
                case "id": c.Id = StringOr(ref r, name, c.Id); break;
                case "pid": c.Pid = Int32(ref r, name); break;
                case "pidStartTime": c.PidStartTime = UInt64(ref r, name); break;
                case "bundle": c.Bundle = StringOr(ref r, name, c.Bundle); break;
                case "rootfs": c.Rootfs = StringOr(ref r, name, c.Rootfs); break;
                case "created": c.Created = DateTimeOffset(ref r, name); break;
                case "owner": c.Owner = StringOr(ref r, name, c.Owner); break;
                case "cgroupPath": c.CgroupPath = StringOr(ref r, name, c.CgroupPath); break;
                case "annotations": c.Annotations = StringMap(ref r, name); break;
                case "namespaces": c.Namespaces = Strings(ref r, name) ?? c.Namespaces; break;
                case "started": c.Started = Bool(ref r, name); break;
                case "poststart": c.Poststart = Objects(ref r, name, SpecReader.ReadHook); break;
                case "poststop": c.Poststop = Objects(ref r, name, SpecReader.ReadHook); break;
                default: Skip(ref r); break;
            }
        }
        End(ref r);
        return c;
    }
}
