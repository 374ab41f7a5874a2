using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.ApiServer.Machinery;
using Berth.ApiServer.Patching;
using Berth.ApiServer.Registry;
using Berth.ApiServer.Schema;
using Berth.ApiServer.Storage;
using Microsoft.AspNetCore.Http;

namespace Berth.ApiServer.Http;

public sealed partial class ApiHandler
{
    private static readonly MethodInfo DeserializeMethod = typeof(k8s.KubernetesJson).GetMethods(BindingFlags.Public | BindingFlags.Static)
        .First(m => m.Name == "Deserialize" && m.GetParameters() is [{ ParameterType.Name: "String" }, ..]);

    private ObjectService Objects => _objects ??= new ObjectService(_store, _registry, _admission, _time);

    private ObjectService? _objects;

    private static string FieldValidation(HttpContext ctx)
    {
        var v = ctx.Request.Query["fieldValidation"].ToString();
        return v switch
        {
            "" => "Warn",
            "Strict" or "Warn" or "Ignore" => v,
            _ => throw ApiException.BadRequest($"fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got \"{v}\""),
        };
    }

    private WriteOptions Options(HttpContext ctx, ApiRequest req, string operation)
    {
        var dryRun = ctx.Request.Query["dryRun"].ToString();
        if (dryRun.Length > 0 && dryRun != "All")
        {
            throw ApiException.BadRequest($"Invalid dry run value \"{dryRun}\": supported values are \"All\"");
        }
        var manager = ctx.Request.Query["fieldManager"].ToString();
        if (manager.Length == 0)
        {
            var agent = ctx.Request.Headers.UserAgent.ToString();
            manager = agent.Length == 0 ? "unknown" : agent.Split('/')[0];
        }
        if (manager.Length > 128)
        {
            throw ApiException.BadRequest("fieldManager: Too long: may not be more than 128 bytes");
        }
        return new WriteOptions(req.User, dryRun == "All", manager, operation, req.Info.Subresource is "status" ? "status" : "");
    }

