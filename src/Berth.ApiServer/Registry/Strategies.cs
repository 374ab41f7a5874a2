using System.Text.Json.Nodes;
using Berth.ApiServer.Http;

namespace Berth.ApiServer.Registry;

/// <summary>Pod template defaulting and validation shared by pods and every workload's template.</summary>
internal static class PodSpecs
{
    public static void Default(JsonObject? spec)
    {
        if (spec is null)
        {
            return;
        }
        spec.SetDefault("restartPolicy", "Always");
        spec.SetDefault("terminationGracePeriodSeconds", 30);
        spec.SetDefault("dnsPolicy", "ClusterFirst");
        spec.SetDefault("securityContext", new JsonObject());
        spec.SetDefault("schedulerName", "default-scheduler");
        spec.SetDefault("enableServiceLinks", true);
        if (spec["serviceAccountName"] is null && spec["serviceAccount"] is not null)
        {
            spec["serviceAccountName"] = spec["serviceAccount"]!.DeepClone();
        }
        foreach (var list in new[] { "containers", "initContainers" })
        {
            foreach (var c in spec.Arr(list) ?? [])
            {
                if (c is not JsonObject container)
                {
                    continue;
                }
                var image = container.Str("image") ?? "";
                var lastPart = image[(image.LastIndexOf('/') + 1)..];
                var tagless = !lastPart.Contains(':', StringComparison.Ordinal) && !image.Contains('@', StringComparison.Ordinal);
                container.SetDefault("imagePullPolicy", tagless || lastPart.EndsWith(":latest", StringComparison.Ordinal) ? "Always" : "IfNotPresent");
                container.SetDefault("terminationMessagePath", "/dev/termination-log");
                container.SetDefault("terminationMessagePolicy", "File");
                container.SetDefault("resources", new JsonObject());
                foreach (var p in container.Arr("ports") ?? [])
                {
                    (p as JsonObject)?.SetDefault("protocol", "TCP");
                }
                foreach (var probe in new[] { "livenessProbe", "readinessProbe", "startupProbe" })
                {
                    if (container[probe] is JsonObject pr)
                    {
                        pr.SetDefault("timeoutSeconds", 1);
                        pr.SetDefault("periodSeconds", 10);
                        pr.SetDefault("successThreshold", 1);
                        pr.SetDefault("failureThreshold", 3);
                    }
                }
            }
        }
        foreach (var v in spec.Arr("volumes") ?? [])
        {
            if (v?["configMap"] is JsonObject cm)
            {
                cm.SetDefault("defaultMode", 420);
            }
            if (v?["secret"] is JsonObject s)
            {
                s.SetDefault("defaultMode", 420);
            }
            if (v?["emptyDir"] is null && v is JsonObject vo && vo.Count == 1 && vo["name"] is not null)
            {
                vo["emptyDir"] = new JsonObject();
            }
        }
    }

