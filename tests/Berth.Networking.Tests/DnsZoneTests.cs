using System.Net;
using Berth.Networking.Dns;

namespace Berth.Networking.Tests;

/// <summary>What a container sees: names on its own networks only, Docker's name forms, NODATA vs forward.</summary>
public sealed class DnsZoneTests
{
    private static readonly string C1 = Id("c1");
    private static readonly string Web = Id("web");
    private static readonly string Db = Id("db");

    private static string Id(string seed) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(seed)));

    private static DnsZone Zone()
    {
        var zone = new DnsZone();
        zone.AddEndpoint(new DnsEndpoint("n-front", "front", C1, "/c1", [], IPAddress.Parse("10.0.0.2"), null));
        zone.AddEndpoint(new DnsEndpoint("n-front", "front", Web, "/Web", ["www", "api.v1"], IPAddress.Parse("10.0.0.3"), IPAddress.Parse("fd00::3")));
        zone.AddEndpoint(new DnsEndpoint("n-back", "back", Db, "db", ["store"], IPAddress.Parse("10.1.0.2"), null));
        zone.AddEndpoint(new DnsEndpoint("n-back", "back", Web, "/Web", [], IPAddress.Parse("10.1.0.3"), null));
        return zone;
    }

    private static (DnsOutcome Outcome, List<string> Answers) Ask(DnsView view, string name, ushort type)
    {
        var query = DnsQuery.TryParse(DnsCodecTests.BuildQuery(1, name, type), out var q) == DnsParseStatus.Ok ? q! : throw new InvalidOperationException();
        var answers = new List<DnsRecord>();
        var outcome = view.Resolve(query, answers);
        return (outcome, answers.Select(a => a.Address?.ToString() ?? a.Target!).Order(StringComparer.Ordinal).ToList());
    }

    private static void Same(DnsOutcome outcome, string[] answers, (DnsOutcome Outcome, List<string> Answers) actual)
    {
        Assert.Equal(outcome, actual.Outcome);
        Assert.Equal(answers, actual.Answers);
    }

    [Fact]
    public void Container_names_aliases_and_short_ids_resolve_on_a_shared_network()
    {
        var view = Zone().ViewOf(C1);
        Same(DnsOutcome.Answer, ["10.0.0.3"], Ask(view, "web", DnsType.A));
        Assert.Equal(["10.0.0.3"], Ask(view, "WWW", DnsType.A).Answers);
        Assert.Equal(["10.0.0.3"], Ask(view, "api.v1", DnsType.A).Answers);
        Assert.Equal(["10.0.0.3"], Ask(view, Web[..12], DnsType.A).Answers);
        Assert.Equal(["fd00::3"], Ask(view, "web", DnsType.Aaaa).Answers);
        Assert.Equal(["10.0.0.2"], Ask(view, "c1", DnsType.A).Answers); // itself
    }

    [Fact]
    public void A_renamed_container_answers_to_its_new_name_on_every_network_and_not_the_old()
    {
        var zone = Zone();
        Assert.True(zone.RenameContainer(Web, "site"));
        var fromC1 = zone.ViewOf(C1);
        Same(DnsOutcome.Answer, ["10.0.0.3"], Ask(fromC1, "site", DnsType.A));
        Same(DnsOutcome.Answer, ["10.0.0.3"], Ask(fromC1, "site.front", DnsType.A));
        Assert.Equal(DnsOutcome.Forward, Ask(fromC1, "web", DnsType.A).Outcome);
        // Aliases and the short id stay; the other network has the new name too.
        Assert.Equal(["10.0.0.3"], Ask(fromC1, "www", DnsType.A).Answers);
        Assert.Equal(["10.0.0.3"], Ask(fromC1, Web[..12], DnsType.A).Answers);
        var fromDb = zone.ViewOf(Db);
        Assert.Equal(["10.1.0.3"], Ask(fromDb, "site", DnsType.A).Answers);
        Assert.Equal(DnsOutcome.Forward, Ask(fromDb, "web", DnsType.A).Outcome);
        Assert.Equal(["site.back"], Ask(fromDb, "3.0.1.10.in-addr.arpa", DnsType.Ptr).Answers);
        Assert.False(zone.RenameContainer(Id("absent"), "x"));
    }

    [Fact]
    public void Names_on_other_networks_are_not_visible_and_go_upstream()
    {
        var view = Zone().ViewOf(C1);
        Assert.Equal(DnsOutcome.Forward, Ask(view, "db", DnsType.A).Outcome);
        Assert.Equal(DnsOutcome.Forward, Ask(view, "store", DnsType.A).Outcome);
        Assert.Equal(DnsOutcome.Forward, Ask(view, "db.back", DnsType.A).Outcome);
        Assert.Equal(DnsOutcome.Forward, Ask(view, "web.back", DnsType.A).Outcome);
        Assert.Equal(DnsOutcome.Forward, Ask(view, "example.com", DnsType.A).Outcome);
        // An unknown container sees nothing.
        Assert.Equal(DnsOutcome.Forward, Ask(new DnsZone().ViewOf(C1), "web", DnsType.A).Outcome);
    }

    [Fact]
    public void Name_dot_network_picks_that_network()
    {
        var view = Zone().ViewOf(Web);
        Assert.Equal(["10.0.0.2"], Ask(view, "c1.front", DnsType.A).Answers);
        Assert.Equal(["10.1.0.2"], Ask(view, "db.back", DnsType.A).Answers);
        Assert.Equal(["10.1.0.3"], Ask(view, "web.back", DnsType.A).Answers);
        Assert.Equal(["10.0.0.3"], Ask(view, "Web.Front", DnsType.A).Answers);
        Assert.Equal(DnsOutcome.Forward, Ask(view, "db.front", DnsType.A).Outcome);
    }

    [Fact]
    public void A_known_name_without_that_family_is_nodata_not_forwarded()
    {
        var view = Zone().ViewOf(C1);
        Same(DnsOutcome.Answer, [], Ask(view, "c1", DnsType.Aaaa));
        Same(DnsOutcome.Answer, [], Ask(view, "web", DnsType.MX));
        Same(DnsOutcome.Answer, [], Ask(view, "web", DnsType.Srv));
        Same(DnsOutcome.Answer, [], Ask(view, "web", DnsType.Txt));
        Assert.Equal(DnsOutcome.Forward, Ask(view, "nothere", DnsType.MX).Outcome);
        Same(DnsOutcome.Answer, ["10.0.0.3", "fd00::3"], Ask(view, "web", DnsType.Any));
    }

    [Fact]
    public void Ptr_answers_container_dot_network_for_addresses_on_the_views_networks()
    {
        var view = Zone().ViewOf(C1);
        Same(DnsOutcome.Answer, ["web.front"], Ask(view, "3.0.0.10.in-addr.arpa", DnsType.Ptr));
        var v6 = string.Join('.', "fd000000000000000000000000000003".Reverse()) + ".ip6.arpa";
        Assert.Equal(["web.front"], Ask(view, v6, DnsType.Ptr).Answers);
        Assert.Equal(DnsOutcome.Forward, Ask(view, "2.0.1.10.in-addr.arpa", DnsType.Ptr).Outcome); // db, on back
        Assert.Equal(DnsOutcome.Forward, Ask(view, "9.0.0.10.in-addr.arpa", DnsType.Ptr).Outcome);
    }

    [Fact]
    public void A_shared_alias_answers_every_holder_on_the_network()
    {
        var zone = Zone();
        zone.AddEndpoint(new DnsEndpoint("n-front", "front", Id("web2"), "web2", ["www"], IPAddress.Parse("10.0.0.4"), null));
        Assert.Equal(["10.0.0.3", "10.0.0.4"], Ask(zone.ViewOf(C1), "www", DnsType.A).Answers);
    }

    [Fact]
    public void Changes_are_visible_to_the_next_query_and_views_follow_connects()
    {
        var zone = Zone();
        var view = zone.ViewOf(C1);
        Assert.True(zone.RemoveEndpoint("n-front", Web));
        Assert.Equal(DnsOutcome.Forward, Ask(view, "web", DnsType.A).Outcome);
        Assert.False(zone.RemoveEndpoint("n-front", Web));

        // c1 joins "back": db becomes visible through the same view.
        zone.AddEndpoint(new DnsEndpoint("n-back", "back", C1, "c1", [], IPAddress.Parse("10.1.0.9"), null));
        Assert.Equal(["10.1.0.2"], Ask(view, "db", DnsType.A).Answers);
        Assert.Equal(["10.1.0.3"], Ask(view, "web", DnsType.A).Answers);

        // Re-adding replaces: a new address.
        zone.AddEndpoint(new DnsEndpoint("n-back", "back", Db, "db", [], IPAddress.Parse("10.1.0.20"), null));
        Assert.Equal(["10.1.0.20"], Ask(view, "db", DnsType.A).Answers);
        Assert.Equal(DnsOutcome.Forward, Ask(view, "store", DnsType.A).Outcome);

        Assert.Equal(2, zone.RemoveContainer(C1));
        Assert.Equal(DnsOutcome.Forward, Ask(view, "db", DnsType.A).Outcome);
        // The engine empties a network endpoint by endpoint (it refuses to remove one in use): a network leaves
        // the snapshot with its last endpoint, a container with its last network.
        Assert.Equal(["n-back"], zone.Current.Networks.Keys); // "front" went with c1, its last endpoint
        Assert.True(zone.RemoveEndpoint("n-back", Db));
        Assert.True(zone.Current.Networks.ContainsKey("n-back"));
        Assert.False(zone.Current.ContainerNetworks.ContainsKey(Db));
        Assert.True(zone.RemoveEndpoint("n-back", Web));
        Assert.Empty(zone.Current.Networks);
        Assert.Empty(zone.Current.ContainerNetworks);
    }

    [Fact]
    public void Bad_endpoints_are_refused()
    {
        var zone = new DnsZone();
        Assert.Throws<ArgumentException>(() => zone.AddEndpoint(new DnsEndpoint("n", "net", C1, "c1", [], IPAddress.Parse("fd00::1"), null)));
        Assert.Throws<ArgumentException>(() => zone.AddEndpoint(new DnsEndpoint("", "net", C1, "c1", [], null, null)));
    }

    [Fact]
    public async Task Concurrent_writers_and_readers_see_whole_snapshots()
    {
        var zone = new DnsZone();
        zone.AddEndpoint(new DnsEndpoint("n", "net", C1, "c1", [], IPAddress.Parse("10.5.0.1"), null));
        var view = zone.ViewOf(C1);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(() =>
        {
            for (var i = 0; i < 2000; i++)
            {
                var id = Id($"w{w}-{i % 50}");
                // Every container has its name and its alias together, or neither.
                zone.AddEndpoint(new DnsEndpoint("n", "net", id, $"w{w}-{i % 50}", [$"alias-w{w}-{i % 50}"], IPAddress.Parse($"10.5.{w + 1}.{i % 50 + 1}"), null));
                if (i % 3 == 0)
                {
                    zone.RemoveEndpoint("n", id);
                }
            }
        })).ToList();
        var reader = Task.Run(() =>
        {
            var checks = 0;
            while (!writers.All(t => t.IsCompleted))
            {
                var name = $"w{checks % 4}-{checks % 50}";
                var byName = Ask(view, name, DnsType.A);
                var byAlias = Ask(view, "alias-" + name, DnsType.A);
                // The two lookups run on two snapshots, so only consistency within one answer is checked.
                Assert.True(byName.Answers.Count <= 1 && byAlias.Answers.Count <= 1);
                checks++;
            }
            return checks;
        });
        await Task.WhenAll(writers);
        Assert.True(await reader > 0);
        for (var w = 0; w < 4; w++)
        {
            for (var i = 0; i < 50; i++)
            {
                // i=1999 was the last write for i%50=49: (1999 % 3 != 0) so present; check each end state against the rule.
                var last = Enumerable.Range(0, 2000).Last(k => k % 50 == i);
                var expected = last % 3 == 0 ? 0 : 1;
                Assert.Equal(expected, Ask(view, $"w{w}-{i}", DnsType.A).Answers.Count);
            }
        }
    }

    [Fact]
    public void Resolv_conf_parses_and_a_containers_file_points_at_the_embedded_server()
    {
        var conf = ResolvConf.Parse("# comment\nnameserver 127.0.0.53\nnameserver ::1\nnameserver bogus\nsearch a.example b.example\noptions edns0 ndots:2\n");
        Assert.Equal([IPAddress.Parse("127.0.0.53"), IPAddress.IPv6Loopback], conf.Nameservers);
        Assert.Equal(["a.example", "b.example"], conf.Search);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.53"), 53), conf.Upstreams[0]);
        var text = conf.ForContainer();
        Assert.Contains("nameserver 127.0.0.11\n", text);
        Assert.Contains("search a.example b.example\n", text);
        Assert.Contains("options ndots:0 edns0\n", text);
        Assert.DoesNotContain("ndots:2", text);
        Assert.DoesNotContain("nameserver 127.0.0.53", text);
        Assert.Equal(ResolvConf.EmbeddedServer, ResolvConf.Parse(text).Nameservers.Single());
    }
}
