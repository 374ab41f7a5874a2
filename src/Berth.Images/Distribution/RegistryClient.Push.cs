using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Store;
using Berth.Oci.Image;

namespace Berth.Images.Distribution;

public sealed partial class RegistryClient
{
    /// <summary>
    /// Pushes the local image <paramref name="localReference"/> to <paramref name="remoteReference"/> (default: the same
    /// name, as <c>docker push</c> does).
    /// </summary>
    public async Task<PushResult> PushAsync(string localReference, string? remoteReference = null, PushOptions? options = null,
        IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var destination = ImageReference.Parse(remoteReference ?? localReference);
        var target = await LocalTargetAsync(localReference, cancellationToken).ConfigureAwait(false);
        return await PushAsync(target, destination, options, progress, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Descriptor> LocalTargetAsync(string localReference, CancellationToken cancellationToken)
    {
        if (ImageReference.TryParse(localReference, out var parsed, out _))
        {
            var records = await Images.ListAsync(cancellationToken).ConfigureAwait(false);
            var record = records.FirstOrDefault(r => r.Name == parsed.ToString());
            if (record is not null)
            {
                return record.Target;
            }
        }
        // An image ID or another form InspectAsync understands.
        var image = await Images.InspectAsync(localReference, cancellationToken: cancellationToken).ConfigureAwait(false);
        return image.Target;
    }

    /// <summary>
    /// Uploads the blobs the registry lacks (HEAD first; a cross-repository mount when the blob is known to be in another
    /// repository of the same registry; else a monolithic or chunked upload), then the manifests, then the index, under
    /// the destination's tag (or digest).
    /// </summary>
    public async Task<PushResult> PushAsync(Descriptor target, ImageReference destination, PushOptions? options = null,
        IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new PushOptions();
        var content = Images.Content;
        if (options.Platform is { } platform)
        {
            var (resolved, _) = await ImageResolver.ResolveManifestAsync(content, target, platform, cancellationToken).ConfigureAwait(false);
            target = resolved;
        }
        var manifests = new List<(Descriptor Descriptor, ImageManifest Manifest)>();
        var indexes = new List<Descriptor>();
        await CollectAsync(content, target, manifests, indexes, depth: 0, cancellationToken).ConfigureAwait(false);
        if (destination.Digest is { } pinned && pinned != target.Digest)
        {
            throw BerthException.InvalidArgument($"cannot push {target.Digest} as {destination}: the digest in the destination names other content");
        }
        var session = await OpenSessionAsync(destination, options.Credentials, "pull,push", cancellationToken).ConfigureAwait(false);

        var blobs = manifests.SelectMany(m => m.Manifest.Layers.Prepend(m.Manifest.Config)).DistinctBy(b => b.Digest).ToList();
        foreach (var blob in blobs)
        {
            if (!await content.ExistsAsync(blob.Digest, cancellationToken).ConfigureAwait(false))
            {
                throw BerthException.NotFound($"cannot push {destination.FamiliarString}: blob {blob.Digest} is not in the local content store; pull or rebuild the image");
            }
            progress?.Report(new TransferProgress(TransferProgress.ShortId(blob.Digest), blob.Digest, TransferStatus.Waiting, 0, blob.Size));
        }
        var sent = await ForEachBoundedAsync(blobs, _options.MaxConcurrentUploads, (blob, ct) => PushBlobAsync(session, blob, progress, ct), cancellationToken).ConfigureAwait(false);
        var uploaded = sent.Sum();

        // Children by digest first (an index may only name manifests the registry has), the target last under its tag.
        foreach (var (descriptor, _) in manifests.Where(m => m.Descriptor.Digest != target.Digest))
        {
            await PutManifestAsync(session, descriptor, descriptor.Digest.ToString(), cancellationToken).ConfigureAwait(false);
        }
        foreach (var index in indexes.Where(i => i.Digest != target.Digest).Reverse())
        {
            await PutManifestAsync(session, index, index.Digest.ToString(), cancellationToken).ConfigureAwait(false);
        }
        await PutManifestAsync(session, target, destination.Tag ?? target.Digest.ToString(), cancellationToken).ConfigureAwait(false);
        return new PushResult(destination, target, uploaded);
    }

    /// <summary>Every manifest under <paramref name="descriptor"/>; an index must have all of them locally.</summary>
    private static async Task CollectAsync(IContentStore content, Descriptor descriptor, List<(Descriptor, ImageManifest)> manifests, List<Descriptor> indexes, int depth, CancellationToken cancellationToken)
    {
        if (depth > 8)
        {
            throw BerthException.InvalidArgument($"image {descriptor.Digest} nests indexes deeper than 8 levels");
        }
        var probe = await content.ReadJsonAsync(descriptor.Digest, ImageJsonContext.Default.ManifestProbe, cancellationToken).ConfigureAwait(false);
        var mediaType = probe.MediaType ?? descriptor.MediaType;
        descriptor = descriptor with { MediaType = mediaType };
        if (probe.Manifests is { } children)
        {
            indexes.Add(descriptor);
            var missing = new List<string>();
            foreach (var child in children)
            {
                if (!await content.ExistsAsync(child.Digest, cancellationToken).ConfigureAwait(false))
                {
                    missing.Add(child.Platform?.ToString() ?? child.Digest.ToString());
                    continue;
                }
                await CollectAsync(content, child, manifests, indexes, depth + 1, cancellationToken).ConfigureAwait(false);
            }
            if (missing.Count > 0)
            {
                throw BerthException.Unsupported(
                    $"pushing the index {descriptor.Digest}: the manifests for {string.Join(", ", missing)} were not pulled; push one platform with --platform, or pull them all first");
            }
            return;
        }
        var manifest = await content.ReadJsonAsync(descriptor.Digest, ImageJsonContext.Default.ImageManifest, cancellationToken).ConfigureAwait(false);
        manifests.Add((descriptor, manifest));
    }

    /// <summary>One blob: HEAD, else mount, else upload. Returns the bytes sent.</summary>
    private async Task<long> PushBlobAsync(Session session, Descriptor blob, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        var id = TransferProgress.ShortId(blob.Digest);
        if (await BlobExistsAsync(session, blob.Digest, cancellationToken).ConfigureAwait(false))
        {
            progress?.Report(new TransferProgress(id, blob.Digest, TransferStatus.AlreadyExists, blob.Size, blob.Size));
            await AddSourceAsync(session, blob.Digest, cancellationToken).ConfigureAwait(false);
            return 0;
        }
        var info = await Images.Content.InfoAsync(blob.Digest, cancellationToken).ConfigureAwait(false);
        var sources = info?.Labels.TryGetValue(SourceLabelPrefix + session.Host, out var value) == true
            ? value.Split(',', StringSplitOptions.RemoveEmptyEntries).Where(r => r != session.Repository).Reverse().ToList()
            : [];
        var sent = await RetryAsync(session, $"upload of blob {blob.Digest}", async _ =>
        {
            Uri? location = null;
            foreach (var source in sources.Take(3))
            {
                var (mounted, uploadAt) = await TryMountAsync(session, blob.Digest, source, cancellationToken).ConfigureAwait(false);
                if (mounted)
                {
                    progress?.Report(new TransferProgress(id, blob.Digest, TransferStatus.Mounted, blob.Size, blob.Size, "from " + source));
                    return 0L;
                }
                location = uploadAt;
                if (location is not null)
                {
                    break;
                }
            }
            location ??= await StartUploadAsync(session, cancellationToken).ConfigureAwait(false);
            progress?.Report(new TransferProgress(id, blob.Digest, TransferStatus.Pushing, 0, blob.Size));
            await UploadAsync(session, location, blob, progress, cancellationToken).ConfigureAwait(false);
            return blob.Size;
        }, (attempt, e) => progress?.Report(new TransferProgress(id, blob.Digest, TransferStatus.Retrying, 0, blob.Size, $"attempt {attempt} failed ({e.Message}); starting the upload again")),
            cancellationToken).ConfigureAwait(false);
        if (sent > 0)
        {
            progress?.Report(new TransferProgress(id, blob.Digest, TransferStatus.Pushed, blob.Size, blob.Size));
        }
        await AddSourceAsync(session, blob.Digest, cancellationToken).ConfigureAwait(false);
        return sent;
    }

    private async Task<bool> BlobExistsAsync(Session session, Digest digest, CancellationToken cancellationToken)
    {
        return await RetryAsync(session, "HEAD blob " + digest, async _ =>
        {
            using var response = await SendAsync(session, () => new HttpRequestMessage(HttpMethod.Head, session.Url("blobs/" + digest)), cancellationToken).ConfigureAwait(false);
            if (IsTransient(response.StatusCode))
            {
                throw new TransientException($"{(int)response.StatusCode} {response.ReasonPhrase}");
            }
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return false;
            }
            if (!response.IsSuccessStatusCode)
            {
                throw await ErrorAsync(session, response, "check blob " + digest, cancellationToken).ConfigureAwait(false);
            }
            return true;
        }, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>POST ?mount=&amp;from=: 201 means mounted; 202 means the registry opened an upload instead (its Location is returned).</summary>
    private async Task<(bool Mounted, Uri? Location)> TryMountAsync(Session session, Digest digest, string from, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(session,
            () => new HttpRequestMessage(HttpMethod.Post, session.Url($"blobs/uploads/?mount={Uri.EscapeDataString(digest.ToString())}&from={Uri.EscapeDataString(from)}"))
            {
                Content = new ByteArrayContent([]),
            },
            cancellationToken, extraScopes: [$"repository:{from}:pull"]).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Created)
        {
            return (true, null);
        }
        if (response.StatusCode == HttpStatusCode.Accepted)
        {
            return (false, LocationOf(session, response));
        }
        if (IsTransient(response.StatusCode))
        {
            throw new TransientException($"{(int)response.StatusCode} {response.ReasonPhrase}");
        }
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.NotFound)
        {
            return (false, null); // no right to read the source: upload instead
        }
        throw await ErrorAsync(session, response, "mount blob " + digest + " from " + from, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Uri> StartUploadAsync(Session session, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(session, () => new HttpRequestMessage(HttpMethod.Post, session.Url("blobs/uploads/")) { Content = new ByteArrayContent([]) },
            cancellationToken).ConfigureAwait(false);
        if (IsTransient(response.StatusCode))
        {
            throw new TransientException($"{(int)response.StatusCode} {response.ReasonPhrase}");
        }
        if (response.StatusCode != HttpStatusCode.Accepted)
        {
            throw await ErrorAsync(session, response, "push (start an upload)", cancellationToken).ConfigureAwait(false);
        }
        return LocationOf(session, response);
    }

    private static Uri LocationOf(Session session, HttpResponseMessage response)
    {
        var location = response.Headers.Location
            ?? throw new BerthException(ErrorCode.Unavailable, $"{session.Host} answered {(int)response.StatusCode} to an upload without a Location header");
        return location.IsAbsoluteUri ? location : new Uri(session.BaseUri, location);
    }

    private static Uri WithQuery(Uri location, string query) =>
        new(location.ToString() + (string.IsNullOrEmpty(location.Query) ? "?" : "&") + query);

    private async Task UploadAsync(Session session, Uri location, Descriptor blob, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        var id = TransferProgress.ShortId(blob.Digest);
        var chunk = _options.UploadChunkSize;
        if (chunk is { } size && size > 0 && blob.Size > size)
        {
            long offset = 0;
            var buffer = new byte[size];
            await using var source = await Images.Content.OpenReadAsync(blob.Digest, cancellationToken).ConfigureAwait(false);
            while (offset < blob.Size)
            {
                var length = (int)Math.Min(size, blob.Size - offset);
                await source.ReadExactlyAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
                var start = offset;
                var at = location;
                using var response = await SendAsync(session, () =>
                {
                    var body = new ByteArrayContent(buffer, 0, length);
                    body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                    body.Headers.TryAddWithoutValidation("Content-Range", $"{start}-{start + length - 1}");
                    return new HttpRequestMessage(HttpMethod.Patch, at) { Content = body };
                }, cancellationToken).ConfigureAwait(false);
                if (IsTransient(response.StatusCode))
                {
                    throw new TransientException($"{(int)response.StatusCode} {response.ReasonPhrase}");
                }
                if (response.StatusCode != HttpStatusCode.Accepted)
                {
                    throw await ErrorAsync(session, response, $"push blob {blob.Digest} (chunk at {start})", cancellationToken).ConfigureAwait(false);
                }
                location = LocationOf(session, response);
                offset += length;
                progress?.Report(new TransferProgress(id, blob.Digest, TransferStatus.Pushing, offset, blob.Size));
            }
            await FinishUploadAsync(session, WithQuery(location, "digest=" + Uri.EscapeDataString(blob.Digest.ToString())), blob, withBody: false, progress, cancellationToken).ConfigureAwait(false);
            return;
        }
        await FinishUploadAsync(session, WithQuery(location, "digest=" + Uri.EscapeDataString(blob.Digest.ToString())), blob, withBody: true, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The closing PUT: with the whole blob as its body (monolithic), or empty after PATCH chunks.</summary>
    private async Task FinishUploadAsync(Session session, Uri url, Descriptor blob, bool withBody, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        var id = TransferProgress.ShortId(blob.Digest);
        using var response = await SendAsync(session, async () =>
        {
            HttpContent body;
            if (withBody)
            {
                var stream = await Images.Content.OpenReadAsync(blob.Digest, cancellationToken).ConfigureAwait(false);
                body = new StreamContent(new ProgressStream(stream, blob.Size, n => progress?.Report(new TransferProgress(id, blob.Digest, TransferStatus.Pushing, n, blob.Size))), 1 << 20);
                body.Headers.ContentLength = blob.Size;
            }
            else
            {
                body = new ByteArrayContent([]);
            }
            body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return new HttpRequestMessage(HttpMethod.Put, url) { Content = body };
        }, cancellationToken).ConfigureAwait(false);
        if (IsTransient(response.StatusCode))
        {
            throw new TransientException($"{(int)response.StatusCode} {response.ReasonPhrase}");
        }
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw await ErrorAsync(session, response, "push blob " + blob.Digest, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task PutManifestAsync(Session session, Descriptor descriptor, string reference, CancellationToken cancellationToken)
    {
        var bytes = await Images.Content.ReadBytesAsync(descriptor.Digest, cancellationToken).ConfigureAwait(false);
        var mediaType = descriptor.MediaType;
        using (var doc = JsonDocument.Parse(bytes))
        {
            if (doc.RootElement.TryGetProperty("mediaType", out var mt) && mt.GetString() is { Length: > 0 } declared)
            {
                mediaType = declared;
            }
        }
        await RetryAsync(session, "PUT manifest " + reference, async _ =>
        {
            using var response = await SendAsync(session, () =>
            {
                var body = new ByteArrayContent(bytes);
                body.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
                return new HttpRequestMessage(HttpMethod.Put, session.Url("manifests/" + reference)) { Content = body };
            }, cancellationToken).ConfigureAwait(false);
            if (IsTransient(response.StatusCode))
            {
                throw new TransientException($"{(int)response.StatusCode} {response.ReasonPhrase}");
            }
            if (response.StatusCode != HttpStatusCode.Created)
            {
                throw await ErrorAsync(session, response, $"push manifest {session.Repository}:{reference}", cancellationToken).ConfigureAwait(false);
            }
            if (response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var stored) && stored != descriptor.Digest)
            {
                throw new BerthException(ErrorCode.FailedPrecondition, $"{session.Host} stored manifest {session.Repository}:{reference} as {stored}, not {descriptor.Digest}");
            }
            return true;
        }, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Counts bytes read (the request body of a monolithic upload) for progress.</summary>
    private sealed class ProgressStream(Stream inner, long total, Action<long> report) : Stream
    {
        private long _position;
        private long _reported;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => total;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Count(int read)
        {
            _position += read;
            if (_position - _reported >= Math.Max(256 * 1024, total / 100) || (read == 0 && _reported != _position))
            {
                _reported = _position;
                report(_position);
            }
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
