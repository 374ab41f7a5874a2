using System.Text.Json.Nodes;
using Berth.ApiServer.Registry;
using Berth.ApiServer.Storage;

namespace Berth.ApiServer.Security;

/// <summary>What a request wants to do, in RBAC's terms.</summary>
public sealed record AccessAttributes(string Verb, string Group, string Resource, string Subresource, string Namespace, string Name, string Path, bool IsResource)
{
    public static AccessAttributes NonResource(string verb, string path) => new(verb, "", "", "", "", "", path, false);
}

/// <summary>
/// Kubernetes RBAC: a request is allowed when a ClusterRoleBinding, or a RoleBinding in the request's namespace, binds
/// the user (or one of their groups) to a role with a matching rule. system:masters bypasses RBAC, as upstream.
/// </summary>
public sealed class RbacAuthorizer(ObjectStore store, ResourceRegistry registry)
{
    public async Task<bool> AllowedAsync(UserInfo user, AccessAttributes a, CancellationToken ct)
    {
        if (user.IsMaster)
        {
            return true;
        }
        await foreach (var rule in RulesForAsync(user, a.Namespace, ct).ConfigureAwait(false))
        {
            if (Matches(rule, a))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Every rule that applies to the user in a namespace (cluster-wide ones included).</summary>
    public async IAsyncEnumerable<JsonObject> RulesForAsync(UserInfo user, string ns, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var crb = registry.FindAnyVersion("rbac.authorization.k8s.io", "clusterrolebindings")!;
        var rb = registry.FindAnyVersion("rbac.authorization.k8s.io", "rolebindings")!;
        var clusterRoles = registry.FindAnyVersion("rbac.authorization.k8s.io", "clusterroles")!;
        var roles = registry.FindAnyVersion("rbac.authorization.k8s.io", "roles")!;
        var bindings = (await store.ListAsync(crb, null, 0, null, 0, _ => true, ct).ConfigureAwait(false)).Items.Select(b => (b, (string?)null)).ToList();
        if (ns.Length > 0)
        {
            bindings.AddRange((await store.ListAsync(rb, ns, 0, null, 0, _ => true, ct).ConfigureAwait(false)).Items.Select(b => (b, (string?)ns)));
        }
        foreach (var (binding, bindingNs) in bindings)
        {
            if (!Binds(binding, user, bindingNs))
            {
                continue;
            }
            var kind = binding.At("roleRef.kind") is { } k ? Json.Scalar(k) : "";
            var name = binding.At("roleRef.name") is { } n ? Json.Scalar(n) : "";
            var role = kind == "ClusterRole"
                ? await store.GetAsync(clusterRoles, null, name, ct).ConfigureAwait(false)
                : await store.GetAsync(roles, bindingNs, name, ct).ConfigureAwait(false);
            foreach (var rule in role?.Object.Arr("rules") ?? [])
            {
                if (rule is JsonObject r)
                {
                    yield return r;
                }
            }
        }
    }

    private static bool Binds(JsonObject binding, UserInfo user, string? bindingNs)
    {
        foreach (var s in binding.Arr("subjects") ?? [])
        {
            var kind = s.Str("kind");
            var name = s.Str("name");
            if (kind == "User" && name == user.Name)
            {
                return true;
            }
            if (kind == "Group" && name is not null && user.Groups.Contains(name))
            {
                return true;
            }
            if (kind == "ServiceAccount" && user.Name == $"system:serviceaccount:{s.Str("namespace") ?? bindingNs}:{name}")
            {
                return true;
            }
        }
        return false;
    }

    public static bool Matches(JsonObject rule, AccessAttributes a)
    {
        static bool Has(JsonArray? list, string value) => list is not null && list.Any(v => v is not null && (Json.Scalar(v) == "*" || Json.Scalar(v) == value));
        if (!Has(rule.Arr("verbs"), a.Verb))
        {
            return false;
        }
        if (!a.IsResource)
        {
            return rule.Arr("nonResourceURLs") is { } urls && urls.Any(u =>
            {
                var s = Json.Scalar(u);
                return s == "*" || s == a.Path || (s.EndsWith('*') && a.Path.StartsWith(s[..^1], StringComparison.Ordinal));
            });
        }
        if (!Has(rule.Arr("apiGroups"), a.Group))
        {
            return false;
        }
        var combined = a.Subresource.Length > 0 ? a.Resource + "/" + a.Subresource : a.Resource;
        var resources = rule.Arr("resources");
        if (resources is null || !resources.Any(r =>
            {
                var s = Json.Scalar(r);
                return s == "*" || s == combined || (a.Subresource.Length > 0 && s == "*/" + a.Subresource);
            }))
        {
            return false;
        }
        var names = rule.Arr("resourceNames");
        return names is null || names.Count == 0 || (a.Name.Length > 0 && names.Any(n => Json.Scalar(n) == a.Name));
    }

    /// <summary>Kubernetes' forbidden message, e.g. pods is forbidden: User "x" cannot list resource "pods" in API group "" in the namespace "default".</summary>
    public static string ForbiddenMessage(UserInfo user, AccessAttributes a, string qualifiedResource)
    {
        if (!a.IsResource)
        {
            return $"forbidden: User \"{user.Name}\" cannot {a.Verb} path \"{a.Path}\"";
        }
        var subject = a.Name.Length > 0 ? $"{qualifiedResource} \"{a.Name}\" is forbidden" : $"{qualifiedResource} is forbidden";
        var resource = a.Subresource.Length > 0 ? a.Resource + "/" + a.Subresource : a.Resource;
        var scope = a.Namespace.Length > 0 ? $"in the namespace \"{a.Namespace}\"" : "at the cluster scope";
        return $"{subject}: User \"{user.Name}\" cannot {a.Verb} resource \"{resource}\" in API group \"{a.Group}\" {scope}";
    }
}
