using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Berth.Core;

namespace Berth.Build;

/// <summary>A cache that lives as long as the process (tests, one-off builds).</summary>
public sealed class InMemoryCacheStore : ICacheStore
{
    private readonly ConcurrentDictionary<string, CacheEntry> _entries = new(StringComparer.Ordinal);

    public int Count => _entries.Count;

    public Task<CacheEntry?> GetAsync(string key, CancellationToken cancellationToken) =>
        Task.FromResult(_entries.TryGetValue(key, out var entry) ? entry : null);

    public Task PutAsync(string key, CacheEntry entry, CancellationToken cancellationToken)
    {
        _entries[key] = entry;
        return Task.CompletedTask;
    }
}

/// <summary>
/// The build cache on disk: one JSON file per key under a directory (e.g. /var/lib/berth/build-cache), written
/// temp-then-rename so a crash never leaves a torn entry. A file that does not parse is treated as a miss.
/// </summary>
public sealed class FileCacheStore : ICacheStore
{
    private readonly string _directory;

    public FileCacheStore(string directory)
    {
        _directory = directory;
        Directory.CreateDirectory(directory);
    }

    private string PathFor(string key)
    {
        // Keys are "sha256:<hex>"; anything else is hashed so it is always a safe file name.
        var name = key.StartsWith("sha256:", StringComparison.Ordinal) && key.Length == 71 && key[7..].All(char.IsAsciiHexDigitLower)
            ? key[7..]
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
        return Path.Combine(_directory, name + ".json");
    }

    public async Task<CacheEntry?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var path = PathFor(key);
        try
        {
            await using var stream = File.OpenRead(path);
            return await JsonSerializer.DeserializeAsync(stream, BuildJsonContext.Default.CacheEntry, cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public Task PutAsync(string key, CacheEntry entry, CancellationToken cancellationToken)
    {
        AtomicFile.WriteAllBytes(PathFor(key), JsonSerializer.SerializeToUtf8Bytes(entry, BuildJsonContext.Default.CacheEntry));
        return Task.CompletedTask;
    }
}
