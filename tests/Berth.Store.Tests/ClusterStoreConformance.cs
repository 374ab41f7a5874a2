using System.Diagnostics;
using System.Text;
using Berth.Core;

namespace Berth.Store.Tests;

/// <summary>
/// Every behaviour of <see cref="IClusterStore"/>; each implementation runs this whole class. Keys live under a
/// prefix unique to the test, so implementations sharing one server (etcd) do not see each other's keys.
/// </summary>
public abstract class ClusterStoreConformance : IAsyncLifetime
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    protected IClusterStore Store { get; private set; } = null!;

    protected string P { get; } = $"/conformance/{Guid.NewGuid():N}/";

    protected abstract Task<IClusterStore> OpenStoreAsync();

    public async Task InitializeAsync() => Store = await OpenStoreAsync();

    public async Task DisposeAsync() => await Store.DisposeAsync();

    protected static byte[] V(string s) => Encoding.UTF8.GetBytes(s);

    protected static string S(ReadOnlyMemory<byte> m) => Encoding.UTF8.GetString(m.Span);

    [Fact]
    public async Task Create_then_get_returns_the_value_and_its_revisions()
    {
        var before = await Store.CurrentRevisionAsync();
        var rev = await Store.CreateAsync(P + "a", V("one"));
        Assert.True(rev > before);
        Assert.Equal(rev, await Store.CurrentRevisionAsync());
        var kv = await Store.GetAsync(P + "a");
        Assert.NotNull(kv);
        Assert.Equal(P + "a", kv.Key);
        Assert.Equal("one", S(kv.Value));
        Assert.Equal(rev, kv.CreateRevision);
        Assert.Equal(rev, kv.ModRevision);
    }

    [Fact]
    public async Task Get_of_a_missing_key_is_null()
    {
        Assert.Null(await Store.GetAsync(P + "missing"));
    }

    [Fact]
    public async Task Creating_an_existing_key_fails_and_changes_nothing()
    {
        var rev = await Store.CreateAsync(P + "a", V("one"));
        var e = await Assert.ThrowsAsync<KeyExistsException>(() => Store.CreateAsync(P + "a", V("two")));
        Assert.Equal(P + "a", e.Key);
        var kv = await Store.GetAsync(P + "a");
        Assert.Equal("one", S(kv!.Value));
        Assert.Equal(rev, kv.ModRevision);
        Assert.Equal(rev, await Store.CurrentRevisionAsync());
    }

    [Fact]
    public async Task Empty_values_round_trip()
    {
        await Store.CreateAsync(P + "empty", ReadOnlyMemory<byte>.Empty);
        var kv = await Store.GetAsync(P + "empty");
        Assert.NotNull(kv);
        Assert.Equal(0, kv.Value.Length);
    }

    [Fact]
    public async Task Update_at_the_current_revision_succeeds_and_keeps_the_create_revision()
    {
        var created = await Store.CreateAsync(P + "a", V("one"));
        var result = await Store.UpdateAsync(P + "a", V("two"), created);
        Assert.Equal(WriteOutcome.Succeeded, result.Outcome);
        Assert.True(result.Revision > created);
        Assert.NotNull(result.Current);
        Assert.Equal("two", S(result.Current.Value));
        Assert.Equal(created, result.Current.CreateRevision);
        Assert.Equal(result.Revision, result.Current.ModRevision);
        Assert.NotNull(result.Previous);
        Assert.Equal("one", S(result.Previous.Value));
        Assert.Equal(created, result.Previous.ModRevision);
        var kv = await Store.GetAsync(P + "a");
        Assert.Equal("two", S(kv!.Value));
        Assert.Equal(created, kv.CreateRevision);
        Assert.Equal(result.Revision, kv.ModRevision);
    }

    [Fact]
    public async Task Update_at_a_stale_revision_conflicts_and_returns_the_current_value()
    {
        var created = await Store.CreateAsync(P + "a", V("one"));
        var second = await Store.UpdateAsync(P + "a", V("two"), created);
        var before = await Store.CurrentRevisionAsync();
        var stale = await Store.UpdateAsync(P + "a", V("three"), created);
        Assert.Equal(WriteOutcome.Conflict, stale.Outcome);
        Assert.NotNull(stale.Current);
        Assert.Equal("two", S(stale.Current.Value));
        Assert.Equal(second.Revision, stale.Current.ModRevision);
        Assert.Equal(before, stale.Revision);
        Assert.Null(stale.Previous);
        Assert.Equal(before, await Store.CurrentRevisionAsync());
        Assert.Equal("two", S((await Store.GetAsync(P + "a"))!.Value));
    }

    [Fact]
    public async Task Update_of_a_missing_key_is_not_found_and_does_not_create_it()
    {
        var missing = await Store.UpdateAsync(P + "missing", V("x"), 5);
        Assert.Equal(WriteOutcome.NotFound, missing.Outcome);
        Assert.Null(missing.Current);
        var zero = await Store.UpdateAsync(P + "missing", V("x"), 0);
        Assert.Equal(WriteOutcome.NotFound, zero.Outcome);
        Assert.Null(await Store.GetAsync(P + "missing"));
    }

    [Fact]
    public async Task Update_with_expected_revision_zero_on_an_existing_key_conflicts()
    {
        await Store.CreateAsync(P + "a", V("one"));
        var result = await Store.UpdateAsync(P + "a", V("two"), 0);
        Assert.Equal(WriteOutcome.Conflict, result.Outcome);
        Assert.Equal("one", S(result.Current!.Value));
    }

    [Fact]
    public async Task Delete_without_expected_revision_removes_the_key_and_returns_what_it_held()
    {
        var created = await Store.CreateAsync(P + "a", V("one"));
        var result = await Store.DeleteAsync(P + "a");
        Assert.Equal(WriteOutcome.Succeeded, result.Outcome);
        Assert.True(result.Revision > created);
        Assert.Null(result.Current);
        Assert.NotNull(result.Previous);
        Assert.Equal("one", S(result.Previous.Value));
        Assert.Equal(created, result.Previous.ModRevision);
        Assert.Null(await Store.GetAsync(P + "a"));
        Assert.Equal(result.Revision, await Store.CurrentRevisionAsync());
        var again = await Store.DeleteAsync(P + "a");
        Assert.Equal(WriteOutcome.NotFound, again.Outcome);
        Assert.Equal(result.Revision, await Store.CurrentRevisionAsync());
    }

    [Fact]
    public async Task Delete_with_expected_revision_conflicts_when_stale_and_succeeds_when_current()
    {
        var created = await Store.CreateAsync(P + "a", V("one"));
        var updated = await Store.UpdateAsync(P + "a", V("two"), created);
        var stale = await Store.DeleteAsync(P + "a", created);
        Assert.Equal(WriteOutcome.Conflict, stale.Outcome);
        Assert.Equal("two", S(stale.Current!.Value));
        Assert.NotNull(await Store.GetAsync(P + "a"));
        var ok = await Store.DeleteAsync(P + "a", updated.Revision);
        Assert.Equal(WriteOutcome.Succeeded, ok.Outcome);
        Assert.Null(await Store.GetAsync(P + "a"));
        Assert.Equal(WriteOutcome.NotFound, (await Store.DeleteAsync(P + "a", updated.Revision)).Outcome);
    }

    [Fact]
    public async Task A_key_created_again_after_a_delete_gets_a_new_create_revision()
    {
        var first = await Store.CreateAsync(P + "a", V("one"));
        await Store.DeleteAsync(P + "a");
        var second = await Store.CreateAsync(P + "a", V("two"));
        Assert.True(second > first);
        var kv = await Store.GetAsync(P + "a");
        Assert.Equal(second, kv!.CreateRevision);
    }

    [Fact]
    public async Task List_pages_in_key_order_with_startAfter_limit_and_more()
    {
        var names = Enumerable.Range(0, 25).Select(i => $"{P}item-{i:D2}").ToList();
        foreach (var name in names.AsEnumerable().Reverse())
        {
            await Store.CreateAsync(name, V(name));
        }
        await Store.CreateAsync(P.TrimEnd('/') + "x/outside", V("no"));
        var seen = new List<string>();
        string? after = null;
        var pages = 0;
        var revisions = new HashSet<long>();
        while (true)
        {
            var page = await Store.ListAsync(P, after, limit: 10);
            pages++;
            revisions.Add(page.Revision);
            seen.AddRange(page.Items.Select(i => i.Key));
            Assert.All(page.Items, i => Assert.Equal(i.Key, S(i.Value)));
            if (!page.More)
            {
                Assert.Equal(5, page.Items.Count);
                break;
            }
            Assert.Equal(10, page.Items.Count);
            after = page.Items[^1].Key;
        }
        Assert.Equal(3, pages);
        Assert.Equal(names, seen);
        Assert.Single(revisions);
        Assert.Equal(await Store.CurrentRevisionAsync(), revisions.Single());
        var all = await Store.ListAsync(P);
        Assert.Equal(names, all.Items.Select(i => i.Key));
        Assert.False(all.More);
        var exact = await Store.ListAsync(P, limit: 25);
        Assert.Equal(25, exact.Items.Count);
        Assert.False(exact.More);
    }

    [Fact]
    public async Task List_does_not_return_keys_that_only_share_leading_characters()
    {
        await Store.CreateAsync(P + "pods/a", V("1"));
        await Store.CreateAsync(P + "pods/b", V("2"));
        await Store.CreateAsync(P + "podsx/c", V("3"));
        await Store.CreateAsync(P + "pod", V("4"));
        var pods = await Store.ListAsync(P + "pods/");
        Assert.Equal([P + "pods/a", P + "pods/b"], pods.Items.Select(i => i.Key));
        Assert.Equal(4, (await Store.ListAsync(P)).Items.Count);
    }

    [Fact]
    public async Task Keys_are_ordered_by_their_utf8_bytes_and_non_ascii_keys_round_trip()
    {
        string[] names = ["z", "é", "ä/x", "日本", "A", "a~"];
        foreach (var name in names)
        {
            await Store.CreateAsync(P + name, V(name));
        }
        var expected = names.Select(n => P + n).OrderBy(k => Encoding.UTF8.GetBytes(k), Comparer<byte[]>.Create((x, y) => x.AsSpan().SequenceCompareTo(y))).ToList();
        var listed = await Store.ListAsync(P);
        Assert.Equal(expected, listed.Items.Select(i => i.Key));
        Assert.All(listed.Items, i => Assert.Equal(i.Key[P.Length..], S(i.Value)));
        Assert.Equal("日本", S((await Store.GetAsync(P + "日本"))!.Value));
        var page = await Store.ListAsync(P, startAfter: P + "é", limit: 10);
        Assert.Equal(expected.SkipWhile(k => k != P + "é").Skip(1), page.Items.Select(i => i.Key));
    }

    [Fact]
    public async Task List_at_an_old_revision_returns_the_state_as_of_that_revision()
    {
        var a = await Store.CreateAsync(P + "a", V("a1"));
        await Store.CreateAsync(P + "b", V("b1"));
        var then = await Store.CurrentRevisionAsync();
        await Store.UpdateAsync(P + "a", V("a2"), a);
        await Store.DeleteAsync(P + "b");
        await Store.CreateAsync(P + "c", V("c1"));

        var old = await Store.ListAsync(P, revision: then);
        Assert.Equal(then, old.Revision);
        Assert.Equal([(P + "a", "a1"), (P + "b", "b1")], old.Items.Select(i => (i.Key, S(i.Value))));
        Assert.Equal(a, old.Items[0].ModRevision);

        var oldPage = await Store.ListAsync(P, startAfter: P + "a", limit: 1, revision: then);
        Assert.Equal([P + "b"], oldPage.Items.Select(i => i.Key));
        Assert.False(oldPage.More);

        var now = await Store.ListAsync(P);
        Assert.Equal([(P + "a", "a2"), (P + "c", "c1")], now.Items.Select(i => (i.Key, S(i.Value))));
    }

    [Fact]
    public async Task List_at_a_future_revision_is_rejected()
    {
        var current = await Store.CurrentRevisionAsync();
        var e = await Assert.ThrowsAsync<BerthException>(() => Store.ListAsync(P, revision: current + 1000));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
    }

    [Fact]
    public async Task Count_counts_live_keys_under_a_prefix()
    {
        Assert.Equal(0, await Store.CountAsync(P));
        for (var i = 0; i < 7; i++)
        {
            await Store.CreateAsync($"{P}n/{i}", V("x"));
        }
        await Store.CreateAsync(P + "other", V("x"));
        await Store.DeleteAsync(P + "n/3");
        Assert.Equal(6, await Store.CountAsync(P + "n/"));
        Assert.Equal(7, await Store.CountAsync(P));
    }

    [Fact]
    public async Task Watch_from_a_revision_replays_puts_and_deletes_in_order_with_previous_values_then_follows()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var start = await Store.CurrentRevisionAsync();
        var a1 = await Store.CreateAsync(P + "a", V("a1"));
        var a2 = await Store.UpdateAsync(P + "a", V("a2"), a1);
        var b1 = await Store.CreateAsync(P + "b", V("b1"));
        var del = await Store.DeleteAsync(P + "a");
        await Store.CreateAsync(P.TrimEnd('/') + "-elsewhere", V("not mine"));

        await using var events = Store.WatchAsync(P, start, cts.Token).GetAsyncEnumerator(cts.Token);
        var got = new List<WatchEvent>();
        for (var i = 0; i < 4; i++)
        {
            Assert.True(await events.MoveNextAsync());
            got.Add(events.Current);
        }
        Assert.Equal([WatchEventType.Put, WatchEventType.Put, WatchEventType.Put, WatchEventType.Delete], got.Select(e => e.Type));
        Assert.Equal([a1, a2.Revision, b1, del.Revision], got.Select(e => e.Current.ModRevision));
        Assert.Equal([P + "a", P + "a", P + "b", P + "a"], got.Select(e => e.Current.Key));
        Assert.Null(got[0].Previous);
        Assert.Equal("a1", S(got[0].Current.Value));
        Assert.Equal("a1", S(got[1].Previous!.Value));
        Assert.Equal(a1, got[1].Previous!.ModRevision);
        Assert.Equal(a1, got[1].Current.CreateRevision);
        Assert.Null(got[2].Previous);
        Assert.Equal("a2", S(got[3].Previous!.Value));
        Assert.Equal(a2.Revision, got[3].Previous!.ModRevision);
        Assert.Equal(a1, got[3].Current.CreateRevision);
        Assert.Equal(0, got[3].Current.Value.Length);

        // Live: a write after the watch caught up arrives too.
        var b2 = await Store.UpdateAsync(P + "b", V("b2"), b1);
        Assert.True(await events.MoveNextAsync());
        Assert.Equal(WatchEventType.Put, events.Current.Type);
        Assert.Equal(b2.Revision, events.Current.Current.ModRevision);
        Assert.Equal("b2", S(events.Current.Current.Value));
        Assert.Equal("b1", S(events.Current.Previous!.Value));
    }

    [Fact]
    public async Task Watch_from_the_current_revision_gets_only_new_events()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await Store.CreateAsync(P + "old", V("old"));
        var now = await Store.CurrentRevisionAsync();
        await using var events = Store.WatchAsync(P, now, cts.Token).GetAsyncEnumerator(cts.Token);
        var next = events.MoveNextAsync();
        var rev = await Store.CreateAsync(P + "new", V("new"));
        Assert.True(await next);
        Assert.Equal(P + "new", events.Current.Current.Key);
        Assert.Equal(rev, events.Current.Current.ModRevision);
    }

    [Fact]
    public async Task Cancelling_a_watch_ends_it()
    {
        using var cts = new CancellationTokenSource();
        var now = await Store.CurrentRevisionAsync();
        await using var events = Store.WatchAsync(P, now, cts.Token).GetAsyncEnumerator(cts.Token);
        var next = events.MoveNextAsync().AsTask();
        await Task.Delay(100);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Compaction_keeps_the_newest_values_and_makes_older_history_gone()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var first = await Store.CreateAsync(P + "k", V("v0"));
        var rev = first;
        for (var i = 1; i <= 5; i++)
        {
            rev = (await Store.UpdateAsync(P + "k", V("v" + i), rev)).Revision;
        }
        await Store.CreateAsync(P + "gone", V("x"));
        await Store.DeleteAsync(P + "gone");
        await Store.CreateAsync(P + "kept", V("kept"));
        var compactAt = await Store.CurrentRevisionAsync();
        await Store.CompactAsync(compactAt);
        await Store.CompactAsync(compactAt); // again: nothing to do, no error
        await Store.CompactAsync(first); // older: nothing to do, no error

        Assert.Equal("v5", S((await Store.GetAsync(P + "k"))!.Value));
        Assert.Equal([P + "k", P + "kept"], (await Store.ListAsync(P)).Items.Select(i => i.Key));
        Assert.Equal([P + "k", P + "kept"], (await Store.ListAsync(P, revision: compactAt)).Items.Select(i => i.Key));

        var list = await Assert.ThrowsAsync<CompactedException>(() => Store.ListAsync(P, revision: first));
        Assert.Equal(compactAt, list.CompactedRevision);

        var watch = await Assert.ThrowsAsync<CompactedException>(async () =>
        {
            await foreach (var e in Store.WatchAsync(P, first, cts.Token))
            {
                Assert.Fail("a watch from a compacted revision must not yield " + e);
            }
        });
        Assert.Equal(compactAt, watch.CompactedRevision);
        Assert.Equal(first, watch.Requested);

        // From the compacted revision itself, the watch works.
        await using var events = Store.WatchAsync(P, compactAt, cts.Token).GetAsyncEnumerator(cts.Token);
        var next = events.MoveNextAsync();
        var latest = await Store.UpdateAsync(P + "k", V("v6"), rev);
        Assert.True(await next);
        Assert.Equal(latest.Revision, events.Current.Current.ModRevision);
        Assert.Equal("v5", S(events.Current.Previous!.Value));
    }

    [Fact]
    public async Task Compacting_past_the_newest_revision_is_rejected()
    {
        var current = await Store.CurrentRevisionAsync();
        var e = await Assert.ThrowsAsync<BerthException>(() => Store.CompactAsync(current + 100));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
    }

    [Fact]
    public async Task Concurrent_compare_and_swap_has_exactly_one_winner_per_round()
    {
        const int contenders = 8;
        const int rounds = 10;
        var key = P + "counter";
        await Store.CreateAsync(key, V("0"));
        for (var round = 1; round <= rounds; round++)
        {
            var current = (await Store.GetAsync(key))!;
            using var go = new SemaphoreSlim(0);
            var attempts = Enumerable.Range(0, contenders).Select(async c =>
            {
                await go.WaitAsync();
                return await Store.UpdateAsync(key, V($"{round}:{c}"), current.ModRevision);
            }).ToArray();
            go.Release(contenders);
            var results = await Task.WhenAll(attempts);
            var winners = results.Where(r => r.Outcome == WriteOutcome.Succeeded).ToList();
            Assert.Single(winners);
            var losers = results.Where(r => r.Outcome != WriteOutcome.Succeeded).ToList();
            Assert.All(losers, r => Assert.Equal(WriteOutcome.Conflict, r.Outcome));
            Assert.All(losers, r => Assert.Equal(winners[0].Revision, r.Current!.ModRevision));
            var stored = (await Store.GetAsync(key))!;
            Assert.Equal(winners[0].Revision, stored.ModRevision);
            Assert.Equal(S(winners[0].Current!.Value), S(stored.Value));
        }
    }

    [Fact]
    public async Task Concurrent_creates_of_one_key_have_exactly_one_winner()
    {
        var tasks = Enumerable.Range(0, 10).Select(async i =>
        {
            try
            {
                return (long?)await Store.CreateAsync(P + "once", V(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
            catch (KeyExistsException)
            {
                return null;
            }
        }).ToArray();
        var results = await Task.WhenAll(tasks);
        Assert.Single(results, r => r is not null);
    }

    [Fact]
    public async Task Revisions_are_unique_and_strictly_increasing()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var start = await Store.CurrentRevisionAsync();
        var revisions = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => Store.CreateAsync($"{P}r/{i:D3}", V("x"))));
        Assert.Equal(50, revisions.Distinct().Count());
        Assert.All(revisions, r => Assert.True(r > start));
        var sequential = new List<long>();
        for (var i = 0; i < 10; i++)
        {
            sequential.Add(await Store.CreateAsync($"{P}s/{i}", V("x")));
        }
        Assert.Equal(sequential.Order(), sequential);
        Assert.Equal(sequential.Count, sequential.Distinct().Count());
        Assert.True(sequential[0] > revisions.Max());

        var seen = new List<long>();
        await foreach (var e in Store.WatchAsync(P, start, cts.Token))
        {
            seen.Add(e.Current.ModRevision);
            if (seen.Count == 60)
            {
                break;
            }
        }
        Assert.Equal(seen.Order(), seen);
        Assert.Equal(60, seen.Distinct().Count());
        Assert.Equal(revisions.Concat(sequential).Order(), seen);
    }

    [Fact]
    public async Task A_thousand_watchers_each_receive_one_update()
    {
        const int watchers = 1000;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var created = await Store.CreateAsync(P + "target", V("0"));
        var from = await Store.CurrentRevisionAsync();
        var received = new long[watchers];
        var ready = 0;
        var tasks = Enumerable.Range(0, watchers).Select(async w =>
        {
            await using var events = Store.WatchAsync(P, from, cts.Token).GetAsyncEnumerator(cts.Token);
            var next = events.MoveNextAsync();
            Interlocked.Increment(ref ready);
            Assert.True(await next);
            received[w] = Stopwatch.GetTimestamp();
            return events.Current;
        }).ToArray();
        while (Volatile.Read(ref ready) < watchers)
        {
            await Task.Delay(10, cts.Token);
        }
        await WaitUntilWatchingAsync(watchers, cts.Token);
        var sent = Stopwatch.GetTimestamp();
        var update = await Store.UpdateAsync(P + "target", V("1"), created);
        var events = await Task.WhenAll(tasks);
        Assert.All(events, e => Assert.Equal(update.Revision, e.Current.ModRevision));
        var delays = received.Select(r => Stopwatch.GetElapsedTime(sent, r).TotalMilliseconds).Order().ToArray();
        var p99 = delays[(int)(watchers * 0.99) - 1];
        Assert.True(p99 < 2000, $"p99 delivery to {watchers} watchers took {p99:F1} ms");
        Console.WriteLine($"{GetType().Name}: p99 delivery of one update to {watchers} watchers: {p99:F1} ms");
    }

    /// <summary>
    /// Returns once <paramref name="watchers"/> watches are registered with the store. Correctness does not depend
    /// on it (a watch replays from its revision); it only keeps registration time out of the measured delivery.
    /// </summary>
    protected virtual Task WaitUntilWatchingAsync(int watchers, CancellationToken cancellationToken) => Task.Delay(1000, cancellationToken);
}
