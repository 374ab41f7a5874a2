using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Berth.Engine;

/// <summary>One Docker event (the /events stream shape).</summary>
public sealed record EngineEvent(string Type, string Action, string Id, IReadOnlyDictionary<string, string> Attributes, DateTimeOffset Time)
{
    public JsonObject ToJson()
    {
        var attrs = new JsonObject();
        foreach (var (k, v) in Attributes)
        {
            attrs[k] = v;
        }
        var o = new JsonObject
        {
            ["Type"] = Type,
            ["Action"] = Action,
            ["Actor"] = new JsonObject { ["ID"] = Id, ["Attributes"] = attrs },
            ["scope"] = "local",
            ["time"] = Time.ToUnixTimeSeconds(),
            ["timeNano"] = (Time.ToUnixTimeMilliseconds() * 1_000_000L) + (Time.Ticks % TimeSpan.TicksPerMillisecond * 100),
        };
        if (Type == "container")
        {
            o["status"] = Action;
            o["id"] = Id;
            o["from"] = Attributes.GetValueOrDefault("image");
        }
        return o;
    }
}

/// <summary>Fan-out of events to /events subscribers, with a bounded history for `since`.</summary>
public sealed class EventHub
{
    private readonly List<EngineEvent> _history = [];
    private readonly List<Channel<EngineEvent>> _subscribers = [];
    private readonly TimeProvider _time;

    public EventHub(TimeProvider time) => _time = time;

    public void Publish(string type, string action, string id, IReadOnlyDictionary<string, string> attributes)
    {
        var e = new EngineEvent(type, action, id, attributes, _time.GetUtcNow());
        lock (_history)
        {
            _history.Add(e);
            if (_history.Count > 1000)
            {
                _history.RemoveRange(0, 200);
            }
            foreach (var s in _subscribers)
            {
                s.Writer.TryWrite(e);
            }
        }
    }

    /// <summary>Past events (from <paramref name="since"/>) followed by live ones until cancelled.</summary>
    public (IReadOnlyList<EngineEvent> Past, ChannelReader<EngineEvent> Live, IDisposable Subscription) Subscribe(DateTimeOffset? since)
    {
        var channel = Channel.CreateUnbounded<EngineEvent>();
        lock (_history)
        {
            var past = since is { } s ? _history.Where(e => e.Time >= s).ToList() : [];
            _subscribers.Add(channel);
            return (past, channel.Reader, new Unsubscribe(() =>
            {
                lock (_history)
                {
                    _subscribers.Remove(channel);
                }
                channel.Writer.TryComplete();
            }));
        }
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
