using Berth.Cgroups.V2;
using Berth.Oci.Runtime;

namespace Berth.Cgroups.Tests;

public class DeviceFilterTests
{
    private static DeviceCgroup Rule(bool allow, string? type = null, long? major = null, long? minor = null, string? access = null) =>
        new() { Allow = allow, Type = type, Major = major, Minor = minor, Access = access };

    [Fact]
    public void Deny_all_then_allows_is_an_allow_list()
    {
        var (defaultAllow, exceptions) = DeviceFilter.Emulate([Rule(false, access: "rwm"), Rule(true, "c", 1, 3), Rule(true, "c", 136, null, "rw")]);
        Assert.False(defaultAllow);
        Assert.Equal([(2, 1L, 3L, 7), (2, 136L, -1L, 6)], exceptions);
    }

    [Fact]
    public void A_later_deny_takes_access_out_of_an_identical_allow_like_v1()
    {
        var (_, exceptions) = DeviceFilter.Emulate([Rule(false), Rule(true, "c", 1, 3, "rwm"), Rule(false, "c", 1, 3, "w"), Rule(true, "c", 1, 5), Rule(false, "c", 1, 5)]);
        Assert.Equal([(2, 1L, 3L, 3)], exceptions); // 1:3 keeps m+r, 1:5 is gone
    }

    [Fact]
    public void Allow_all_then_denies_is_a_deny_list_and_a_new_wildcard_resets_it()
    {
        var (allow, exceptions) = DeviceFilter.Emulate([Rule(true, "a"), Rule(false, "b", 8, 0)]);
        Assert.True(allow);
        Assert.Equal([(1, 8L, 0L, 7)], exceptions);
        var (allow2, exceptions2) = DeviceFilter.Emulate([Rule(true, "a"), Rule(false, "b", 8, 0), Rule(false)]);
        Assert.False(allow2);
        Assert.Empty(exceptions2);
    }

    [Fact]
    public void Program_has_the_prologue_one_block_per_exception_and_the_default()
    {
        var program = DeviceFilter.Compile([Rule(false), Rule(true, "c", 1, 3), Rule(true, "c", 136, null, "rw")]);
        // 6 prologue + (type, major, minor, ret, exit = 5) + (type, 3 access, major, ret, exit = 7) + 2 default.
        Assert.Equal(6 + 5 + 7 + 2, program.Length);
        Assert.Equal(0x95UL, program[^1] & 0xFF);        // exit
        Assert.Equal(0xb4UL, program[^2] & 0xFF);        // w0 = default
        Assert.Equal(0UL, program[^2] >> 32);            // default deny
        // First block's type check jumps over the remaining 4 instructions of its block.
        Assert.Equal(0x55UL, program[6] & 0xFF);
        Assert.Equal(4UL, (program[6] >> 16) & 0xFFFF);
        Assert.Equal(2UL, program[6] >> 32);             // char device
    }
}

public class DeviceRulesTests
{
    [Fact]
    public void Container_rules_are_spec_rules_then_defaults_then_linux_devices()
    {
        var linux = new Berth.Oci.Runtime.Linux
        {
            Resources = new Resources { Devices = [new DeviceCgroup { Allow = false, Access = "rwm" }] },
            Devices = [new Device { Path = "/dev/fuse", Type = "c", Major = 10, Minor = 229 }],
        };
        var rules = DeviceRules.ForContainer(linux);
        Assert.Equal(1 + DeviceRules.Defaults.Count + 1, rules.Count);
        Assert.Equal("a *:* rwm", CgroupConvert.DeviceRule(rules[0]));
        Assert.Equal("c *:* m", CgroupConvert.DeviceRule(rules[1]));
        Assert.Equal("c 136:* rwm", CgroupConvert.DeviceRule(rules[9]));
        Assert.Equal("c 10:229 rwm", CgroupConvert.DeviceRule(rules[^1]));
        Assert.True(rules[^1].Allow);
    }

    [Fact]
    public void Container_resources_keep_the_spec_limits_and_always_carry_device_rules()
    {
        var memory = new MemoryResources { Limit = 1 << 20 };
        var r = DeviceRules.ContainerResources(new Berth.Oci.Runtime.Linux { Resources = new Resources { Memory = memory } });
        Assert.Same(memory, r.Memory);
        Assert.Equal(DeviceRules.Defaults.Count, r.Devices!.Count);
        Assert.Equal(DeviceRules.Defaults.Count, DeviceRules.ContainerResources(null).Devices!.Count);
    }
}