    public static void Validate(string path, JsonNode? spec, List<FieldError> errors)
    {
        if (spec is not JsonObject s)
        {
            errors.Add(FieldError.Required(path));
            return;
        }
        var containers = s.Arr("containers");
        if (containers is null || containers.Count == 0)
        {
            errors.Add(FieldError.Required(path + ".containers"));
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var list in new[] { "initContainers", "containers" })
        {
            var items = s.Arr(list) ?? [];
            for (var i = 0; i < items.Count; i++)
            {
                var c = items[i];
                var cp = $"{path}.{list}[{i}]";
                var name = c.Str("name");
                if (string.IsNullOrEmpty(name))
                {
                    errors.Add(FieldError.Required(cp + ".name"));
                }
                else if (Validation.Dns1123Label(name) is { } err)
                {
                    errors.Add(FieldError.Invalid(cp + ".name", name, err));
                }
                else if (!names.Add(name))
                {
                    errors.Add(FieldError.Duplicate(cp + ".name", name));
                }
                if (string.IsNullOrWhiteSpace(c.Str("image")))
                {
                    errors.Add(FieldError.Required(cp + ".image"));
                }
                var ports = c.Arr("ports") ?? [];
                for (var j = 0; j < ports.Count; j++)
                {
                    Validation.Port($"{cp}.ports[{j}].containerPort", ports[j].Long("containerPort"), errors);
                    Validation.Protocol($"{cp}.ports[{j}].protocol", ports[j], errors);
                }
                var pullPolicy = c.Str("imagePullPolicy");
                if (pullPolicy is not null and not ("Always" or "IfNotPresent" or "Never"))
                {
                    errors.Add(FieldError.NotSupported(cp + ".imagePullPolicy", pullPolicy, ["Always", "IfNotPresent", "Never"]));
                }
            }
        }
        var restart = s.Str("restartPolicy");
        if (restart is not null and not ("Always" or "OnFailure" or "Never"))
        {
            errors.Add(FieldError.NotSupported(path + ".restartPolicy", restart, ["Always", "Never", "OnFailure"]));
        }
        var volumes = new HashSet<string>(StringComparer.Ordinal);
        var vols = s.Arr("volumes") ?? [];
        for (var i = 0; i < vols.Count; i++)
        {
            var name = vols[i].Str("name");
            if (string.IsNullOrEmpty(name))
            {
                errors.Add(FieldError.Required($"{path}.volumes[{i}].name"));
            }
            else if (!volumes.Add(name))
            {
                errors.Add(FieldError.Duplicate($"{path}.volumes[{i}].name", name));
            }
        }
    }
}

internal sealed class NamespaceStrategy : ResourceStrategy
{
    public override string? ValidateName(string name) => Validation.Dns1123Label(name);

    public override void ApplyDefaults(JsonObject obj)
    {
        var labels = obj.Metadata().Obj("labels");
        labels["kubernetes.io/metadata.name"] = obj.Name();
    }

    public override void PrepareForCreate(JsonObject obj)
    {
        obj["status"] = new JsonObject { ["phase"] = "Active" };
        obj.Obj("spec")["finalizers"] = new JsonArray("kubernetes");
    }

    public override bool TracksGeneration => false;

    public override IReadOnlyList<TableColumn> Columns => Printers.Namespaces;
}

internal sealed class PodStrategy : ResourceStrategy
{
    public override void ApplyDefaults(JsonObject obj) => PodSpecs.Default(obj.ObjOrNull("spec"));

    public override void PrepareForCreate(JsonObject obj)
    {
        obj["status"] = new JsonObject { ["phase"] = "Pending", ["qosClass"] = QosClass(obj) };
    }

    private static string QosClass(JsonObject pod)
    {
        var containers = pod.At("spec.containers") as JsonArray ?? [];
        var anyResources = false;
        var guaranteed = containers.Count > 0;
        foreach (var c in containers)
        {
            var req = c.At("resources.requests").StringMap();
            var lim = c.At("resources.limits").StringMap();
            anyResources |= req.Count > 0 || lim.Count > 0;
            foreach (var r in new[] { "cpu", "memory" })
            {
                if (!lim.TryGetValue(r, out var l) || (req.TryGetValue(r, out var q) && q != l))
                {
                    guaranteed = false;
                }
            }
        }
        return guaranteed ? "Guaranteed" : anyResources ? "Burstable" : "BestEffort";
    }

