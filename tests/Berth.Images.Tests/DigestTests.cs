using Berth.Core;

namespace Berth.Images.Tests;

public class DigestTests
{
    [Fact]
    public void Computes_the_well_known_sha256_of_empty_content()
    {
        Assert.Equal("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Digest.Compute([]).ToString());
    }

    [Theory]
    [InlineData("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")]
    public void Parses_and_formats_round_trip(string text)
    {
        Assert.Equal(text, Digest.Parse(text).ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("md5:d41d8cd98f00b204e9800998ecf8427e")]
    [InlineData("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")]
    [InlineData("sha256:e3b0")]
    [InlineData("sha256:../../../../etc/passwd")]
    public void Rejects_invalid_digests_with_a_clear_error(string text)
    {
        var e = Assert.Throws<BerthException>(() => Digest.Parse(text));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Contains("digest", e.Message, StringComparison.OrdinalIgnoreCase);
    }
}
