using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Berth.Core;
using Berth.Oci.Runtime;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>
/// The hand-written readers of config.json and state.json give exactly what the source-generated serializer gives
/// (compared by serializing both results), and name the field of a value of the wrong type.
/// </summary>
public class SpecReaderTests
{
    private static string Canonical(Spec spec) => JsonSerializer.Serialize(spec, OciJsonContext.Default.Spec);

    private static void AssertSameAsSerializer(string json)
    {
        var expected = JsonSerializer.Deserialize(json, OciJsonContext.Default.Spec)!;
        var actual = SpecReader.Read(Encoding.UTF8.GetBytes(json));
        Assert.Equal(Canonical(expected), Canonical(actual));
    }

    /// <summary>A spec with every field the model has set to a non-default value.</summary>
    private static Spec Everything()
    {
        var spec = DefaultSpec.Create();
        var p = spec.Process!;
        p.ConsoleSize = new Box { Height = 24, Width = 80 };
        p.User = new User { Uid = 1000, Gid = 1001, Umask = 0x12, AdditionalGids = [5, 6, 4294967295], Username = "u" };
        p.CommandLine = "sh -c x";
        p.Capabilities!.Inheritable = ["CAP_KILL"];
        p.Capabilities.Ambient = ["CAP_KILL"];
        p.Rlimits!.Add(new Rlimit { Type = "RLIMIT_CORE", Hard = ulong.MaxValue, Soft = 0 });
        p.ApparmorProfile = "a";
        p.OomScoreAdj = -500;
        p.SelinuxLabel = "s";
        p.Scheduler = new Scheduler { Policy = "SCHED_OTHER", Nice = -3, Priority = 2 };
        p.IoPriority = new IoPriority { Class = "IOPRIO_CLASS_BE", Priority = 4 };
        spec.Domainname = "example.org";
        spec.Mounts!.Add(new Mount
        {
            Destination = "/m", Type = "bind", Source = "/s", Options = ["rbind", "ro"],
            UidMappings = [new IdMapping { ContainerID = 0, HostID = 1000, Size = 1 }],
            GidMappings = [new IdMapping { ContainerID = 1, HostID = 2000, Size = 2 }],
        });
        Hook H(string path) => new() { Path = path, Args = [path, "x"], Env = ["A=b"], Timeout = 5 };
        spec.Hooks = new Hooks
        {
            Prestart = [H("/a")], CreateRuntime = [H("/b")], CreateContainer = [H("/c")], StartContainer = [H("/d")],
            Poststart = [H("/e"), new Hook { Path = "/f" }], Poststop = [H("/g")],
        };
        spec.Annotations = new() { ["k"] = "v", ["é\"\\"] = "ü\n" };
        var l = spec.Linux!;
        l.UidMappings = [new IdMapping { ContainerID = 0, HostID = 100000, Size = 65536 }];
        l.GidMappings = [new IdMapping { ContainerID = 0, HostID = 100000, Size = 65536 }];
        l.Sysctl = new() { ["net.ipv4.ip_forward"] = "1" };
        l.CgroupsPath = "/berth/x";
        l.Namespaces!.Add(new Namespace { Type = "time" });
        l.Namespaces.Add(new Namespace { Type = "user", Path = "/proc/1/ns/user" });
        l.Devices = [new Device { Path = "/dev/fuse", Type = "c", Major = 10, Minor = 229, FileMode = 438, Uid = 0, Gid = 0 }];
        l.Resources = new Resources
        {
            Devices = [new DeviceCgroup { Allow = false, Access = "rwm" }, new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rw" }],
            Memory = new MemoryResources { Limit = 1 << 26, Reservation = 1 << 25, Swap = -1, Kernel = 1, KernelTcp = 2, Swappiness = 60, DisableOomKiller = true, UseHierarchy = false },
            Cpu = new CpuResources { Shares = 512, Quota = 50000, Burst = 1, Period = 100000, RealtimeRuntime = 1, RealtimePeriod = 2, Cpus = "0-1", Mems = "0", Idle = 0 },
            Pids = new PidsResources { Limit = 100 },
            BlockIO = new BlockIoResources { Weight = 500, LeafWeight = 10 },
            HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = 1 << 21 }],
            Unified = new() { ["memory.high"] = "max" },
        };
        l.Seccomp = new Seccomp
        {
            DefaultAction = "SCMP_ACT_ERRNO", DefaultErrnoRet = 1, Architectures = ["SCMP_ARCH_X86_64"], Flags = ["SECCOMP_FILTER_FLAG_LOG"],
            ListenerPath = "/l", ListenerMetadata = "m",
            Syscalls =
            [
                new SeccompSyscall { Names = ["read", "write"], Action = "SCMP_ACT_ALLOW" },
                new SeccompSyscall { Names = ["mkdir"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 38, Args = [new SeccompArg { Index = 1, Value = 0x1ff, ValueTwo = ulong.MaxValue, Op = "SCMP_CMP_MASKED_EQ" }] },
            ],
        };
        l.RootfsPropagation = "rslave";
        l.MountLabel = "label";
        l.TimeOffsets = new() { ["monotonic"] = new TimeOffset { Secs = -86400, Nanosecs = 5 } };
        return spec;
    }