    public override void Validate(JsonObject obj, JsonObject? old, List<FieldError> errors)
    {
        PodSpecs.Validate("spec", obj["spec"], errors);
        if (old is not null)
        {
            var oldSpec = old["spec"]?.DeepClone() as JsonObject;
            var newSpec = obj["spec"]?.DeepClone() as JsonObject;
            // Kubernetes lets only images (and a few scheduling fields) change on a running pod.
            foreach (var spec in new[] { oldSpec, newSpec })
            {
                foreach (var list in new[] { "containers", "initContainers" })
                {
                    foreach (var c in spec.Arr(list) ?? [])
                    {
                        (c as JsonObject)?.Remove("image");
                    }
                }
                spec?.Remove("activeDeadlineSeconds");
                spec?.Remove("tolerations");
                if (old.At("spec.nodeName") is null)
                {
                    spec?.Remove("nodeName");
                }
            }
            if (!JsonNode.DeepEquals(oldSpec, newSpec))
            {
                errors.Add(FieldError.Forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"));
            }
        }
    }

    public override IReadOnlyList<TableColumn> Columns => Printers.Pods;
}

/// <summary>Deployments, ReplicaSets, StatefulSets, DaemonSets: a selector that matches the template's labels.</summary>
internal sealed class WorkloadStrategy(string kind) : ResourceStrategy
{
    public override void ApplyDefaults(JsonObject obj)
    {
        var spec = obj.ObjOrNull("spec");
        if (spec is null)
        {
            return;
        }
        if (kind != "DaemonSet")
        {
            spec.SetDefault("replicas", 1);
        }
        spec.SetDefault("revisionHistoryLimit", 10);
        switch (kind)
        {
            case "Deployment":
                spec.SetDefault("progressDeadlineSeconds", 600);
                spec.SetDefault("strategy", new JsonObject());
                var strategy = spec.Obj("strategy");
                strategy.SetDefault("type", "RollingUpdate");
                if (strategy.Str("type") == "RollingUpdate")
                {
                    var ru = strategy.Obj("rollingUpdate");
                    ru.SetDefault("maxUnavailable", "25%");
                    ru.SetDefault("maxSurge", "25%");
                }
                break;
            case "StatefulSet":
                spec.SetDefault("podManagementPolicy", "OrderedReady");
                spec.SetDefault("updateStrategy", new JsonObject { ["type"] = "RollingUpdate", ["rollingUpdate"] = new JsonObject { ["partition"] = 0 } });
                spec.SetDefault("persistentVolumeClaimRetentionPolicy", new JsonObject { ["whenDeleted"] = "Retain", ["whenScaled"] = "Retain" });
                break;
            case "DaemonSet":
                spec.SetDefault("updateStrategy", new JsonObject { ["type"] = "RollingUpdate", ["rollingUpdate"] = new JsonObject { ["maxUnavailable"] = 1, ["maxSurge"] = 0 } });
                break;
        }
        if (kind == "ReplicaSet")
        {
            spec.Remove("revisionHistoryLimit");
        }
        PodSpecs.Default(spec.At("template.spec") as JsonObject);
    }

    public override void Validate(JsonObject obj, JsonObject? old, List<FieldError> errors)
    {
        var spec = obj.ObjOrNull("spec");
        var selector = spec.ObjOrNull("selector");
        if (selector is null)
        {
            errors.Add(FieldError.Required("spec.selector"));
        }
        else if ((selector.ObjOrNull("matchLabels")?.Count ?? 0) + (selector.Arr("matchExpressions")?.Count ?? 0) == 0)
        {
            errors.Add(FieldError.Invalid("spec.selector", selector, "empty selector is invalid for deployment"));
        }
        var templateLabels = spec.At("template.metadata.labels");
        if (selector is not null)
        {
            Validation.Labels("spec.selector.matchLabels", selector["matchLabels"], errors);
            var sel = Selectors.LabelSelector.FromJson(selector);
            if (sel is not null && !sel.Matches(templateLabels.StringMap()))
            {
                errors.Add(FieldError.Invalid("spec.template.metadata.labels", templateLabels?.DeepClone() ?? new JsonObject(), "`selector` does not match template `labels`"));
            }
        }
        if (spec.Long("replicas") is < 0)
        {
            errors.Add(FieldError.Invalid("spec.replicas", spec.Long("replicas"), "must be greater than or equal to 0"));
        }
        PodSpecs.Validate("spec.template.spec", spec.At("template.spec"), errors);
        if (kind is "Deployment" or "DaemonSet" or "StatefulSet" or "ReplicaSet")
        {
            var restart = spec.At("template.spec.restartPolicy");
            if (restart is not null && Json.Scalar(restart) != "Always")
            {
                errors.Add(FieldError.NotSupported("spec.template.spec.restartPolicy", Json.Scalar(restart), ["Always"]));
            }
        }
        if (old is not null && !JsonNode.DeepEquals(old.At("spec.selector"), spec?["selector"]) && kind != "ReplicaSet")
        {
            errors.Add(FieldError.Invalid("spec.selector", spec?["selector"]?.DeepClone(), "field is immutable"));
        }
    }

