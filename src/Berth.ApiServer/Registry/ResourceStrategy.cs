using System.Text.Json.Nodes;
using Berth.ApiServer.Http;

namespace Berth.ApiServer.Registry;

/// <summary>What differs between resources: defaulting, validation, and how a row of <c>kubectl get</c> looks.</summary>
public class ResourceStrategy
{
    public static readonly ResourceStrategy Default = new();

    /// <summary>Object names: most resources use DNS-1123 subdomains; namespaces and services labels; RBAC path segments.</summary>
    public virtual string? ValidateName(string name) => Validation.Dns1123Subdomain(name);

    /// <summary>Fills defaults in place, as the Kubernetes defaulters do on every write.</summary>
    public virtual void ApplyDefaults(JsonObject obj)
    {
    }

    /// <summary>Runs once when the object is created (after defaulting): initial status and the like.</summary>
    public virtual void PrepareForCreate(JsonObject obj)
    {
    }

    /// <summary>Adds every error found; <paramref name="old"/> is null on create.</summary>
    public virtual void Validate(JsonObject obj, JsonObject? old, List<FieldError> errors)
    {
    }

    /// <summary>Whether a change outside metadata and status bumps metadata.generation.</summary>
    public virtual bool TracksGeneration => true;

    public virtual IReadOnlyList<TableColumn> Columns => Printers.NameAge;
}

/// <summary>A column of a meta.k8s.io/v1 Table; priority 0 is shown by default, 1 only with -o wide.</summary>
public sealed record TableColumn(string Name, string Type, int Priority, Func<JsonObject, DateTimeOffset, JsonNode?> Cell, string Format = "", string Description = "");
