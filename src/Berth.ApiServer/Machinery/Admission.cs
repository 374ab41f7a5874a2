using System.Net;
using System.Text.Json.Nodes;
using Berth.ApiServer.Http;
using Berth.ApiServer.Registry;
using Berth.ApiServer.Storage;
using Berth.Store;
using k8s.Models;

namespace Berth.ApiServer.Machinery;

/// <summary>
/// The built-in admission plugins Berth runs on every write: NamespaceLifecycle, ClusterIP allocation, LimitRanger
/// defaults and maxima, ResourceQuota, and CRD registration (a CRD's resources are served as soon as it is stored).
/// </summary>
public sealed class Admission
{
    private const string IpPrefix = "/registry/berth/clusterips/";
    private readonly ObjectStore _store;
    private readonly ResourceRegistry _registry;
    private readonly IPAddress _network;
    private readonly int _prefixLength;

    private readonly ResourceCache _namespaces;
    private readonly ResourceCache _quotas;

    /// <param name="namespaces">All namespaces, for NamespaceLifecycle on every create.</param>
    /// <param name="quotas">All ResourceQuotas, for the quota check on every create.</param>
    public Admission(ObjectStore store, ResourceRegistry registry, string serviceCidr, ResourceCache namespaces, ResourceCache quotas)
    {
        _store = store;
        _registry = registry;
        _namespaces = namespaces;
        _quotas = quotas;
        var parts = serviceCidr.Split('/');
        _network = IPAddress.Parse(parts[0]);
        _prefixLength = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        if (_network.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || _prefixLength is < 8 or > 30)
        {
            throw Berth.Core.BerthException.InvalidArgument($"service CIDR {serviceCidr} must be an IPv4 network between /8 and /30");
        }
    }

    /// <summary>The first address of the service CIDR: the kubernetes service's ClusterIP.</summary>
    public string KubernetesServiceIp => Offset(1).ToString();

    private IPAddress Offset(long n)
    {
        var bytes = _network.GetAddressBytes();
        var value = ((uint)bytes[0] << 24 | (uint)bytes[1] << 16 | (uint)bytes[2] << 8 | bytes[3]) + (uint)n;
        return new IPAddress([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value]);
    }

    private bool InRange(IPAddress ip)
    {
        var a = ip.GetAddressBytes();
        var b = _network.GetAddressBytes();
        var x = (uint)a[0] << 24 | (uint)a[1] << 16 | (uint)a[2] << 8 | a[3];
        var y = (uint)b[0] << 24 | (uint)b[1] << 16 | (uint)b[2] << 8 | b[3];
        var mask = uint.MaxValue << (32 - _prefixLength);
        return (x & mask) == (y & mask);
    }

    /// <summary>Reservation keys hold namespace/name/uid, so only the request that reserved a key releases it.</summary>
    private static string Owner(JsonObject svc) => svc.Namespace() + "/" + svc.Name() + "/" + (svc.At("metadata.uid") is { } u ? Json.Scalar(u) : "");

    private ResourceDefinition Core(string plural) => _registry.FindAnyVersion("", plural)!;

    public async Task MutateAsync(ResourceDefinition def, JsonObject obj, JsonObject? old, WriteOptions opts, CancellationToken ct)
    {
        if (old is null && def.Namespaced)
        {
            var ns = obj.Namespace() ?? "";
            var nsObj = await _namespaces.GetAsync(Core("namespaces").Key(null, ns), ct).ConfigureAwait(false);
            if (nsObj is null)
            {
                throw ApiException.NotFound("", "namespaces", ns);
            }
            if (nsObj.At("metadata.deletionTimestamp") is not null)
            {
                throw ApiException.Forbidden(def.Group, def.Plural, obj.Name(),
                    $"{def.GroupResource} \"{obj.Name()}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated");
            }
        }
        if (def.Group == "" && def.Plural == "services" && old is null)
        {
            await AllocateClusterIpAsync(obj, opts.DryRun, ct).ConfigureAwait(false);
        }
        if (def.Group == "" && def.Plural == "services" && obj.At("spec.type") is JsonValue st && Json.Scalar(st) is "NodePort" or "LoadBalancer")
        {
            await AllocateNodePortsAsync(obj, old, opts.DryRun, ct).ConfigureAwait(false);
        }
        if (def.Group == "" && def.Plural == "services" && old is not null && obj.At("spec.clusterIP") is null && old.At("spec.clusterIP") is { } ip)
        {
            obj.Obj("spec")["clusterIP"] = ip.DeepClone();
            obj.Obj("spec")["clusterIPs"] = old.At("spec.clusterIPs")?.DeepClone();
        }
        if (def.Group == "" && def.Plural == "pods" && old is null)
        {
            await ApplyLimitRangesAsync(obj, ct).ConfigureAwait(false);
        }
    }

