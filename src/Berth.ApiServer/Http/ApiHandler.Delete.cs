using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.ApiServer.Machinery;
using Berth.ApiServer.Registry;
using Microsoft.AspNetCore.Http;

namespace Berth.ApiServer.Http;

public sealed partial class ApiHandler
{
    /// <summary>Resources whose DELETE answers with the object rather than a Status, as upstream.</summary>
    private static bool ReturnsDeletedObject(ResourceDefinition def) =>
        def.Group.Length == 0 && def.Plural is "pods" or "services" or "persistentvolumes" or "persistentvolumeclaims";

    private async Task<Deletion.Options> DeleteOptionsAsync(HttpContext ctx, CancellationToken ct)
    {
        var q = ctx.Request.Query;
        JsonObject? body = null;
        if (ctx.Request.ContentLength is null or > 0)
        {
            var raw = await ReadBodyAsync(ctx, ct).ConfigureAwait(false);
            if (raw.Length > 0)
            {
                body = ParseJson(raw, ctx.Request.ContentType);
            }
        }
        var propagation = body.Str("propagationPolicy") ?? (q["propagationPolicy"].ToString() is { Length: > 0 } p ? p : null);
        if (propagation is null && (body.Bool("orphanDependents") ?? (q["orphanDependents"].ToString() == "true" ? true : null)) == true)
        {
            propagation = "Orphan";
        }
        long? grace = body.Long("gracePeriodSeconds") ?? (long.TryParse(q["gracePeriodSeconds"].ToString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var g) ? g : null);
        var dryRun = (body.Arr("dryRun")?.Any(d => Json.Scalar(d) == "All") ?? false) || q["dryRun"].ToString() == "All";
        return new Deletion.Options(propagation, grace, body.ObjOrNull("preconditions").Str("uid"), body.ObjOrNull("preconditions").Str("resourceVersion"), dryRun);
    }

    private async Task DeleteAsync(HttpContext ctx, ApiRequest req, CancellationToken ct)
    {
        var options = await DeleteOptionsAsync(ctx, ct).ConfigureAwait(false);
        var (obj, gone) = await Objects.DeleteAsync(req.Resource, req.Namespace, req.Info.Name, options, _admission, ct).ConfigureAwait(false);
        if (!gone || ReturnsDeletedObject(req.Resource))
        {
            await WriteJsonAsync(ctx, gone ? 200 : options.Propagation == "Foreground" ? 202 : 200, obj).ConfigureAwait(false);
            return;
        }
        var details = new JsonObject { ["name"] = req.Info.Name };
        if (req.Resource.Group.Length > 0)
        {
            details["group"] = req.Resource.Group;
        }
        details["kind"] = req.Resource.Plural;
        details["uid"] = obj.At("metadata.uid")?.DeepClone();
        await WriteJsonAsync(ctx, 200, ApiException.Success(details)).ConfigureAwait(false);
    }

    private async Task DeleteCollectionAsync(HttpContext ctx, ApiRequest req, CancellationToken ct)
    {
        var options = await DeleteOptionsAsync(ctx, ct).ConfigureAwait(false);
        var page = await _store.ListAsync(req.Resource, req.Namespace, 0, null, 0, Filter(ctx, req), ct).ConfigureAwait(false);
        var items = new JsonArray();
        foreach (var o in page.Items)
        {
            try
            {
                var (obj, _) = await Objects.DeleteAsync(req.Resource, o.Namespace(), o.Name(), options, _admission, ct).ConfigureAwait(false);
                items.Add(obj.DeepClone());
            }
            catch (ApiException e) when (e.Code == 404)
            {
            }
        }
        await WriteJsonAsync(ctx, 200, new JsonObject
        {
            ["kind"] = req.Resource.Kind + "List",
            ["apiVersion"] = req.Resource.ApiVersion,
            ["metadata"] = new JsonObject { ["resourceVersion"] = page.Revision.ToString(CultureInfo.InvariantCulture) },
            ["items"] = items,
        }).ConfigureAwait(false);
    }

