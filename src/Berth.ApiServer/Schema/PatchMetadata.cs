using k8s.Models;

namespace Berth.ApiServer.Schema;

/// <summary>
/// The upstream patchStrategy/patchMergeKey struct tags (k8s.io/api), which the k8s.Models types do not carry.
/// They decide how strategic merge patch merges lists: containers by name, ports by containerPort, and so on.
/// The same table feeds x-kubernetes-patch-strategy/merge-key in our OpenAPI so kubectl computes the same patches.
/// </summary>
public static class PatchMetadata
{
    private static readonly Dictionary<(Type, string), (string Strategy, string? Key)> Table = new()
    {
        [(typeof(V1ObjectMeta), "finalizers")] = ("merge", null),
        [(typeof(V1ObjectMeta), "ownerReferences")] = ("merge", "uid"),
        [(typeof(V1PodSpec), "volumes")] = ("merge,retainKeys", "name"),
        [(typeof(V1PodSpec), "initContainers")] = ("merge", "name"),
        [(typeof(V1PodSpec), "containers")] = ("merge", "name"),
        [(typeof(V1PodSpec), "ephemeralContainers")] = ("merge", "name"),
        [(typeof(V1PodSpec), "imagePullSecrets")] = ("merge", "name"),
        [(typeof(V1PodSpec), "hostAliases")] = ("merge", "ip"),
        [(typeof(V1PodSpec), "topologySpreadConstraints")] = ("merge", "topologyKey"),
        [(typeof(V1PodSpec), "resourceClaims")] = ("merge,retainKeys", "name"),
        [(typeof(V1PodSpec), "schedulingGates")] = ("merge", "name"),
        [(typeof(V1Container), "ports")] = ("merge", "containerPort"),
        [(typeof(V1Container), "env")] = ("merge", "name"),
        [(typeof(V1Container), "volumeMounts")] = ("merge", "mountPath"),
        [(typeof(V1Container), "volumeDevices")] = ("merge", "devicePath"),
        [(typeof(V1EphemeralContainer), "ports")] = ("merge", "containerPort"),
        [(typeof(V1EphemeralContainer), "env")] = ("merge", "name"),
        [(typeof(V1EphemeralContainer), "volumeMounts")] = ("merge", "mountPath"),
        [(typeof(V1EphemeralContainer), "volumeDevices")] = ("merge", "devicePath"),
        [(typeof(V1PodStatus), "conditions")] = ("merge", "type"),
        [(typeof(V1PodStatus), "podIPs")] = ("merge", "ip"),
        [(typeof(V1PodStatus), "hostIPs")] = ("merge", "ip"),
        [(typeof(V1ServiceSpec), "ports")] = ("merge", "port"),
        [(typeof(V1ServiceAccount), "secrets")] = ("merge", "name"),
        [(typeof(V1NodeSpec), "podCIDRs")] = ("merge", null),
        [(typeof(V1NodeStatus), "conditions")] = ("merge", "type"),
        [(typeof(V1NodeStatus), "addresses")] = ("merge", "type"),
        [(typeof(V1NamespaceStatus), "conditions")] = ("merge", "type"),
        [(typeof(V1PersistentVolumeClaimStatus), "conditions")] = ("merge", "type"),
        [(typeof(V1DeploymentSpec), "strategy")] = ("retainKeys", null),
        [(typeof(V1DeploymentStatus), "conditions")] = ("merge", "type"),
        [(typeof(V1ReplicaSetStatus), "conditions")] = ("merge", "type"),
        [(typeof(V1StatefulSetStatus), "conditions")] = ("merge", "type"),
        [(typeof(V1DaemonSetStatus), "conditions")] = ("merge", "type"),
        [(typeof(V1JobStatus), "conditions")] = ("merge", "type"),
        [(typeof(V1ServiceStatus), "conditions")] = ("merge", "type"),
    };

    public static void Lookup(Type type, string jsonName, out string? strategy, out string? key)
    {
        if (Table.TryGetValue((type, jsonName), out var meta) && meta.Strategy.Length > 0)
        {
            strategy = meta.Strategy;
            key = meta.Key;
            return;
        }
        strategy = null;
        key = null;
    }
}