    private async Task AllocateClusterIpAsync(JsonObject svc, bool dryRun, CancellationToken ct)
    {
        var spec = svc.Obj("spec");
        if (spec.Str("type") == "ExternalName")
        {
            return;
        }
        var requested = spec.Str("clusterIP");
        if (requested == "None")
        {
            spec["clusterIPs"] = new JsonArray("None");
            return;
        }
        if (!string.IsNullOrEmpty(requested))
        {
            if (!IPAddress.TryParse(requested, out var ip) || !InRange(ip))
            {
                throw ApiException.Invalid("Service", "", svc.Name(), [FieldError.Invalid("spec.clusterIPs[0]", requested, $"provided IP is not in the valid range. The range of valid IPs is {_network}/{_prefixLength}")]);
            }
            if (!dryRun && !await ReserveAsync(requested, svc, ct).ConfigureAwait(false))
            {
                throw ApiException.Invalid("Service", "", svc.Name(), [FieldError.Invalid("spec.clusterIPs", requested, "failed to allocate IP " + requested + ": provided IP is already allocated")]);
            }
            spec["clusterIPs"] = new JsonArray(requested);
            return;
        }
        var size = 1L << (32 - _prefixLength);
        var start = Random.Shared.NextInt64(2, size - 1);
        for (var i = 0L; i < size - 3; i++)
        {
            var candidate = Offset(2 + ((start - 2 + i) % (size - 3))).ToString();
            if (dryRun ? await _store.Store.GetAsync(IpPrefix + candidate, ct).ConfigureAwait(false) is null : await ReserveAsync(candidate, svc, ct).ConfigureAwait(false))
            {
                spec["clusterIP"] = candidate;
                spec["clusterIPs"] = new JsonArray(candidate);
                return;
            }
        }
        throw new ApiException(500, "InternalError", $"Internal error occurred: failed to allocate a serviceIP: range is full");
    }

    private const string NodePortPrefix = "/registry/berth/nodeports/";

    /// <summary>NodePorts from 30000-32767, reserved with create-if-absent keys like ClusterIPs; kept across updates.</summary>
    private async Task AllocateNodePortsAsync(JsonObject svc, JsonObject? old, bool dryRun, CancellationToken ct)
    {
        var ports = svc.At("spec.ports") as JsonArray ?? [];
        var oldPorts = old?.At("spec.ports") as JsonArray ?? [];
        var owner = System.Text.Encoding.UTF8.GetBytes(Owner(svc));
        foreach (var p in ports.OfType<JsonObject>())
        {
            var requested = Json.AsLong(p["nodePort"]);
            var previous = oldPorts.FirstOrDefault(o => Json.AsLong(o?["port"]) == Json.AsLong(p["port"]) && o.Str("protocol") == p.Str("protocol"));
            if (requested is null && Json.AsLong(previous?["nodePort"]) is { } kept)
            {
                p["nodePort"] = kept;
                continue;
            }
            if (requested is not null)
            {
                if (requested is < 30000 or > 32767)
                {
                    throw ApiException.Invalid("Service", "", svc.Name(), [FieldError.Invalid("spec.ports[].nodePort", requested.Value, "provided port is not in the valid range. The range of valid ports is 30000-32767")]);
                }
                if (Json.AsLong(previous?["nodePort"]) == requested)
                {
                    continue;
                }
                if (!dryRun && !await TryReserveAsync(NodePortPrefix + requested, owner, ct).ConfigureAwait(false))
                {
                    throw ApiException.Invalid("Service", "", svc.Name(), [FieldError.Invalid("spec.ports[].nodePort", requested.Value, "provided port is already allocated")]);
                }
                continue;
            }
            var start = Random.Shared.Next(0, 2768);
            for (var i = 0; i < 2768; i++)
            {
                var candidate = 30000 + ((start + i) % 2768);
                if (dryRun ? await _store.Store.GetAsync(NodePortPrefix + candidate, ct).ConfigureAwait(false) is null : await TryReserveAsync(NodePortPrefix + candidate, owner, ct).ConfigureAwait(false))
                {
                    p["nodePort"] = candidate;
                    break;
                }
            }
            if (p["nodePort"] is null)
            {
                throw ApiException.Internal("failed to allocate a nodePort: range is full");
            }
        }
    }