    /// <summary>SelfSubjectAccessReview, SubjectAccessReview, SelfSubjectRulesReview and SelfSubjectReview: computed, never stored.</summary>
    private async Task ReviewAsync(HttpContext ctx, ApiRequest req, CancellationToken ct)
    {
        if (ctx.Request.Method != "POST")
        {
            throw ApiException.MethodNotAllowed("the server does not allow this method on the requested resource");
        }
        var raw = await ReadBodyAsync(ctx, ct).ConfigureAwait(false);
        var review = ParseJson(raw, ctx.Request.ContentType);
        review["apiVersion"] = req.Resource.ApiVersion;
        review["kind"] = req.Resource.Kind;
        var user = req.User;
        switch (req.Resource.Plural)
        {
            case "selfsubjectreviews":
                review["status"] = new JsonObject
                {
                    ["userInfo"] = new JsonObject
                    {
                        ["username"] = user.Name,
                        ["uid"] = user.Uid,
                        ["groups"] = new JsonArray(user.Groups.Select(g => (JsonNode?)g).ToArray()),
                    },
                };
                break;
            case "selfsubjectrulesreviews":
                {
                    var ns = review.At("spec.namespace") is { } n ? Json.Scalar(n) : "";
                    var resourceRules = new JsonArray();
                    var nonResourceRules = new JsonArray();
                    if (user.IsMaster)
                    {
                        resourceRules.Add(new JsonObject { ["verbs"] = new JsonArray("*"), ["apiGroups"] = new JsonArray("*"), ["resources"] = new JsonArray("*") });
                        nonResourceRules.Add(new JsonObject { ["verbs"] = new JsonArray("*"), ["nonResourceURLs"] = new JsonArray("*") });
                    }
                    await foreach (var rule in _authz.RulesForAsync(user, ns, ct).ConfigureAwait(false))
                    {
                        if (rule["nonResourceURLs"] is not null)
                        {
                            nonResourceRules.Add(new JsonObject { ["verbs"] = rule["verbs"]?.DeepClone(), ["nonResourceURLs"] = rule["nonResourceURLs"]?.DeepClone() });
                        }
                        else
                        {
                            var r = (JsonObject)rule.DeepClone();
                            resourceRules.Add(r);
                        }
                    }
                    review["status"] = new JsonObject { ["resourceRules"] = resourceRules, ["nonResourceRules"] = nonResourceRules, ["incomplete"] = false };
                    break;
                }
            default:
                {
                    if (req.Resource.Plural == "subjectaccessreviews")
                    {
                        var spec = review.ObjOrNull("spec");
                        user = new Security.UserInfo(spec.Str("user") ?? "", (spec.Arr("groups") ?? []).Select(Json.Scalar).ToList(), spec.Str("uid") ?? "");
                    }
                    var ra = review.At("spec.resourceAttributes");
                    var nra = review.At("spec.nonResourceAttributes");
                    Security.AccessAttributes attrs;
                    if (ra is not null)
                    {
                        attrs = new Security.AccessAttributes(ra.Str("verb") ?? "", ra.Str("group") ?? "", ra.Str("resource") ?? "", ra.Str("subresource") ?? "",
                            ra.Str("namespace") ?? "", ra.Str("name") ?? "", "", true);
                    }
                    else if (nra is not null)
                    {
                        attrs = Security.AccessAttributes.NonResource(nra.Str("verb") ?? "", nra.Str("path") ?? "");
                    }
                    else
                    {
                        throw ApiException.Invalid(req.Resource.Kind, req.Resource.Group, "", [FieldError.Invalid("spec.resourceAttributes", null, "exactly one of nonResourceAttributes or resourceAttributes must be specified")]);
                    }
                    var allowed = await _authz.AllowedAsync(user, attrs, ct).ConfigureAwait(false);
                    var status = new JsonObject { ["allowed"] = allowed };
                    if (allowed)
                    {
                        status["reason"] = user.IsMaster ? "" : "RBAC: allowed by a role binding";
                    }
                    review["status"] = status;
                    break;
                }
        }
        review.Metadata()["creationTimestamp"] = null;
        await WriteJsonAsync(ctx, 201, review).ConfigureAwait(false);
    }

    internal static JsonSerializerOptions Indented { get; } = new() { WriteIndented = true };
}
