using System.Buffers;
using System.Net;
using Berth.Registry.Auth;
using Berth.Registry.Storage;
using Microsoft.AspNetCore.Http;

namespace Berth.Registry.Http;

internal sealed partial class RegistryHandler
{
    private RegistryStorage.StoredManifest Resolve(string name, string reference)
    {
        if (Digest.LooksLikeDigest(reference))
        {
            var digest = ParseDigest(reference, "manifest digest");
            return _storage.GetManifest(name, digest) ?? throw RegistryException.ManifestUnknown(name, reference);
        }
        if (!RepositoryName.IsValidTag(reference))
        {
            throw RegistryException.ManifestInvalid($"'{reference}' is neither a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}) nor a digest", reference);
        }
        if (_storage.ResolveTag(name, reference) is not { } target || _storage.GetManifest(name, target) is not { } manifest)
        {
            if (!_storage.RepositoryExists(name))
            {
                throw RegistryException.NameUnknown(name);
            }
            throw RegistryException.ManifestUnknown(name, reference);
        }
        return manifest;
    }

    private async Task GetManifestAsync(HttpContext context, Caller caller, string name, string reference)
    {
        _auth.Require(context, caller, name, RegistryAction.Pull);
        var manifest = Resolve(name, reference);
        var response = context.Response;
        response.StatusCode = 200;
        response.ContentType = manifest.MediaType;
        response.ContentLength = manifest.Size;
        response.Headers["Docker-Content-Digest"] = manifest.Digest.ToString();
        response.Headers.ETag = "\"" + manifest.Digest + "\"";
        if (context.Request.Method == "HEAD")
        {
            return;
        }
        await FileSender.SendAsync(response, manifest.Path, 0, manifest.Size, context.RequestAborted).ConfigureAwait(false);
        _metrics.Served(manifest.Size);
    }

    private async Task PutManifestAsync(HttpContext context, Caller caller, string name, string reference)
    {
        _auth.Require(context, caller, name, RegistryAction.Push);
        string? tag = null;
        Digest? byDigest = null;
        if (Digest.LooksLikeDigest(reference))
        {
            byDigest = ParseDigest(reference, "manifest digest");
        }
        else if (!RepositoryName.IsValidTag(reference))
        {
            throw RegistryException.ManifestInvalid($"tag '{reference}' is invalid; tags match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}", reference);
        }
        else
        {
            tag = reference;
        }
        var limit = _options.MaxManifestBytes;
        var request = context.Request;
        if (request.ContentLength is { } declared && declared > limit)
        {
            throw TooLarge(declared, limit);
        }
        var content = await ReadLimitedAsync(request.Body, limit, context.RequestAborted).ConfigureAwait(false)
            ?? throw TooLarge(null, limit);
        var contentType = request.ContentType is { Length: > 0 } ct ? ct.Split(';')[0].Trim() : null;
        var info = ManifestInfo.Parse(content, contentType);
        var digest = Digest.Compute(byDigest?.Algorithm ?? "sha256", content);
        if (byDigest is { } expected && expected != digest)
        {
            throw RegistryException.DigestInvalid($"manifest content has digest {digest}, not {expected} as the URL says", expected.ToString());
        }
        _storage.PutManifest(name, digest, content, info, tag);
        _metrics.ManifestPushed();
        var response = context.Response;
        response.StatusCode = 201;
        response.Headers.Location = $"/v2/{name}/manifests/{digest}";
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        if (info.Subject is { } subject)
        {
            response.Headers["OCI-Subject"] = subject.ToString();
        }
        response.ContentLength = 0;
    }

    private static RegistryException TooLarge(long? size, long limit) => new(HttpStatusCode.RequestEntityTooLarge, RegistryErrorCode.SIZE_INVALID,
        $"manifest is {(size is null ? "more than " + limit : size)} bytes, over this registry's limit of {limit} bytes; split it or raise the limit",
        limit.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The whole body, or null when it is longer than <paramref name="limit"/>.</summary>
    private static async Task<byte[]?> ReadLimitedAsync(Stream body, long limit, CancellationToken ct)
    {
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        while (true)
        {
            var memory = buffer.GetMemory(16 * 1024);
            var n = await body.ReadAsync(memory, ct).ConfigureAwait(false);
            if (n == 0)
            {
                return buffer.WrittenSpan.ToArray();
            }
            buffer.Advance(n);
            if (buffer.WrittenCount > limit)
            {
                return null;
            }
        }
    }

    private Task DeleteManifestAsync(HttpContext context, Caller caller, string name, string reference)
    {
        _auth.Require(context, caller, name, RegistryAction.Delete);
        if (Digest.LooksLikeDigest(reference))
        {
            var digest = ParseDigest(reference, "manifest digest");
            if (!_storage.DeleteManifest(name, digest))
            {
                throw RegistryException.ManifestUnknown(name, reference);
            }
        }
        else if (!RepositoryName.IsValidTag(reference) || !_storage.DeleteTag(name, reference))
        {
            throw RegistryException.ManifestUnknown(name, reference);
        }
        context.Response.StatusCode = 202;
        context.Response.ContentLength = 0;
        return Task.CompletedTask;
    }
}
