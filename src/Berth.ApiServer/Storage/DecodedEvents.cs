using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using Berth.Store;

namespace Berth.ApiServer.Storage;

/// <summary>
/// A store event decoded once and shared by every watcher that receives it (the hub hands the same
/// <see cref="WatchEvent"/> instance to all of them): the object, the previous object, and the watch lines.
/// The nodes are fully materialized before sharing, so concurrent readers never race on lazy initialization;
/// readers must not modify them (clone first).
/// </summary>
public sealed class DecodedEvent
{
    private static readonly ConditionalWeakTable<WatchEvent, DecodedEvent> Cache = new();
    private readonly Lock _lock = new();
    private byte[]? _json;
    private Dictionary<string, byte[]>? _lines;
    private JsonObject? _previous;
    private bool _previousDone;

    private DecodedEvent(WatchEvent e)
    {
        Event = e;
        Object = e.Type == WatchEventType.Delete
            ? e.Previous is null ? null : Materialize(ObjectStore.Decode(e.Previous, e.Current.ModRevision))
            : Materialize(ObjectStore.Decode(e.Current));
    }

    public WatchEvent Event { get; }

    /// <summary>The object the event is about (for DELETED, the last state); null for a delete without history.</summary>
    public JsonObject? Object { get; }

    public static DecodedEvent For(WatchEvent e) => Cache.GetValue(e, static x => new DecodedEvent(x));

    public JsonObject? Previous
    {
        get
        {
            lock (_lock)
            {
                if (!_previousDone)
                {
                    _previous = Event.Type == WatchEventType.Put && Event.Previous is not null ? Materialize(ObjectStore.Decode(Event.Previous)) : null;
                    _previousDone = true;
                }
                return _previous;
            }
        }
    }

    /// <summary>
    /// The whole watch line for this event as <paramref name="type"/> (ADDED, MODIFIED or DELETED), built once per
    /// type and shared by every watcher, so a watcher's delivery is one write of ready bytes.
    /// </summary>
    public byte[] Line(string type)
    {
        lock (_lock)
        {
            _lines ??= new Dictionary<string, byte[]>(StringComparer.Ordinal);
            if (!_lines.TryGetValue(type, out var line))
            {
                _json ??= Encoding.UTF8.GetBytes(Object?.ToJsonString() ?? "null");
                var head = Encoding.UTF8.GetBytes("{\"type\":\"" + type + "\",\"object\":");
                line = new byte[head.Length + _json.Length + 2];
                head.CopyTo(line, 0);
                _json.CopyTo(line, head.Length);
                line[^2] = (byte)'}';
                line[^1] = (byte)'\n';
                _lines[type] = line;
            }
            return line;
        }
    }

    internal static JsonObject Materialize(JsonObject o)
    {
        Walk(o);
        return o;
    }

    private static void Walk(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, v) in o)
                {
                    Walk(v);
                }
                break;
            case JsonArray a:
                foreach (var v in a)
                {
                    Walk(v);
                }
                break;
        }
    }
}
