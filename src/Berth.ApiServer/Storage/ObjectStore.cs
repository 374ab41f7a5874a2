using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.ApiServer.Http;
using Berth.ApiServer.Registry;
using Berth.Store;
using Microsoft.Extensions.Logging;

namespace Berth.ApiServer.Storage;

/// <summary>An object as read from the store: the JSON, and its mod revision (= metadata.resourceVersion).</summary>
public sealed record StoredObject(JsonObject Object, long Revision, string Key);

/// <summary>
/// API objects over <see cref="IClusterStore"/>: JSON values under /registry/&lt;group&gt;/&lt;plural&gt;/[ns/]name, with
/// metadata.resourceVersion taken from the store's mod revision on every read (it is never stored).
/// </summary>
public sealed class ObjectStore(IClusterStore store) : IAsyncDisposable
{
    /// <summary>etcd's default request limit, which Kubernetes inherits as the largest object it stores.</summary>
    public const int MaxObjectBytes = 1536 * 1024;

    public IClusterStore Store { get; } = store;

    private ResourceCache[] _caches = [];
    private readonly RecentValues _recent = new();

    /// <summary>A cache of everything under <paramref name="prefix"/> that this store keeps current with its writes and disposes (start it).</summary>
    public ResourceCache AddCache(WatchHub hub, string prefix, ILogger logger)
    {
        var cache = new ResourceCache(this, hub, prefix, logger);
        _caches = [.. _caches, cache];
        return cache;
    }

