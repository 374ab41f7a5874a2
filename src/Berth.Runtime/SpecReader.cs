using System.Text.Json;
using Berth.Oci.Runtime;
using static Berth.Runtime.JsonRead;

namespace Berth.Runtime;

/// <summary>
/// A hand-written reader of config.json (OCI runtime spec 1.x) into the <see cref="Spec"/> model, for the runtime's hot
/// path: it gives the same objects as the source-generated serializer (SpecReaderTests compares them) at a fraction of
/// the first-use cost. Errors are <see cref="JsonException"/>s whose Path names the field.
/// </summary>
public static class SpecReader
{
    public static Spec Read(ReadOnlySpan<byte> json)
    {
        var r = Open(json);
        var spec = ReadSpec(ref r, "") ?? throw new JsonException("the document is null", "$", null, 0);
        End(ref r);
        return spec;
    }

    /// <summary>A process object alone (exec --process).</summary>
    public static Process ReadProcess(ReadOnlySpan<byte> json)
    {
        var r = Open(json);
        var process = ReadProcess(ref r, "") ?? throw new JsonException("the document is null", "$", null, 0);
        End(ref r);
        return process;
    }

    /// <summary>A linux.resources object alone (the body of `update --resources`); null reads as no change.</summary>
    public static Resources ReadResources(ReadOnlySpan<byte> json)
    {
        var r = Open(json);
        var resources = ReadResources(ref r, "") ?? new Resources();
        End(ref r);
        return resources;
    }

    private static string Field(string path, string name) => path.Length == 0 ? name : path + "." + name;

