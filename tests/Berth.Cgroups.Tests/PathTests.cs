using Berth.Core;

namespace Berth.Cgroups.Tests;

public class PathTests
{
    private static readonly CgroupLayout Hybrid = CgroupLayout.Parse(
        """
        32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
        35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
        41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
        """,
        "4:memory:/process_api/x\n1:cpu:/\n0::/\n");

    [Theory]
    [InlineData(null, "c1", "/berth/c1")]
    [InlineData("", "c1", "/berth/c1")]
    [InlineData("/kubepods/burstable/pod1/c1", "c1", "/kubepods/burstable/pod1/c1")]
    [InlineData("//a/./b/", "c1", "/a/b")]
    [InlineData("mine/c1", "c1", "mine/c1")]
    public void Normalize_follows_runc(string? cgroupsPath, string id, string expected) =>
        Assert.Equal(expected, CgroupManager.Normalize(cgroupsPath, id));

    [Fact]
    public void Systemd_form_is_not_supported_with_the_fix()
    {
        var e = Assert.Throws<BerthException>(() => CgroupManager.Normalize("system.slice:berth:c1", "c1"));
        Assert.Equal(ErrorCode.Unsupported, e.Code);
        Assert.Equal("not supported: systemd cgroup paths (linux.cgroupsPath \"system.slice:berth:c1\"); use --systemd-cgroup=false / cgroupfs and a path like /berth/<id>", e.Message);
    }

    [Theory]
    [InlineData("/a/../../etc")]
    [InlineData("/")]
    public void Escaping_or_root_paths_are_invalid(string path)
    {
        var e = Assert.Throws<BerthException>(() => CgroupManager.Normalize(path, "c1"));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Contains("linux.cgroupsPath", e.Message);
    }

    [Fact]
    public void Absolute_path_is_the_same_in_every_hierarchy_and_saves_as_itself()
    {
        var m = CgroupManager.For(Hybrid, null, "c1");
        Assert.Equal("/berth/c1", m.Path);
        Assert.Equal("/berth/c1", m.SavedPath);
        Assert.Equal("/sys/fs/cgroup/memory/berth/c1", m.Directories["memory"]);
        Assert.Equal("/sys/fs/cgroup/cpu/berth/c1", m.Directories["cpu"]);
        Assert.Equal("/sys/fs/cgroup/unified/berth/c1", m.Directories["unified"]);
    }

    [Fact]
    public void Relative_path_is_below_our_own_cgroup_per_hierarchy_and_survives_save_and_load()
    {
        var m = CgroupManager.For(Hybrid, "sub/c1", "c1");
        Assert.Equal("/process_api/x/sub/c1", m.Path);
        Assert.Equal("/sys/fs/cgroup/memory/process_api/x/sub/c1", m.Directories["memory"]);
        Assert.Equal("/sys/fs/cgroup/cpu/sub/c1", m.Directories["cpu"]);

        var loaded = CgroupManager.Load(Hybrid, m.SavedPath);
        Assert.Equal(m.Directories, loaded.Directories);
    }

    [Fact]
    public void Load_of_garbage_is_a_clear_error()
    {
        var e = Assert.Throws<BerthException>(() => CgroupManager.Load(Hybrid, "not-a-path"));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Contains("saved cgroup path", e.Message);
    }
}