    /// <summary>Stops the caches (the store itself belongs to the caller).</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var cache in _caches)
        {
            await cache.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Tells the caches over <paramref name="key"/> about a write this server made (a copy: callers keep theirs).</summary>
    private void Written(string key, JsonObject? obj, long revision)
    {
        foreach (var cache in _caches)
        {
            if (key.StartsWith(cache.Prefix, StringComparison.Ordinal))
            {
                cache.Observe(key, obj is null ? null : (JsonObject)obj.DeepClone(), revision);
            }
        }
    }

    public static JsonObject Decode(KeyValue kv, long? revision = null)
    {
        var obj = JsonNode.Parse(kv.Value.Span) as JsonObject ?? throw ApiException.Internal("stored value of " + kv.Key + " is not a JSON object");
        obj.Metadata()["resourceVersion"] = (revision ?? kv.ModRevision).ToString(CultureInfo.InvariantCulture);
        return obj;
    }

    public static byte[] Encode(JsonObject obj)
    {
        var copy = (JsonObject)obj.DeepClone();
        copy.Metadata().Remove("resourceVersion");
        copy.Metadata().Remove("selfLink");
        var bytes = Encoding.UTF8.GetBytes(copy.ToJsonString());
        if (bytes.Length > MaxObjectBytes)
        {
            throw ApiException.TooLarge($"Request entity too large: limit is {MaxObjectBytes}");
        }
        return bytes;
    }

    public async Task<StoredObject?> GetAsync(ResourceDefinition def, string? ns, string name, CancellationToken ct)
    {
        var key = def.Key(ns, name);
        var mark = Diagnostics.Timings.Start();
        var kv = await Store.GetAsync(key, ct).ConfigureAwait(false);
        Diagnostics.Timings.Record("store.get", mark);
        if (kv is null)
        {
            _recent.Remove(key);
            return null;
        }
        _recent.Set(kv);
        return new StoredObject(Decode(kv), kv.ModRevision, key);
    }

    /// <summary>
    /// The object as this server last wrote or read it, without asking the store; null when not known. It may be
    /// stale: only a compare-and-swap may be based on it (<see cref="UpdateAsync"/>), never an answer to a client.
    /// </summary>
    public StoredObject? Recent(ResourceDefinition def, string? ns, string name)
    {
        var key = def.Key(ns, name);
        return _recent.Get(key) is { } kv ? new StoredObject(Decode(kv), kv.ModRevision, key) : null;
    }

    public async Task<StoredObject> CreateAsync(ResourceDefinition def, JsonObject obj, CancellationToken ct)
    {
        var key = def.Key(obj.Namespace(), obj.Name());
        try
        {
            var value = Encode(obj);
            var mark = Diagnostics.Timings.Start();
            var rev = await Store.CreateAsync(key, value, ct).ConfigureAwait(false);
            Diagnostics.Timings.Record("store.create", mark);
            Diagnostics.Timings.MarkWritten(rev);
            _recent.Set(new KeyValue(key, value, rev, rev));
            obj.Metadata()["resourceVersion"] = rev.ToString(CultureInfo.InvariantCulture);
            Written(key, obj, rev);
            return new StoredObject(obj, rev, key);
        }
        catch (KeyExistsException)
        {
            throw ApiException.AlreadyExists(def.Group, def.Plural, obj.Name());
        }
    }

    /// <summary>Compare-and-swap; null when the stored revision moved on (the caller decides: 409 or retry).</summary>
    public async Task<StoredObject?> UpdateAsync(ResourceDefinition def, JsonObject obj, long expectedRevision, CancellationToken ct)
    {
        var key = def.Key(obj.Namespace(), obj.Name());
        var value = Encode(obj);
        var mark = Diagnostics.Timings.Start();
        var result = await Store.UpdateAsync(key, value, expectedRevision, ct).ConfigureAwait(false);
        Diagnostics.Timings.Record("store.update", mark);
        if (result.Outcome == WriteOutcome.Succeeded)
        {
            Diagnostics.Timings.MarkWritten(result.Revision);
        }
        switch (result.Outcome)
        {
            case WriteOutcome.Succeeded:
                _recent.Set(new KeyValue(key, value, result.Current?.CreateRevision ?? result.Revision, result.Revision));
                obj.Metadata()["resourceVersion"] = result.Revision.ToString(CultureInfo.InvariantCulture);
                Written(key, obj, result.Revision);
                return new StoredObject(obj, result.Revision, key);
            case WriteOutcome.NotFound:
                _recent.Remove(key);
                throw ApiException.NotFound(def.Group, def.Plural, obj.Name());
            default:
                // The conflict brought the value now stored: a retry can start from it without reading it again.
                if (result.Current is { } current)
                {
                    _recent.Set(current);
                }
                return null;
        }
    }

    public async Task<bool> DeleteAsync(ResourceDefinition def, string? ns, string name, long expectedRevision, CancellationToken ct)
    {
        var key = def.Key(ns, name);
        var result = await Store.DeleteAsync(key, expectedRevision, ct).ConfigureAwait(false);
        if (result.Outcome == WriteOutcome.Succeeded)
        {
            _recent.Remove(key);
            Written(key, null, result.Revision);
        }
        else if (result.Outcome == WriteOutcome.NotFound)
        {
            _recent.Remove(key);
        }
        return result.Outcome switch
        {
            WriteOutcome.Succeeded => true,
            WriteOutcome.NotFound => throw ApiException.NotFound(def.Group, def.Plural, name),
            _ => false,
        };
    }

    /// <summary>The filter that keeps every object: a list with it reads no more than a page and decodes only the page.</summary>
    public static readonly Func<JsonObject, bool> Everything = _ => true;

    public sealed record ListPage(List<JsonObject> Items, long Revision, string? Continue, long? RemainingItemCount);

    /// <summary>
    /// A page of a list. Paging is consistent: the continue token carries the revision of the first page, so later
    /// pages read the same snapshot (410 Expired once that revision is compacted away, as in Kubernetes).
    /// </summary>
    public async Task<ListPage> ListAsync(ResourceDefinition def, string? ns, long limit, string? continueToken, long revision,
        Func<JsonObject, bool> filter, CancellationToken ct)
    {
        var (items, readRevision, next) = await PageAsync(def, ns, limit, continueToken, revision, kv =>
        {
            var obj = Decode(kv);
            return filter(obj) ? obj : null;
        }, keepsAll: ReferenceEquals(filter, Everything), ct).ConfigureAwait(false);
        return new ListPage(items, readRevision, next, null);
    }

    /// <summary>
    /// The paging of <see cref="ListAsync"/> and <see cref="ListStoredAsync"/>: items whose <paramref name="keep"/> is
    /// not null, up to <paramref name="limit"/>, and a continue token when another kept item lies beyond the page.
    /// Over-fetches while <paramref name="keep"/> drops items, so a page is full whenever more matching items exist;
    /// when it keeps all (<paramref name="keepsAll"/>) one item past the page says whether there are more, unread.
    /// </summary>
    private async Task<(List<T> Items, long Revision, string? Continue)> PageAsync<T>(ResourceDefinition def, string? ns, long limit,
        string? continueToken, long revision, Func<KeyValue, T?> keep, bool keepsAll, CancellationToken ct)
        where T : class
    {
        var prefix = def.ListPrefix(ns);
        string? startAfter = null;
        if (!string.IsNullOrEmpty(continueToken))
        {
            (revision, startAfter) = DecodeContinue(continueToken, prefix);
        }
        var items = new List<T>();
        var lastKey = "";
        var readRevision = revision;
        while (true)
        {
            var batch = limit <= 0 ? 0 : keepsAll ? limit - items.Count + 1 : Math.Max(limit - items.Count + 1, 64);
            var range = await RangeAsync(prefix, startAfter, batch, readRevision, revision, continueToken, ct).ConfigureAwait(false);
            if (readRevision == 0)
            {
                readRevision = range.Revision;
            }
            foreach (var kv in range.Items)
            {
                startAfter = kv.Key;
                if (limit > 0 && items.Count == limit)
                {
                    // One more kept item may exist beyond this page.
                    if (keepsAll || keep(kv) is not null)
                    {
                        return (items, readRevision, EncodeContinue(readRevision, lastKey));
                    }
                    continue;
                }
                if (keep(kv) is { } item)
                {
                    items.Add(item);
                    lastKey = kv.Key;
                }
            }
            if (!range.More || range.Items.Count == 0)
            {
                return (items, readRevision, null);
            }
        }
    }

    private async Task<RangeResult> RangeAsync(string prefix, string? startAfter, long batch, long readRevision, long revision, string? continueToken, CancellationToken ct)
    {
        try
        {
            var mark = Diagnostics.Timings.Start();
            var range = await Store.ListAsync(prefix, startAfter, batch, readRevision, ct).ConfigureAwait(false);
            Diagnostics.Timings.Record("store.list", mark);
            return range;
        }
        catch (CompactedException e) when (!string.IsNullOrEmpty(continueToken))
        {
            throw ApiException.Gone($"The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list. ({e.Message})");
        }
        catch (CompactedException e)
        {
            throw ApiException.Gone($"too old resource version: {revision} ({e.CompactedRevision})");
        }
    }

    public sealed record StoredPage(List<KeyValue> Items, long Revision, string? Continue);

    /// <summary>
    /// A page of a list that keeps every object (no selectors), as the stored values: nothing is decoded, the
    /// caller writes them out with <see cref="WriteStored"/>. Same paging and snapshot as <see cref="ListAsync"/>.
    /// </summary>
    public async Task<StoredPage> ListStoredAsync(ResourceDefinition def, string? ns, long limit, string? continueToken, long revision, CancellationToken ct)
    {
        var (items, readRevision, next) = await PageAsync(def, ns, limit, continueToken, revision, kv => kv, keepsAll: true, ct).ConfigureAwait(false);
        return new StoredPage(items, readRevision, next);
    }

    /// <summary>
    /// Writes a stored object as the API serves it, <see cref="Decode"/>'s result, without building it: the stored
    /// JSON with metadata.resourceVersion (never stored, see <see cref="Encode"/>) put first into its metadata.
    /// </summary>
    public static void WriteStored(IBufferWriter<byte> output, KeyValue kv)
    {
        var json = kv.Value.Span;
        var metadataBody = MetadataBodyStart(json, out var emptyMetadata);
        if (metadataBody < 0)
        {
            // Not the shape Encode writes (no metadata object): the general path says what is wrong with it.
            using var writer = new Utf8JsonWriter(output);
            Decode(kv).WriteTo(writer);
            return;
        }
        output.Write(json[..metadataBody]);
        output.Write("\"resourceVersion\":\""u8);
        var digits = output.GetSpan(20);
        kv.ModRevision.TryFormat(digits, out var written, default, CultureInfo.InvariantCulture);
        output.Advance(written);
        output.Write(emptyMetadata ? "\""u8 : "\","u8);
        output.Write(json[metadataBody..]);
    }

    /// <summary>The offset just past the '{' of the top-level "metadata" object, or -1; reads no further than that.</summary>
    private static int MetadataBodyStart(ReadOnlySpan<byte> json, out bool empty)
    {
        empty = false;
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return -1;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isMetadata = reader.ValueTextEquals("metadata"u8);
                reader.Read();
                if (isMetadata)
                {
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        return -1;
                    }
                    var start = checked((int)reader.TokenStartIndex + 1);
                    reader.Read();
                    empty = reader.TokenType == JsonTokenType.EndObject;
                    return start;
                }
                reader.Skip();
            }
        }
        catch (JsonException)
        {
        }
        return -1;
    }


    public static string EncodeContinue(long revision, string lastKey)
    {
        var json = new JsonObject { ["v"] = "meta.k8s.io/v1", ["rv"] = revision, ["start"] = lastKey };
        return Convert.ToBase64String(Encoding.UTF8.GetBytes(json.ToJsonString())).Replace('+', '-').Replace('/', '_').TrimEnd('=');
    }

    private static (long, string) DecodeContinue(string token, string prefix)
    {
        try
        {
            var b64 = token.Replace('-', '+').Replace('_', '/');
            b64 = b64.PadRight(b64.Length + ((4 - (b64.Length % 4)) % 4), '=');
            var json = JsonNode.Parse(Convert.FromBase64String(b64))!;
            var key = json["start"]!.GetValue<string>();
            if (!key.StartsWith(prefix, StringComparison.Ordinal) && !prefix.StartsWith(key, StringComparison.Ordinal))
            {
                throw ApiException.BadRequest("continue key is not valid: the continue token is for another resource");
            }
            return (json["rv"]!.GetValue<long>(), key);
        }
        catch (Exception e) when (e is FormatException or JsonException or NullReferenceException or InvalidOperationException)
        {
            throw ApiException.BadRequest("continue key is not valid: " + e.Message);
        }
    }
}