    public override IReadOnlyList<TableColumn> Columns => kind switch
    {
        "Deployment" => Printers.Deployments,
        "ReplicaSet" => Printers.ReplicaSets,
        "StatefulSet" => Printers.StatefulSets,
        _ => Printers.DaemonSets,
    };
}

internal sealed class JobStrategy : ResourceStrategy
{
    public override void ApplyDefaults(JsonObject obj)
    {
        var spec = obj.ObjOrNull("spec");
        if (spec is null)
        {
            return;
        }
        spec.SetDefault("parallelism", 1);
        spec.SetDefault("completions", 1);
        spec.SetDefault("backoffLimit", 6);
        spec.SetDefault("completionMode", "NonIndexed");
        spec.SetDefault("suspend", false);
        spec.SetDefault("manualSelector", false);
        spec.SetDefault("podReplacementPolicy", "TerminatingOrFailed");
        var templateLabels = spec.At("template.metadata") is JsonObject tm ? tm.Obj("labels") : spec.Obj("template").Obj("metadata").Obj("labels");
        if (spec["selector"] is null)
        {
            var uid = obj.ObjOrNull("metadata").Str("uid") ?? "";
            if (uid.Length > 0)
            {
                templateLabels.SetDefault("batch.kubernetes.io/controller-uid", uid);
                templateLabels.SetDefault("batch.kubernetes.io/job-name", obj.Name());
                templateLabels.SetDefault("controller-uid", uid);
                templateLabels.SetDefault("job-name", obj.Name());
                spec["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["batch.kubernetes.io/controller-uid"] = uid } };
            }
        }
        PodSpecs.Default(spec.At("template.spec") as JsonObject);
    }

    public override void Validate(JsonObject obj, JsonObject? old, List<FieldError> errors)
    {
        PodSpecs.Validate("spec.template.spec", obj.At("spec.template.spec"), errors);
        var restart = obj.At("spec.template.spec.restartPolicy");
        if (restart is not null && Json.Scalar(restart) is not ("OnFailure" or "Never"))
        {
            errors.Add(FieldError.NotSupported("spec.template.spec.restartPolicy", Json.Scalar(restart), ["OnFailure", "Never"]));
        }
    }

    public override IReadOnlyList<TableColumn> Columns => Printers.Jobs;
}

internal sealed class CronJobStrategy : ResourceStrategy
{
    public override void ApplyDefaults(JsonObject obj)
    {
        var spec = obj.ObjOrNull("spec");
        if (spec is null)
        {
            return;
        }
        spec.SetDefault("concurrencyPolicy", "Allow");
        spec.SetDefault("suspend", false);
        spec.SetDefault("successfulJobsHistoryLimit", 3);
        spec.SetDefault("failedJobsHistoryLimit", 1);
        PodSpecs.Default(spec.At("jobTemplate.spec.template.spec") as JsonObject);
    }

    public override void Validate(JsonObject obj, JsonObject? old, List<FieldError> errors)
    {
        var schedule = obj.At("spec.schedule");
        if (schedule is null || Json.Scalar(schedule).Length == 0)
        {
            errors.Add(FieldError.Required("spec.schedule"));
        }
        else if (Json.Scalar(schedule).Split(' ', StringSplitOptions.RemoveEmptyEntries).Length != 5 && !Json.Scalar(schedule).StartsWith('@'))
        {
            errors.Add(FieldError.Invalid("spec.schedule", schedule.DeepClone(), "unparseable schedule: expected exactly 5 fields"));
        }
        PodSpecs.Validate("spec.jobTemplate.spec.template.spec", obj.At("spec.jobTemplate.spec.template.spec"), errors);
    }

