using System.Text.Json.Nodes;

namespace Berth.ApiServer.Registry;

/// <summary>
/// Everything the generic REST handlers need to know about one resource: where it lives in the URL space and
/// the store, its model type (null for custom resources), its subresources, and its strategy (defaulting,
/// validation, printing).
/// </summary>
public sealed record ResourceDefinition
{
    public required string Group { get; init; }

    public required string Version { get; init; }

    public required string Kind { get; init; }

    public required string Plural { get; init; }

    public string Singular => Kind.ToLowerInvariant();

    public required bool Namespaced { get; init; }

    public IReadOnlyList<string> ShortNames { get; init; } = [];

    public IReadOnlyList<string> Categories { get; init; } = [];

    /// <summary>The k8s.Models type; null for custom resources, which are validated by their CRD's schema.</summary>
    public Type? ModelType { get; init; }

    /// <summary>status, scale, binding.</summary>
    public IReadOnlyList<string> Subresources { get; init; } = [];

    public IReadOnlyList<string> Verbs { get; init; } = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

    public ResourceStrategy Strategy { get; init; } = ResourceStrategy.Default;

    /// <summary>For custom resources: the version's openAPIV3Schema (already unwrapped), used for validation and pruning.</summary>
    public JsonObject? CustomSchema { get; init; }

    /// <summary>For custom resources: the CRD's additionalPrinterColumns.</summary>
    public JsonArray? PrinterColumns { get; init; }

    /// <summary>Scale subresource paths of a custom resource (specReplicasPath, statusReplicasPath, labelSelectorPath).</summary>
    public JsonObject? CustomScale { get; init; }

    public bool IsCustom => ModelType is null;

    /// <summary>Not stored: create-only review objects (SelfSubjectAccessReview ...).</summary>
    public bool Virtual { get; init; }

    public string ApiVersion => Group.Length == 0 ? Version : Group + "/" + Version;

    public string GroupResource => Group.Length == 0 ? Plural : Plural + "." + Group;

    /// <summary>Store prefix shared by every version of the resource.</summary>
    public string StoragePrefix => "/registry/" + (Group.Length == 0 ? "core" : Group) + "/" + Plural + "/";

    public string Key(string? ns, string name) => Namespaced ? StoragePrefix + ns + "/" + name : StoragePrefix + name;

    public string ListPrefix(string? ns) => Namespaced && !string.IsNullOrEmpty(ns) ? StoragePrefix + ns + "/" : StoragePrefix;

    public bool HasStatus => Subresources.Contains("status");

    public override string ToString() => GroupResource;
}
