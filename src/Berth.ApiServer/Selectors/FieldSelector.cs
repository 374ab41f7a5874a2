using System.Text.Json.Nodes;
using Berth.ApiServer.Http;
using Berth.ApiServer.Registry;

namespace Berth.ApiServer.Selectors;

/// <summary>
/// A field selector (<c>metadata.name=web,status.phase!=Running</c>): only = / == / != on the fields each resource
/// supports, as in Kubernetes; anything else is a 400 naming the field.
/// </summary>
public sealed class FieldSelector
{
    private readonly List<(string Field, bool Equal, string Value)> _terms;

    private FieldSelector(List<(string, bool, string)> terms) => _terms = terms;

    public static FieldSelector Everything { get; } = new([]);

    public bool IsEverything => _terms.Count == 0;

    /// <summary>metadata.name=x, for the get-one-object-as-a-list shortcut in watches.</summary>
    public string? SingleName => _terms.Count == 1 && _terms[0].Field == "metadata.name" && _terms[0].Equal ? _terms[0].Value : null;

    public static FieldSelector Parse(string? text, ResourceDefinition resource)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }
        var terms = new List<(string, bool, string)>();
        foreach (var raw in text.Split(','))
        {
            var part = raw.Trim();
            if (part.Length == 0)
            {
                continue;
            }
            string field, value;
            bool equal;
            var ne = part.IndexOf("!=", StringComparison.Ordinal);
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (ne >= 0)
            {
                field = part[..ne];
                value = part[(ne + 2)..];
                equal = false;
            }
            else if (eq >= 0)
            {
                field = part[..eq];
                value = part[(eq + 1)..].TrimStart('=');
                equal = true;
            }
            else
            {
                throw ApiException.BadRequest($"invalid selector: '{text}'; can't understand '{part}'");
            }
            field = field.Trim();
            if (!Supported(resource, field))
            {
                throw ApiException.BadRequest($"field label not supported: {field}");
            }
            terms.Add((field, equal, value.Trim()));
        }
        return new FieldSelector(terms);
    }

    private static bool Supported(ResourceDefinition resource, string field)
    {
        if (field is "metadata.name" || (field == "metadata.namespace" && resource.Namespaced))
        {
            return true;
        }
        if (resource.IsCustom)
        {
            return false;
        }
        return (resource.Group, resource.Plural) switch
        {
            ("", "pods") => field is "spec.nodeName" or "spec.restartPolicy" or "spec.schedulerName" or "spec.serviceAccountName"
                or "spec.hostNetwork" or "status.phase" or "status.podIP" or "status.nominatedNodeName",
            ("", "events") => field is "involvedObject.kind" or "involvedObject.namespace" or "involvedObject.name" or "involvedObject.uid"
                or "involvedObject.apiVersion" or "involvedObject.resourceVersion" or "involvedObject.fieldPath" or "reason" or "reportingComponent" or "source" or "type",
            ("", "secrets") => field is "type",
            ("", "namespaces") => field is "status.phase",
            ("", "nodes") => field is "spec.unschedulable",
            ("", "replicationcontrollers") => field is "status.replicas",
            ("apps", "replicasets") => field is "status.replicas",
            ("batch", "jobs") => field is "status.successful",
            _ => false,
        };
    }

    public bool Matches(JsonObject obj)
    {
        foreach (var (field, equal, value) in _terms)
        {
            var actual = field switch
            {
                "source" => Json.Scalar(obj.At("source.component")),
                "status.successful" => Json.Scalar(obj.At("status.succeeded")),
                _ => Json.Scalar(obj.At(field)),
            };
            if (field == "spec.hostNetwork" && actual.Length == 0)
            {
                actual = "false";
            }
            if ((actual == value) != equal)
            {
                return false;
            }
        }
        return true;
    }
}