    private static JsonObject ParseJson(byte[] body, string? contentType)
    {
        if (Protobuf.IsProtobuf(contentType))
        {
            return Protobuf.Decode(body);
        }
        try
        {
            var node = contentType is not null && contentType.Contains("yaml", StringComparison.Ordinal)
                ? YamlJson.Parse(System.Text.Encoding.UTF8.GetString(body))
                : JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = false });
            return node as JsonObject ?? throw ApiException.BadRequest("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml");
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest("couldn't get version/kind; json parse error: " + e.Message);
        }
        catch (ArgumentException e)
        {
            throw ApiException.BadRequest("couldn't get version/kind; json parse error: " + e.Message);
        }
    }

    /// <summary>
    /// Field validation and typing of an incoming object: unknown fields are pruned (Warn/Ignore) or rejected
    /// (Strict), duplicate fields likewise, and the object must deserialize into its k8s.Models type.
    /// </summary>
    private static void CheckFields(HttpContext ctx, ResourceDefinition def, JsonObject obj, byte[]? raw)
    {
        var mode = FieldValidation(ctx);
        var problems = new List<string>();
        if (raw is not null && mode != "Ignore" && !(ctx.Request.ContentType ?? "").Contains("yaml", StringComparison.Ordinal) && !Protobuf.IsProtobuf(ctx.Request.ContentType))
        {
            problems.AddRange(FieldChecker.FindDuplicates(raw).Select(d => $"duplicate field \"{d}\""));
        }
        var unknown = FieldChecker.FindUnknown(obj, ManagedFields.SchemaOf(def), prune: true);
        if (mode != "Ignore")
        {
            problems.AddRange(unknown.Select(u => $"unknown field \"{u}\""));
        }
        if (problems.Count > 0)
        {
            if (mode == "Strict")
            {
                throw ApiException.BadRequest($"{def.Kind} in version \"{def.Version}\" cannot be handled as a {def.Kind}: strict decoding error: {string.Join(", ", problems)}");
            }
            foreach (var p in problems)
            {
                ctx.Response.Headers.Append("Warning", "299 - \"" + p.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"");
            }
        }
        if (def.ModelType is not null)
        {
            try
            {
                DeserializeMethod.MakeGenericMethod(def.ModelType).Invoke(null, [obj.ToJsonString(), null]);
            }
            catch (TargetInvocationException e) when (e.InnerException is JsonException or FormatException or InvalidOperationException or ArgumentException)
            {
                throw ApiException.BadRequest($"{def.Kind} in version \"{def.Version}\" cannot be handled as a {def.Kind}: {e.InnerException!.Message}");
            }
        }
    }

    private static void CheckKind(ResourceDefinition def, JsonObject obj, bool required)
    {
        var apiVersion = obj.Str("apiVersion");
        var kind = obj.Str("kind");
        if (required && (string.IsNullOrEmpty(apiVersion) || string.IsNullOrEmpty(kind)))
        {
            throw ApiException.BadRequest("Object 'Kind' is missing in '" + obj.ToJsonString() + "'");
        }
        if (!string.IsNullOrEmpty(apiVersion) && apiVersion != def.ApiVersion)
        {
            throw ApiException.BadRequest($"the API version in the data ({apiVersion}) does not match the expected API version ({def.ApiVersion})");
        }
        if (!string.IsNullOrEmpty(kind) && kind != def.Kind)
        {
            throw ApiException.BadRequest($"the kind in the data ({kind}) does not match the expected kind ({def.Kind})");
        }
    }

    private static void SetNamespace(ApiRequest req, JsonObject obj)
    {
        if (!req.Resource.Namespaced)
        {
            obj.Metadata().Remove("namespace");
            return;
        }
        var ns = obj.Namespace();
        if (req.Info.Namespace.Length == 0)
        {
            throw ApiException.BadRequest("the namespace of the object must be given in the request URL");
        }
        if (!string.IsNullOrEmpty(ns) && ns != req.Info.Namespace)
        {
            throw ApiException.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
        }
        obj.Metadata()["namespace"] = req.Info.Namespace;
    }

    private async Task CreateAsync(HttpContext ctx, ApiRequest req, CancellationToken ct)
    {
        var raw = await ReadBodyAsync(ctx, ct).ConfigureAwait(false);
        var obj = ParseJson(raw, ctx.Request.ContentType);
        CheckKind(req.Resource, obj, required: false);
        CheckFields(ctx, req.Resource, obj, raw);
        SetNamespace(req, obj);
        var created = await Objects.CreateAsync(req.Resource, obj, Options(ctx, req, "Update"), ct).ConfigureAwait(false);
        await WriteJsonAsync(ctx, 201, created).ConfigureAwait(false);
    }

    private async Task UpdateAsync(HttpContext ctx, ApiRequest req, CancellationToken ct)
    {
        var raw = await ReadBodyAsync(ctx, ct).ConfigureAwait(false);
        var obj = ParseJson(raw, ctx.Request.ContentType);
        if (req.Info.Subresource == "scale")
        {
            await UpdateScaleAsync(ctx, req, _ => obj, obj.At("metadata.resourceVersion") is { } srv ? Json.Scalar(srv) : null, ct).ConfigureAwait(false);
            return;
        }
        CheckKind(req.Resource, obj, required: false);
        CheckFields(ctx, req.Resource, obj, raw);
        SetNamespace(req, obj);
        if (obj.Name() != req.Info.Name)
        {
            throw ApiException.BadRequest($"the name of the object ({obj.Name()}) does not match the name on the URL ({req.Info.Name})");
        }
        var rvText = obj.ObjOrNull("metadata").Str("resourceVersion");
        var expected = string.IsNullOrEmpty(rvText) ? 0 : ParseRevision(rvText);
        var opts = Options(ctx, req, "Update");
        // A plain replace starts from the value this server last wrote or read (no store read first); the write is
        // a compare-and-swap on its revision, so a stale one only costs a retry (see RecentValues).
        var useRecent = req.Info.Subresource.Length == 0 && !opts.DryRun;
        for (var attempt = 0; ; attempt++)
        {
            var recent = useRecent ? _store.Recent(req.Resource, req.Namespace, req.Info.Name) : null;
            if (recent is not null && expected != 0 && expected != recent.Revision)
            {
                // The client's resourceVersion decides a 409, so it is checked against the store, not a memory.
                recent = null;
            }
            var current = recent ?? await GetExistingAsync(req, ct).ConfigureAwait(false);
            if (expected != 0 && expected != current.Revision)
            {
                throw ApiException.StaleUpdate(req.Resource.Group, req.Resource.Plural, req.Info.Name);
            }
            var candidate = (JsonObject)obj.DeepClone();
            if (req.Info.Subresource == "finalize")
            {
                var finalizers = candidate.At("spec.finalizers")?.DeepClone();
                candidate = (JsonObject)current.Object.DeepClone();
                candidate.Obj("spec")["finalizers"] = finalizers;
            }
            var result = await Objects.UpdateAsync(req.Resource, candidate, current, opts, ct).ConfigureAwait(false);
            if (recent is not null && attempt <= 10 && (result is null || ReferenceEquals(result, current.Object)))
            {
                // A conflict (the store's value is now the recent one: retry from it), or no change against a
                // remembered state that may be stale: confirm with the store before answering.
                useRecent = result is null;
                continue;
            }
            if (result is not null)
            {
                await WriteJsonAsync(ctx, 200, result).ConfigureAwait(false);
                return;
            }
            if (expected != 0 || attempt > 10)
            {
                throw ApiException.StaleUpdate(req.Resource.Group, req.Resource.Plural, req.Info.Name);
            }
        }
    }

    private async Task PatchAsync(HttpContext ctx, ApiRequest req, CancellationToken ct)
    {
        var contentType = (ctx.Request.ContentType ?? "").Split(';')[0].Trim();
        var raw = await ReadBodyAsync(ctx, ct).ConfigureAwait(false);
        if (contentType == "application/apply-patch+yaml" || contentType == "application/apply-patch+cbor")
        {
            await ApplyAsync(ctx, req, raw, ct).ConfigureAwait(false);
            return;
        }
        JsonNode? patch;
        try
        {
            patch = JsonNode.Parse(raw);
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest("error decoding patch: " + e.Message);
        }
        Func<JsonObject, JsonObject> apply = contentType switch
        {
            "application/json-patch+json" => o => JsonPatch.Apply(o, patch) as JsonObject ?? throw ApiException.BadRequest("the patch replaced the object with a non-object"),
            "application/merge-patch+json" => o => MergePatch.Apply(o, patch) as JsonObject ?? throw ApiException.BadRequest("the patch replaced the object with a non-object"),
            "application/strategic-merge-patch+json" when req.Resource.IsCustom =>
                throw ApiException.UnsupportedMediaType("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"),
            "application/strategic-merge-patch+json" => o => StrategicMergePatch.Apply(o, patch as JsonObject ?? throw ApiException.BadRequest("strategic merge patch must be a JSON object"),
                req.Info.Subresource == "scale" ? SchemaNode.For(typeof(k8s.Models.V1Scale)) : ManagedFields.SchemaOf(req.Resource)),
            _ => throw ApiException.UnsupportedMediaType($"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{(req.Resource.IsCustom ? "" : ", application/strategic-merge-patch+json")}"),
        };
        if (req.Info.Subresource == "scale")
        {
            await UpdateScaleAsync(ctx, req, apply, null, ct).ConfigureAwait(false);
            return;
        }
        var opts = Options(ctx, req, "Update");
        for (var attempt = 0; ; attempt++)
        {
            var current = await GetExistingAsync(req, ct).ConfigureAwait(false);
            var patched = apply((JsonObject)current.Object.DeepClone());
            CheckKind(req.Resource, patched, required: false);
            CheckFields(ctx, req.Resource, patched, null);
            if (patched.Name() != req.Info.Name || (req.Resource.Namespaced && patched.Namespace() != req.Info.Namespace))
            {
                throw ApiException.BadRequest("metadata.name and metadata.namespace cannot be changed by a patch");
            }
            var rvText = patched.ObjOrNull("metadata").Str("resourceVersion");
            var preconditioned = rvText != current.Revision.ToString(CultureInfo.InvariantCulture);
            if (preconditioned && !string.IsNullOrEmpty(rvText))
            {
                throw ApiException.StaleUpdate(req.Resource.Group, req.Resource.Plural, req.Info.Name);
            }
            var result = await Objects.UpdateAsync(req.Resource, patched, current, opts, ct).ConfigureAwait(false);
            if (result is not null)
            {
                await WriteJsonAsync(ctx, 200, result).ConfigureAwait(false);
                return;
            }
            if (attempt > 10)
            {
                throw ApiException.StaleUpdate(req.Resource.Group, req.Resource.Plural, req.Info.Name);
            }
        }
    }

    private async Task ApplyAsync(HttpContext ctx, ApiRequest req, byte[] raw, CancellationToken ct)
    {
        var manager = ctx.Request.Query["fieldManager"].ToString();
        if (manager.Length == 0)
        {
            throw ApiException.BadRequest("PATCH, application/apply-patch+yaml requests must supply a fieldManager");
        }
        var force = ctx.Request.Query["force"].ToString() is "true" or "1";
        var applied = ParseJson(raw, "application/yaml");
        CheckKind(req.Resource, applied, required: true);
        CheckFields(ctx, req.Resource, applied, raw);
        if (!string.IsNullOrEmpty(applied.Name()) && applied.Name() != req.Info.Name)
        {
            throw ApiException.BadRequest($"the name of the object ({applied.Name()}) does not match the name on the URL ({req.Info.Name})");
        }
        applied.Metadata()["name"] = req.Info.Name;
        SetNamespace(req, applied);
        var baseOpts = Options(ctx, req, "Apply") with { Manager = manager };
        for (var attempt = 0; ; attempt++)
        {
            var current = await _store.GetAsync(req.Resource, req.Namespace, req.Info.Name, ct).ConfigureAwait(false);
            var (result, set) = ManagedFields.Apply(req.Resource, current?.Object, applied, manager, force);
            var opts = baseOpts with { AppliedSet = set };
            if (current is null)
            {
                if (req.Info.Subresource.Length > 0)
                {
                    throw ApiException.NotFound(req.Resource.Group, req.Resource.Plural, req.Info.Name);
                }
                try
                {
                    var created = await Objects.CreateAsync(req.Resource, result, opts, ct).ConfigureAwait(false);
                    await WriteJsonAsync(ctx, 201, created).ConfigureAwait(false);
                    return;
                }
                catch (ApiException e) when (e.Reason == "AlreadyExists" && attempt < 5)
                {
                    continue;
                }
            }
            var updated = await Objects.UpdateAsync(req.Resource, result, current, opts, ct).ConfigureAwait(false);
            if (updated is not null)
            {
                await WriteJsonAsync(ctx, 200, updated).ConfigureAwait(false);
                return;
            }
            if (attempt > 10)
            {
                throw ApiException.StaleUpdate(req.Resource.Group, req.Resource.Plural, req.Info.Name);
            }
        }
    }

    private static JsonObject Scale(ApiRequest req, StoredObject stored)
    {
        var o = stored.Object;
        var specPath = req.Resource.CustomScale.Str("specReplicasPath") ?? ".spec.replicas";
        var statusPath = req.Resource.CustomScale.Str("statusReplicasPath") ?? ".status.replicas";
        var selectorPath = req.Resource.CustomScale.Str("labelSelectorPath");
        string selector;
        if (selectorPath is not null)
        {
            selector = o.At(selectorPath) is { } s ? Json.Scalar(s) : "";
        }
        else
        {
            var sel = Selectors.LabelSelector.FromJson(o.At("spec.selector"));
            selector = sel?.ToString() ?? "";
        }
        var status = new JsonObject { ["replicas"] = o.At(statusPath) is JsonValue r ? r.DeepClone() : 0 };
        if (selector.Length > 0)
        {
            status["selector"] = selector;
        }
        return new JsonObject
        {
            ["kind"] = "Scale",
            ["apiVersion"] = "autoscaling/v1",
            ["metadata"] = new JsonObject
            {
                ["name"] = o.Name(),
                ["namespace"] = o.Namespace(),
                ["uid"] = o.At("metadata.uid")?.DeepClone(),
                ["resourceVersion"] = stored.Revision.ToString(CultureInfo.InvariantCulture),
                ["creationTimestamp"] = o.At("metadata.creationTimestamp")?.DeepClone(),
            },
            ["spec"] = new JsonObject { ["replicas"] = o.At(specPath) is JsonValue sr ? sr.DeepClone() : 0 },
            ["status"] = status,
        };
    }

    private async Task UpdateScaleAsync(HttpContext ctx, ApiRequest req, Func<JsonObject, JsonObject> change, string? expectedRv, CancellationToken ct)
    {
        var opts = Options(ctx, req, "Update") with { Subresource = "scale" };
        for (var attempt = 0; ; attempt++)
        {
            var current = await GetExistingAsync(req, ct).ConfigureAwait(false);
            if (!string.IsNullOrEmpty(expectedRv) && expectedRv != current.Revision.ToString(CultureInfo.InvariantCulture))
            {
                throw ApiException.StaleUpdate(req.Resource.Group, req.Resource.Plural, req.Info.Name);
            }
            var scale = change(Scale(req, current));
            var replicas = scale.At("spec.replicas");
            if (Json.AsLong(replicas) is not { } n)
            {
                throw ApiException.BadRequest("Scale in version \"v1\" cannot be handled as a Scale: spec.replicas must be an integer");
            }
            if (n < 0)
            {
                throw ApiException.Invalid("Scale", "autoscaling", req.Info.Name, [FieldError.Invalid("spec.replicas", n, "must be greater than or equal to 0")]);
            }
            var updated = (JsonObject)current.Object.DeepClone();
            updated.SetAt(req.Resource.CustomScale.Str("specReplicasPath") ?? ".spec.replicas", n);
            var result = await Objects.UpdateAsync(req.Resource, updated, current, opts with { Subresource = "" }, ct).ConfigureAwait(false);
            if (result is not null)
            {
                var rvNow = result.At("metadata.resourceVersion") is { } x ? ParseRevision(Json.Scalar(x)) : current.Revision;
                await WriteJsonAsync(ctx, 200, Scale(req, new StoredObject(result, rvNow, current.Key))).ConfigureAwait(false);
                return;
            }
            if (!string.IsNullOrEmpty(expectedRv) || attempt > 10)
            {
                throw ApiException.StaleUpdate(req.Resource.Group, req.Resource.Plural, req.Info.Name);
            }
        }
    }

    private async Task BindAsync(HttpContext ctx, ApiRequest req, CancellationToken ct)
    {
        var raw = await ReadBodyAsync(ctx, ct).ConfigureAwait(false);
        var binding = ParseJson(raw, ctx.Request.ContentType);
        var node = binding.At("target.name") is { } t ? Json.Scalar(t) : "";
        if (node.Length == 0)
        {
            throw ApiException.Invalid("Binding", "", req.Info.Name, [FieldError.Required("target.name")]);
        }
        var opts = Options(ctx, req, "Update");
        for (var attempt = 0; ; attempt++)
        {
            var current = await GetExistingAsync(req, ct).ConfigureAwait(false);
            var assigned = current.Object.At("spec.nodeName");
            if (assigned is not null && Json.Scalar(assigned).Length > 0)
            {
                throw ApiException.Conflict("", "pods", req.Info.Name, $"pod {req.Info.Name} is already assigned to node \"{Json.Scalar(assigned)}\"");
            }
            if (current.Object.At("metadata.deletionTimestamp") is not null)
            {
                throw ApiException.Conflict("", "pods", req.Info.Name, $"pod {req.Info.Name} is being deleted, cannot be assigned to a host");
            }
            var updated = (JsonObject)current.Object.DeepClone();
            updated.Obj("spec")["nodeName"] = node;
            var conditions = updated.Obj("status")["conditions"] as JsonArray ?? new JsonArray();
            conditions.Add(new JsonObject { ["type"] = "PodScheduled", ["status"] = "True", ["lastProbeTime"] = null, ["lastTransitionTime"] = Objects.Now() });
            updated.Obj("status")["conditions"] = conditions;
            var result = await Objects.UpdateAsync(req.Resource, updated, current, opts with { Subresource = "binding" }, ct).ConfigureAwait(false);
            if (result is not null)
            {
                await WriteJsonAsync(ctx, 201, ApiException.Success()).ConfigureAwait(false);
                return;
            }
            if (attempt > 10)
            {
                throw ApiException.StaleUpdate("", "pods", req.Info.Name);
            }
        }
    }
}
