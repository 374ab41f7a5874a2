namespace Berth.Store.Tests;

public sealed class KeyRangeTests
{
    [Theory]
    [InlineData(new byte[] { 0x2F, 0x61 }, new byte[] { 0x2F, 0x62 })]
    [InlineData(new byte[] { 0x61, 0xFF }, new byte[] { 0x62 })]
    [InlineData(new byte[] { 0x61, 0xFF, 0xFF }, new byte[] { 0x62 })]
    public void Prefix_end_is_the_first_key_after_every_key_with_the_prefix(byte[] prefix, byte[] end)
    {
        Assert.Equal(end, KeyRange.PrefixEnd(prefix));
    }

    [Fact]
    public void A_prefix_of_only_0xff_bytes_or_no_bytes_has_no_end()
    {
        Assert.Null(KeyRange.PrefixEnd([0xFF, 0xFF]));
        Assert.Null(KeyRange.PrefixEnd([]));
    }

    [Fact]
    public void Start_is_just_after_startAfter_unless_the_prefix_is_later()
    {
        Assert.Equal("/a/b\0"u8.ToArray(), KeyRange.Start("/a/"u8.ToArray(), "/a/b"));
        Assert.Equal("/b/"u8.ToArray(), KeyRange.Start("/b/"u8.ToArray(), "/a/z"));
        Assert.Equal("/b/"u8.ToArray(), KeyRange.Start("/b/"u8.ToArray(), null));
    }

    [Fact]
    public void Empty_keys_are_rejected()
    {
        var e = Assert.Throws<Berth.Core.BerthException>(() => KeyRange.ValidateKey(""));
        Assert.Equal(Berth.Core.ErrorCode.InvalidArgument, e.Code);
    }
}
