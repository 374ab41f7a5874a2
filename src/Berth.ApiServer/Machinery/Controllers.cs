using System.Text;
using System.Text.Json.Nodes;
using Berth.ApiServer.Http;
using Berth.ApiServer.Registry;
using Berth.ApiServer.Storage;
using Berth.Store;
using Microsoft.Extensions.Logging;

namespace Berth.ApiServer.Machinery;

/// <summary>
/// The API server's own control loops: bootstrap objects (namespaces, RBAC roles, the kubernetes service), per
/// namespace defaults (the default ServiceAccount and kube-root-ca.crt), namespace deletion that empties the
/// namespace, the ownerReference garbage collector (background, foreground, orphan), ResourceQuota status, and
/// store compaction. Event-driven from the watch hub: a pass runs only after a relevant change.
/// </summary>
public sealed partial class Controllers : IAsyncDisposable
{
    private readonly ObjectService _svc;
    private readonly Admission _admission;
    private readonly WatchHub _hub;
    private readonly ResourceRegistry _registry;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly string _caPem;
    private readonly ApiServerOptions _options;
    private readonly string _endpointIp;
    private readonly int _endpointPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private Task? _loop;
    private Task? _compactor;
    private volatile bool _nsDirty = true;
    private volatile bool _gcDirty = true;
    private volatile bool _quotaDirty = true;

    public Controllers(ObjectService svc, Admission admission, WatchHub hub, ILogger logger, TimeProvider time, string caPem, ApiServerOptions options,
        string endpointIp, int endpointPort)
    {
        _svc = svc;
        _admission = admission;
        _hub = hub;
        _registry = svc.Registry;
        _logger = logger;
        _time = time;
        _caPem = caPem;
        _options = options;
        _endpointIp = endpointIp;
        _endpointPort = endpointPort;
    }

    private ResourceDefinition Def(string group, string plural) => _registry.FindAnyVersion(group, plural)!;

    private static readonly WriteOptions System = WriteOptions.System("berth-controllers");

    public async Task StartAsync(CancellationToken ct)
    {
        await _admission.RefreshCustomResourcesAsync(ct).ConfigureAwait(false);
        await BootstrapAsync(ct).ConfigureAwait(false);
        var from = _hub.LastRevision;
        _loop = Task.Run(() => LoopAsync(from, _stop.Token), CancellationToken.None);
        if (_options.CompactionInterval > TimeSpan.Zero)
        {
            _compactor = Task.Run(() => CompactLoopAsync(_stop.Token), CancellationToken.None);
        }
    }

    private async Task EnsureAsync(ResourceDefinition def, JsonObject obj, CancellationToken ct)
    {
        if (await _svc.Store.GetAsync(def, obj.Namespace(), obj.Name(), ct).ConfigureAwait(false) is not null)
        {
            return;
        }
        try
        {
            await _svc.CreateAsync(def, obj, System, ct).ConfigureAwait(false);
        }
        catch (ApiException e) when (e.Reason == "AlreadyExists")
        {
        }
        catch (ApiException)
        {
            // Another API server on the same store may be creating it right now (it took the kubernetes
            // service's IP first); only a failure that leaves nothing behind is an error.
            for (var i = 0; i < 50; i++)
            {
                if (await _svc.Store.GetAsync(def, obj.Namespace(), obj.Name(), ct).ConfigureAwait(false) is not null)
                {
                    return;
                }
                await Task.Delay(100, ct).ConfigureAwait(false);
            }
            throw;
        }
    }

