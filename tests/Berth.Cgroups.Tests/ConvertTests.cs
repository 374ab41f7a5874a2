using Berth.Core;
using Berth.Oci.Runtime;

namespace Berth.Cgroups.Tests;

public class ConvertTests
{
    [Theory]
    [InlineData(0UL, 0UL)]
    [InlineData(2UL, 1UL)]
    [InlineData(1024UL, 39UL)]
    [InlineData(512UL, 20UL)]
    [InlineData(262144UL, 10000UL)]
    public void Cpu_shares_convert_to_weight_like_runc(ulong shares, ulong weight) =>
        Assert.Equal(weight, CgroupConvert.CpuSharesToWeight(shares));

    [Theory]
    [InlineData(10UL, 1UL)]
    [InlineData(500UL, 4950UL)]
    [InlineData(1000UL, 10000UL)]
    public void Blkio_weight_converts_to_io_weight(ulong blkio, ulong io) =>
        Assert.Equal(io, CgroupConvert.BlkioWeightToIoWeight(blkio));

    [Theory]
    [InlineData(0L, -1L, -1L)]          // unlimited memory, swap unset: unlimited swap
    [InlineData(-1L, 100L, -1L)]
    [InlineData(0L, 100L, 0L)]
    [InlineData(300L, 100L, 200L)]      // memory+swap 300 with memory 100: 200 of swap
    [InlineData(100L, 100L, 0L)]        // no swap at all
    public void Swap_converts_from_memory_plus_swap(long swap, long memory, long v2) =>
        Assert.Equal(v2, CgroupConvert.SwapToV2(swap, memory));

    [Fact]
    public void Swap_below_memory_or_without_memory_is_rejected_naming_the_fields()
    {
        var below = Assert.Throws<BerthException>(() => CgroupConvert.SwapToV2(50, 100));
        Assert.Equal(ErrorCode.InvalidArgument, below.Code);
        Assert.Contains("linux.resources.memory.swap: 50 is below linux.resources.memory.limit 100", below.Message);
        var noLimit = Assert.Throws<BerthException>(() => CgroupConvert.SwapToV2(200, -1));
        Assert.Contains("needs linux.resources.memory.limit", noLimit.Message);
    }

    [Fact]
    public void Device_rules_format_as_the_v1_files_want_them()
    {
        Assert.Equal("a *:* rwm", CgroupConvert.DeviceRule(new DeviceCgroup { Allow = false }));
        Assert.Equal("c 1:3 rwm", CgroupConvert.DeviceRule(new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3 }));
        Assert.Equal("c 136:* rw", CgroupConvert.DeviceRule(new DeviceCgroup { Allow = true, Type = "c", Major = 136, Access = "rw" }));
        Assert.Equal("b *:* m", CgroupConvert.DeviceRule(new DeviceCgroup { Allow = true, Type = "b", Major = -1, Minor = -1, Access = "m" }));
    }

    [Theory]
    [InlineData(50000L, null, "max", "50000")]
    [InlineData(50000L, 200000UL, "max", "50000 200000")]
    [InlineData(-1L, 10000UL, "20000", "max 10000")]
    [InlineData(null, 10000UL, "max", "max 10000")]
    [InlineData(null, 10000UL, "20000", "20000 10000")]
    public void Cpu_max_line(long? quota, ulong? period, string currentQuota, string expected) =>
        Assert.Equal(expected, CgroupConvert.CpuMax(quota, period, currentQuota));

    [Theory]
    [InlineData("0", true)]
    [InlineData("0-3,5,7-8", true)]
    [InlineData("", true)]
    [InlineData("0-", false)]
    [InlineData("3-1", false)]
    [InlineData("a", false)]
    [InlineData("0,,1", false)]
    [InlineData("-1", false)]
    public void Cpu_lists(string list, bool valid) => Assert.Equal(valid, CgroupConvert.IsValidCpuList(list));

    [Theory]
    [InlineData("2MB", true)]
    [InlineData("1GB", true)]
    [InlineData("64KB", true)]
    [InlineData("2M", false)]
    [InlineData("MB", false)]
    [InlineData("0MB", false)]
    public void Hugepage_sizes(string size, bool valid) => Assert.Equal(valid, CgroupConvert.IsValidHugepageSize(size));

    [Fact]
    public void Keyed_values_are_found_by_whole_key()
    {
        const string text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        Assert.Equal(3, CgroupFs.KeyedValue(text, "oom_kill"));
        Assert.Equal(0, CgroupFs.KeyedValue(text, "oom_kill_disable"));
        Assert.Null(CgroupFs.KeyedValue(text, "oom"));
    }

    [Fact]
    public void Errno_is_spelled_with_name_and_text() =>
        Assert.Equal("EBUSY (Device or resource busy)", Errno.Describe(16));
}

