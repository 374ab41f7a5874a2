using System.Globalization;
using System.Net;
using Berth.Registry.Auth;
using Microsoft.AspNetCore.Http;

namespace Berth.Registry.Http;

internal sealed partial class RegistryHandler
{
    private async Task GetBlobAsync(HttpContext context, Caller caller, string name, string digestText)
    {
        _auth.Require(context, caller, name, RegistryAction.Pull);
        var digest = ParseDigest(digestText, "blob digest");
        var isHead = context.Request.Method == "HEAD";
        long size;
        lock (_storage.ReferenceLock)
        {
            // A HEAD usually precedes a manifest that will reference the blob: refresh it so GC keeps it meanwhile.
            if (!_storage.IsLinked(name, digest) || (isHead && !_storage.Touch(digest)) || _storage.BlobSize(digest) is not { } s)
            {
                throw RegistryException.BlobUnknown(name, digest.ToString());
            }
            size = s;
        }
        var response = context.Response;
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        response.Headers.AcceptRanges = "bytes";
        response.Headers.ETag = "\"" + digest + "\"";
        response.ContentType = "application/octet-stream";
        long offset = 0, count = size;
        var range = context.Request.Headers.Range.ToString();
        if (range.Length > 0)
        {
            if (!TryParseRange(range, size, out offset, out count))
            {
                response.Headers.ContentRange = $"bytes */{size}";
                throw new RegistryException(HttpStatusCode.RequestedRangeNotSatisfiable, RegistryErrorCode.RANGE_INVALID,
                    $"range '{range}' cannot be served from blob {digest} of {size} bytes; use bytes=START-END within 0-{size - 1}", range);
            }
            response.StatusCode = 206;
            response.Headers.ContentRange = $"bytes {offset}-{offset + count - 1}/{size}";
        }
        else
        {
            response.StatusCode = 200;
        }
        response.ContentLength = count;
        if (isHead)
        {
            return;
        }
        try
        {
            await FileSender.SendAsync(response, _storage.BlobPath(digest), offset, count, context.RequestAborted).ConfigureAwait(false);
        }
        catch (FileNotFoundException) when (!response.HasStarted)
        {
            throw RegistryException.BlobUnknown(name, digest.ToString());
        }
        _metrics.Served(count);
    }

