using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.ApiServer.Registry;
using Berth.ApiServer.Selectors;
using Berth.ApiServer.Storage;
using Berth.Store;
using Microsoft.AspNetCore.Http;

namespace Berth.ApiServer.Http;

public sealed partial class ApiHandler
{
    private enum OutputShape
    {
        Object,
        Table,
        PartialMetadata,
    }

    private static OutputShape Shape(HttpContext ctx)
    {
        var accept = ctx.Request.Headers.Accept.ToString();
        // The first acceptable media type wins, as in content negotiation.
        foreach (var part in accept.Split(','))
        {
            if (part.Contains("as=Table", StringComparison.Ordinal))
            {
                return OutputShape.Table;
            }
            if (part.Contains("as=PartialObjectMetadata", StringComparison.Ordinal))
            {
                return OutputShape.PartialMetadata;
            }
            if (part.Contains("json", StringComparison.Ordinal) || part.Contains("*/*", StringComparison.Ordinal))
            {
                return OutputShape.Object;
            }
        }
        return OutputShape.Object;
    }

    private async Task<StoredObject> GetExistingAsync(ApiRequest req, CancellationToken ct) =>
        await _store.GetAsync(req.Resource, req.Namespace, req.Info.Name, ct).ConfigureAwait(false)
        ?? throw ApiException.NotFound(req.Resource.Group, req.Resource.Plural, req.Info.Name);

    private async Task GetAsync(HttpContext ctx, ApiRequest req, CancellationToken ct)
    {
        var stored = await GetExistingAsync(req, ct).ConfigureAwait(false);
        var obj = stored.Object;
        switch (Shape(ctx))
        {
            case OutputShape.Table:
                await WriteJsonAsync(ctx, 200, Table(req.Resource, [obj], null, null, includeColumns: true, ctx)).ConfigureAwait(false);
                break;
            case OutputShape.PartialMetadata:
                await WriteJsonAsync(ctx, 200, PartialMetadata(obj)).ConfigureAwait(false);
                break;
            default:
                await WriteJsonAsync(ctx, 200, obj).ConfigureAwait(false);
                break;
        }
    }

    private static JsonObject PartialMetadata(JsonObject obj) => new()
    {
        ["kind"] = "PartialObjectMetadata",
        ["apiVersion"] = "meta.k8s.io/v1",
        ["metadata"] = obj["metadata"]?.DeepClone(),
    };

    private static Func<JsonObject, bool> Filter(HttpContext ctx, ApiRequest req)
    {
        var labels = LabelSelector.Parse(ctx.Request.Query["labelSelector"].ToString());
        var fields = FieldSelector.Parse(ctx.Request.Query["fieldSelector"].ToString(), req.Resource);
        if (labels.Requirements.Count == 0 && fields.IsEverything)
        {
            return ObjectStore.Everything;
        }
        return o => labels.Matches(o.ObjOrNull("metadata").ObjOrNull("labels").StringMap()) && fields.Matches(o);
    }

    private static long ParseRevision(string? rv)
    {
        if (string.IsNullOrEmpty(rv))
        {
            return 0;
        }
        return long.TryParse(rv, NumberStyles.None, CultureInfo.InvariantCulture, out var r)
            ? r
            : throw ApiException.BadRequest($"invalid resource version: {rv}");
    }