public class ValidatorTests
{
    [Fact]
    public void Negative_memory_limit_names_field_value_and_fix()
    {
        var e = Assert.Throws<BerthException>(() =>
            ResourceValidator.Validate(new Resources { Memory = new MemoryResources { Limit = -5 } }, CgroupMode.Hybrid));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Equal("linux.resources.memory.limit: -5 is invalid; use a positive number of bytes or -1 for unlimited", e.Message);
    }

    [Fact]
    public void Every_bad_field_is_reported_at_once()
    {
        var r = new Resources
        {
            Memory = new MemoryResources { Limit = 100, Swap = 50, Swappiness = 200 },
            Cpu = new CpuResources { Shares = 1, Quota = 10, Period = 5, Cpus = "0-", Mems = "x" },
            Pids = new PidsResources { Limit = 10 },
            BlockIO = new BlockIoResources { Weight = 5 },
            HugepageLimits = [new HugepageLimit { PageSize = "2M", Limit = 1 }],
            Devices = [new DeviceCgroup { Type = "x", Access = "rwx" }],
        };
        var e = Assert.Throws<BerthException>(() => ResourceValidator.Validate(r, CgroupMode.Legacy));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        foreach (var field in new[]
        {
            "memory.swap: 50 is below", "memory.swappiness: 200", "cpu.shares: 1", "cpu.quota: 10", "cpu.period: 5",
            "cpu.cpus: \"0-\"", "cpu.mems: \"x\"", "blockIO.weight: 5", "hugepageLimits[0].pageSize: \"2M\"",
            "devices[0].type: \"x\"", "devices[0].access: \"rwx\"",
        })
        {
            Assert.Contains("linux.resources." + field, e.Message);
        }
    }

    [Fact]
    public void Valid_resources_pass()
    {
        var r = new Resources
        {
            Memory = new MemoryResources { Limit = 64 << 20, Swap = -1, Reservation = 32 << 20, Swappiness = 10 },
            Cpu = new CpuResources { Shares = 512, Quota = -1, Period = 100000, Cpus = "0-1", Mems = "0" },
            Pids = new PidsResources { Limit = -1 },
            Devices = [new DeviceCgroup { Allow = false, Access = "rwm" }, new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rwm" }],
        };
        ResourceValidator.Validate(r, CgroupMode.Hybrid);
    }

    [Fact]
    public void Unified_keys_on_v1_are_not_supported()
    {
        var e = Assert.Throws<BerthException>(() =>
            ResourceValidator.Validate(new Resources { Unified = new() { ["memory.high"] = "1M" } }, CgroupMode.Hybrid));
        Assert.Equal(ErrorCode.Unsupported, e.Code);
        Assert.StartsWith("not supported: linux.resources.unified on cgroup v1", e.Message);
    }

    [Fact]
    public void V1_only_knobs_on_v2_are_not_supported_and_bad_unified_keys_invalid()
    {
        var e = Assert.Throws<BerthException>(() => ResourceValidator.Validate(
            new Resources
            {
                Memory = new MemoryResources { Swappiness = 10 },
                Cpu = new CpuResources { RealtimeRuntime = 1000 },
                Unified = new() { ["../escape"] = "1" },
            },
            CgroupMode.Unified));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Contains("not supported: linux.resources.memory.swappiness on cgroup v2", e.Message);
        Assert.Contains("not supported: linux.resources.cpu.realtimeRuntime/realtimePeriod on cgroup v2", e.Message);
        Assert.Contains("key \"../escape\"", e.Message);
    }
}