    private async Task BootstrapAsync(CancellationToken ct)
    {
        foreach (var ns in new[] { "default", "kube-system", "kube-public", "kube-node-lease" })
        {
            await EnsureAsync(Def("", "namespaces"), new JsonObject { ["metadata"] = new JsonObject { ["name"] = ns } }, ct).ConfigureAwait(false);
        }
        var rbac = "rbac.authorization.k8s.io";
        JsonObject Role(string name, params JsonObject[] rules) => new()
        {
            ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = new JsonObject { ["kubernetes.io/bootstrapping"] = "rbac-defaults" } },
            ["rules"] = new JsonArray(rules),
        };
        JsonObject Rule(string[] groups, string[] resources, string[] verbs) => new()
        {
            ["apiGroups"] = new JsonArray(groups.Select(g => (JsonNode?)g).ToArray()),
            ["resources"] = new JsonArray(resources.Select(g => (JsonNode?)g).ToArray()),
            ["verbs"] = new JsonArray(verbs.Select(g => (JsonNode?)g).ToArray()),
        };
        JsonObject Urls(string[] urls, string[] verbs) => new()
        {
            ["nonResourceURLs"] = new JsonArray(urls.Select(g => (JsonNode?)g).ToArray()),
            ["verbs"] = new JsonArray(verbs.Select(g => (JsonNode?)g).ToArray()),
        };
        JsonObject Binding(string name, string role, string kind, string subject) => new()
        {
            ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = new JsonObject { ["kubernetes.io/bootstrapping"] = "rbac-defaults" } },
            ["roleRef"] = new JsonObject { ["apiGroup"] = rbac, ["kind"] = "ClusterRole", ["name"] = role },
            ["subjects"] = new JsonArray(new JsonObject { ["apiGroup"] = rbac, ["kind"] = kind, ["name"] = subject }),
        };
        string[] read = ["get", "list", "watch"];
        string[] write = ["create", "delete", "deletecollection", "patch", "update"];
        string[] workloadGroups = ["", "apps", "batch", "discovery.k8s.io", "events.k8s.io", "coordination.k8s.io"];
        string[] viewable = ["pods", "pods/status", "services", "services/status", "endpoints", "configmaps", "serviceaccounts", "events", "persistentvolumeclaims",
            "persistentvolumeclaims/status", "resourcequotas", "resourcequotas/status", "limitranges", "replicationcontrollers", "deployments", "deployments/status",
            "deployments/scale", "replicasets", "replicasets/status", "replicasets/scale", "statefulsets", "statefulsets/status", "statefulsets/scale", "daemonsets",
            "daemonsets/status", "jobs", "jobs/status", "cronjobs", "cronjobs/status", "endpointslices", "leases", "namespaces", "namespaces/status"];
        var clusterRoles = Def(rbac, "clusterroles");
        await EnsureAsync(clusterRoles, Role("cluster-admin", Rule(["*"], ["*"], ["*"]), Urls(["*"], ["*"])), ct).ConfigureAwait(false);
        await EnsureAsync(clusterRoles, Role("admin", Rule(["*"], ["*"], ["*"])), ct).ConfigureAwait(false);
        await EnsureAsync(clusterRoles, Role("edit", Rule(workloadGroups, [.. viewable, "secrets"], [.. read, .. write])), ct).ConfigureAwait(false);
        await EnsureAsync(clusterRoles, Role("view", Rule(workloadGroups, viewable, read)), ct).ConfigureAwait(false);
        await EnsureAsync(clusterRoles, Role("system:discovery", Urls(["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/openapi", "/openapi/*", "/version", "/version/"], ["get"])), ct).ConfigureAwait(false);
        await EnsureAsync(clusterRoles, Role("system:basic-user", Rule(["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], ["create"]),
            Rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"])), ct).ConfigureAwait(false);
        var bindings = Def(rbac, "clusterrolebindings");
        await EnsureAsync(bindings, Binding("cluster-admin", "cluster-admin", "Group", "system:masters"), ct).ConfigureAwait(false);
        await EnsureAsync(bindings, Binding("system:discovery", "system:discovery", "Group", "system:authenticated"), ct).ConfigureAwait(false);
        await EnsureAsync(bindings, Binding("system:basic-user", "system:basic-user", "Group", "system:authenticated"), ct).ConfigureAwait(false);

        var ip = _admission.KubernetesServiceIp;
        var services = Def("", "services");
        if (await _svc.Store.GetAsync(services, "default", "kubernetes", ct).ConfigureAwait(false) is null)
        {
            await EnsureAsync(services, new JsonObject
            {
                ["metadata"] = new JsonObject { ["name"] = "kubernetes", ["namespace"] = "default", ["labels"] = new JsonObject { ["component"] = "apiserver", ["provider"] = "kubernetes" } },
                ["spec"] = new JsonObject
                {
                    ["clusterIP"] = ip,
                    ["ports"] = new JsonArray(new JsonObject { ["name"] = "https", ["port"] = 443, ["protocol"] = "TCP", ["targetPort"] = _endpointPort }),
                },
            }, ct).ConfigureAwait(false);
        }
        var endpoints = new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "kubernetes", ["namespace"] = "default" },
            ["subsets"] = new JsonArray(new JsonObject
            {
                ["addresses"] = new JsonArray(new JsonObject { ["ip"] = _endpointIp }),
                ["ports"] = new JsonArray(new JsonObject { ["name"] = "https", ["port"] = _endpointPort, ["protocol"] = "TCP" }),
            }),
        };
        var epDef = Def("", "endpoints");
        var existing = await _svc.Store.GetAsync(epDef, "default", "kubernetes", ct).ConfigureAwait(false);
        if (existing is null)
        {
            await EnsureAsync(epDef, endpoints, ct).ConfigureAwait(false);
        }
        else if (!JsonNode.DeepEquals(existing.Object["subsets"], endpoints["subsets"]))
        {
            var updated = (JsonObject)existing.Object.DeepClone();
            updated["subsets"] = endpoints["subsets"]!.DeepClone();
            await _svc.UpdateAsync(epDef, updated, existing, System, ct).ConfigureAwait(false);
        }
        await PassAsync(ct).ConfigureAwait(false);
    }

    private async Task LoopAsync(long from, CancellationToken ct)
    {
        var watcher = Task.Run(async () =>
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    await foreach (var e in _hub.WatchAsync("/registry/", from, ct).ConfigureAwait(false))
                    {
                        from = e.Current.ModRevision;
                        Classify(e);
                    }
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    return;
                }
                catch (CompactedException)
                {
                    from = _hub.LastRevision;
                    _nsDirty = _gcDirty = _quotaDirty = true;
                    Wake();
                }
                catch (Exception e)
                {
                    LogLoopFailed(_logger, e);
                    await Task.Delay(500, ct).ConfigureAwait(false);
                }
            }
        }, ct);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
                // Let a burst of changes settle into one pass.
                await Task.Delay(TimeSpan.FromMilliseconds(100), _time, ct).ConfigureAwait(false);
                await PassAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                LogLoopFailed(_logger, e);
            }
        }
        try
        {
            await watcher.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Classify(WatchEvent e)
    {
        var key = e.Current.Key;
        if (key.StartsWith("/registry/core/namespaces/", StringComparison.Ordinal))
        {
            _nsDirty = true;
        }
        if (e.Type == WatchEventType.Delete)
        {
            _gcDirty = true;
            _nsDirty = true;
        }
        else
        {
            var span = e.Current.Value.Span;
            if (span.IndexOf("\"deletionTimestamp\""u8) >= 0 || span.IndexOf("\"ownerReferences\""u8) >= 0)
            {
                _gcDirty = true;
            }
        }
        if (key.StartsWith("/registry/core/", StringComparison.Ordinal) && !key.StartsWith("/registry/core/events/", StringComparison.Ordinal))
        {
            _quotaDirty = true;
        }
        if (_nsDirty || _gcDirty || _quotaDirty)
        {
            Wake();
        }
    }

    private void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
            }
        }
    }

    /// <summary>One reconcile pass over whatever changed; idempotent.</summary>
    public async Task PassAsync(CancellationToken ct)
    {
        if (_nsDirty)
        {
            _nsDirty = false;
            await NamespacesAsync(ct).ConfigureAwait(false);
        }
        if (_gcDirty)
        {
            _gcDirty = false;
            await CollectGarbageAsync(ct).ConfigureAwait(false);
        }
        if (_quotaDirty)
        {
            _quotaDirty = false;
            await QuotasAsync(ct).ConfigureAwait(false);
        }
    }

    private async Task NamespacesAsync(CancellationToken ct)
    {
        var nsDef = Def("", "namespaces");
        var namespaces = await _svc.Store.ListAsync(nsDef, null, 0, null, 0, _ => true, ct).ConfigureAwait(false);
        foreach (var ns in namespaces.Items)
        {
            var name = ns.Name();
            if (ns.At("metadata.deletionTimestamp") is null)
            {
                await EnsureAsync(Def("", "serviceaccounts"), new JsonObject { ["metadata"] = new JsonObject { ["name"] = "default", ["namespace"] = name } }, ct).ConfigureAwait(false);
                await EnsureAsync(Def("", "configmaps"), new JsonObject
                {
                    ["metadata"] = new JsonObject { ["name"] = "kube-root-ca.crt", ["namespace"] = name, ["annotations"] = new JsonObject { ["kubernetes.io/description"] = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters." } },
                    ["data"] = new JsonObject { ["ca.crt"] = _caPem },
                }, ct).ConfigureAwait(false);
                continue;
            }
            // Terminating: delete everything in it, then drop the "kubernetes" finalizer.
            var remaining = 0;
            foreach (var def in _registry.All.Where(d => d.Namespaced && !d.Virtual).DistinctBy(d => d.StoragePrefix).ToList())
            {
                var items = await _svc.Store.ListAsync(def, name, 0, null, 0, _ => true, ct).ConfigureAwait(false);
                foreach (var item in items.Items)
                {
                    remaining++;
                    if (item.At("metadata.deletionTimestamp") is not null && def.Plural != "pods")
                    {
                        continue;
                    }
                    try
                    {
                        await _svc.DeleteAsync(def, name, item.Name(), new Deletion.Options(Propagation: "Background", GracePeriodSeconds: 0), _admission, ct).ConfigureAwait(false);
                    }
                    catch (ApiException e) when (e.Code is 404 or 409)
                    {
                    }
                }
            }
            if (remaining > 0)
            {
                _nsDirty = true;
                continue;
            }
            var current = await _svc.Store.GetAsync(nsDef, null, name, ct).ConfigureAwait(false);
            if (current is null)
            {
                continue;
            }
            var finalizers = current.Object.At("metadata.finalizers") as JsonArray;
            if (finalizers is { Count: > 0 })
            {
                continue;
            }
            await _svc.Store.DeleteAsync(nsDef, null, name, current.Revision, ct).ConfigureAwait(false);
        }
    }

    private async Task CollectGarbageAsync(CancellationToken ct)
    {
        var all = new List<(ResourceDefinition Def, JsonObject Obj)>();
        foreach (var def in _registry.All.Where(d => !d.Virtual).DistinctBy(d => d.StoragePrefix).ToList())
        {
            var items = await _svc.Store.ListAsync(def, null, 0, null, 0, _ => true, ct).ConfigureAwait(false);
            all.AddRange(items.Items.Select(o => (def, o)));
        }
        var uids = all.Select(x => x.Obj.At("metadata.uid") is { } u ? Json.Scalar(u) : "").ToHashSet(StringComparer.Ordinal);
        var dependents = all.Where(x => x.Obj.At("metadata.ownerReferences") is JsonArray { Count: > 0 }).ToList();
        List<(ResourceDefinition Def, JsonObject Obj)> DependentsOf(string uid) =>
            dependents.Where(d => ((JsonArray)d.Obj.At("metadata.ownerReferences")!).Any(r => r.Str("uid") == uid)).ToList();

        foreach (var (def, obj) in all.Where(x => x.Obj.At("metadata.deletionTimestamp") is not null))
        {
            var finalizers = (obj.At("metadata.finalizers") as JsonArray ?? []).Select(Json.Scalar).ToList();
            var uid = obj.At("metadata.uid") is { } u ? Json.Scalar(u) : "";
            if (finalizers.Contains("orphan"))
            {
                foreach (var (ddef, dep) in DependentsOf(uid))
                {
                    await MutateAsync(ddef, dep, o =>
                    {
                        var refs = (JsonArray)o.At("metadata.ownerReferences")!;
                        foreach (var r in refs.Where(r => r.Str("uid") == uid).ToList())
                        {
                            refs.Remove(r);
                        }
                        if (refs.Count == 0)
                        {
                            o.Metadata().Remove("ownerReferences");
                        }
                    }, ct).ConfigureAwait(false);
                }
                await RemoveFinalizerAsync(def, obj, "orphan", ct).ConfigureAwait(false);
            }
            else if (finalizers.Contains("foregroundDeletion"))
            {
                var deps = DependentsOf(uid);
                foreach (var (ddef, dep) in deps.Where(d => d.Obj.At("metadata.deletionTimestamp") is null))
                {
                    await TryDeleteAsync(ddef, dep, "Foreground", ct).ConfigureAwait(false);
                }
                if (deps.Count == 0)
                {
                    await RemoveFinalizerAsync(def, obj, "foregroundDeletion", ct).ConfigureAwait(false);
                }
                else
                {
                    _gcDirty = true;
                }
            }
        }
        foreach (var (def, obj) in dependents)
        {
            var refs = (JsonArray)obj.At("metadata.ownerReferences")!;
            if (obj.At("metadata.deletionTimestamp") is null && refs.All(r => !uids.Contains(r.Str("uid") ?? "")))
            {
                await TryDeleteAsync(def, obj, "Background", ct).ConfigureAwait(false);
            }
        }
    }

    private async Task TryDeleteAsync(ResourceDefinition def, JsonObject obj, string propagation, CancellationToken ct)
    {
        try
        {
            await _svc.DeleteAsync(def, obj.Namespace(), obj.Name(), new Deletion.Options(propagation, 0, obj.At("metadata.uid") is { } u ? Json.Scalar(u) : null), _admission, ct).ConfigureAwait(false);
        }
        catch (ApiException e) when (e.Code is 404 or 409)
        {
        }
    }

    private Task RemoveFinalizerAsync(ResourceDefinition def, JsonObject obj, string finalizer, CancellationToken ct) =>
        MutateAsync(def, obj, o =>
        {
            if (o.At("metadata.finalizers") is JsonArray f)
            {
                foreach (var x in f.Where(x => Json.Scalar(x) == finalizer).ToList())
                {
                    f.Remove(x);
                }
            }
        }, ct);

    private async Task MutateAsync(ResourceDefinition def, JsonObject obj, Action<JsonObject> change, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var current = await _svc.Store.GetAsync(def, obj.Namespace(), obj.Name(), ct).ConfigureAwait(false);
            if (current is null)
            {
                return;
            }
            var updated = (JsonObject)current.Object.DeepClone();
            change(updated);
            try
            {
                if (await _svc.UpdateAsync(def, updated, current, System with { Subresource = "gc" }, ct).ConfigureAwait(false) is not null)
                {
                    return;
                }
            }
            catch (ApiException e) when (e.Code is 404 or 422)
            {
                return;
            }
        }
    }

    private async Task QuotasAsync(CancellationToken ct)
    {
        var def = Def("", "resourcequotas");
        var quotas = await _svc.Store.ListAsync(def, null, 0, null, 0, _ => true, ct).ConfigureAwait(false);
        foreach (var q in quotas.Items)
        {
            var hard = q.At("spec.hard").StringMap();
            var used = await _admission.UsageAsync(q.Namespace()!, hard.Keys, ct).ConfigureAwait(false);
            var status = new JsonObject
            {
                ["hard"] = q.At("spec.hard")?.DeepClone(),
                ["used"] = new JsonObject(hard.Keys.OrderBy(k => k, StringComparer.Ordinal).Select(k => new KeyValuePair<string, JsonNode?>(k,
                    Quantity(used.GetValueOrDefault(k))))),
            };
            if (!JsonNode.DeepEquals(status, q["status"]))
            {
                await MutateAsync(def, q, o => o["status"] = status.DeepClone(), ct).ConfigureAwait(false);
            }
        }
    }

    private static string Quantity(decimal d) => d == decimal.Truncate(d)
        ? ((long)d).ToString(global::System.Globalization.CultureInfo.InvariantCulture)
        : ((long)(d * 1000)).ToString(global::System.Globalization.CultureInfo.InvariantCulture) + "m";

    private async Task CompactLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.CompactionInterval, _time);
        while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
        {
            try
            {
                var rev = await _svc.Store.Store.CurrentRevisionAsync(ct).ConfigureAwait(false);
                if (rev > _options.CompactionKeepRevisions)
                {
                    await CompactAsync(rev - _options.CompactionKeepRevisions, ct).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogLoopFailed(_logger, e);
            }
        }
    }

    /// <summary>Compacts the store's history and the watch window together.</summary>
    public async Task CompactAsync(long revision, CancellationToken ct)
    {
        await _svc.Store.Store.CompactAsync(revision, ct).ConfigureAwait(false);
        _hub.Trim(revision);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var t in new[] { _loop, _compactor })
        {
            if (t is not null)
            {
                try
                {
                    await t.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
        _stop.Dispose();
        _wake.Dispose();
    }

    [LoggerMessage(EventId = 7010, Level = LogLevel.Warning, Message = "Control loop pass failed")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);

    internal static string Utf8(ReadOnlyMemory<byte> b) => Encoding.UTF8.GetString(b.Span);
}
