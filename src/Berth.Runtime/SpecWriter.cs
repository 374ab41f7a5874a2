using System.Buffers;
using System.Text.Json;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

/// <summary>
/// Writes the part of a spec that exec hands its helper (process and linux.seccomp) as config.json-shaped JSON, by hand:
/// the serializer's first use would cost the exec path milliseconds. <see cref="SpecReader"/> reads it back;
/// SpecReaderTests checks that the serializer reads the same thing.
/// </summary>
public static class SpecWriter
{
    public static byte[] ExecPayload(Process process, Seccomp? seccomp)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WritePropertyName("process");
            WriteProcess(w, process);
            if (seccomp is not null)
            {
                w.WriteStartObject("linux");
                w.WritePropertyName("seccomp");
                WriteSeccomp(w, seccomp);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteProcess(Utf8JsonWriter w, Process p)
    {
        w.WriteStartObject();
        w.WriteBoolean("terminal", p.Terminal);
        if (p.ConsoleSize is { } size)
        {
            w.WriteStartObject("consoleSize");
            w.WriteNumber("height", size.Height);
            w.WriteNumber("width", size.Width);
            w.WriteEndObject();
        }
        w.WriteStartObject("user");
        w.WriteNumber("uid", p.User.Uid);
        w.WriteNumber("gid", p.User.Gid);
        if (p.User.Umask is { } umask)
        {
            w.WriteNumber("umask", umask);
        }
        if (p.User.AdditionalGids is { } gids)
        {
            w.WriteStartArray("additionalGids");
            foreach (var g in gids)
            {
                w.WriteNumberValue(g);
            }
            w.WriteEndArray();
        }
        JsonWrite.OptionalString(w, "username", p.User.Username);
        w.WriteEndObject();
        JsonWrite.Strings(w, "args", p.Args);
        JsonWrite.OptionalString(w, "commandLine", p.CommandLine);
        JsonWrite.Strings(w, "env", p.Env);
        w.WriteString("cwd", p.Cwd);
        if (p.Capabilities is { } caps)
        {
            w.WriteStartObject("capabilities");
            JsonWrite.Strings(w, "bounding", caps.Bounding);
            JsonWrite.Strings(w, "effective", caps.Effective);
            JsonWrite.Strings(w, "inheritable", caps.Inheritable);
            JsonWrite.Strings(w, "permitted", caps.Permitted);
            JsonWrite.Strings(w, "ambient", caps.Ambient);
            w.WriteEndObject();
        }
        if (p.Rlimits is { } rlimits)
        {
            w.WriteStartArray("rlimits");
            foreach (var r in rlimits)
            {
                w.WriteStartObject();
                w.WriteString("type", r.Type);
                w.WriteNumber("hard", r.Hard);
                w.WriteNumber("soft", r.Soft);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteBoolean("noNewPrivileges", p.NoNewPrivileges);
        JsonWrite.OptionalString(w, "apparmorProfile", p.ApparmorProfile);
        if (p.OomScoreAdj is { } adj)
        {
            w.WriteNumber("oomScoreAdj", adj);
        }
        JsonWrite.OptionalString(w, "selinuxLabel", p.SelinuxLabel);
        if (p.Scheduler is { } s)
        {
            w.WriteStartObject("scheduler");
            w.WriteString("policy", s.Policy);
            w.WriteNumber("nice", s.Nice);
            w.WriteNumber("priority", s.Priority);
            w.WriteEndObject();
        }
        if (p.IoPriority is { } io)
        {
            w.WriteStartObject("ioPriority");
            w.WriteString("class", io.Class);
            w.WriteNumber("priority", io.Priority);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    private static void WriteSeccomp(Utf8JsonWriter w, Seccomp s)
    {
        w.WriteStartObject();
        w.WriteString("defaultAction", s.DefaultAction);
        if (s.DefaultErrnoRet is { } errno)
        {
            w.WriteNumber("defaultErrnoRet", errno);
        }
        JsonWrite.Strings(w, "architectures", s.Architectures);
        JsonWrite.Strings(w, "flags", s.Flags);
        JsonWrite.OptionalString(w, "listenerPath", s.ListenerPath);
        JsonWrite.OptionalString(w, "listenerMetadata", s.ListenerMetadata);
        if (s.Syscalls is { } syscalls)
        {
            w.WriteStartArray("syscalls");
            foreach (var sc in syscalls)
            {
                w.WriteStartObject();
                JsonWrite.Strings(w, "names", sc.Names);
                w.WriteString("action", sc.Action);
                if (sc.ErrnoRet is { } ret)
                {
                    w.WriteNumber("errnoRet", ret);
                }
                if (sc.Args is { } args)
                {
                    w.WriteStartArray("args");
                    foreach (var a in args)
                    {
                        w.WriteStartObject();
                        w.WriteNumber("index", a.Index);
                        w.WriteNumber("value", a.Value);
                        w.WriteNumber("valueTwo", a.ValueTwo);
                        w.WriteString("op", a.Op);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }
}
