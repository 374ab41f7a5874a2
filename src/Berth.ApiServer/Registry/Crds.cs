using System.Text.Json.Nodes;
using Berth.ApiServer.Http;

namespace Berth.ApiServer.Registry;

/// <summary>CustomResourceDefinitions: validation, and the resource definitions an established CRD serves.</summary>
public static class Crds
{
    public static void Validate(JsonObject crd, List<FieldError> errors)
    {
        var spec = crd.ObjOrNull("spec");
        var group = spec.Str("group") ?? "";
        var plural = spec.At("names.plural") is { } p ? Json.Scalar(p) : "";
        if (group.Length == 0)
        {
            errors.Add(FieldError.Required("spec.group"));
        }
        else if (!group.Contains('.', StringComparison.Ordinal))
        {
            errors.Add(FieldError.Invalid("spec.group", group, "should be a domain with at least one dot"));
        }
        if (plural.Length == 0)
        {
            errors.Add(FieldError.Required("spec.names.plural"));
        }
        if (spec.At("names.kind") is null)
        {
            errors.Add(FieldError.Required("spec.names.kind"));
        }
        if (crd.Name() != plural + "." + group)
        {
            errors.Add(FieldError.Invalid("metadata.name", crd.Name(), $"must be spec.names.plural+\".\"+spec.group"));
        }
        var scope = spec.Str("scope");
        if (scope is not ("Namespaced" or "Cluster"))
        {
            errors.Add(FieldError.NotSupported("spec.scope", scope, ["Cluster", "Namespaced"]));
        }
        var versions = spec.Arr("versions") ?? [];
        if (versions.Count == 0)
        {
            errors.Add(FieldError.Required("spec.versions", "must have exactly one version marked as storage version"));
        }
        if (versions.Count(v => v.Bool("storage") == true) != 1)
        {
            errors.Add(FieldError.Invalid("spec.versions", null, "must have exactly one version marked as storage version"));
        }
        for (var i = 0; i < versions.Count; i++)
        {
            if (versions[i].At("schema.openAPIV3Schema") is null)
            {
                errors.Add(FieldError.Required($"spec.versions[{i}].schema.openAPIV3Schema", "schemas are required"));
            }
        }
    }

    /// <summary>Fills what the API server itself sets: names.singular/listKind, and Established/NamesAccepted conditions.</summary>
    public static void Default(JsonObject crd)
    {
        var names = crd.Obj("spec").Obj("names");
        names.SetDefault("singular", (names.Str("kind") ?? "").ToLowerInvariant());
        names.SetDefault("listKind", names.Str("kind") + "List");
        crd.Obj("spec").SetDefault("conversion", new JsonObject { ["strategy"] = "None" });
    }

    public static void MarkEstablished(JsonObject crd, string now)
    {
        var status = crd.Obj("status");
        status["acceptedNames"] = crd.At("spec.names")?.DeepClone();
        status["storedVersions"] = new JsonArray((crd.At("spec.versions") as JsonArray ?? [])
            .Where(v => v.Bool("storage") == true).Select(v => (JsonNode?)v.Str("name")).ToArray());
        status["conditions"] = new JsonArray(
            new JsonObject { ["type"] = "NamesAccepted", ["status"] = "True", ["reason"] = "NoConflicts", ["message"] = "no conflicts found", ["lastTransitionTime"] = now },
            new JsonObject { ["type"] = "Established", ["status"] = "True", ["reason"] = "InitialNamesAccepted", ["message"] = "the initial names have been accepted", ["lastTransitionTime"] = now });
    }

    public static IEnumerable<ResourceDefinition> Definitions(JsonObject crd)
    {
        if (crd.At("metadata.deletionTimestamp") is not null)
        {
            yield break;
        }
        var spec = crd.ObjOrNull("spec");
        var names = spec.ObjOrNull("names");
        foreach (var v in spec.Arr("versions") ?? [])
        {
            if (v.Bool("served") == false)
            {
                continue;
            }
            var sub = new List<string>();
            if (v.At("subresources.status") is not null)
            {
                sub.Add("status");
            }
            if (v.At("subresources.scale") is not null)
            {
                sub.Add("scale");
            }
            yield return new ResourceDefinition
            {
                Group = spec.Str("group") ?? "",
                Version = v.Str("name") ?? "v1",
                Kind = names.Str("kind") ?? "",
                Plural = names.Str("plural") ?? "",
                Namespaced = spec.Str("scope") != "Cluster",
                ShortNames = (names.Arr("shortNames") ?? []).Select(Json.Scalar).ToList(),
                Categories = (names.Arr("categories") ?? []).Select(Json.Scalar).ToList(),
                Subresources = sub,
                CustomSchema = v.At("schema.openAPIV3Schema") as JsonObject,
                PrinterColumns = v.Arr("additionalPrinterColumns"),
                CustomScale = v.At("subresources.scale") as JsonObject,
                Strategy = new CustomResourceStrategy(v.Arr("additionalPrinterColumns")),
            };
        }
    }
}

internal sealed class CustomResourceStrategy(JsonArray? columns) : ResourceStrategy
{
    private readonly IReadOnlyList<TableColumn> _columns = Printers.FromPrinterColumns(columns);

    public override IReadOnlyList<TableColumn> Columns => _columns;
}
