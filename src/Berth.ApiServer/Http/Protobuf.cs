using System.Text;
using System.Text.Json.Nodes;

namespace Berth.ApiServer.Http;

/// <summary>
/// Decodes Kubernetes' protobuf request bodies (the "k8s\0" envelope around a runtime.Unknown) for the kinds
/// kubectl sends as protobuf: namespaces, configmaps, secrets, serviceaccounts, access reviews and DeleteOptions.
/// The table below is the protobuf field numbering of those messages (the wire contract of k8s.io/api). Other
/// kinds get a 415 that says to send JSON, which every client can.
/// </summary>
public static class Protobuf
{
    private enum K
    {
        Str,
        Bytes,
        Int,
        Bool,
        Msg,
        MapStr,
        MapBytes,
        Time,
        IntOrString,
        MapQuantity,

        /// <summary>Read-only on create (status): ignored.</summary>
        Skip,
    }

    /// <summary>A field; <paramref name="Ptr"/> marks Go pointer fields, whose zero value is meaningful and kept.</summary>
    private sealed record F(int Num, string Name, K Kind, string? Msg = null, bool Repeated = false, bool Ptr = false);

    private static F Ptr(int num, string name, K kind) => new(num, name, kind, null, false, true);

    private static readonly Dictionary<string, F[]> Messages = new(StringComparer.Ordinal)
    {
        ["ObjectMeta"] =
        [
            new(1, "name", K.Str), new(2, "generateName", K.Str), new(3, "namespace", K.Str), new(4, "selfLink", K.Str), new(5, "uid", K.Str),
            new(6, "resourceVersion", K.Str), new(7, "generation", K.Int), new(8, "creationTimestamp", K.Time), new(9, "deletionTimestamp", K.Time),
            Ptr(10, "deletionGracePeriodSeconds", K.Int), new(11, "labels", K.MapStr), new(12, "annotations", K.MapStr),
            new(13, "ownerReferences", K.Msg, "OwnerReference", true), new(14, "finalizers", K.Str, null, true),
        ],
        ["OwnerReference"] =
        [
            new(1, "kind", K.Str), new(3, "name", K.Str), new(4, "uid", K.Str), new(5, "apiVersion", K.Str), Ptr(6, "controller", K.Bool), Ptr(7, "blockOwnerDeletion", K.Bool),
        ],
        ["v1/ConfigMap"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "data", K.MapStr), new(3, "binaryData", K.MapBytes), Ptr(4, "immutable", K.Bool)],
        ["v1/Secret"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "data", K.MapBytes), new(3, "type", K.Str), new(4, "stringData", K.MapStr), Ptr(5, "immutable", K.Bool)],
        ["v1/Namespace"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "spec", K.Msg, "NamespaceSpec"), new(3, "status", K.Skip)],
        ["NamespaceSpec"] = [new(1, "finalizers", K.Str, null, true)],
        ["v1/ServiceAccount"] =
        [
            new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "secrets", K.Msg, "ObjectReference", true), new(3, "imagePullSecrets", K.Msg, "LocalObjectReference", true),
            Ptr(4, "automountServiceAccountToken", K.Bool),
        ],
        ["ObjectReference"] =
        [
            new(1, "kind", K.Str), new(2, "namespace", K.Str), new(3, "name", K.Str), new(4, "uid", K.Str), new(5, "apiVersion", K.Str), new(6, "resourceVersion", K.Str), new(7, "fieldPath", K.Str),
        ],
        ["LocalObjectReference"] = [new(1, "name", K.Str)],
        ["authorization.k8s.io/v1/SelfSubjectAccessReview"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "spec", K.Msg, "SelfSubjectAccessReviewSpec"), new(3, "status", K.Skip)],
        ["SelfSubjectAccessReviewSpec"] = [new(1, "resourceAttributes", K.Msg, "ResourceAttributes"), new(2, "nonResourceAttributes", K.Msg, "NonResourceAttributes")],
        ["ResourceAttributes"] =
        [
            new(1, "namespace", K.Str), new(2, "verb", K.Str), new(3, "group", K.Str), new(4, "version", K.Str), new(5, "resource", K.Str), new(6, "subresource", K.Str), new(7, "name", K.Str),
        ],
        ["NonResourceAttributes"] = [new(1, "path", K.Str), new(2, "verb", K.Str)],
        ["authorization.k8s.io/v1/SelfSubjectRulesReview"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "spec", K.Msg, "SelfSubjectRulesReviewSpec"), new(3, "status", K.Skip)],
        ["SelfSubjectRulesReviewSpec"] = [new(1, "namespace", K.Str)],
        ["authentication.k8s.io/v1/SelfSubjectReview"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "status", K.Skip)],
        ["v1/DeleteOptions"] =
        [
            Ptr(1, "gracePeriodSeconds", K.Int), new(2, "preconditions", K.Msg, "Preconditions"), Ptr(3, "orphanDependents", K.Bool), new(4, "propagationPolicy", K.Str),
            new(5, "dryRun", K.Str, null, true),
        ],
        ["meta.k8s.io/v1/DeleteOptions"] =
        [
            Ptr(1, "gracePeriodSeconds", K.Int), new(2, "preconditions", K.Msg, "Preconditions"), Ptr(3, "orphanDependents", K.Bool), new(4, "propagationPolicy", K.Str),
            new(5, "dryRun", K.Str, null, true),
        ],
        ["Preconditions"] = [new(1, "uid", K.Str), new(2, "resourceVersion", K.Str)],
        ["apps/v1/Deployment"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "spec", K.Msg, "DeploymentSpec"), new(3, "status", K.Skip)],
        ["DeploymentSpec"] =
        [
            Ptr(1, "replicas", K.Int), new(2, "selector", K.Msg, "LabelSelector"), new(3, "template", K.Msg, "PodTemplateSpec"), new(4, "strategy", K.Msg, "DeploymentStrategy"),
            new(5, "minReadySeconds", K.Int), Ptr(6, "revisionHistoryLimit", K.Int), new(7, "paused", K.Bool), Ptr(9, "progressDeadlineSeconds", K.Int),
        ],
        ["DeploymentStrategy"] = [new(1, "type", K.Str), new(2, "rollingUpdate", K.Msg, "RollingUpdateDeployment")],
        ["RollingUpdateDeployment"] = [new(1, "maxUnavailable", K.IntOrString), new(2, "maxSurge", K.IntOrString)],
        ["LabelSelector"] = [new(1, "matchLabels", K.MapStr), new(2, "matchExpressions", K.Msg, "LabelSelectorRequirement", true)],
        ["LabelSelectorRequirement"] = [new(1, "key", K.Str), new(2, "operator", K.Str), new(3, "values", K.Str, null, true)],
        ["PodTemplateSpec"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "spec", K.Msg, "PodSpec")],
        ["PodSpec"] =
        [
            new(2, "containers", K.Msg, "Container", true), new(3, "restartPolicy", K.Str), Ptr(4, "terminationGracePeriodSeconds", K.Int),
            Ptr(5, "activeDeadlineSeconds", K.Int), new(6, "dnsPolicy", K.Str), new(7, "nodeSelector", K.MapStr), new(8, "serviceAccountName", K.Str),
            new(9, "serviceAccount", K.Str), new(10, "nodeName", K.Str), new(11, "hostNetwork", K.Bool), new(12, "hostPID", K.Bool), new(13, "hostIPC", K.Bool),
            new(16, "hostname", K.Str), new(17, "subdomain", K.Str), new(19, "schedulerName", K.Str), new(20, "initContainers", K.Msg, "Container", true),
        ],
        ["Container"] =
        [
            new(1, "name", K.Str), new(2, "image", K.Str), new(3, "command", K.Str, null, true), new(4, "args", K.Str, null, true), new(5, "workingDir", K.Str),
            new(6, "ports", K.Msg, "ContainerPort", true), new(7, "env", K.Msg, "EnvVar", true), new(8, "resources", K.Msg, "ResourceRequirements"),
            new(9, "volumeMounts", K.Msg, "VolumeMount", true), new(13, "terminationMessagePath", K.Str), new(14, "imagePullPolicy", K.Str),
            new(16, "stdin", K.Bool), new(17, "stdinOnce", K.Bool), new(18, "tty", K.Bool), new(20, "terminationMessagePolicy", K.Str),
        ],
        ["ContainerPort"] = [new(1, "name", K.Str), new(2, "hostPort", K.Int), new(3, "containerPort", K.Int), new(4, "protocol", K.Str), new(5, "hostIP", K.Str)],
        ["EnvVar"] = [new(1, "name", K.Str), new(2, "value", K.Str)],
        ["ResourceRequirements"] = [new(1, "limits", K.MapQuantity), new(2, "requests", K.MapQuantity)],
        ["VolumeMount"] = [new(1, "name", K.Str), new(2, "readOnly", K.Bool), new(3, "mountPath", K.Str), new(4, "subPath", K.Str), new(6, "subPathExpr", K.Str)],
        ["v1/Service"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "spec", K.Msg, "ServiceSpec"), new(3, "status", K.Skip)],
        ["ServiceSpec"] =
        [
            new(1, "ports", K.Msg, "ServicePort", true), new(2, "selector", K.MapStr), new(3, "clusterIP", K.Str), new(4, "type", K.Str),
            new(5, "externalIPs", K.Str, null, true), new(7, "sessionAffinity", K.Str), new(8, "loadBalancerIP", K.Str), new(10, "externalName", K.Str),
            new(11, "externalTrafficPolicy", K.Str), new(13, "publishNotReadyAddresses", K.Bool), new(18, "clusterIPs", K.Str, null, true),
        ],
        ["ServicePort"] = [new(1, "name", K.Str), new(2, "protocol", K.Str), new(3, "port", K.Int), new(4, "targetPort", K.IntOrString), new(5, "nodePort", K.Int)],
        ["batch/v1/Job"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "spec", K.Msg, "JobSpec"), new(3, "status", K.Skip)],
        ["JobSpec"] =
        [
            Ptr(1, "parallelism", K.Int), Ptr(2, "completions", K.Int), Ptr(3, "activeDeadlineSeconds", K.Int), new(4, "selector", K.Msg, "LabelSelector"),
            Ptr(5, "manualSelector", K.Bool), new(6, "template", K.Msg, "PodTemplateSpec"), Ptr(7, "backoffLimit", K.Int), Ptr(8, "ttlSecondsAfterFinished", K.Int),
            Ptr(9, "completionMode", K.Str), Ptr(10, "suspend", K.Bool),
        ],
        ["batch/v1/CronJob"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "spec", K.Msg, "CronJobSpec"), new(3, "status", K.Skip)],
        ["CronJobSpec"] =
        [
            new(1, "schedule", K.Str), Ptr(2, "startingDeadlineSeconds", K.Int), new(3, "concurrencyPolicy", K.Str), Ptr(4, "suspend", K.Bool),
            new(5, "jobTemplate", K.Msg, "JobTemplateSpec"), Ptr(6, "successfulJobsHistoryLimit", K.Int), Ptr(7, "failedJobsHistoryLimit", K.Int), Ptr(8, "timeZone", K.Str),
        ],
        ["JobTemplateSpec"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "spec", K.Msg, "JobSpec")],
        ["rbac.authorization.k8s.io/v1/Role"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "rules", K.Msg, "PolicyRule", true)],
        ["rbac.authorization.k8s.io/v1/ClusterRole"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "rules", K.Msg, "PolicyRule", true)],
        ["rbac.authorization.k8s.io/v1/RoleBinding"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "subjects", K.Msg, "Subject", true), new(3, "roleRef", K.Msg, "RoleRef")],
        ["rbac.authorization.k8s.io/v1/ClusterRoleBinding"] = [new(1, "metadata", K.Msg, "ObjectMeta"), new(2, "subjects", K.Msg, "Subject", true), new(3, "roleRef", K.Msg, "RoleRef")],
        ["PolicyRule"] =
        [
            new(1, "verbs", K.Str, null, true), new(2, "apiGroups", K.Str, null, true), new(3, "resources", K.Str, null, true), new(4, "resourceNames", K.Str, null, true),
            new(5, "nonResourceURLs", K.Str, null, true),
        ],
        ["Subject"] = [new(1, "kind", K.Str), new(2, "apiGroup", K.Str), new(3, "name", K.Str), new(4, "namespace", K.Str)],
        ["RoleRef"] = [new(1, "apiGroup", K.Str), new(2, "kind", K.Str), new(3, "name", K.Str)],
    };

    public static bool IsProtobuf(string? contentType) => contentType is not null && contentType.Contains("application/vnd.kubernetes.protobuf", StringComparison.Ordinal);

    public static JsonObject Decode(byte[] body)
    {
        if (body.Length < 4 || body[0] != 'k' || body[1] != '8' || body[2] != 's' || body[3] != 0)
        {
            throw ApiException.BadRequest("protobuf body does not start with the Kubernetes envelope (k8s\\0)");
        }
        var envelope = Fields(body.AsSpan(4));
        string apiVersion = "", kind = "";
        byte[] raw = [];
        foreach (var (num, _, data) in envelope)
        {
            if (num == 1)
            {
                foreach (var (tn, _, tdata) in Fields(data))
                {
                    if (tn == 1)
                    {
                        apiVersion = Encoding.UTF8.GetString(tdata);
                    }
                    else if (tn == 2)
                    {
                        kind = Encoding.UTF8.GetString(tdata);
                    }
                }
            }
            else if (num == 2)
            {
                raw = data.ToArray();
            }
        }
        if (!Messages.TryGetValue(apiVersion + "/" + kind, out var fields))
        {
            throw ApiException.UnsupportedMediaType($"protobuf is not supported for {apiVersion}/{kind} by this server; send application/json");
        }
        var obj = Message(raw, fields, kind);
        obj["apiVersion"] = apiVersion;
        obj["kind"] = kind;
        return obj;
    }

    private static JsonNode IntOrString(ReadOnlySpan<byte> data)
    {
        long type = 0, intVal = 0;
        var strVal = "";
        foreach (var (n, _, v) in Fields(data))
        {
            switch (n)
            {
                case 1:
                    type = (long)BitConverter.ToUInt64(v);
                    break;
                case 2:
                    intVal = (long)BitConverter.ToUInt64(v);
                    break;
                case 3:
                    strVal = Encoding.UTF8.GetString(v);
                    break;
            }
        }
        return type == 1 ? JsonValue.Create(strVal) : JsonValue.Create((int)intVal);
    }

    private static JsonObject Message(ReadOnlySpan<byte> data, F[] fields, string name)
    {
        var obj = new JsonObject();
        foreach (var (num, wire, value) in Fields(data))
        {
            var f = Array.Find(fields, x => x.Num == num);
            var zero = value.All(b => b == 0);
            if (f is null)
            {
                // Go marshals every non-pointer field, so unknown zero values are common and mean "unset";
                // anything else would be lost, which must not happen silently.
                if (zero)
                {
                    continue;
                }
                throw ApiException.UnsupportedMediaType($"protobuf field {num} of {name} is not supported by this server; send application/json");
            }
            if (f.Kind == K.Skip || (zero && !f.Ptr && !f.Repeated && f.Kind is K.Str or K.Int or K.Bool or K.Time))
            {
                continue;
            }
            JsonNode? node = f.Kind switch
            {
                K.Str => Encoding.UTF8.GetString(value),
                K.Bytes => Convert.ToBase64String(value),
                K.Int => wire == 0 ? (long)BitConverter.ToUInt64(value) : 0,
                K.Bool => value[0] != 0,
                K.Msg => Message(value, Messages[f.Msg!], f.Msg!),
                K.Time => Time(value),
                K.IntOrString => IntOrString(value),
                _ => null,
            };
            if (f.Kind == K.MapQuantity)
            {
                var map = obj[f.Name] as JsonObject ?? (JsonObject)(obj[f.Name] = new JsonObject());
                string key = "", q = "";
                foreach (var (en, _, edata) in Fields(value))
                {
                    if (en == 1)
                    {
                        key = Encoding.UTF8.GetString(edata);
                    }
                    else if (en == 2)
                    {
                        foreach (var (qn, _, qdata) in Fields(edata))
                        {
                            if (qn == 1)
                            {
                                q = Encoding.UTF8.GetString(qdata);
                            }
                        }
                    }
                }
                map[key] = q;
                continue;
            }
            if (f.Kind is K.MapStr or K.MapBytes)
            {
                var map = obj[f.Name] as JsonObject ?? (JsonObject)(obj[f.Name] = new JsonObject());
                string key = "", v = "";
                foreach (var (en, _, edata) in Fields(value))
                {
                    if (en == 1)
                    {
                        key = Encoding.UTF8.GetString(edata);
                    }
                    else if (en == 2)
                    {
                        v = f.Kind == K.MapBytes ? Convert.ToBase64String(edata) : Encoding.UTF8.GetString(edata);
                    }
                }
                map[key] = v;
                continue;
            }
            if (f.Repeated)
            {
                var arr = obj[f.Name] as JsonArray ?? (JsonArray)(obj[f.Name] = new JsonArray());
                arr.Add(node);
            }
            else
            {
                obj[f.Name] = node;
            }
        }
        return obj;
    }

    private static string Time(ReadOnlySpan<byte> data)
    {
        long seconds = 0;
        foreach (var (n, _, v) in Fields(data))
        {
            if (n == 1)
            {
                seconds = (long)BitConverter.ToUInt64(v);
            }
        }
        return Registry.Json.Rfc3339(DateTimeOffset.FromUnixTimeSeconds(seconds));
    }

    /// <summary>The fields of a message; varints come back as 8 little-endian bytes.</summary>
    private static List<(int Num, int Wire, byte[] Data)> Fields(ReadOnlySpan<byte> data)
    {
        var result = new List<(int, int, byte[])>();
        var pos = 0;
        while (pos < data.Length)
        {
            var tag = Varint(data, ref pos);
            var num = (int)(tag >> 3);
            var wire = (int)(tag & 7);
            switch (wire)
            {
                case 0:
                    result.Add((num, 0, BitConverter.GetBytes(Varint(data, ref pos))));
                    break;
                case 1:
                    result.Add((num, 1, data.Slice(pos, 8).ToArray()));
                    pos += 8;
                    break;
                case 2:
                    var len = (int)Varint(data, ref pos);
                    if (len < 0 || pos + len > data.Length)
                    {
                        throw ApiException.BadRequest("malformed protobuf body: truncated field " + num);
                    }
                    result.Add((num, 2, data.Slice(pos, len).ToArray()));
                    pos += len;
                    break;
                case 5:
                    result.Add((num, 5, data.Slice(pos, 4).ToArray()));
                    pos += 4;
                    break;
                default:
                    throw ApiException.BadRequest($"malformed protobuf body: wire type {wire}");
            }
        }
        return result;
    }

    private static ulong Varint(ReadOnlySpan<byte> data, ref int pos)
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (pos >= data.Length)
            {
                throw ApiException.BadRequest("malformed protobuf body: truncated varint");
            }
            var b = data[pos++];
            result |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
            {
                return result;
            }
        }
        throw ApiException.BadRequest("malformed protobuf body: varint too long");
    }
}
