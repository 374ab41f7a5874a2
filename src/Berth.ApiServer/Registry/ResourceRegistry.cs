using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Berth.ApiServer.Http;
using k8s.Models;

namespace Berth.ApiServer.Registry;

/// <summary>
/// The table of every served resource: the built-in ones, plus the custom resources of established CRDs, which
/// <see cref="SetCustomResources"/> swaps in atomically whenever a CRD changes.
/// </summary>
public sealed class ResourceRegistry
{
    private ImmutableArray<ResourceDefinition> _all;
    private ImmutableArray<ResourceDefinition> _custom = [];

    public ResourceRegistry()
    {
        Builtins = CreateBuiltins();
        _all = Builtins;
    }

    public ImmutableArray<ResourceDefinition> Builtins { get; }

    public ImmutableArray<ResourceDefinition> All => _all;

    /// <summary>Incremented on every change so discovery/OpenAPI caches know to rebuild.</summary>
    public int Generation { get; private set; }

    public void SetCustomResources(IEnumerable<ResourceDefinition> custom)
    {
        _custom = [.. custom];
        _all = Builtins.AddRange(_custom);
        Generation++;
    }

    public ResourceDefinition? Find(string group, string version, string plural) =>
        _all.FirstOrDefault(r => r.Group == group && r.Version == version && r.Plural == plural);

    public ResourceDefinition? FindKind(string group, string version, string kind) =>
        _all.FirstOrDefault(r => r.Group == group && r.Version == version && r.Kind == kind && !r.Virtual);

    public ResourceDefinition? FindAnyVersion(string group, string plural) =>
        _all.FirstOrDefault(r => r.Group == group && r.Plural == plural);

    /// <summary>Group → versions (preferred first).</summary>
    public IReadOnlyList<(string Group, IReadOnlyList<string> Versions)> Groups()
    {
        var result = new List<(string, IReadOnlyList<string>)>();
        foreach (var g in _all.Select(r => r.Group).Distinct())
        {
            var versions = _all.Where(r => r.Group == g).Select(r => r.Version).Distinct().OrderByDescending(VersionPriority).ToList();
            result.Add((g, versions));
        }
        return result;
    }

    /// <summary>Kubernetes' version ordering: GA before beta before alpha, higher numbers first.</summary>
    public static int VersionPriority(string v)
    {
        var m = System.Text.RegularExpressions.Regex.Match(v, "^v(\\d+)(?:(alpha|beta)(\\d+))?$");
        if (!m.Success)
        {
            return 0;
        }
        var major = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var stage = m.Groups[2].Value switch { "" => 3, "beta" => 2, _ => 1 };
        var minor = m.Groups[3].Success ? int.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        return (stage * 1000 + major) * 1000 + minor;
    }

    private static ResourceDefinition R<T>(string plural, bool namespaced, ResourceStrategy? strategy = null, string[]? shortNames = null,
        string[]? subresources = null, string[]? categories = null)
    {
        var a = (KubernetesEntityAttribute)Attribute.GetCustomAttribute(typeof(T), typeof(KubernetesEntityAttribute))!;
        return new ResourceDefinition
        {
            Group = a.Group,
            Version = a.ApiVersion,
            Kind = a.Kind,
            Plural = plural,
            Namespaced = namespaced,
            ModelType = typeof(T),
            Strategy = strategy ?? ResourceStrategy.Default,
            ShortNames = shortNames ?? [],
            Subresources = subresources ?? [],
            Categories = categories ?? [],
        };
    }