    [Fact]
    public void DefaultSpecReadsAsTheSerializerReadsIt() => AssertSameAsSerializer(Canonical(DefaultSpec.Create()));

    [Fact]
    public void EveryFieldReadsAsTheSerializerReadsIt()
    {
        var json = Canonical(Everything());
        AssertSameAsSerializer(json);
        // Every field really is set: nothing the writer left out.
        Assert.Contains("\"ioPriority\"", json, StringComparison.Ordinal);
        Assert.Contains("\"kernelTCP\"", json, StringComparison.Ordinal);
        Assert.Contains("\"disableOOMKiller\"", json, StringComparison.Ordinal);
        Assert.Contains("\"blockIO\"", json, StringComparison.Ordinal);
        Assert.Contains("\"containerID\"", json, StringComparison.Ordinal);
    }

    /// <summary>
    /// Every JSON property of the spec model (walked through the source-generated type infos, so a property added to
    /// Berth.Oci's Runtime/Spec.cs is seen) is set in <see cref="Everything"/>: the comparison with the serializer
    /// above then covers it, and a property the hand-written reader skips fails there.
    /// </summary>
    [Fact]
    public void EverythingSetsEveryPropertyOfTheModel()
    {
        var json = Canonical(Everything());
        var seen = new HashSet<Type>();
        var missing = new List<string>();
        Walk(OciJsonContext.Default.Spec);
        Assert.True(seen.Count > 20, "walked only " + seen.Count + " types");
        Assert.Empty(missing);

        void Walk(JsonTypeInfo info)
        {
            if (!seen.Add(info.Type))
            {
                return;
            }
            switch (info.Kind)
            {
                case JsonTypeInfoKind.Object:
                    foreach (var property in info.Properties)
                    {
                        if (!json.Contains("\"" + property.Name + "\":", StringComparison.Ordinal))
                        {
                            missing.Add(info.Type.Name + "." + property.Name);
                        }
                        Walk(OciJsonContext.Default.GetTypeInfo(property.PropertyType)!);
                    }
                    break;
                case JsonTypeInfoKind.Enumerable or JsonTypeInfoKind.Dictionary:
                    Walk(OciJsonContext.Default.GetTypeInfo(info.ElementType!)!);
                    break;
            }
        }
    }

    [Fact]
    public void RuncsSpecReadsAsTheSerializerReadsIt()
    {
        using var dir = new TempDirectory("berth-runc-spec");
        Cli.Run("/usr/bin/runc", ["spec", "--bundle", dir.Path]).Ok();
        AssertSameAsSerializer(File.ReadAllText(Path.Combine(dir.Path, "config.json")));
    }

    [Fact]
    public void NullsUnknownFieldsCommentsAndTrailingCommas() => AssertSameAsSerializer("""
        // a comment
        {
          "ociVersion": "1.0.2", "unknown": {"deep": [1, {"x": null}]},
          "process": {"args": ["sh",], "env": null, "user": {"uid": 1, "gid": 2, "extra": true}, "cwd": "/tmp",},
          "root": {"path": "rootfs"}, "hostname": null, "mounts": [],
          "linux": {"namespaces": [{"type": "pid"}], "resources": {"memory": {"limit": null}}}, /* another */
        }
        """);

