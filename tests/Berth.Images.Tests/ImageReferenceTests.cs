using Berth.Core;

namespace Berth.Images.Tests;

public class ImageReferenceTests
{
    [Theory]
    [InlineData("busybox", "docker.io/library/busybox:latest", "busybox:latest")]
    [InlineData("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36")]
    [InlineData("library/busybox", "docker.io/library/busybox:latest", "busybox:latest")]
    [InlineData("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest")]
    [InlineData("index.docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest")]
    [InlineData("user/app", "docker.io/user/app:latest", "user/app:latest")]
    [InlineData("localhost:5000/app:v1", "localhost:5000/app:v1", "localhost:5000/app:v1")]
    [InlineData("localhost/app", "localhost/app:latest", "localhost/app:latest")]
    [InlineData("registry.example.com/a/b/c", "registry.example.com/a/b/c:latest", "registry.example.com/a/b/c:latest")]
    [InlineData("127.0.0.1:5000/x_y.z-w:1.0_rc", "127.0.0.1:5000/x_y.z-w:1.0_rc", "127.0.0.1:5000/x_y.z-w:1.0_rc")]
    public void Normalizes_like_docker(string input, string normalized, string familiar)
    {
        var r = ImageReference.Parse(input);
        Assert.Equal(normalized, r.ToString());
        Assert.Equal(familiar, r.FamiliarString);
    }

    [Fact]
    public void Keeps_a_digest_and_adds_no_tag()
    {
        var digest = "sha256:" + new string('a', 64);
        var r = ImageReference.Parse("busybox@" + digest);
        Assert.Null(r.Tag);
        Assert.Equal(digest, r.Digest.ToString());
        Assert.Equal("docker.io/library/busybox@" + digest, r.ToString());
        Assert.Equal("1.0", ImageReference.Parse("busybox:1.0@" + digest).Tag);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("BusyBox", "lowercase")]
    [InlineData("busybox:", "invalid tag")]
    [InlineData("busybox:-x", "invalid tag")]
    [InlineData("bu__-sy", "invalid repository component")]
    [InlineData("busybox@sha256:123", "hex digits")]
    [InlineData("a//b", "invalid repository component")]
    [InlineData("busybox@md5:00", "unsupported digest algorithm")]
    public void Rejects_invalid_references_with_a_clear_error(string input, string expected)
    {
        var e = Assert.Throws<BerthException>(() => ImageReference.Parse(input));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
