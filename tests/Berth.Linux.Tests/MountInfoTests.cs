namespace Berth.Linux.Tests;

public sealed class MountInfoTests
{
    [Fact]
    public void Mount_points_are_unescaped_as_the_kernel_escapes_them()
    {
        Assert.Equal("/var/lib/my dir\\x", MountInfo.Unescape("/var/lib/my\\040dir\\134x"));
        Assert.Equal("/plain", MountInfo.Unescape("/plain"));
        Assert.Equal("/short\\04", MountInfo.Unescape("/short\\04"));
        Assert.Equal("/a b", MountInfo.MountPointOf("36 35 98:0 /mnt1 /a\\040b rw,noatime master:1 - ext3 /dev/root rw"));
        Assert.Null(MountInfo.MountPointOf("garbage"));
    }

    [Fact]
    public void The_root_and_proc_are_mount_points_and_a_plain_directory_is_not()
    {
        Assert.True(MountInfo.IsMountPoint("/"));
        Assert.True(MountInfo.IsMountPoint("/proc"));
        Assert.Contains("/proc", MountInfo.MountPoints());
        Assert.False(MountInfo.IsMountPoint(AppContext.BaseDirectory));
    }
}