    private static Spec? ReadSpec(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var s = new Spec();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "ociVersion": s.OciVersion = StringOr(ref r, p, s.OciVersion); break;
                case "process": s.Process = ReadProcess(ref r, p); break;
                case "root": s.Root = ReadRoot(ref r, p); break;
                case "hostname": s.Hostname = String(ref r, p); break;
                case "domainname": s.Domainname = String(ref r, p); break;
                case "mounts": s.Mounts = Objects(ref r, p, ReadMount); break;
                case "hooks": s.Hooks = ReadHooks(ref r, p); break;
                case "annotations": s.Annotations = StringMap(ref r, p); break;
                case "linux": s.Linux = ReadLinux(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return s;
    }

    private static Process? ReadProcess(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Process();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "terminal": x.Terminal = Bool(ref r, p); break;
                case "consoleSize": x.ConsoleSize = ReadBox(ref r, p); break;
                case "user": x.User = ReadUser(ref r, p) ?? x.User; break;
                case "args": x.Args = Strings(ref r, p); break;
                case "commandLine": x.CommandLine = String(ref r, p); break;
                case "env": x.Env = Strings(ref r, p); break;
                case "cwd": x.Cwd = StringOr(ref r, p, x.Cwd); break;
                case "capabilities": x.Capabilities = ReadCapabilities(ref r, p); break;
                case "rlimits": x.Rlimits = Objects(ref r, p, ReadRlimit); break;
                case "noNewPrivileges": x.NoNewPrivileges = Bool(ref r, p); break;
                case "apparmorProfile": x.ApparmorProfile = String(ref r, p); break;
                case "oomScoreAdj": x.OomScoreAdj = NullableInt32(ref r, p); break;
                case "selinuxLabel": x.SelinuxLabel = String(ref r, p); break;
                case "scheduler": x.Scheduler = ReadScheduler(ref r, p); break;
                case "ioPriority": x.IoPriority = ReadIoPriority(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static Box? ReadBox(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Box();
        while (NextProperty(ref r, out var name))
        {
            switch (name)
            {
                case "height": x.Height = UInt32(ref r, Field(path, name)); break;
                case "width": x.Width = UInt32(ref r, Field(path, name)); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static User? ReadUser(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new User();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "uid": x.Uid = UInt32(ref r, p); break;
                case "gid": x.Gid = UInt32(ref r, p); break;
                case "umask": x.Umask = NullableUInt32(ref r, p); break;
                case "additionalGids": x.AdditionalGids = UInt32s(ref r, p); break;
                case "username": x.Username = String(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static Capabilities? ReadCapabilities(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Capabilities();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "bounding": x.Bounding = Strings(ref r, p); break;
                case "effective": x.Effective = Strings(ref r, p); break;
                case "inheritable": x.Inheritable = Strings(ref r, p); break;
                case "permitted": x.Permitted = Strings(ref r, p); break;
                case "ambient": x.Ambient = Strings(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static Rlimit? ReadRlimit(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Rlimit();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "type": x.Type = StringOr(ref r, p, x.Type); break;
                case "hard": x.Hard = UInt64(ref r, p); break;
                case "soft": x.Soft = UInt64(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static Scheduler? ReadScheduler(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Scheduler();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "policy": x.Policy = StringOr(ref r, p, x.Policy); break;
                case "nice": x.Nice = Int32(ref r, p); break;
                case "priority": x.Priority = Int32(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static IoPriority? ReadIoPriority(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new IoPriority();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "class": x.Class = StringOr(ref r, p, x.Class); break;
                case "priority": x.Priority = Int32(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static Root? ReadRoot(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Root();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "path": x.Path = StringOr(ref r, p, x.Path); break;
                case "readonly": x.Readonly = Bool(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static Mount? ReadMount(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Mount();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "destination": x.Destination = StringOr(ref r, p, x.Destination); break;
                case "type": x.Type = String(ref r, p); break;
                case "source": x.Source = String(ref r, p); break;
                case "options": x.Options = Strings(ref r, p); break;
                case "uidMappings": x.UidMappings = Objects(ref r, p, ReadIdMapping); break;
                case "gidMappings": x.GidMappings = Objects(ref r, p, ReadIdMapping); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static IdMapping? ReadIdMapping(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new IdMapping();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "containerID": x.ContainerID = UInt32(ref r, p); break;
                case "hostID": x.HostID = UInt32(ref r, p); break;
                case "size": x.Size = UInt32(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static Hooks? ReadHooks(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Hooks();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "prestart": x.Prestart = Objects(ref r, p, ReadHook); break;
                case "createRuntime": x.CreateRuntime = Objects(ref r, p, ReadHook); break;
                case "createContainer": x.CreateContainer = Objects(ref r, p, ReadHook); break;
                case "startContainer": x.StartContainer = Objects(ref r, p, ReadHook); break;
                case "poststart": x.Poststart = Objects(ref r, p, ReadHook); break;
                case "poststop": x.Poststop = Objects(ref r, p, ReadHook); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    internal static Hook? ReadHook(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Hook();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "path": x.Path = StringOr(ref r, p, x.Path); break;
                case "args": x.Args = Strings(ref r, p); break;
                case "env": x.Env = Strings(ref r, p); break;
                case "timeout": x.Timeout = NullableInt32(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static Berth.Oci.Runtime.Linux? ReadLinux(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Berth.Oci.Runtime.Linux();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "uidMappings": x.UidMappings = Objects(ref r, p, ReadIdMapping); break;
                case "gidMappings": x.GidMappings = Objects(ref r, p, ReadIdMapping); break;
                case "sysctl": x.Sysctl = StringMap(ref r, p); break;
                case "resources": x.Resources = ReadResources(ref r, p); break;
                case "cgroupsPath": x.CgroupsPath = String(ref r, p); break;
                case "namespaces": x.Namespaces = Objects(ref r, p, ReadNamespace); break;
                case "devices": x.Devices = Objects(ref r, p, ReadDevice); break;
                case "seccomp": x.Seccomp = ReadSeccomp(ref r, p); break;
                case "rootfsPropagation": x.RootfsPropagation = String(ref r, p); break;
                case "maskedPaths": x.MaskedPaths = Strings(ref r, p); break;
                case "readonlyPaths": x.ReadonlyPaths = Strings(ref r, p); break;
                case "mountLabel": x.MountLabel = String(ref r, p); break;
                case "timeOffsets": x.TimeOffsets = ReadTimeOffsets(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static Dictionary<string, TimeOffset>? ReadTimeOffsets(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var map = new Dictionary<string, TimeOffset>(StringComparer.Ordinal);
        while (NextProperty(ref r, out var clock))
        {
            var p = Field(path, clock);
            if (!BeginObject(ref r, p))
            {
                throw new JsonException("expected an object, found null", "$." + p, null, r.TokenStartIndex);
            }
            var x = new TimeOffset();
            while (NextProperty(ref r, out var name))
            {
                switch (name)
                {
                    case "secs": x.Secs = Int64(ref r, Field(p, name)); break;
                    case "nanosecs": x.Nanosecs = UInt32(ref r, Field(p, name)); break;
                    default: Skip(ref r); break;
                }
            }
            map[clock] = x;
        }
        return map;
    }

    private static Namespace? ReadNamespace(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Namespace();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "type": x.Type = StringOr(ref r, p, x.Type); break;
                case "path": x.Path = String(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static Device? ReadDevice(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Device();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "path": x.Path = StringOr(ref r, p, x.Path); break;
                case "type": x.Type = StringOr(ref r, p, x.Type); break;
                case "major": x.Major = Int64(ref r, p); break;
                case "minor": x.Minor = Int64(ref r, p); break;
                case "fileMode": x.FileMode = NullableUInt32(ref r, p); break;
                case "uid": x.Uid = NullableUInt32(ref r, p); break;
                case "gid": x.Gid = NullableUInt32(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static Resources? ReadResources(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Resources();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "devices": x.Devices = Objects(ref r, p, ReadDeviceCgroup); break;
                case "memory": x.Memory = ReadMemory(ref r, p); break;
                case "cpu": x.Cpu = ReadCpu(ref r, p); break;
                case "pids": x.Pids = ReadPids(ref r, p); break;
                case "blockIO": x.BlockIO = ReadBlockIo(ref r, p); break;
                case "hugepageLimits": x.HugepageLimits = Objects(ref r, p, ReadHugepageLimit); break;
                case "unified": x.Unified = StringMap(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static DeviceCgroup? ReadDeviceCgroup(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new DeviceCgroup();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "allow": x.Allow = Bool(ref r, p); break;
                case "type": x.Type = String(ref r, p); break;
                case "major": x.Major = NullableInt64(ref r, p); break;
                case "minor": x.Minor = NullableInt64(ref r, p); break;
                case "access": x.Access = String(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static MemoryResources? ReadMemory(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new MemoryResources();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "limit": x.Limit = NullableInt64(ref r, p); break;
                case "reservation": x.Reservation = NullableInt64(ref r, p); break;
                case "swap": x.Swap = NullableInt64(ref r, p); break;
                case "kernel": x.Kernel = NullableInt64(ref r, p); break;
                case "kernelTCP": x.KernelTcp = NullableInt64(ref r, p); break;
                case "swappiness": x.Swappiness = NullableUInt64(ref r, p); break;
                case "disableOOMKiller": x.DisableOomKiller = NullableBool(ref r, p); break;
                case "useHierarchy": x.UseHierarchy = NullableBool(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static CpuResources? ReadCpu(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new CpuResources();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "shares": x.Shares = NullableUInt64(ref r, p); break;
                case "quota": x.Quota = NullableInt64(ref r, p); break;
                case "burst": x.Burst = NullableUInt64(ref r, p); break;
                case "period": x.Period = NullableUInt64(ref r, p); break;
                case "realtimeRuntime": x.RealtimeRuntime = NullableInt64(ref r, p); break;
                case "realtimePeriod": x.RealtimePeriod = NullableUInt64(ref r, p); break;
                case "cpus": x.Cpus = String(ref r, p); break;
                case "mems": x.Mems = String(ref r, p); break;
                case "idle": x.Idle = NullableInt64(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static PidsResources? ReadPids(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new PidsResources();
        while (NextProperty(ref r, out var name))
        {
            switch (name)
            {
                case "limit": x.Limit = Int64(ref r, Field(path, name)); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static BlockIoResources? ReadBlockIo(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new BlockIoResources();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "weight": x.Weight = NullableUInt16(ref r, p); break;
                case "leafWeight": x.LeafWeight = NullableUInt16(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static HugepageLimit? ReadHugepageLimit(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new HugepageLimit();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "pageSize": x.PageSize = StringOr(ref r, p, x.PageSize); break;
                case "limit": x.Limit = UInt64(ref r, p); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static Seccomp? ReadSeccomp(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new Seccomp();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "defaultAction": x.DefaultAction = StringOr(ref r, p, x.DefaultAction); break;
                case "defaultErrnoRet": x.DefaultErrnoRet = NullableUInt32(ref r, p); break;
                case "architectures": x.Architectures = Strings(ref r, p); break;
                case "flags": x.Flags = Strings(ref r, p); break;
                case "listenerPath": x.ListenerPath = String(ref r, p); break;
                case "listenerMetadata": x.ListenerMetadata = String(ref r, p); break;
                case "syscalls": x.Syscalls = Objects(ref r, p, ReadSyscall); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static SeccompSyscall? ReadSyscall(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new SeccompSyscall();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "names": x.Names = Strings(ref r, p) ?? x.Names; break;
                case "action": x.Action = StringOr(ref r, p, x.Action); break;
                case "errnoRet": x.ErrnoRet = NullableUInt32(ref r, p); break;
                case "args": x.Args = Objects(ref r, p, ReadSeccompArg); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }

    private static SeccompArg? ReadSeccompArg(ref Utf8JsonReader r, string path)
    {
        if (!BeginObject(ref r, path))
        {
            return null;
        }
        var x = new SeccompArg();
        while (NextProperty(ref r, out var name))
        {
            var p = Field(path, name);
            switch (name)
            {
                case "index": x.Index = UInt32(ref r, p); break;
                case "value": x.Value = UInt64(ref r, p); break;
                case "valueTwo": x.ValueTwo = UInt64(ref r, p); break;
                case "op": x.Op = StringOr(ref r, p, x.Op); break;
                default: Skip(ref r); break;
            }
        }
        return x;
    }
}