    public override IReadOnlyList<TableColumn> Columns => Printers.CronJobs;
}

internal sealed class ServiceStrategy : ResourceStrategy
{
    public override string? ValidateName(string name) => Validation.Dns1123Label(name);

    public override void ApplyDefaults(JsonObject obj)
    {
        var spec = obj.ObjOrNull("spec");
        if (spec is null)
        {
            return;
        }
        spec.SetDefault("type", "ClusterIP");
        spec.SetDefault("sessionAffinity", "None");
        if (spec.Str("type") != "ExternalName")
        {
            spec.SetDefault("internalTrafficPolicy", "Cluster");
            spec.SetDefault("ipFamilyPolicy", "SingleStack");
            spec.SetDefault("ipFamilies", new JsonArray("IPv4"));
        }
        if (spec.Str("type") is "NodePort" or "LoadBalancer")
        {
            spec.SetDefault("externalTrafficPolicy", "Cluster");
        }
        foreach (var p in spec.Arr("ports") ?? [])
        {
            if (p is JsonObject port)
            {
                port.SetDefault("protocol", "TCP");
                if (port["targetPort"] is null && port["port"] is not null)
                {
                    port["targetPort"] = port["port"]!.DeepClone();
                }
            }
        }
    }

    public override void PrepareForCreate(JsonObject obj) => obj["status"] = new JsonObject { ["loadBalancer"] = new JsonObject() };

    public override void Validate(JsonObject obj, JsonObject? old, List<FieldError> errors)
    {
        var spec = obj.ObjOrNull("spec");
        var type = spec.Str("type") ?? "ClusterIP";
        if (type is not ("ClusterIP" or "NodePort" or "LoadBalancer" or "ExternalName"))
        {
            errors.Add(FieldError.NotSupported("spec.type", type, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]));
        }
        var ports = spec.Arr("ports") ?? [];
        var headless = spec.Str("clusterIP") == "None";
        if (ports.Count == 0 && type != "ExternalName" && !headless)
        {
            errors.Add(FieldError.Required("spec.ports"));
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < ports.Count; i++)
        {
            Validation.Port($"spec.ports[{i}].port", ports[i].Long("port"), errors);
            Validation.Protocol($"spec.ports[{i}].protocol", ports[i], errors);
            var name = ports[i].Str("name") ?? "";
            if (ports.Count > 1 && name.Length == 0)
            {
                errors.Add(FieldError.Required($"spec.ports[{i}].name"));
            }
            else if (name.Length > 0 && !names.Add(name))
            {
                errors.Add(FieldError.Duplicate($"spec.ports[{i}].name", name));
            }
        }
        if (type == "ExternalName" && string.IsNullOrEmpty(spec.Str("externalName")))
        {
            errors.Add(FieldError.Required("spec.externalName"));
        }
        if (old is not null && old.At("spec.clusterIP") is { } oldIp && spec?["clusterIP"] is { } newIp && !JsonNode.DeepEquals(oldIp, newIp))
        {
            errors.Add(FieldError.Invalid("spec.clusterIPs[0]", newIp.DeepClone(), "may not change once set"));
        }
    }

    public override IReadOnlyList<TableColumn> Columns => Printers.Services;
}

internal sealed class SimpleStrategy(IReadOnlyList<TableColumn> columns, Action<JsonObject, List<FieldError>>? validate = null,
    Action<JsonObject>? defaults = null, Func<string, string?>? nameRule = null, bool tracksGeneration = false) : ResourceStrategy
{
    public override IReadOnlyList<TableColumn> Columns => columns;

    public override bool TracksGeneration => tracksGeneration;

    public override string? ValidateName(string name) => nameRule is null ? base.ValidateName(name) : nameRule(name);

    public override void ApplyDefaults(JsonObject obj) => defaults?.Invoke(obj);

    public override void Validate(JsonObject obj, JsonObject? old, List<FieldError> errors) => validate?.Invoke(obj, errors);
}
