using System.Globalization;
using System.Text.Json.Nodes;

namespace Berth.ApiServer.Registry;

/// <summary>The columns kubectl users know, as the Kubernetes API server's printers produce them.</summary>
public static class Printers
{
    public static TableColumn NameColumn { get; } = new("Name", "string", 0, (o, _) => o.Name(), "name",
        "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.");

    public static TableColumn AgeColumn { get; } = new("Age", "string", 0, (o, now) => Age(o, now), "",
        "CreationTimestamp is a timestamp representing the server time when this object was created.");

    public static TableColumn CreatedAtColumn { get; } = new("Created At", "date", 0,
        (o, _) => o.ObjOrNull("metadata").Str("creationTimestamp"));

    public static IReadOnlyList<TableColumn> NameAge { get; } = [NameColumn, AgeColumn];

    public static string Age(JsonObject o, DateTimeOffset now)
    {
        var created = o.ObjOrNull("metadata").Time("creationTimestamp");
        return created is null ? "<unknown>" : Json.HumanDuration(now - created.Value);
    }

    private static TableColumn Col(string name, Func<JsonObject, JsonNode?> cell, int priority = 0, string type = "string") =>
        new(name, type, priority, (o, _) => cell(o));

    private static string Containers(JsonObject o, string templatePath) =>
        string.Join(",", (o.At(templatePath + ".containers") as JsonArray ?? []).Select(c => c.Str("name")));

    private static string Images(JsonObject o, string templatePath) =>
        string.Join(",", (o.At(templatePath + ".containers") as JsonArray ?? []).Select(c => c.Str("image")));

    private static string Selector(JsonNode? selector)
    {
        if (selector is null)
        {
            return "<none>";
        }
        var parts = new List<string>();
        foreach (var (k, v) in selector.ObjOrNull("matchLabels").StringMap())
        {
            parts.Add(k + "=" + v);
        }
        foreach (var e in selector.Arr("matchExpressions") ?? [])
        {
            var values = string.Join(",", (e.Arr("values") ?? []).Select(Json.Scalar));
            parts.Add(e.Str("operator") switch
            {
                "In" => $"{e.Str("key")} in ({values})",
                "NotIn" => $"{e.Str("key")} notin ({values})",
                "Exists" => e.Str("key") ?? "",
                "DoesNotExist" => "!" + e.Str("key"),
                _ => "",
            });
        }
        return parts.Count == 0 ? "<none>" : string.Join(",", parts);
    }