    private async Task<bool> TryReserveAsync(string key, byte[] owner, CancellationToken ct)
    {
        try
        {
            await _store.Store.CreateAsync(key, owner, ct).ConfigureAwait(false);
            return true;
        }
        catch (KeyExistsException)
        {
            return false;
        }
    }

    /// <summary>Reserves an address with a create-if-absent key, so two services can never get the same IP.</summary>
    public async Task<bool> ReserveAsync(string ip, JsonObject svc, CancellationToken ct)
    {
        try
        {
            await _store.Store.CreateAsync(IpPrefix + ip, System.Text.Encoding.UTF8.GetBytes(Owner(svc)), ct).ConfigureAwait(false);
            return true;
        }
        catch (KeyExistsException)
        {
            return false;
        }
    }

    private async Task ApplyLimitRangesAsync(JsonObject pod, CancellationToken ct)
    {
        var ranges = await _store.ListAsync(Core("limitranges"), pod.Namespace(), 0, null, 0, _ => true, ct).ConfigureAwait(false);
        var errors = new List<string>();
        foreach (var lr in ranges.Items)
        {
            foreach (var limit in lr.At("spec.limits") as JsonArray ?? [])
            {
                if (limit.Str("type") != "Container")
                {
                    continue;
                }
                foreach (var c in pod.At("spec.containers") as JsonArray ?? [])
                {
                    if (c is not JsonObject container)
                    {
                        continue;
                    }
                    var resources = container.Obj("resources");
                    foreach (var (res, value) in limit.ObjOrNull("default").StringMap())
                    {
                        if (resources.ObjOrNull("limits")?[res] is null)
                        {
                            resources.Obj("limits")[res] = value;
                        }
                    }
                    var defaultRequest = limit.ObjOrNull("defaultRequest").StringMap();
                    foreach (var (res, value) in limit.ObjOrNull("default").StringMap())
                    {
                        defaultRequest.TryAdd(res, value);
                    }
                    foreach (var (res, value) in defaultRequest)
                    {
                        if (resources.ObjOrNull("requests")?[res] is null)
                        {
                            resources.Obj("requests")[res] = resources.ObjOrNull("limits")?[res]?.DeepClone() ?? value;
                        }
                    }
                    foreach (var (res, max) in limit.ObjOrNull("max").StringMap())
                    {
                        var l = resources.ObjOrNull("limits").Str(res);
                        if (l is not null && Quantity(l) > Quantity(max))
                        {
                            errors.Add($"maximum {res} usage per Container is {max}, but limit is {l}");
                        }
                    }
                    foreach (var (res, min) in limit.ObjOrNull("min").StringMap())
                    {
                        var r = resources.ObjOrNull("requests").Str(res);
                        if (r is not null && Quantity(r) < Quantity(min))
                        {
                            errors.Add($"minimum {res} usage per Container is {min}, but request is {r}");
                        }
                    }
                }
            }
        }
        if (errors.Count > 0)
        {
            throw ApiException.Forbidden("", "pods", pod.Name(), $"pods \"{pod.Name()}\" is forbidden: [{string.Join(", ", errors)}]");
        }
    }