    /// <summary>Parses a single "bytes=a-b", "bytes=a-" or "bytes=-n" range against a blob of <paramref name="size"/> bytes.</summary>
    internal static bool TryParseRange(string header, long size, out long offset, out long count)
    {
        offset = 0;
        count = 0;
        if (!header.StartsWith("bytes=", StringComparison.Ordinal) || header.Contains(',', StringComparison.Ordinal))
        {
            return false;
        }
        var spec = header[6..].Trim();
        var dash = spec.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0)
        {
            return false;
        }
        var first = spec[..dash];
        var last = spec[(dash + 1)..];
        if (first.Length == 0)
        {
            if (!long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var suffix) || suffix == 0 || size == 0)
            {
                return false;
            }
            count = Math.Min(suffix, size);
            offset = size - count;
            return true;
        }
        if (!long.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var start) || start >= size)
        {
            return false;
        }
        long end = size - 1;
        if (last.Length > 0 && (!long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out end) || end < start))
        {
            return false;
        }
        end = Math.Min(end, size - 1);
        offset = start;
        count = end - start + 1;
        return true;
    }

    private Task DeleteBlobAsync(HttpContext context, Caller caller, string name, string digestText)
    {
        _auth.Require(context, caller, name, RegistryAction.Delete);
        var digest = ParseDigest(digestText, "blob digest");
        if (!_storage.IsLinked(name, digest) || !_storage.Unlink(name, digest))
        {
            throw RegistryException.BlobUnknown(name, digest.ToString());
        }
        context.Response.StatusCode = 202;
        context.Response.ContentLength = 0;
        return Task.CompletedTask;
    }

    private async Task StartUploadAsync(HttpContext context, Caller caller, string name)
    {
        _auth.Require(context, caller, name, RegistryAction.Push);
        var query = context.Request.Query;
        var response = context.Response;
        var mount = query["mount"].ToString();
        var from = query["from"].ToString();
        if (mount.Length > 0)
        {
            var mountDigest = ParseDigest(mount, "mount digest");
            // Mounting needs pull access to the source; without it (or without the blob) the spec says: start an upload.
            if (from.Length > 0 && RepositoryName.IsValid(from)
                && (_auth.Granted(caller, from) & RegistryAction.Pull) != 0
                && _storage.Mount(name, from, mountDigest))
            {
                _metrics.Mounted();
                response.StatusCode = 201;
                response.Headers.Location = $"/v2/{name}/blobs/{mountDigest}";
                response.Headers["Docker-Content-Digest"] = mountDigest.ToString();
                response.ContentLength = 0;
                return;
            }
        }
        var digestParam = query["digest"].ToString();
        Digest? monolithic = digestParam.Length > 0 ? ParseDigest(digestParam, "digest") : null;
        var id = _storage.StartUpload(name);
        _metrics.UploadStarted();
        if (monolithic is { } digest)
        {
            await CompleteAsync(context, name, id, digest, hasBody: true).ConfigureAwait(false);
            return;
        }
        response.StatusCode = 202;
        SetUploadHeaders(response, name, id, 0);
        response.ContentLength = 0;
    }

    private static void SetUploadHeaders(HttpResponse response, string name, string id, long size)
    {
        response.Headers.Location = $"/v2/{name}/blobs/uploads/{id}";
        response.Headers["Docker-Upload-UUID"] = id;
        response.Headers.Range = size == 0 ? "0-0" : $"0-{size - 1}";
    }

    private async Task PatchUploadAsync(HttpContext context, Caller caller, string name, string id)
    {
        _auth.Require(context, caller, name, RegistryAction.Push);
        var (start, length) = ParseContentRange(context.Request, id);
        var size = await _storage.AppendAsync(name, id, start, length, context.Request.Body, _metrics.Received, context.RequestAborted).ConfigureAwait(false);
        var response = context.Response;
        response.StatusCode = 202;
        SetUploadHeaders(response, name, id, size);
        response.ContentLength = 0;
    }

    private Task FinishUploadAsync(HttpContext context, Caller caller, string name, string id)
    {
        _auth.Require(context, caller, name, RegistryAction.Push);
        var digestParam = context.Request.Query["digest"].ToString();
        if (digestParam.Length == 0)
        {
            throw RegistryException.DigestInvalid("closing an upload needs ?digest=<algorithm:hex> of the whole blob");
        }
        var digest = ParseDigest(digestParam, "digest");
        var hasBody = context.Request.ContentLength > 0 || (context.Request.ContentLength is null && context.Request.Headers.TransferEncoding.Count > 0);
        return CompleteAsync(context, name, id, digest, hasBody);
    }

    private async Task CompleteAsync(HttpContext context, string name, string id, Digest digest, bool hasBody)
    {
        var (start, length) = hasBody ? ParseContentRange(context.Request, id) : (null, null);
        try
        {
            await _storage.CompleteAsync(name, id, digest, start, length, hasBody ? context.Request.Body : null, _metrics.Received, context.RequestAborted).ConfigureAwait(false);
        }
        catch (RegistryException e) when (e.Code == RegistryErrorCode.DIGEST_INVALID)
        {
            _metrics.UploadFailed();
            throw;
        }
        _metrics.UploadCompleted();
        var response = context.Response;
        response.StatusCode = 201;
        response.Headers.Location = $"/v2/{name}/blobs/{digest}";
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        response.ContentLength = 0;
    }

    /// <summary>Content-Range of a chunk: "START-END" (inclusive, as the spec writes it) or "bytes START-END/TOTAL".</summary>
    private static (long? Start, long? Length) ParseContentRange(HttpRequest request, string id)
    {
        var header = request.Headers.ContentRange.ToString().Trim();
        if (header.Length == 0)
        {
            return (null, null);
        }
        var spec = header.StartsWith("bytes", StringComparison.Ordinal) ? header[5..].TrimStart(' ', '=') : header;
        var slash = spec.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            spec = spec[..slash];
        }
        var dash = spec.IndexOf('-', StringComparison.Ordinal);
        if (dash <= 0
            || !long.TryParse(spec[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            || !long.TryParse(spec[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var end)
            || end < start)
        {
            throw new RegistryException(HttpStatusCode.RequestedRangeNotSatisfiable, RegistryErrorCode.BLOB_UPLOAD_INVALID,
                $"Content-Range '{header}' is not of the form START-END for upload '{id}'", id);
        }
        var length = end - start + 1;
        if (request.ContentLength is { } declared && declared != length)
        {
            throw new RegistryException(HttpStatusCode.BadRequest, RegistryErrorCode.SIZE_INVALID,
                $"Content-Range '{header}' covers {length} bytes but Content-Length is {declared}", id);
        }
        return (start, length);
    }

    private Task UploadStatusAsync(HttpContext context, Caller caller, string name, string id)
    {
        _auth.Require(context, caller, name, RegistryAction.Push);
        var info = _storage.GetUpload(name, id);
        var response = context.Response;
        response.StatusCode = 204;
        SetUploadHeaders(response, name, id, info.Size);
        return Task.CompletedTask;
    }

    private Task CancelUploadAsync(HttpContext context, Caller caller, string name, string id)
    {
        _auth.Require(context, caller, name, RegistryAction.Push);
        _storage.CancelUpload(name, id);
        _metrics.UploadCancelled();
        context.Response.StatusCode = 204;
        return Task.CompletedTask;
    }
}