    private async Task ListAsync(HttpContext ctx, ApiRequest req, CancellationToken ct)
    {
        var q = ctx.Request.Query;
        var limit = long.TryParse(q["limit"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var l) ? l : 0;
        var rv = ParseRevision(q["resourceVersion"].ToString());
        var match = q["resourceVersionMatch"].ToString();
        // "0" and NotOlderThan may be served from the newest state; only an Exact match (or a plain positive
        // resourceVersion in a paged list) reads history.
        var readAt = match == "Exact" ? rv : 0;
        if (match == "Exact" && rv == 0)
        {
            throw ApiException.BadRequest("resourceVersionMatch: Exact requires a resourceVersion other than 0");
        }
        var filter = Filter(ctx, req);
        if (ReferenceEquals(filter, ObjectStore.Everything) && Shape(ctx) == OutputShape.Object)
        {
            // Every object as stored: written out without decoding each into a JsonObject and encoding it again.
            var stored = await _store.ListStoredAsync(req.Resource, req.Namespace, limit, q["continue"].ToString(), readAt, ct).ConfigureAwait(false);
            await WriteStoredListAsync(ctx, req.Resource, stored).ConfigureAwait(false);
            return;
        }
        var page = await _store.ListAsync(req.Resource, req.Namespace, limit, q["continue"].ToString(), readAt, filter, ct).ConfigureAwait(false);
        if (Shape(ctx) == OutputShape.Table)
        {
            await WriteJsonAsync(ctx, 200, Table(req.Resource, page.Items, page.Revision, page.Continue, includeColumns: true, ctx)).ConfigureAwait(false);
            return;
        }
        var partial = Shape(ctx) == OutputShape.PartialMetadata;
        var items = new JsonArray();
        foreach (var o in page.Items)
        {
            items.Add(partial ? PartialMetadata(o) : o);
        }
        var meta = new JsonObject { ["resourceVersion"] = page.Revision.ToString(CultureInfo.InvariantCulture) };
        if (page.Continue is not null)
        {
            meta["continue"] = page.Continue;
        }
        var list = new JsonObject
        {
            ["kind"] = partial ? "PartialObjectMetadataList" : req.Resource.Kind + "List",
            ["apiVersion"] = partial ? "meta.k8s.io/v1" : req.Resource.ApiVersion,
            ["metadata"] = meta,
            ["items"] = items,
        };
        await WriteJsonAsync(ctx, 200, list).ConfigureAwait(false);
    }

    /// <summary>The same list document as <see cref="ListAsync"/> builds, with the items copied from the store.</summary>
    private static async Task WriteStoredListAsync(HttpContext ctx, ResourceDefinition def, ObjectStore.StoredPage page)
    {
        var buffer = new ArrayBufferWriter<byte>(4096 + page.Items.Sum(kv => kv.Value.Length + 32));
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("kind", def.Kind + "List");
            writer.WriteString("apiVersion", def.ApiVersion);
            writer.WriteStartObject("metadata");
            writer.WriteString("resourceVersion", page.Revision.ToString(CultureInfo.InvariantCulture));
            if (page.Continue is not null)
            {
                writer.WriteString("continue", page.Continue);
            }
            writer.WriteEndObject();
            writer.WriteStartArray("items");
            writer.Flush();
        }
        for (var i = 0; i < page.Items.Count; i++)
        {
            if (i > 0)
            {
                buffer.Write(","u8);
            }
            ObjectStore.WriteStored(buffer, page.Items[i]);
        }
        buffer.Write("]}"u8);
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        ctx.Response.ContentLength = buffer.WrittenCount;
        await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, ctx.RequestAborted).ConfigureAwait(false);
    }

    private JsonObject Table(ResourceDefinition def, IEnumerable<JsonObject> objects, long? revision, string? continueToken, bool includeColumns, HttpContext ctx)
    {
        var now = _time.GetUtcNow();
        var columns = def.Strategy.Columns;
        var includeObject = ctx.Request.Query["includeObject"].ToString();
        var rows = new JsonArray();
        foreach (var o in objects)
        {
            var cells = new JsonArray();
            foreach (var c in columns)
            {
                var v = c.Cell(o, now);
                cells.Add(v is null ? null : v.Parent is null ? v : v.DeepClone());
            }
            var row = new JsonObject { ["cells"] = cells };
            row["object"] = includeObject switch
            {
                "None" => null,
                "Object" => o.DeepClone(),
                _ => PartialMetadata(o),
            };
            rows.Add(row);
        }
        var defs = new JsonArray();
        if (includeColumns)
        {
            foreach (var c in columns)
            {
                defs.Add(new JsonObject
                {
                    ["name"] = c.Name,
                    ["type"] = c.Type,
                    ["format"] = c.Format,
                    ["description"] = c.Description,
                    ["priority"] = c.Priority,
                });
            }
        }
        var meta = new JsonObject();
        if (revision is not null)
        {
            meta["resourceVersion"] = revision.Value.ToString(CultureInfo.InvariantCulture);
        }
        if (continueToken is not null)
        {
            meta["continue"] = continueToken;
        }
        return new JsonObject
        {
            ["kind"] = "Table",
            ["apiVersion"] = "meta.k8s.io/v1",
            ["metadata"] = meta,
            ["columnDefinitions"] = defs,
            ["rows"] = rows,
        };
    }

    /// <summary>
    /// A watch: optional synthetic ADDED events for the current state (no resourceVersion, "0", or
    /// sendInitialEvents=true), then changes after the revision, as newline-delimited JSON events. A revision older
    /// than the store's history ends the stream with an ERROR event carrying a 410 Status, as Kubernetes does.
    /// </summary>
    private async Task WatchAsync(HttpContext ctx, ApiRequest req, CancellationToken ct)
    {
        var q = ctx.Request.Query;
        var filter = Filter(ctx, req);
        var nameFilter = req.Info.Name;
        var shape = Shape(ctx);
        var bookmarks = q["allowWatchBookmarks"].ToString() is "true" or "1";
        var sendInitial = q["sendInitialEvents"].ToString() is "true" or "1";
        var rvText = q["resourceVersion"].ToString();
        var timeout = int.TryParse(q["timeoutSeconds"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var ts) && ts > 0 ? TimeSpan.FromSeconds(ts) : TimeSpan.FromMinutes(30);
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeoutCts.CancelAfter(timeout);
        var wct = timeoutCts.Token;

        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        ctx.Response.Headers.CacheControl = "no-cache, private";
        var body = ctx.Response.Body;
        var first = true;

        async Task SendAsync(string type, JsonObject obj)
        {
            JsonNode payload = obj;
            if (shape == OutputShape.Table && type is not ("ERROR" or "BOOKMARK"))
            {
                payload = Table(req.Resource, [obj], null, null, includeColumns: first, ctx);
                first = false;
            }
            else if (shape == OutputShape.PartialMetadata && type is not "ERROR")
            {
                payload = PartialMetadata(obj);
            }
            var evt = new JsonObject { ["type"] = type, ["object"] = payload.Parent is null ? payload : payload.DeepClone() };
            var bytes = System.Text.Encoding.UTF8.GetBytes(evt.ToJsonString() + "\n");
            await body.WriteAsync(bytes, wct).ConfigureAwait(false);
            await body.FlushAsync(wct).ConfigureAwait(false);
        }

        bool Wanted(JsonObject o) => (nameFilter.Length == 0 || o.Name() == nameFilter) && filter(o);

        long from;
        try
        {
            if (rvText.Length == 0 || rvText == "0" || sendInitial)
            {
                var page = await _store.ListAsync(req.Resource, req.Namespace, 0, null, 0, Wanted, wct).ConfigureAwait(false);
                from = sendInitial && rvText.Length > 0 && rvText != "0" ? Math.Max(ParseRevision(rvText), page.Revision) : page.Revision;
                await ctx.Response.StartAsync(wct).ConfigureAwait(false);
                foreach (var o in page.Items)
                {
                    await SendAsync("ADDED", o).ConfigureAwait(false);
                }
                if (sendInitial)
                {
                    await SendAsync("BOOKMARK", Bookmark(req, from, initialEventsEnd: true)).ConfigureAwait(false);
                }
            }
            else
            {
                from = ParseRevision(rvText);
                await ctx.Response.StartAsync(wct).ConfigureAwait(false);
            }
            await body.FlushAsync(wct).ConfigureAwait(false);

            var prefix = req.Resource.ListPrefix(req.Namespace);
            var lastSent = from;
            using var bookmarkTimer = bookmarks ? new PeriodicTimer(TimeSpan.FromSeconds(5), _time) : null;
            await using var events = _hub.WatchAsync(prefix, from, wct).GetAsyncEnumerator(wct);
            Task<bool>? next = null;
            Task<bool>? tick = null;
            while (true)
            {
                next ??= events.MoveNextAsync().AsTask();
                if (bookmarkTimer is not null)
                {
                    tick ??= bookmarkTimer.WaitForNextTickAsync(wct).AsTask();
                }
                var done = tick is null ? await Task.WhenAny(next).ConfigureAwait(false) : await Task.WhenAny(next, tick).ConfigureAwait(false);
                if (done == tick)
                {
                    tick = null;
                    var rev = Math.Max(lastSent, _hub.LastRevision);
                    if (!next.IsCompleted)
                    {
                        await SendAsync("BOOKMARK", Bookmark(req, rev, false)).ConfigureAwait(false);
                    }
                    continue;
                }
                if (!await next.ConfigureAwait(false))
                {
                    break;
                }
                next = null;
                var e = events.Current;
                Diagnostics.Timings.RecordSincePublished("watch.received", e);
                lastSent = e.Current.ModRevision;
                var decoded = DecodedEvent.For(e);
                var type = e.Type == WatchEventType.Delete ? "DELETED" : e.Current.CreateRevision == e.Current.ModRevision ? "ADDED" : "MODIFIED";
                var obj = decoded.Object;
                if (obj is null)
                {
                    continue;
                }
                if (e.Type == WatchEventType.Delete)
                {
                    if (!Wanted(obj))
                    {
                        continue;
                    }
                }
                else
                {
                    var now = Wanted(obj);
                    var before = decoded.Previous is { } prev && Wanted(prev);
                    if (!now && !before)
                    {
                        continue;
                    }
                    // An object leaving the selection is DELETED for this watcher; entering it, ADDED.
                    if (!now)
                    {
                        type = "DELETED";
                    }
                    else if (!before && e.Previous is not null)
                    {
                        type = "ADDED";
                    }
                }
                if (shape == OutputShape.Object)
                {
                    // The common case: the same line for every watcher, built once per event, sent as one write and
                    // one flush (three writes meant three flushes, so three HTTP/2 DATA frames per watcher).
                    await ctx.Response.BodyWriter.WriteAsync(decoded.Line(type), wct).ConfigureAwait(false);
                    Diagnostics.Timings.RecordSincePublished("watch.flushed", e);
                    continue;
                }
                await SendAsync(type, (JsonObject)obj.DeepClone()).ConfigureAwait(false);
            }
        }
        catch (CompactedException e)
        {
            if (!ctx.Response.HasStarted)
            {
                await ctx.Response.StartAsync(wct).ConfigureAwait(false);
            }
            var status = ApiException.Gone($"too old resource version: {e.Requested} ({e.CompactedRevision})").ToStatus();
            await SendAsync("ERROR", status).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (wct.IsCancellationRequested)
        {
        }
        catch (IOException)
        {
        }
    }

    private static JsonObject Bookmark(ApiRequest req, long revision, bool initialEventsEnd)
    {
        var meta = new JsonObject { ["resourceVersion"] = revision.ToString(CultureInfo.InvariantCulture) };
        if (initialEventsEnd)
        {
            meta["annotations"] = new JsonObject { ["k8s.io/initial-events-end"] = "true" };
        }
        return new JsonObject { ["kind"] = req.Resource.Kind, ["apiVersion"] = req.Resource.ApiVersion, ["metadata"] = meta };
    }

    internal static JsonElement ToElement(JsonNode node) => JsonSerializer.SerializeToElement(node);
}
