using Berth.ApiServer.Registry;

namespace Berth.ApiServer.Http;

/// <summary>A parsed resource URL: /api/v1/namespaces/{ns}/{resource}/{name}/{subresource} or /apis/{group}/{version}/...</summary>
public sealed record RequestInfo(string Group, string Version, string Resource, string Namespace, string Name, string Subresource)
{
    private static readonly HashSet<string> NamespaceSubresources = ["status", "finalize"];

    /// <summary>Null when the path is not a resource path (discovery, OpenAPI, health...).</summary>
    public static RequestInfo? Parse(string path)
    {
        var parts = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        string group, version;
        int i;
        if (parts.Length >= 3 && parts[0] == "api")
        {
            group = "";
            version = parts[1];
            i = 2;
        }
        else if (parts.Length >= 4 && parts[0] == "apis")
        {
            group = parts[1];
            version = parts[2];
            i = 3;
        }
        else
        {
            return null;
        }
        var rest = parts[i..];
        var ns = "";
        if (rest.Length > 1 && rest[0] == "namespaces")
        {
            if (rest.Length > 2 && !NamespaceSubresources.Contains(rest[2]))
            {
                ns = Uri.UnescapeDataString(rest[1]);
                rest = rest[2..];
            }
        }
        var resource = rest.Length > 0 ? rest[0] : "";
        var name = rest.Length > 1 ? Uri.UnescapeDataString(rest[1]) : "";
        var sub = rest.Length > 2 ? string.Join("/", rest[2..]) : "";
        return new RequestInfo(group, version, resource, ns, name, sub);
    }
}

/// <summary>The per-request context the handlers share.</summary>
public sealed record ApiRequest(RequestInfo Info, ResourceDefinition Resource, Security.UserInfo User)
{
    public string? Namespace => Resource.Namespaced && Info.Namespace.Length > 0 ? Info.Namespace : null;
}
