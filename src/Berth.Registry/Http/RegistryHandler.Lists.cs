using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Berth.Registry.Auth;
using Berth.Registry.Storage;
using Microsoft.AspNetCore.Http;

namespace Berth.Registry.Http;

internal sealed partial class RegistryHandler
{
    private Task TagsAsync(HttpContext context, Caller caller, string name)
    {
        _auth.Require(context, caller, name, RegistryAction.Pull);
        if (!_storage.RepositoryExists(name))
        {
            throw RegistryException.NameUnknown(name);
        }
        var (page, next) = Paginate(context, _storage.ListTags(name));
        var body = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(body))
        {
            w.WriteStartObject();
            w.WriteString("name", name);
            w.WriteStartArray("tags");
            foreach (var tag in page)
            {
                w.WriteStringValue(tag);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        if (next is not null)
        {
            context.Response.Headers.Link = $"</v2/{name}/tags/list?n={page.Count}&last={Uri.EscapeDataString(next)}>; rel=\"next\"";
        }
        return WriteJsonAsync(context, 200, "application/json", body);
    }

    private Task CatalogAsync(HttpContext context)
    {
        var caller = _auth.Identify(context);
        _auth.RequireAuthenticated(context, caller, "registry:catalog:*", ping: false);
        if (_auth.Tokens is not null && caller.Token is { AllowsCatalog: false })
        {
            throw new RegistryException(HttpStatusCode.Forbidden, RegistryErrorCode.DENIED, "the token does not grant registry:catalog:*; request that scope");
        }
        // Each caller sees only the repositories it may pull.
        var user = caller.Token is not null ? caller.Token.Subject : caller.User;
        var visible = _storage.ListRepositories()
            .Where(r => _auth.IsOpen || (_auth.Policy.Allowed(user, r) & RegistryAction.Pull) != 0)
            .ToList();
        var (page, next) = Paginate(context, visible);
        var body = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(body))
        {
            w.WriteStartObject();
            w.WriteStartArray("repositories");
            foreach (var repo in page)
            {
                w.WriteStringValue(repo);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        if (next is not null)
        {
            context.Response.Headers.Link = $"</v2/_catalog?n={page.Count}&last={Uri.EscapeDataString(next)}>; rel=\"next\"";
        }
        return WriteJsonAsync(context, 200, "application/json", body);
    }

    /// <summary>Applies ?n= and ?last= to a sorted list; the second value is the last item when more follow.</summary>
    private static (List<string> Page, string? Next) Paginate(HttpContext context, List<string> sorted)
    {
        var query = context.Request.Query;
        var last = query["last"].ToString();
        var nText = query["n"].ToString();
        int? n = null;
        if (nText.Length > 0)
        {
            if (!int.TryParse(nText, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                throw new RegistryException(HttpStatusCode.BadRequest, RegistryErrorCode.PAGINATION_NUMBER_INVALID,
                    $"n='{nText}' is not a non-negative integer", nText);
            }
            n = parsed;
        }
        IEnumerable<string> items = sorted;
        if (last.Length > 0)
        {
            items = items.Where(t => string.CompareOrdinal(t, last) > 0);
        }
        var remaining = items.ToList();
        if (n is { } count && count < remaining.Count)
        {
            var page = remaining.Take(count).ToList();
            return (page, page.Count > 0 ? page[^1] : null);
        }
        return (remaining, null);
    }

    private Task ReferrersAsync(HttpContext context, Caller caller, string name, string digestText)
    {
        _auth.Require(context, caller, name, RegistryAction.Pull);
        var subject = ParseDigest(digestText, "subject digest");
        var filter = context.Request.Query["artifactType"].ToString();
        var body = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(body))
        {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", 2);
            w.WriteString("mediaType", ManifestInfo.OciIndex);
            w.WriteStartArray("manifests");
            foreach (var referrer in _storage.ListReferrers(name, subject).OrderBy(m => m.Digest.ToString(), StringComparer.Ordinal))
            {
                ManifestInfo info;
                try
                {
                    info = ManifestInfo.Parse(File.ReadAllBytes(referrer.Path), referrer.MediaType);
                }
                catch (Exception e) when (e is RegistryException or IOException)
                {
                    continue;
                }
                var artifactType = info.ArtifactType ?? info.ConfigMediaType;
                if (filter.Length > 0 && artifactType != filter)
                {
                    continue;
                }
                w.WriteStartObject();
                w.WriteString("mediaType", referrer.MediaType);
                w.WriteString("digest", referrer.Digest.ToString());
                w.WriteNumber("size", referrer.Size);
                if (artifactType is not null)
                {
                    w.WriteString("artifactType", artifactType);
                }
                if (info.Annotations is { } annotations)
                {
                    w.WritePropertyName("annotations");
                    annotations.WriteTo(w);
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        if (filter.Length > 0)
        {
            context.Response.Headers["OCI-Filters-Applied"] = "artifactType";
        }
        return WriteJsonAsync(context, 200, ManifestInfo.OciIndex, body);
    }
}
