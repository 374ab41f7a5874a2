using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Berth.Engine;

/// <summary>Identifiers and JSON shapes the engine's objects share (containers, execs, networks, endpoints, the API).</summary>
internal static class EngineFormat
{
    /// <summary>A new 64-hex-digit identifier, as Docker's ids.</summary>
    public static string NewId() => Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();

    /// <summary>A time as dockerd writes it (UTC, 7 fraction digits); no time is Go's zero time.</summary>
    public static string Time(DateTimeOffset? t) =>
        t is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture) : "0001-01-01T00:00:00Z";

    /// <summary>A string map as a JSON object (null stays null).</summary>
    public static JsonObject? StringMap(IReadOnlyDictionary<string, string>? map)
    {
        if (map is null)
        {
            return null;
        }
        var o = new JsonObject();
        foreach (var (k, v) in map)
        {
            o[k] = v;
        }
        return o;
    }
}
