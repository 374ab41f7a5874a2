using System.Globalization;

namespace Berth.Networking;

/// <summary>Ethernet addresses as users write them ("02:42:ac:11:00:02" or with '-'): one parser for the engine and the bridge plugin.</summary>
public static class MacAddress
{
    /// <summary>The 6 bytes of a unicast address, or null with the reason in <paramref name="error"/>.</summary>
    public static byte[]? TryParse(string text, out string error)
    {
        var parts = text.Split(text.Contains('-', StringComparison.Ordinal) ? '-' : ':');
        var bytes = new byte[6];
        var valid = parts.Length == 6;
        for (var i = 0; valid && i < 6; i++)
        {
            valid = parts[i].Length == 2 && byte.TryParse(parts[i], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out bytes[i]);
        }
        if (!valid)
        {
            error = $"invalid MAC address {text}: give six hex pairs, e.g. 02:42:ac:11:00:02";
            return null;
        }
        if ((bytes[0] & 1) != 0)
        {
            error = $"invalid MAC address {text}: it is a multicast address (the first octet must be even, e.g. 02:...)";
            return null;
        }
        error = "";
        return bytes;
    }

    /// <summary>Lower-case, colon-separated: how `ip link` and docker inspect show it.</summary>
    public static string Format(byte[] mac) => string.Join(':', mac.Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
}
