using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Berth.ApiServer.Registry;

namespace Berth.ApiServer.Http;

/// <summary>Discovery documents: /api, /apis, per group-version resource lists, and aggregated discovery (apidiscovery.k8s.io/v2).</summary>
public static class Discovery
{
    public const string KubernetesVersion = "v1.32.0";

    public static JsonObject Version() => new()
    {
        ["major"] = "1",
        ["minor"] = "32",
        ["gitVersion"] = KubernetesVersion + "+berth",
        ["gitCommit"] = "berth",
        ["gitTreeState"] = "clean",
        ["buildDate"] = "2026-01-01T00:00:00Z",
        ["goVersion"] = "go1.23.0",
        ["compiler"] = "gc",
        ["platform"] = "linux/amd64",
    };

    public static JsonObject ApiVersions(string serverAddress) => new()
    {
        ["kind"] = "APIVersions",
        ["versions"] = new JsonArray("v1"),
        ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject { ["clientCIDR"] = "0.0.0.0/0", ["serverAddress"] = serverAddress }),
    };

    public static JsonObject GroupList(ResourceRegistry registry)
    {
        var groups = new JsonArray();
        foreach (var (group, versions) in registry.Groups().Where(g => g.Group.Length > 0))
        {
            groups.Add(Group(group, versions));
        }
        return new JsonObject { ["kind"] = "APIGroupList", ["apiVersion"] = "v1", ["groups"] = groups };
    }

    public static JsonObject Group(string group, IReadOnlyList<string> versions)
    {
        var list = new JsonArray();
        foreach (var v in versions)
        {
            list.Add(new JsonObject { ["groupVersion"] = group + "/" + v, ["version"] = v });
        }
        return new JsonObject
        {
            ["kind"] = "APIGroup",
            ["apiVersion"] = "v1",
            ["name"] = group,
            ["versions"] = list,
            ["preferredVersion"] = new JsonObject { ["groupVersion"] = group + "/" + versions[0], ["version"] = versions[0] },
        };
    }

    public static JsonObject ResourceList(ResourceRegistry registry, string group, string version)
    {
        var resources = new JsonArray();
        foreach (var r in registry.All.Where(r => r.Group == group && r.Version == version))
        {
            var entry = new JsonObject
            {
                ["name"] = r.Plural,
                ["singularName"] = r.Singular,
                ["namespaced"] = r.Namespaced,
                ["kind"] = r.Kind,
                ["verbs"] = Strings(r.Verbs),
            };
            if (r.ShortNames.Count > 0)
            {
                entry["shortNames"] = Strings(r.ShortNames);
            }
            if (r.Categories.Count > 0)
            {
                entry["categories"] = Strings(r.Categories);
            }
            entry["storageVersionHash"] = Hash(r.ApiVersion + "/" + r.Kind);
            resources.Add(entry);
            foreach (var sub in r.Subresources)
            {
                var (kind, g, v, verbs) = Subresource(r, sub);
                var s = new JsonObject { ["name"] = r.Plural + "/" + sub, ["singularName"] = "", ["namespaced"] = r.Namespaced };
                if (g is not null)
                {
                    s["group"] = g;
                    s["version"] = v;
                }
                s["kind"] = kind;
                s["verbs"] = Strings(verbs);
                resources.Add(s);
            }
        }
        return new JsonObject { ["kind"] = "APIResourceList", ["apiVersion"] = "v1", ["groupVersion"] = group.Length == 0 ? version : group + "/" + version, ["resources"] = resources };
    }

    private static (string Kind, string? Group, string? Version, string[] Verbs) Subresource(ResourceDefinition r, string sub) => sub switch
    {
        "scale" => ("Scale", "autoscaling", "v1", ["get", "patch", "update"]),
        "binding" => ("Binding", null, null, ["create"]),
        "finalize" => (r.Kind, null, null, ["update"]),
        _ => (r.Kind, null, null, ["get", "patch", "update"]),
    };

    /// <summary>apidiscovery.k8s.io/v2 APIGroupDiscoveryList for /api (core) or /apis (every other group).</summary>
    public static JsonObject Aggregated(ResourceRegistry registry, bool core)
    {
        var items = new JsonArray();
        foreach (var (group, versions) in registry.Groups().Where(g => (g.Group.Length == 0) == core))
        {
            var vlist = new JsonArray();
            foreach (var version in versions)
            {
                var resources = new JsonArray();
                foreach (var r in registry.All.Where(r => r.Group == group && r.Version == version))
                {
                    var entry = new JsonObject
                    {
                        ["resource"] = r.Plural,
                        ["responseKind"] = new JsonObject { ["group"] = group, ["version"] = version, ["kind"] = r.Kind },
                        ["scope"] = r.Namespaced ? "Namespaced" : "Cluster",
                        ["singularResource"] = r.Singular,
                        ["verbs"] = Strings(r.Verbs),
                    };
                    if (r.ShortNames.Count > 0)
                    {
                        entry["shortNames"] = Strings(r.ShortNames);
                    }
                    if (r.Categories.Count > 0)
                    {
                        entry["categories"] = Strings(r.Categories);
                    }
                    if (r.Subresources.Count > 0)
                    {
                        var subs = new JsonArray();
                        foreach (var sub in r.Subresources)
                        {
                            var (kind, g, v, verbs) = Subresource(r, sub);
                            subs.Add(new JsonObject
                            {
                                ["subresource"] = sub,
                                ["responseKind"] = new JsonObject { ["group"] = g ?? group, ["version"] = v ?? version, ["kind"] = kind },
                                ["verbs"] = Strings(verbs),
                            });
                        }
                        entry["subresources"] = subs;
                    }
                    resources.Add(entry);
                }
                vlist.Add(new JsonObject { ["version"] = version, ["resources"] = resources, ["freshness"] = "Current" });
            }
            items.Add(new JsonObject { ["metadata"] = new JsonObject { ["name"] = group, ["creationTimestamp"] = null }, ["versions"] = vlist });
        }
        return new JsonObject
        {
            ["kind"] = "APIGroupDiscoveryList",
            ["apiVersion"] = "apidiscovery.k8s.io/v2",
            ["metadata"] = new JsonObject(),
            ["items"] = items,
        };
    }

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode?)v).ToArray());

    public static string Hash(string s) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(s)).AsSpan(0, 8));
}