    private static ImmutableArray<ResourceDefinition> CreateBuiltins()
    {
        string[] all = ["all"];
        var rbacName = new Func<string, string?>(Validation.PathSegmentName);
        return
        [
            R<V1Namespace>("namespaces", false, new NamespaceStrategy(), ["ns"], ["status", "finalize"]),
            R<V1Pod>("pods", true, new PodStrategy(), ["po"], ["status", "binding"], all),
            R<V1Service>("services", true, new ServiceStrategy(), ["svc"], ["status"], all),
            R<V1Endpoints>("endpoints", true, new SimpleStrategy(Printers.Endpoints), ["ep"]),
            R<V1ConfigMap>("configmaps", true, new SimpleStrategy(Printers.ConfigMaps, (o, e) => { Validation.DataKeys("data", o["data"], e); Validation.DataKeys("binaryData", o["binaryData"], e); }), ["cm"]),
            R<V1Secret>("secrets", true, new SimpleStrategy(Printers.Secrets, (o, e) => Validation.DataKeys("data", o["data"], e), o =>
            {
                o.SetDefault("type", "Opaque");
                // stringData is write-only: merged into data (base64) as the API server does.
                if (o["stringData"] is JsonObject sd)
                {
                    var data = o.Obj("data");
                    foreach (var (k, v) in sd)
                    {
                        data[k] = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(Json.Scalar(v)));
                    }
                    o.Remove("stringData");
                }
            })),
            R<V1ServiceAccount>("serviceaccounts", true, new SimpleStrategy(Printers.ServiceAccounts), ["sa"]),
            R<V1Node>("nodes", false, new SimpleStrategy(Printers.Nodes), ["no"], ["status"]),
            R<Corev1Event>("events", true, new SimpleStrategy(Printers.Events), ["ev"]),
            R<V1PersistentVolume>("persistentvolumes", false, new SimpleStrategy(Printers.PersistentVolumes, defaults: o =>
            {
                o.ObjOrNull("spec")?.SetDefault("persistentVolumeReclaimPolicy", "Retain");
                o.ObjOrNull("spec")?.SetDefault("volumeMode", "Filesystem");
            }), ["pv"], ["status"]),
            R<V1PersistentVolumeClaim>("persistentvolumeclaims", true, new SimpleStrategy(Printers.PersistentVolumeClaims, (o, e) =>
            {
                if (o.At("spec.accessModes") is not JsonArray { Count: > 0 })
                {
                    e.Add(FieldError.Required("spec.accessModes", "at least 1 access mode is required"));
                }
                if (o.At("spec.resources.requests.storage") is null)
                {
                    e.Add(FieldError.Required("spec.resources[storage]"));
                }
            }, o => o.ObjOrNull("spec")?.SetDefault("volumeMode", "Filesystem")), ["pvc"], ["status"]),
            R<V1ResourceQuota>("resourcequotas", true, new SimpleStrategy(Printers.ResourceQuotas), ["quota"], ["status"]),
            R<V1LimitRange>("limitranges", true, new SimpleStrategy(Printers.Roles), ["limits"]),
            R<V1Deployment>("deployments", true, new WorkloadStrategy("Deployment"), ["deploy"], ["status", "scale"], all),
            R<V1ReplicaSet>("replicasets", true, new WorkloadStrategy("ReplicaSet"), ["rs"], ["status", "scale"], all),
            R<V1StatefulSet>("statefulsets", true, new WorkloadStrategy("StatefulSet"), ["sts"], ["status", "scale"], all),
            R<V1DaemonSet>("daemonsets", true, new WorkloadStrategy("DaemonSet"), ["ds"], ["status"], all),
            R<V1Job>("jobs", true, new JobStrategy(), null, ["status"], all),
            R<V1CronJob>("cronjobs", true, new CronJobStrategy(), ["cj"], ["status"], all),
            R<V1EndpointSlice>("endpointslices", true, new SimpleStrategy(Printers.EndpointSlices)),
            R<Eventsv1Event>("events", true, new SimpleStrategy(Printers.NameAge), ["ev"]),
            R<V1Lease>("leases", true, new SimpleStrategy(Printers.Leases)),
            R<V1StorageClass>("storageclasses", false, new SimpleStrategy(Printers.StorageClasses, (o, e) =>
            {
                if (string.IsNullOrEmpty(o.Str("provisioner")))
                {
                    e.Add(FieldError.Required("provisioner"));
                }
            }, o =>
            {
                o.SetDefault("reclaimPolicy", "Delete");
                o.SetDefault("volumeBindingMode", "Immediate");
            }), ["sc"]),
            R<V1Role>("roles", true, new SimpleStrategy(Printers.Roles, nameRule: rbacName)),
            R<V1ClusterRole>("clusterroles", false, new SimpleStrategy(Printers.Roles, nameRule: rbacName)),
            R<V1RoleBinding>("rolebindings", true, new SimpleStrategy(Printers.Bindings, ValidateBinding, nameRule: rbacName)),
            R<V1ClusterRoleBinding>("clusterrolebindings", false, new SimpleStrategy(Printers.Bindings, ValidateBinding, nameRule: rbacName)),
            R<V1CustomResourceDefinition>("customresourcedefinitions", false, new SimpleStrategy(Printers.CustomResourceDefinitions, Crds.Validate, tracksGeneration: true),
                ["crd", "crds"], ["status"]),
            R<V1SelfSubjectAccessReview>("selfsubjectaccessreviews", false) with { Verbs = ["create"], Virtual = true },
            R<V1SubjectAccessReview>("subjectaccessreviews", false) with { Verbs = ["create"], Virtual = true },
            R<V1SelfSubjectRulesReview>("selfsubjectrulesreviews", false) with { Verbs = ["create"], Virtual = true },
            R<V1SelfSubjectReview>("selfsubjectreviews", false) with { Verbs = ["create"], Virtual = true },
        ];
    }

    private static void ValidateBinding(JsonObject o, List<FieldError> errors)
    {
        var roleRef = o.ObjOrNull("roleRef");
        if (roleRef is null)
        {
            errors.Add(FieldError.Required("roleRef"));
            return;
        }
        if (string.IsNullOrEmpty(roleRef.Str("name")))
        {
            errors.Add(FieldError.Required("roleRef.name"));
        }
        var kind = roleRef.Str("kind");
        if (kind is not ("Role" or "ClusterRole"))
        {
            errors.Add(FieldError.NotSupported("roleRef.kind", kind, ["ClusterRole", "Role"]));
        }
        var subjects = o.Arr("subjects") ?? [];
        for (var i = 0; i < subjects.Count; i++)
        {
            var sk = subjects[i].Str("kind");
            if (sk is not ("User" or "Group" or "ServiceAccount"))
            {
                errors.Add(FieldError.NotSupported($"subjects[{i}].kind", sk, ["Group", "ServiceAccount", "User"]));
            }
            if (string.IsNullOrEmpty(subjects[i].Str("name")))
            {
                errors.Add(FieldError.Required($"subjects[{i}].name"));
            }
        }
    }
}
