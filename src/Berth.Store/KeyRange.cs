using System.Text;

namespace Berth.Store;

/// <summary>
/// Byte ranges over UTF-8 keys, ordered as etcd orders them (memcmp). A prefix becomes [prefix, end) where end is
/// the prefix with its last byte below 0xFF incremented; null end means "to the last key".
/// </summary>
internal static class KeyRange
{
    public static byte[] Encode(string key) => Encoding.UTF8.GetBytes(key);

    public static string Decode(ReadOnlySpan<byte> key) => Encoding.UTF8.GetString(key);

    public static byte[]? PrefixEnd(byte[] prefix)
    {
        var end = (byte[])prefix.Clone();
        for (var i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xFF)
            {
                end[i]++;
                return end[..(i + 1)];
            }
        }
        return null;
    }

    /// <summary>The first key a list may return: the prefix, or just after <paramref name="startAfter"/> when that is later.</summary>
    public static byte[] Start(byte[] prefix, string? startAfter)
    {
        if (string.IsNullOrEmpty(startAfter))
        {
            return prefix;
        }
        var after = Encode(startAfter);
        var next = new byte[after.Length + 1];
        after.CopyTo(next, 0);
        return next.AsSpan().SequenceCompareTo(prefix) > 0 ? next : prefix;
    }

    public static void ValidateKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length == 0)
        {
            throw Berth.Core.BerthException.InvalidArgument("a store key must not be empty");
        }
    }
}