    private static string MapSelector(JsonNode? map)
    {
        var d = map.StringMap();
        return d.Count == 0 ? "<none>" : string.Join(",", d.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + p.Value));
    }

    private static long N(JsonObject o, string path) => Json.AsLong(o.At(path)) ?? 0;

    public static IReadOnlyList<TableColumn> Pods { get; } =
    [
        NameColumn,
        Col("Ready", o =>
        {
            var total = (o.At("spec.containers") as JsonArray)?.Count ?? 0;
            var ready = (o.At("status.containerStatuses") as JsonArray ?? []).Count(c => c.Bool("ready") == true);
            return $"{ready}/{total}";
        }),
        Col("Status", o => PodStatus(o)),
        Col("Restarts", o => (o.At("status.containerStatuses") as JsonArray ?? []).Sum(c => c.Long("restartCount") ?? 0), type: "string"),
        AgeColumn,
        Col("IP", o => o.At("status.podIP") is { } ip ? Json.Scalar(ip) : "<none>", 1),
        Col("Node", o => o.At("spec.nodeName") is { } n ? Json.Scalar(n) : "<none>", 1),
        Col("Nominated Node", o => o.At("status.nominatedNodeName") is { } n ? Json.Scalar(n) : "<none>", 1),
        Col("Readiness Gates", o => o.At("spec.readinessGates") is JsonArray { Count: > 0 } g ? $"0/{g.Count}" : "<none>", 1),
    ];

    public static string PodStatus(JsonObject o)
    {
        var reason = o.At("status.reason") is { } r ? Json.Scalar(r) : o.At("status.phase") is { } p ? Json.Scalar(p) : "Pending";
        foreach (var c in o.At("status.containerStatuses") as JsonArray ?? [])
        {
            var waiting = c.At("state.waiting.reason");
            var terminated = c.At("state.terminated.reason");
            if (waiting is not null && Json.Scalar(waiting).Length > 0)
            {
                reason = Json.Scalar(waiting);
            }
            else if (terminated is not null && Json.Scalar(terminated).Length > 0)
            {
                reason = Json.Scalar(terminated);
            }
        }
        if (o.At("metadata.deletionTimestamp") is not null)
        {
            reason = "Terminating";
        }
        return reason;
    }

    public static IReadOnlyList<TableColumn> Deployments { get; } =
    [
        NameColumn,
        Col("Ready", o => $"{N(o, "status.readyReplicas")}/{(o.At("spec.replicas") is null ? 1 : N(o, "spec.replicas"))}"),
        Col("Up-to-date", o => N(o, "status.updatedReplicas"), type: "integer"),
        Col("Available", o => N(o, "status.availableReplicas"), type: "integer"),
        AgeColumn,
        Col("Containers", o => Containers(o, "spec.template.spec"), 1),
        Col("Images", o => Images(o, "spec.template.spec"), 1),
        Col("Selector", o => Selector(o.At("spec.selector")), 1),
    ];

    public static IReadOnlyList<TableColumn> ReplicaSets { get; } =
    [
        NameColumn,
        Col("Desired", o => o.At("spec.replicas") is null ? 1 : N(o, "spec.replicas"), type: "integer"),
        Col("Current", o => N(o, "status.replicas"), type: "integer"),
        Col("Ready", o => N(o, "status.readyReplicas"), type: "integer"),
        AgeColumn,
        Col("Containers", o => Containers(o, "spec.template.spec"), 1),
        Col("Images", o => Images(o, "spec.template.spec"), 1),
        Col("Selector", o => Selector(o.At("spec.selector")), 1),
    ];

    public static IReadOnlyList<TableColumn> StatefulSets { get; } =
    [
        NameColumn,
        Col("Ready", o => $"{N(o, "status.readyReplicas")}/{(o.At("spec.replicas") is null ? 1 : N(o, "spec.replicas"))}"),
        AgeColumn,
        Col("Containers", o => Containers(o, "spec.template.spec"), 1),
        Col("Images", o => Images(o, "spec.template.spec"), 1),
    ];

    public static IReadOnlyList<TableColumn> DaemonSets { get; } =
    [
        NameColumn,
        Col("Desired", o => N(o, "status.desiredNumberScheduled"), type: "integer"),
        Col("Current", o => N(o, "status.currentNumberScheduled"), type: "integer"),
        Col("Ready", o => N(o, "status.numberReady"), type: "integer"),
        Col("Up-to-date", o => N(o, "status.updatedNumberScheduled"), type: "integer"),
        Col("Available", o => N(o, "status.numberAvailable"), type: "integer"),
        Col("Node Selector", o => MapSelector(o.At("spec.template.spec.nodeSelector"))),
        AgeColumn,
        Col("Containers", o => Containers(o, "spec.template.spec"), 1),
        Col("Images", o => Images(o, "spec.template.spec"), 1),
        Col("Selector", o => Selector(o.At("spec.selector")), 1),
    ];

    public static IReadOnlyList<TableColumn> Jobs { get; } =
    [
        NameColumn,
        Col("Status", o =>
        {
            foreach (var c in o.At("status.conditions") as JsonArray ?? [])
            {
                if (c.Str("status") == "True" && c.Str("type") is "Complete" or "Failed" or "Suspended")
                {
                    return c.Str("type");
                }
            }
            return "Running";
        }),
        Col("Completions", o => $"{N(o, "status.succeeded")}/{(o.At("spec.completions") is null ? 1 : N(o, "spec.completions"))}"),
        Col("Duration", o =>
        {
            var start = o.ObjOrNull("status").Time("startTime");
            var end = o.ObjOrNull("status").Time("completionTime");
            return start is null ? "" : Json.HumanDuration((end ?? DateTimeOffset.UtcNow) - start.Value);
        }),
        AgeColumn,
        Col("Containers", o => Containers(o, "spec.template.spec"), 1),
        Col("Images", o => Images(o, "spec.template.spec"), 1),
        Col("Selector", o => Selector(o.At("spec.selector")), 1),
    ];

    public static IReadOnlyList<TableColumn> CronJobs { get; } =
    [
        NameColumn,
        Col("Schedule", o => o.At("spec.schedule") is { } s ? Json.Scalar(s) : ""),
        Col("Timezone", o => o.At("spec.timeZone") is { } s ? Json.Scalar(s) : "<none>"),
        Col("Suspend", o => (o.At("spec.suspend") is { } s ? Json.Scalar(s) : "false") == "true" ? "True" : "False"),
        Col("Active", o => (o.At("status.active") as JsonArray)?.Count ?? 0, type: "integer"),
        Col("Last Schedule", o => o.ObjOrNull("status").Time("lastScheduleTime") is { } t ? Json.HumanDuration(DateTimeOffset.UtcNow - t) : "<none>"),
        AgeColumn,
        Col("Containers", o => Containers(o, "spec.jobTemplate.spec.template.spec"), 1),
        Col("Images", o => Images(o, "spec.jobTemplate.spec.template.spec"), 1),
    ];

    public static IReadOnlyList<TableColumn> Services { get; } =
    [
        NameColumn,
        Col("Type", o => o.At("spec.type") is { } t ? Json.Scalar(t) : "ClusterIP"),
        Col("Cluster-IP", o => o.At("spec.clusterIP") is { } ip ? Json.Scalar(ip) : "<none>"),
        Col("External-IP", o =>
        {
            var ingress = (o.At("status.loadBalancer.ingress") as JsonArray ?? []).Select(i => i.Str("ip") ?? i.Str("hostname")).ToList();
            var external = (o.At("spec.externalIPs") as JsonArray ?? []).Select(Json.Scalar).ToList();
            var type = o.At("spec.type") is { } t ? Json.Scalar(t) : "ClusterIP";
            if (type == "ExternalName")
            {
                return o.At("spec.externalName") is { } n ? Json.Scalar(n) : "<none>";
            }
            if (type == "LoadBalancer" && ingress.Count == 0 && external.Count == 0)
            {
                return "<pending>";
            }
            var all = ingress.Concat(external).Where(s => !string.IsNullOrEmpty(s)).ToList();
            return all.Count == 0 ? "<none>" : string.Join(",", all);
        }),
        Col("Port(s)", o =>
        {
            var ports = (o.At("spec.ports") as JsonArray ?? []).Select(p =>
            {
                var s = Json.Scalar(p!["port"]);
                if (p["nodePort"] is { } np)
                {
                    s += ":" + Json.Scalar(np);
                }
                return s + "/" + (p.Str("protocol") ?? "TCP");
            }).ToList();
            return ports.Count == 0 ? "<none>" : string.Join(",", ports);
        }),
        AgeColumn,
        Col("Selector", o => MapSelector(o.At("spec.selector")), 1),
    ];

    public static IReadOnlyList<TableColumn> Namespaces { get; } =
        [NameColumn, Col("Status", o => o.At("status.phase") is { } p ? Json.Scalar(p) : "Active"), AgeColumn];

    public static IReadOnlyList<TableColumn> ConfigMaps { get; } =
        [NameColumn, Col("Data", o => (o.ObjOrNull("data")?.Count ?? 0) + (o.ObjOrNull("binaryData")?.Count ?? 0), type: "integer"), AgeColumn];

    public static IReadOnlyList<TableColumn> Secrets { get; } =
        [NameColumn, Col("Type", o => o.Str("type") ?? "Opaque"), Col("Data", o => o.ObjOrNull("data")?.Count ?? 0, type: "integer"), AgeColumn];

    public static IReadOnlyList<TableColumn> ServiceAccounts { get; } =
        [NameColumn, Col("Secrets", o => o.Arr("secrets")?.Count ?? 0, type: "integer"), AgeColumn];

    public static IReadOnlyList<TableColumn> Nodes { get; } =
    [
        NameColumn,
        Col("Status", o =>
        {
            var ready = (o.At("status.conditions") as JsonArray ?? []).FirstOrDefault(c => c.Str("type") == "Ready");
            var s = ready?.Str("status") == "True" ? "Ready" : ready is null ? "Unknown" : "NotReady";
            return o.At("spec.unschedulable") is JsonValue u && u.TryGetValue<bool>(out var b) && b ? s + ",SchedulingDisabled" : s;
        }),
        Col("Roles", o =>
        {
            var roles = o.ObjOrNull("metadata").ObjOrNull("labels").StringMap().Keys
                .Where(k => k.StartsWith("node-role.kubernetes.io/", StringComparison.Ordinal))
                .Select(k => k["node-role.kubernetes.io/".Length..]).ToList();
            return roles.Count == 0 ? "<none>" : string.Join(",", roles);
        }),
        AgeColumn,
        Col("Version", o => o.At("status.nodeInfo.kubeletVersion") is { } v ? Json.Scalar(v) : ""),
        Col("Internal-IP", o => (o.At("status.addresses") as JsonArray ?? []).FirstOrDefault(a => a.Str("type") == "InternalIP")?.Str("address") ?? "<none>", 1),
        Col("External-IP", o => (o.At("status.addresses") as JsonArray ?? []).FirstOrDefault(a => a.Str("type") == "ExternalIP")?.Str("address") ?? "<none>", 1),
        Col("OS-Image", o => o.At("status.nodeInfo.osImage") is { } v ? Json.Scalar(v) : "<unknown>", 1),
        Col("Kernel-Version", o => o.At("status.nodeInfo.kernelVersion") is { } v ? Json.Scalar(v) : "<unknown>", 1),
        Col("Container-Runtime", o => o.At("status.nodeInfo.containerRuntimeVersion") is { } v ? Json.Scalar(v) : "<unknown>", 1),
    ];

    public static IReadOnlyList<TableColumn> Events { get; } =
    [
        new("Last Seen", "string", 0, (o, now) =>
        {
            var t = o.Time("lastTimestamp") ?? o.Time("eventTime") ?? o.ObjOrNull("metadata").Time("creationTimestamp");
            return t is null ? "<unknown>" : Json.HumanDuration(now - t.Value);
        }),
        Col("Type", o => o.Str("type") ?? ""),
        Col("Reason", o => o.Str("reason") ?? ""),
        Col("Object", o => (o.At("involvedObject.kind") is { } k ? Json.Scalar(k).ToLowerInvariant() : "") + "/" + (o.At("involvedObject.name") is { } n ? Json.Scalar(n) : "")),
        Col("Message", o => o.Str("message") ?? ""),
        Col("Source", o => o.At("source.component") is { } c ? Json.Scalar(c) : "", 1),
        Col("First Seen", o => o.Time("firstTimestamp") is { } t ? Json.HumanDuration(DateTimeOffset.UtcNow - t) : "<unknown>", 1),
        Col("Count", o => o.Long("count") ?? 1, 1, "integer"),
        NameColumn with { Priority = 1 },
    ];

    public static IReadOnlyList<TableColumn> Endpoints { get; } =
    [
        NameColumn,
        Col("Endpoints", o =>
        {
            var list = new List<string>();
            foreach (var subset in o.Arr("subsets") ?? [])
            {
                var ports = subset.Arr("ports") ?? [];
                foreach (var a in subset.Arr("addresses") ?? [])
                {
                    if (ports.Count == 0)
                    {
                        list.Add(a.Str("ip") ?? "");
                    }
                    foreach (var p in ports)
                    {
                        list.Add(a.Str("ip") + ":" + Json.Scalar(p!["port"]));
                    }
                }
            }
            return list.Count == 0 ? "<none>" : list.Count > 3 ? string.Join(",", list.Take(3)) + " + " + (list.Count - 3) + " more..." : string.Join(",", list);
        }),
        AgeColumn,
    ];

    public static IReadOnlyList<TableColumn> EndpointSlices { get; } =
    [
        NameColumn,
        Col("AddressType", o => o.Str("addressType") ?? ""),
        Col("Ports", o => o.Arr("ports") is { Count: > 0 } p ? string.Join(",", p.Select(x => Json.Scalar(x!["port"]))) : "<unset>"),
        Col("Endpoints", o => (o.Arr("endpoints") ?? []).SelectMany(e => e.Arr("addresses") ?? []).Select(Json.Scalar) is var a && a.Any() ? string.Join(",", a) : "<unset>"),
        AgeColumn,
    ];

    public static IReadOnlyList<TableColumn> PersistentVolumes { get; } =
    [
        NameColumn,
        Col("Capacity", o => o.At("spec.capacity.storage") is { } c ? Json.Scalar(c) : ""),
        Col("Access Modes", o => AccessModes(o.At("spec.accessModes"))),
        Col("Reclaim Policy", o => o.At("spec.persistentVolumeReclaimPolicy") is { } p ? Json.Scalar(p) : "Retain"),
        Col("Status", o => o.At("status.phase") is { } p ? Json.Scalar(p) : "Pending"),
        Col("Claim", o => o.At("spec.claimRef") is { } c ? c.Str("namespace") + "/" + c.Str("name") : ""),
        Col("StorageClass", o => o.At("spec.storageClassName") is { } s ? Json.Scalar(s) : ""),
        Col("VolumeAttributesClass", o => o.At("spec.volumeAttributesClassName") is { } s ? Json.Scalar(s) : "<unset>"),
        Col("Reason", o => o.At("status.reason") is { } s ? Json.Scalar(s) : ""),
        AgeColumn,
        Col("VolumeMode", o => o.At("spec.volumeMode") is { } s ? Json.Scalar(s) : "Filesystem", 1),
    ];

    public static IReadOnlyList<TableColumn> PersistentVolumeClaims { get; } =
    [
        NameColumn,
        Col("Status", o => o.At("status.phase") is { } p ? Json.Scalar(p) : "Pending"),
        Col("Volume", o => o.At("spec.volumeName") is { } v ? Json.Scalar(v) : ""),
        Col("Capacity", o => o.At("status.capacity.storage") is { } c ? Json.Scalar(c) : ""),
        Col("Access Modes", o => AccessModes(o.At("status.accessModes"))),
        Col("StorageClass", o => o.At("spec.storageClassName") is { } s ? Json.Scalar(s) : "<unset>"),
        Col("VolumeAttributesClass", o => o.At("spec.volumeAttributesClassName") is { } s ? Json.Scalar(s) : "<unset>"),
        AgeColumn,
        Col("VolumeMode", o => o.At("spec.volumeMode") is { } s ? Json.Scalar(s) : "Filesystem", 1),
    ];

    private static string AccessModes(JsonNode? modes) =>
        string.Join(",", (modes as JsonArray ?? []).Select(m => Json.Scalar(m) switch
        {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            var s => s,
        }));

    public static IReadOnlyList<TableColumn> StorageClasses { get; } =
    [
        new("Name", "string", 0, (o, _) =>
            o.ObjOrNull("metadata").ObjOrNull("annotations").Str("storageclass.kubernetes.io/is-default-class") == "true" ? o.Name() + " (default)" : o.Name(), "name"),
        Col("Provisioner", o => o.Str("provisioner") ?? ""),
        Col("ReclaimPolicy", o => o.Str("reclaimPolicy") ?? "Delete"),
        Col("VolumeBindingMode", o => o.Str("volumeBindingMode") ?? "Immediate"),
        Col("AllowVolumeExpansion", o => o.Bool("allowVolumeExpansion") == true ? "true" : "false"),
        AgeColumn,
    ];

    public static IReadOnlyList<TableColumn> Leases { get; } =
        [NameColumn, Col("Holder", o => o.At("spec.holderIdentity") is { } h ? Json.Scalar(h) : ""), AgeColumn];

    public static IReadOnlyList<TableColumn> Roles { get; } = [NameColumn, CreatedAtColumn];

    public static IReadOnlyList<TableColumn> Bindings { get; } =
    [
        NameColumn,
        Col("Role", o => o.At("roleRef.kind") is { } k ? Json.Scalar(k) + "/" + Json.Scalar(o.At("roleRef.name")) : ""),
        AgeColumn,
        Col("Users", o => Subjects(o, "User"), 1),
        Col("Groups", o => Subjects(o, "Group"), 1),
        Col("ServiceAccounts", o => string.Join(", ", (o.Arr("subjects") ?? []).Where(s => s.Str("kind") == "ServiceAccount").Select(s => s.Str("namespace") + "/" + s.Str("name"))), 1),
    ];

    private static string Subjects(JsonObject o, string kind) =>
        string.Join(", ", (o.Arr("subjects") ?? []).Where(s => s.Str("kind") == kind).Select(s => s.Str("name")));

    public static IReadOnlyList<TableColumn> ResourceQuotas { get; } =
    [
        NameColumn,
        AgeColumn,
        Col("Request", o => QuotaUsage(o, l => !l.StartsWith("limits.", StringComparison.Ordinal))),
        Col("Limit", o => QuotaUsage(o, l => l.StartsWith("limits.", StringComparison.Ordinal))),
    ];

    private static string QuotaUsage(JsonObject o, Func<string, bool> which)
    {
        var hard = o.At("status.hard").StringMap();
        var used = o.At("status.used").StringMap();
        return string.Join(", ", hard.Where(p => which(p.Key)).OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => $"{p.Key}: {(used.TryGetValue(p.Key, out var u) ? u : "0")}/{p.Value}"));
    }

    public static IReadOnlyList<TableColumn> CustomResourceDefinitions { get; } = [NameColumn, CreatedAtColumn];

    /// <summary>Columns from a CRD's additionalPrinterColumns (simple JSONPath: dotted fields).</summary>
    public static IReadOnlyList<TableColumn> FromPrinterColumns(JsonArray? columns)
    {
        if (columns is null || columns.Count == 0)
        {
            return NameAge;
        }
        var list = new List<TableColumn> { NameColumn };
        foreach (var c in columns)
        {
            var path = c.Str("jsonPath") ?? "";
            var type = c.Str("type") ?? "string";
            var priority = (int)(c.Long("priority") ?? 0);
            if (path == ".metadata.creationTimestamp" && type == "date")
            {
                list.Add(AgeColumn with { Name = c.Str("name") ?? "Age", Priority = priority });
                continue;
            }
            list.Add(new TableColumn(c.Str("name") ?? path, type, priority, (o, now) =>
            {
                var v = o.At(path.Replace("[", ".", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal));
                if (v is null)
                {
                    return null;
                }
                if (type == "date" && v is JsonValue s && DateTimeOffset.TryParse(Json.Scalar(s), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
                {
                    return Json.HumanDuration(now - t);
                }
                return v.DeepClone();
            }, "", c.Str("description") ?? ""));
        }
        if (!list.Any(c => c.Name == "Age"))
        {
            list.Add(AgeColumn);
        }
        return list;
    }
}