    public static decimal Quantity(string s)
    {
        try
        {
            return new ResourceQuantity(s).ToDecimal();
        }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            throw ApiException.BadRequest($"quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {s}");
        }
    }

    public async Task ValidateAsync(ResourceDefinition def, JsonObject obj, JsonObject? old, WriteOptions opts, CancellationToken ct)
    {
        if (old is not null || !def.Namespaced || def.Group.Length > 0 || def.Plural is "resourcequotas" or "events")
        {
            return;
        }
        var quotas = await _quotas.ListAsync(Core("resourcequotas"), obj.Namespace(), ct).ConfigureAwait(false);
        foreach (var q in quotas)
        {
            var hard = q.At("spec.hard").StringMap();
            if (hard.Count == 0)
            {
                continue;
            }
            var used = await UsageAsync(obj.Namespace()!, hard.Keys, ct).ConfigureAwait(false);
            var delta = Usage([(def.Plural, obj)], hard.Keys);
            var exceeded = new List<string>();
            var requested = new List<string>();
            var usedList = new List<string>();
            var limited = new List<string>();
            foreach (var (res, limitText) in hard.OrderBy(h => h.Key, StringComparer.Ordinal))
            {
                if (!delta.TryGetValue(res, out var d) || d == 0)
                {
                    continue;
                }
                var u = used.GetValueOrDefault(res);
                if (u + d > Quantity(limitText))
                {
                    exceeded.Add(res);
                    requested.Add($"{res}={Format(d)}");
                    usedList.Add($"{res}={Format(u)}");
                    limited.Add($"{res}={limitText}");
                }
            }
            if (exceeded.Count > 0)
            {
                throw ApiException.Forbidden(def.Group, def.Plural, obj.Name(),
                    $"{def.GroupResource} \"{obj.Name()}\" is forbidden: exceeded quota: {q.Name()}, requested: {string.Join(",", requested)}, used: {string.Join(",", usedList)}, limited: {string.Join(",", limited)}");
            }
        }
    }

    private static string Format(decimal d) => d == decimal.Truncate(d) ? ((long)d).ToString(System.Globalization.CultureInfo.InvariantCulture) : d.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Current usage of the quota-tracked resources in a namespace.</summary>
    public async Task<Dictionary<string, decimal>> UsageAsync(string ns, IEnumerable<string> resources, CancellationToken ct)
    {
        var keys = resources.ToList();
        var objects = new List<(string, JsonObject)>();
        foreach (var plural in new[] { "pods", "services", "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers", "resourcequotas" })
        {
            if (!keys.Any(k => k.Contains(plural, StringComparison.Ordinal) || (plural == "pods" && (k.Contains("cpu", StringComparison.Ordinal) || k.Contains("memory", StringComparison.Ordinal)))))
            {
                continue;
            }
            var def = Core(plural);
            if (def is null)
            {
                continue;
            }
            var list = await _store.ListAsync(def, ns, 0, null, 0, o => plural != "pods" || o.At("status.phase") is not JsonValue p || p.GetValue<string>() is not ("Succeeded" or "Failed"), ct).ConfigureAwait(false);
            objects.AddRange(list.Items.Select(o => (plural, o)));
        }
        return Usage(objects, keys);
    }

    private static Dictionary<string, decimal> Usage(IEnumerable<(string Plural, JsonObject Obj)> objects, IEnumerable<string> keys)
    {
        var result = new Dictionary<string, decimal>(StringComparer.Ordinal);
        var keyList = keys.ToList();
        foreach (var (plural, o) in objects)
        {
            foreach (var key in keyList)
            {
                decimal add = 0;
                if (key == plural || key == "count/" + plural)
                {
                    add = 1;
                }
                else if (plural == "services" && key == "services.nodeports" && o.At("spec.type") is JsonValue t && t.GetValue<string>() == "NodePort")
                {
                    add = 1;
                }
                else if (plural == "services" && key == "services.loadbalancers" && o.At("spec.type") is JsonValue lt && lt.GetValue<string>() == "LoadBalancer")
                {
                    add = 1;
                }
                else if (plural == "pods" && (key.StartsWith("requests.", StringComparison.Ordinal) || key.StartsWith("limits.", StringComparison.Ordinal) || key is "cpu" or "memory"))
                {
                    var kind = key.StartsWith("limits.", StringComparison.Ordinal) ? "limits" : "requests";
                    var res = key.Contains('.', StringComparison.Ordinal) ? key[(key.IndexOf('.', StringComparison.Ordinal) + 1)..] : key;
                    foreach (var c in o.At("spec.containers") as JsonArray ?? [])
                    {
                        if (c.At($"resources.{kind}") is JsonObject r && r[res] is { } q)
                        {
                            add += Quantity(Json.Scalar(q));
                        }
                    }
                }
                else if (plural == "persistentvolumeclaims" && key == "requests.storage" && o.At("spec.resources.requests.storage") is { } s)
                {
                    add = Quantity(Json.Scalar(s));
                }
                if (add != 0)
                {
                    result[key] = result.GetValueOrDefault(key) + add;
                }
            }
        }
        return result;
    }

    /// <summary>
    /// Undoes this request's reservations when its create failed after admission (validation, quota, a lost race):
    /// only keys still owned by this service's name are released, so another service's address is never freed.
    /// </summary>
    public async Task ReleaseAsync(ResourceDefinition def, JsonObject obj, CancellationToken ct)
    {
        if (def.Group.Length != 0 || def.Plural != "services")
        {
            return;
        }
        var owner = Owner(obj);
        var keys = new List<string>();
        if (obj.At("spec.clusterIP") is JsonValue ip && Json.Scalar(ip) is { Length: > 0 } s && s != "None")
        {
            keys.Add(IpPrefix + s);
        }
        foreach (var p in obj.At("spec.ports") as JsonArray ?? [])
        {
            if (Json.AsLong(p?["nodePort"]) is { } np)
            {
                keys.Add(NodePortPrefix + np);
            }
        }
        foreach (var key in keys)
        {
            var kv = await _store.Store.GetAsync(key, ct).ConfigureAwait(false);
            if (kv is not null && System.Text.Encoding.UTF8.GetString(kv.Value.Span) == owner)
            {
                await _store.Store.DeleteAsync(key, kv.ModRevision, ct).ConfigureAwait(false);
            }
        }
    }

    public Task AfterWriteAsync(ResourceDefinition def, JsonObject obj, JsonObject? old, CancellationToken ct)
    {
        if (def.Group == "apiextensions.k8s.io")
        {
            return RefreshCustomResourcesAsync(ct);
        }
        return Task.CompletedTask;
    }

    public async Task AfterDeleteAsync(ResourceDefinition def, JsonObject obj, CancellationToken ct)
    {
        if (def.Group == "" && def.Plural == "services" && obj.At("spec.clusterIP") is JsonValue ip && ip.GetValue<string>() is var s && s != "None" && s.Length > 0)
        {
            await _store.Store.DeleteAsync(IpPrefix + s, 0, ct).ConfigureAwait(false);
        }
        if (def.Group == "" && def.Plural == "services")
        {
            foreach (var p in obj.At("spec.ports") as JsonArray ?? [])
            {
                if (Json.AsLong(p?["nodePort"]) is { } np)
                {
                    await _store.Store.DeleteAsync(NodePortPrefix + np, 0, ct).ConfigureAwait(false);
                }
            }
        }
        if (def.Group == "apiextensions.k8s.io")
        {
            // The CRD is gone: so are its custom resources (Kubernetes' customresourcecleanup finalizer).
            var group = obj.At("spec.group") is { } g ? Json.Scalar(g) : "";
            var plural = obj.At("spec.names.plural") is { } p ? Json.Scalar(p) : "";
            if (group.Length > 0 && plural.Length > 0)
            {
                var prefix = "/registry/" + group + "/" + plural + "/";
                while (true)
                {
                    var page = await _store.Store.ListAsync(prefix, null, 500, 0, ct).ConfigureAwait(false);
                    foreach (var kv in page.Items)
                    {
                        await _store.Store.DeleteAsync(kv.Key, 0, ct).ConfigureAwait(false);
                    }
                    if (!page.More)
                    {
                        break;
                    }
                }
            }
            await RefreshCustomResourcesAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Re-reads every CRD and swaps the served custom resources.</summary>
    public async Task RefreshCustomResourcesAsync(CancellationToken ct)
    {
        var crd = _registry.Builtins.First(r => r.Group == "apiextensions.k8s.io");
        var list = await _store.ListAsync(crd, null, 0, null, 0, _ => true, ct).ConfigureAwait(false);
        _registry.SetCustomResources(list.Items.SelectMany(Crds.Definitions));
    }
}
