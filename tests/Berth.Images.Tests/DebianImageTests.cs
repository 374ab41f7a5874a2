using System.Diagnostics;
using Berth.Images.BaseImages;
using Berth.Images.Content;
using Berth.Images.Snapshots;
using Berth.Images.Store;
using Berth.Testing;

namespace Berth.Images.Tests;

/// <summary>debootstrap from the Debian mirror: slow (about a minute or two here), but real.</summary>
[Trait(Traits.Category, Traits.Privileged)]
[Trait(Traits.Category, "Slow")]
public sealed class DebianImageTests : IDisposable
{
    private readonly TempDirectory _temp = new("berth-debian");

    public DebianImageTests() => Privileged.Require();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Debootstrap_builds_a_debian_image_that_mounts_and_runs()
    {
        var content = new LocalContentStore(_temp.Combine("content"));
        var snapshots = new OverlaySnapshotter(_temp.Combine("overlay"));
        var images = new ImageStore(content, snapshots, _temp.Combine("state"));
        var manifest = await BaseImageBuilder.BuildDebianAsync(content, workDirectory: _temp.Combine("work"));
        await images.TagAsync("debian:bookworm", manifest);

        var mounts = await images.PrepareContainerAsync("deb1", "debian:bookworm", new InitFiles("deb1", "127.0.0.1 localhost\n", "nameserver 127.0.0.1\n"));
        var rootfs = Directory.CreateDirectory(_temp.Combine("rootfs")).FullName;
        SnapshotMounter.Mount(mounts, rootfs);
        try
        {
            var psi = new ProcessStartInfo("chroot", [rootfs, "/bin/sh", "-c", "cat /etc/debian_version; dpkg-query -W -f '${Package}\\n' dpkg"]) { RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            var output = await p.StandardOutput.ReadToEndAsync();
            await p.WaitForExitAsync();
            Assert.Equal(0, p.ExitCode);
            Assert.StartsWith("12.", output, StringComparison.Ordinal);
            Assert.Contains("dpkg", output, StringComparison.Ordinal);
        }
        finally
        {
            SnapshotMounter.Unmount(rootfs);
        }
        Assert.DoesNotContain(rootfs, await File.ReadAllTextAsync("/proc/self/mountinfo"), StringComparison.Ordinal);
    }
}