    [Theory]
    [InlineData("""{"process": {"args": [1]}}""", "process.args[0]", "expected a string, found the number 1")]
    [InlineData("""{"process": {"user": {"uid": -1}}}""", "process.user.uid", "expected an unsigned 32-bit integer")]
    [InlineData("""{"linux": {"namespaces": {"type": "pid"}}}""", "linux.namespaces", "expected an array, found an object")]
    [InlineData("""{"root": {"readonly": "yes"}}""", "root.readonly", "expected true or false, found a string")]
    [InlineData("{\n\"mounts\": [\n{\"destination\": 5}]}", "mounts[0].destination", "(line 3)")]
    public void WrongTypeNamesTheField(string json, string field, string what)
    {
        var e = Assert.Throws<BerthException>(() => SpecLoader.Parse(Encoding.UTF8.GetBytes(json), "config.json"));
        Assert.Contains("invalid JSON at " + field + " ", e.Message, StringComparison.Ordinal);
        Assert.Contains(what, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"ociVersion": "1.2.0", "process": {"args": [1,}""")]
    [InlineData("""{"ociVersion": "1.2.0"} x""")]
    [InlineData("")]
    [InlineData("null")]
    public void MalformedDocumentIsInvalidJson(string json)
    {
        var e = Assert.Throws<BerthException>(() => SpecLoader.Parse(Encoding.UTF8.GetBytes(json), "config.json"));
        Assert.StartsWith("config.json: invalid JSON", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ExecPayloadCarriesTheProcessAndSeccompExactly()
    {
        var spec = Everything();
        var payload = SpecWriter.ExecPayload(spec.Process!, spec.Linux!.Seccomp);
        var bySerializer = JsonSerializer.Deserialize(payload, OciJsonContext.Default.Spec)!;
        var expected = new Spec { Process = spec.Process, Linux = new Berth.Oci.Runtime.Linux { Seccomp = spec.Linux.Seccomp } };
        Assert.Equal(Canonical(expected), Canonical(bySerializer));
        Assert.Equal(Canonical(expected), Canonical(SpecReader.Read(payload)));
        var withoutSeccomp = SpecReader.Read(SpecWriter.ExecPayload(spec.Process!, null));
        Assert.Null(withoutSeccomp.Linux);
    }

    [Fact]
    public void StateJsonIsWhatTheSerializerWrites()
    {
        var full = new State
        {
            Id = "c1", Status = "running", Pid = 42, Bundle = "/b", Rootfs = "/b/rootfs", Owner = "",
            Created = new DateTimeOffset(2026, 11, 23, 7, 44, 7, 123, TimeSpan.Zero), Annotations = new() { ["a"] = "b\"", ["é"] = "<>" },
        };
        Assert.Equal(JsonSerializer.Serialize(full, OciJsonContext.Default.State), ContainerRuntime.StateJson(full));
        var bare = new State { Id = "c2", Status = "creating", Pid = 7, Bundle = "/b" };
        Assert.Equal(JsonSerializer.Serialize(bare, OciJsonContext.Default.State), ContainerRuntime.StateJson(bare));
    }

    [Fact]
    public void StateRecordRoundTripsAndReadsWhatTheSerializerWrote()
    {
        var record = new ContainerRecord
        {
            Id = "c1", Pid = 42, PidStartTime = 123456789, Bundle = "/b", Rootfs = "/b/rootfs",
            Created = new DateTimeOffset(2026, 11, 23, 7, 44, 7, 123, TimeSpan.Zero).AddTicks(4567), Owner = "",
            CgroupPath = "/berth/c1", Annotations = new() { ["a"] = "b\"" }, Namespaces = ["pid", "mount"], Started = true,
            Poststart = [new Hook { Path = "/h", Args = ["/h", "1"], Env = ["X=1"], Timeout = 3 }],
            Poststop = [new Hook { Path = "/i" }],
        };
        var byHand = ContainerRecordJson.Write(record);
        var bySerializer = JsonSerializer.SerializeToUtf8Bytes(record, RecordContext.Default.ContainerRecord);
        Assert.Equal(Encoding.UTF8.GetString(bySerializer), Encoding.UTF8.GetString(byHand));
        var back = JsonSerializer.Serialize(ContainerRecordJson.Read(bySerializer), RecordContext.Default.ContainerRecord);
        Assert.Equal(Encoding.UTF8.GetString(bySerializer), back);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ContainerRecord))]
internal sealed partial class RecordContext : JsonSerializerContext;
