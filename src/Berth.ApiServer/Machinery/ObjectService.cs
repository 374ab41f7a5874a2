using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Berth.ApiServer.Http;
using Berth.ApiServer.Registry;
using Berth.ApiServer.Schema;
using Berth.ApiServer.Storage;

namespace Berth.ApiServer.Machinery;

/// <summary>
/// The write path every change takes, from the API or from the server's own controllers: system metadata,
/// defaulting, admission, validation (422 listing every invalid field), generation, managedFields, then a
/// compare-and-swap on the store. Nothing is written unless every step passed.
/// </summary>
public sealed class ObjectService(ObjectStore store, ResourceRegistry registry, Admission admission, TimeProvider time)
{
    private const string NameChars = "bcdfghjklmnpqrstvwxz2456789";

    public ObjectStore Store { get; } = store;

    public ResourceRegistry Registry { get; } = registry;

    public string Now() => Json.Rfc3339(time.GetUtcNow());

    public static string RandomSuffix(int n = 5)
    {
        Span<char> chars = stackalloc char[n];
        for (var i = 0; i < n; i++)
        {
            chars[i] = NameChars[RandomNumberGenerator.GetInt32(NameChars.Length)];
        }
        return new string(chars);
    }

    public async Task<JsonObject> CreateAsync(ResourceDefinition def, JsonObject obj, WriteOptions opts, CancellationToken ct)
    {
        obj["apiVersion"] = def.ApiVersion;
        obj["kind"] = def.Kind;
        var meta = obj.Metadata();
        if (!def.Namespaced)
        {
            meta.Remove("namespace");
        }
        if (string.IsNullOrEmpty(meta.Str("name")) && meta.Str("generateName") is { Length: > 0 } gen)
        {
            meta["name"] = gen + RandomSuffix();
        }
        meta["uid"] = Guid.NewGuid().ToString();
        meta["creationTimestamp"] = Now();
        meta.Remove("resourceVersion");
        meta.Remove("deletionTimestamp");
        meta.Remove("deletionGracePeriodSeconds");
        meta.Remove("selfLink");
        if (def.Strategy.TracksGeneration || def.IsCustom)
        {
            meta["generation"] = 1;
        }
        else
        {
            meta.Remove("generation");
        }
        if (def.HasStatus && !(def.Group.Length == 0 && def.Plural is "nodes"))
        {
            obj.Remove("status");
        }
        def.Strategy.PrepareForCreate(obj);
        if (def.Group == "apiextensions.k8s.io")
        {
            Crds.Default(obj);
            Crds.MarkEstablished(obj, Now());
        }
        def.Strategy.ApplyDefaults(obj);
        await admission.MutateAsync(def, obj, null, opts, ct).ConfigureAwait(false);
        StoredObject created;
        try
        {
            Validate(def, obj, null);
            await admission.ValidateAsync(def, obj, null, opts, ct).ConfigureAwait(false);
            ManagedFields.Record(def, obj, null, opts.Manager, opts.Operation, Now(), opts.Subresource, opts.AppliedSet);
            if (opts.DryRun)
            {
                ObjectStore.Encode(obj);
                return obj;
            }
            created = await Store.CreateAsync(def, obj, ct).ConfigureAwait(false);
        }
        catch (ApiException) when (!opts.DryRun)
        {
            await admission.ReleaseAsync(def, obj, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        await admission.AfterWriteAsync(def, created.Object, null, ct).ConfigureAwait(false);
        return created.Object;
    }

    /// <summary>
    /// Replaces <paramref name="old"/> with <paramref name="obj"/>. Returns null when the store's revision moved on
    /// (the caller retries or answers 409). An unchanged object is returned as-is without a write.
    /// </summary>
    public async Task<JsonObject?> UpdateAsync(ResourceDefinition def, JsonObject obj, StoredObject old, WriteOptions opts, CancellationToken ct)
    {
        var prev = old.Object;
        obj["apiVersion"] = def.ApiVersion;
        obj["kind"] = def.Kind;
        var meta = obj.Metadata();
        var oldMeta = prev.Metadata();
        if (opts.Subresource == "status")
        {
            var status = obj["status"]?.DeepClone();
            obj = (JsonObject)prev.DeepClone();
            obj["status"] = status;
            meta = obj.Metadata();
        }
        else if (def.HasStatus && opts.Subresource.Length == 0)
        {
            obj["status"] = prev["status"]?.DeepClone();
            if (obj["status"] is null)
            {
                obj.Remove("status");
            }
        }
        foreach (var field in new[] { "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "namespace", "name" })
        {
            if (oldMeta[field] is { } v)
            {
                meta[field] = v.DeepClone();
            }
            else
            {
                meta.Remove(field);
            }
        }
        if (meta["managedFields"] is null && oldMeta["managedFields"] is { } mf)
        {
            meta["managedFields"] = mf.DeepClone();
        }
        meta.Remove("selfLink");
        if (def.Group == "apiextensions.k8s.io" && opts.Subresource.Length == 0)
        {
            Crds.Default(obj);
        }
        def.Strategy.ApplyDefaults(obj);
        await admission.MutateAsync(def, obj, prev, opts, ct).ConfigureAwait(false);
        if (opts.Subresource.Length == 0)
        {
            Validate(def, obj, prev);
        }
        await admission.ValidateAsync(def, obj, prev, opts, ct).ConfigureAwait(false);
        if ((def.Strategy.TracksGeneration || def.IsCustom) && SpecChanged(obj, prev))
        {
            meta["generation"] = (prev.ObjOrNull("metadata").Long("generation") ?? 1) + 1;
        }
        ManagedFields.Record(def, obj, prev, opts.Manager, opts.Operation, Now(), opts.Subresource, opts.AppliedSet);
        meta["resourceVersion"] = old.Revision.ToString(CultureInfo.InvariantCulture);
        if (JsonNode.DeepEquals(WithoutManagedTime(obj), WithoutManagedTime(prev)))
        {
            return prev;
        }
        if (opts.DryRun)
        {
            ObjectStore.Encode(obj);
            return obj;
        }
        var isNamespace = def.Group.Length == 0 && def.Plural == "namespaces";
        if (meta["deletionTimestamp"] is not null && (meta.Arr("finalizers")?.Count ?? 0) == 0 && (oldMeta.Arr("finalizers")?.Count ?? 0) > 0
            && !(isNamespace && (obj.At("spec.finalizers") as JsonArray)?.Count > 0))
        {
            // The last finalizer is gone: the object goes away now.
            if (!await Store.DeleteAsync(def, obj.Namespace(), obj.Name(), old.Revision, ct).ConfigureAwait(false))
            {
                return null;
            }
            await admission.AfterDeleteAsync(def, prev, ct).ConfigureAwait(false);
            return obj;
        }
        var updated = await Store.UpdateAsync(def, obj, old.Revision, ct).ConfigureAwait(false);
        if (updated is not null)
        {
            await admission.AfterWriteAsync(def, updated.Object, prev, ct).ConfigureAwait(false);
        }
        return updated?.Object;
    }

    private static JsonObject WithoutManagedTime(JsonObject o)
    {
        var c = (JsonObject)o.DeepClone();
        foreach (var e in c.ObjOrNull("metadata").Arr("managedFields") ?? [])
        {
            (e as JsonObject)?.Remove("time");
        }
        return c;
    }

    private static bool SpecChanged(JsonObject a, JsonObject b)
    {
        var x = (JsonObject)a.DeepClone();
        var y = (JsonObject)b.DeepClone();
        foreach (var o in new[] { x, y })
        {
            o.Remove("metadata");
            o.Remove("status");
        }
        return !JsonNode.DeepEquals(x, y);
    }

    public void Validate(ResourceDefinition def, JsonObject obj, JsonObject? old)
    {
        var errors = new List<FieldError>();
        var meta = obj.ObjOrNull("metadata");
        var name = meta.Str("name") ?? "";
        if (name.Length == 0)
        {
            errors.Add(FieldError.Required("metadata.name", "name or generateName is required"));
        }
        else if (def.Strategy.ValidateName(name) is { } err)
        {
            errors.Add(FieldError.Invalid("metadata.name", name, err));
        }
        if (def.Namespaced && string.IsNullOrEmpty(meta.Str("namespace")))
        {
            errors.Add(FieldError.Required("metadata.namespace"));
        }
        Validation.Labels("metadata.labels", meta?["labels"], errors);
        Validation.Annotations("metadata.annotations", meta?["annotations"], errors);
        var finalizers = meta.Arr("finalizers") ?? [];
        for (var i = 0; i < finalizers.Count; i++)
        {
            var f = Json.Scalar(finalizers[i]);
            if (!f.Contains('/', StringComparison.Ordinal) && f is not ("kubernetes" or "orphan" or "foregroundDeletion"))
            {
                errors.Add(FieldError.Invalid($"metadata.finalizers[{i}]", f, "name is neither a standard finalizer name nor is it fully qualified"));
            }
        }
        if (old is not null && old.Name() != name)
        {
            errors.Add(FieldError.Invalid("metadata.name", name, "field is immutable"));
        }
        def.Strategy.Validate(obj, old, errors);
        if (def.IsCustom && def.CustomSchema is not null)
        {
            var copy = (JsonObject)obj.DeepClone();
            copy.Remove("metadata");
            copy.Remove("apiVersion");
            copy.Remove("kind");
            FieldChecker.ValidateValues(copy, def.CustomSchema, "", errors);
        }
        if (errors.Count > 0)
        {
            throw ApiException.Invalid(def.Kind, def.Group, name, errors);
        }
    }
}

/// <summary>Deletion: finalizers, propagation policies, graceful pod deletion, preconditions.</summary>
public static class Deletion
{
    public sealed record Options(string? Propagation = null, long? GracePeriodSeconds = null, string? PreconditionUid = null, string? PreconditionRv = null, bool DryRun = false);

    /// <summary>Returns the object (marked for deletion, or as last seen) and whether it is gone from the store.</summary>
    public static async Task<(JsonObject Object, bool Gone)> DeleteAsync(this ObjectService svc, ResourceDefinition def, string? ns, string name, Options options,
        Admission admission, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var current = await svc.Store.GetAsync(def, ns, name, ct).ConfigureAwait(false)
                ?? throw ApiException.NotFound(def.Group, def.Plural, name);
            var obj = (JsonObject)current.Object.DeepClone();
            var meta = obj.Metadata();
            if (options.PreconditionUid is { Length: > 0 } uid && uid != meta.Str("uid"))
            {
                throw ApiException.Conflict(def.Group, def.Plural, name, $"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.Str("uid")}");
            }
            if (options.PreconditionRv is { Length: > 0 } rv && rv != current.Revision.ToString(CultureInfo.InvariantCulture))
            {
                throw ApiException.Conflict(def.Group, def.Plural, name, $"Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {current.Revision}");
            }
            var finalizers = meta.Arr("finalizers") ?? [];
            var changed = false;
            void AddFinalizer(string f)
            {
                if (!finalizers.Any(x => Json.Scalar(x) == f))
                {
                    finalizers.Add(f);
                    changed = true;
                }
            }
            void RemoveFinalizer(string f)
            {
                foreach (var x in finalizers.Where(x => Json.Scalar(x) == f).ToList())
                {
                    finalizers.Remove(x);
                    changed = true;
                }
            }
            switch (options.Propagation)
            {
                case "Orphan":
                    AddFinalizer("orphan");
                    RemoveFinalizer("foregroundDeletion");
                    break;
                case "Foreground":
                    AddFinalizer("foregroundDeletion");
                    RemoveFinalizer("orphan");
                    break;
                case "Background":
                    RemoveFinalizer("orphan");
                    RemoveFinalizer("foregroundDeletion");
                    break;
                case null or "":
                    break;
                default:
                    throw ApiException.Invalid("DeleteOptions", "", "", [FieldError.NotSupported("propagationPolicy", options.Propagation, ["Foreground", "Background", "Orphan", "nil"])]);
            }
            meta["finalizers"] = finalizers;
            var isNamespace = def.Group.Length == 0 && def.Plural == "namespaces";
            var isPod = def.Group.Length == 0 && def.Plural == "pods";
            var alreadyDeleting = meta["deletionTimestamp"] is not null;
            var grace = options.GracePeriodSeconds ?? (isPod ? Json.AsLong(obj.At("spec.terminationGracePeriodSeconds")) ?? 30 : 0);
            var phase = obj.At("status.phase") is JsonValue ph ? Json.Scalar(ph) : "";
            var podNeedsNode = isPod && grace > 0 && obj.At("spec.nodeName") is JsonValue n && Json.Scalar(n).Length > 0 && phase is not ("Succeeded" or "Failed");
            var keep = finalizers.Count > 0 || (isNamespace && (obj.At("spec.finalizers") as JsonArray)?.Count > 0) || podNeedsNode;
            if (keep)
            {
                if (alreadyDeleting && !changed && !(isPod && options.GracePeriodSeconds == 0))
                {
                    return (current.Object, false);
                }
                if (!alreadyDeleting)
                {
                    var when = podNeedsNode ? DateTimeOffset.Parse(svc.Now(), CultureInfo.InvariantCulture).AddSeconds(grace) : DateTimeOffset.Parse(svc.Now(), CultureInfo.InvariantCulture);
                    meta["deletionTimestamp"] = Json.Rfc3339(when);
                    meta["deletionGracePeriodSeconds"] = podNeedsNode ? grace : 0;
                }
                if (isNamespace)
                {
                    obj.Obj("status")["phase"] = "Terminating";
                }
                if (finalizers.Count == 0)
                {
                    meta.Remove("finalizers");
                }
                if (options.DryRun)
                {
                    return (obj, false);
                }
                var written = await svc.Store.UpdateAsync(def, obj, current.Revision, ct).ConfigureAwait(false);
                if (written is not null)
                {
                    return (written.Object, false);
                }
                if (attempt > 10)
                {
                    throw ApiException.StaleUpdate(def.Group, def.Plural, name);
                }
                continue;
            }
            if (options.DryRun)
            {
                return (current.Object, true);
            }
            if (await svc.Store.DeleteAsync(def, ns, name, current.Revision, ct).ConfigureAwait(false))
            {
                await admission.AfterDeleteAsync(def, current.Object, ct).ConfigureAwait(false);
                return (current.Object, true);
            }
            if (attempt > 10)
            {
                throw ApiException.StaleUpdate(def.Group, def.Plural, name);
            }
        }
    }
}
