using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Berth.Core;
using Berth.Images.Content;
using Berth.Oci.Image;

namespace Berth.Images.Distribution;

public sealed partial class RegistryClient
{
    /// <summary>Pulls <paramref name="reference"/> (e.g. <c>127.0.0.1:5000/app:v1</c>, <c>busybox@sha256:…</c>) into the image store.</summary>
    public Task<PullResult> PullAsync(string reference, PullOptions? options = null, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default) =>
        PullAsync(ImageReference.Parse(reference), options, progress, cancellationToken);

    /// <summary>
    /// Resolves the reference (manifest content negotiation), picks the platform from an index, fetches the config and
    /// layers concurrently (verified while streaming; resumed with Range after a broken connection; skipped when
    /// already present), stores the manifests, then names the image in the image store.
    /// </summary>
    public async Task<PullResult> PullAsync(ImageReference reference, PullOptions? options = null, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new PullOptions();
        var platform = options.Platform ?? _options.DefaultPlatform;
        var session = await OpenSessionAsync(reference, options.Credentials, "pull", cancellationToken).ConfigureAwait(false);
        var content = Images.Content;

        var (target, targetBytes) = await FetchManifestAsync(session, reference.Digest?.ToString() ?? reference.Tag!, reference.Digest, cancellationToken).ConfigureAwait(false);
        var documents = new List<(Descriptor Descriptor, byte[] Bytes, Descriptor? Child)> { };
        var current = target;
        var currentBytes = targetBytes;
        ImageManifest? manifest = null;
        var pickedDefault = true;
        for (var depth = 0; depth < 8 && manifest is null; depth++)
        {
            var probe = Parse(currentBytes, ImageJsonContext.Default.ManifestProbe, current, reference);
            if (probe.Manifests is not null || MediaTypes.IsIndex(probe.MediaType ?? current.MediaType))
            {
                var index = Parse(currentBytes, ImageJsonContext.Default.ImageIndex, current, reference);
                var match = index.Manifests.FirstOrDefault(m => MediaTypes.IsManifest(m.MediaType) && platform.Matches(m.Platform))
                    ?? index.Manifests.FirstOrDefault(m => platform.Matches(m.Platform))
                    ?? (index.Manifests.Count == 1 && index.Manifests[0].Platform is null ? index.Manifests[0] : null);
                if (match is null)
                {
                    var available = string.Join(", ", index.Manifests.Select(m => m.Platform?.ToString() ?? "(unspecified)"));
                    throw BerthException.NotFound($"{reference.FamiliarString}: no manifest for {platform} in the index {current.Digest}; it has: {available}. Choose one with --platform");
                }
                pickedDefault &= match.Platform is null || _options.DefaultPlatform.Matches(match.Platform);
                documents.Add((current, currentBytes, match));
                var (child, childBytes) = await FetchManifestAsync(session, match.Digest.ToString(), match.Digest, cancellationToken).ConfigureAwait(false);
                current = child with { Platform = match.Platform, MediaType = match.MediaType ?? child.MediaType };
                currentBytes = childBytes;
                continue;
            }
            if (probe.Config is null || probe.Layers is null)
            {
                throw BerthException.InvalidArgument($"{reference.FamiliarString}: {current.Digest} ({current.MediaType}) is neither an image manifest nor an index");
            }
            manifest = Parse(currentBytes, ImageJsonContext.Default.ImageManifest, current, reference);
        }
        if (manifest is null)
        {
            throw BerthException.InvalidArgument($"{reference.FamiliarString}: indexes nest deeper than 8 levels");
        }

        var blobs = new List<Descriptor> { manifest.Config };
        blobs.AddRange(manifest.Layers);
        var downloaded = await FetchBlobsAsync(session, blobs.DistinctBy(b => b.Digest).ToList(), progress, cancellationToken).ConfigureAwait(false);

        // Blobs first, then the manifest that needs them, then the indexes above it: nothing refers to missing content.
        var manifestLabels = new Dictionary<string, string> { [ContentLabels.GcRefContentPrefix + "config"] = manifest.Config.Digest.ToString() };
        for (var i = 0; i < manifest.Layers.Count; i++)
        {
            manifestLabels[ContentLabels.GcRefContentPrefix + "l." + i] = manifest.Layers[i].Digest.ToString();
        }
        downloaded |= await StoreDocumentAsync(current, currentBytes, manifestLabels, cancellationToken).ConfigureAwait(false);
        for (var i = documents.Count - 1; i >= 0; i--)
        {
            var (descriptor, bytes, child) = documents[i];
            var labels = new Dictionary<string, string> { [ContentLabels.GcRefContentPrefix + "m.0"] = child!.Digest.ToString() };
            downloaded |= await StoreDocumentAsync(descriptor, bytes, labels, cancellationToken).ConfigureAwait(false);
        }

        // An index whose default-platform entry we pulled is recorded as the index (the registry's digest stays the
        // image's digest); another platform is recorded by its own manifest so the name works without --platform.
        var recorded = documents.Count == 0 || pickedDefault ? target : current;
        if (options.Record)
        {
            var name = reference.Digest is { } d ? reference.WithDigest(d) : reference;
            if (recorded.Digest != target.Digest && reference.Digest is not null)
            {
                name = reference.WithDigest(recorded.Digest);
            }
            await Images.TagAsync(name.ToString(), recorded, cancellationToken).ConfigureAwait(false);
        }
        return new PullResult(reference, recorded, current, manifest.Config.Digest, downloaded);
    }

    private static T Parse<T>(byte[] bytes, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo, Descriptor descriptor, ImageReference reference)
    {
        try
        {
            return JsonSerializer.Deserialize(bytes, typeInfo) ?? throw new JsonException("null document");
        }
        catch (JsonException e)
        {
            throw BerthException.InvalidArgument($"{reference.FamiliarString}: the registry's {descriptor.MediaType} {descriptor.Digest} is not valid JSON for it: {e.Message}");
        }
    }

    private async Task<bool> StoreDocumentAsync(Descriptor descriptor, byte[] bytes, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        var existed = await Images.Content.ExistsAsync(descriptor.Digest, cancellationToken).ConfigureAwait(false);
        await Images.Content.WriteBytesAsync(bytes, descriptor.Digest, labels, cancellationToken).ConfigureAwait(false);
        return !existed;
    }

    /// <summary>
    /// GET a manifest or index by tag or digest with every manifest media type accepted. The bytes are verified against
    /// the digest asked for, else against the registry's Docker-Content-Digest; the size is capped.
    /// </summary>
    internal async Task<(Descriptor Descriptor, byte[] Bytes)> FetchManifestAsync(Session session, string tagOrDigest, Digest? expected, CancellationToken cancellationToken)
    {
        var name = session.Reference.Repository + (expected is null ? ":" + tagOrDigest : "@" + tagOrDigest);
        return await RetryAsync(session, "GET manifest " + name, async _ =>
        {
            using var response = await SendAsync(session, () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, session.Url("manifests/" + tagOrDigest));
                foreach (var type in ManifestAccept)
                {
                    request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
                }
                return request;
            }, cancellationToken, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
            if (IsTransient(response.StatusCode))
            {
                throw new TransientException($"{(int)response.StatusCode} {response.ReasonPhrase}");
            }
            if (!response.IsSuccessStatusCode)
            {
                throw await ErrorAsync(session, response, "pull manifest " + name, cancellationToken).ConfigureAwait(false);
            }
            if (response.Content.Headers.ContentLength is { } length && length > _options.MaxManifestBytes)
            {
                throw BerthException.InvalidArgument($"manifest {name} is {length} bytes, more than the {_options.MaxManifestBytes} allowed");
            }
            var bytes = await ReadCappedAsync(response, _options.MaxManifestBytes, name, cancellationToken).ConfigureAwait(false);
            var headerDigest = response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var hd) ? hd : (Digest?)null;
            var check = expected ?? headerDigest;
            var digest = Digest.Compute(bytes, check?.Algorithm ?? Digest.Sha256);
            if (check is { } want && want != digest)
            {
                throw new BerthException(ErrorCode.FailedPrecondition,
                    $"manifest {name}: the registry sent content that hashes to {digest}, not {want}; nothing was stored");
            }
            var mediaType = response.Content.Headers.ContentType?.MediaType;
            using var doc = JsonDocument.Parse(bytes);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String)
            {
                mediaType = mt.GetString();
            }
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("schemaVersion", out var sv) && sv.ValueKind == JsonValueKind.Number && sv.GetInt32() == 1)
            {
                throw BerthException.Unsupported($"{name} is a Docker schema 1 manifest; push it again with a current client (schema 2 or OCI)");
            }
            if (!MediaTypes.IsManifest(mediaType) && !MediaTypes.IsIndex(mediaType))
            {
                mediaType = doc.RootElement.TryGetProperty("manifests", out JsonElement _) ? MediaTypes.OciIndex : MediaTypes.OciManifest;
            }
            return (new Descriptor { MediaType = mediaType!, Digest = digest, Size = bytes.Length }, bytes);
        }, null, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<byte[]> ReadCappedAsync(HttpResponseMessage response, long max, string name, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var memory = new MemoryStream();
        var buffer = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (memory.Length + read > max)
            {
                throw BerthException.InvalidArgument($"manifest {name} is larger than the {max} bytes allowed");
            }
            memory.Write(buffer, 0, read);
        }
        return memory.ToArray();
    }

    /// <summary>Fetches blobs with at most MaxConcurrentDownloads at a time; true when any was downloaded. The first failure cancels the rest.</summary>
    private async Task<bool> FetchBlobsAsync(Session session, IReadOnlyList<Descriptor> blobs, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        foreach (var blob in blobs)
        {
            progress?.Report(new TransferProgress(TransferProgress.ShortId(blob.Digest), blob.Digest, TransferStatus.Waiting, 0, blob.Size));
        }
        var results = await ForEachBoundedAsync(blobs, _options.MaxConcurrentDownloads, (blob, ct) => FetchBlobAsync(session, blob, progress, ct), cancellationToken).ConfigureAwait(false);
        return results.Any(r => r);
    }

    /// <summary>
    /// Runs <paramref name="work"/> for every item, at most <paramref name="limit"/> at a time. The first failure
    /// cancels the rest and is what the caller sees (not the cancellations it caused).
    /// </summary>
    private static async Task<TResult[]> ForEachBoundedAsync<TItem, TResult>(IEnumerable<TItem> items, int limit, Func<TItem, CancellationToken, Task<TResult>> work, CancellationToken cancellationToken)
    {
        using var gate = new SemaphoreSlim(Math.Max(1, limit));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var tasks = items.Select(async item =>
        {
            await gate.WaitAsync(cts.Token).ConfigureAwait(false);
            try
            {
                return await work(item, cts.Token).ConfigureAwait(false);
            }
            catch
            {
                await cts.CancelAsync().ConfigureAwait(false);
                throw;
            }
            finally
            {
                gate.Release();
            }
        }).ToList();
        try
        {
            return await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw tasks.Select(t => t.Exception?.InnerException).FirstOrDefault(e => e is not null and not OperationCanceledException) ?? throw new OperationCanceledException();
        }
    }

    /// <summary>
    /// One blob into the content store: streamed through the store's verifying writer, resumed with a Range request
    /// after a broken connection (the writer keeps its offset and running hash), committed only when size and digest match.
    /// </summary>
    private async Task<bool> FetchBlobAsync(Session session, Descriptor blob, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        var id = TransferProgress.ShortId(blob.Digest);
        var content = Images.Content;
        if (await content.InfoAsync(blob.Digest, cancellationToken).ConfigureAwait(false) is not null)
        {
            await AddSourceAsync(session, blob.Digest, cancellationToken).ConfigureAwait(false);
            progress?.Report(new TransferProgress(id, blob.Digest, TransferStatus.AlreadyExists, blob.Size, blob.Size));
            return false;
        }
        var writer = await content.OpenWriterAsync(blob.Digest.Algorithm, cancellationToken).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            await RetryAsync(session, $"download of blob {blob.Digest}", async _ =>
            {
                var offset = writer.Offset;
                using var response = await SendAsync(session, () =>
                {
                    var request = new HttpRequestMessage(HttpMethod.Get, session.Url("blobs/" + blob.Digest));
                    if (offset > 0)
                    {
                        request.Headers.Range = new RangeHeaderValue(offset, null);
                    }
                    return request;
                }, cancellationToken, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
                if (IsTransient(response.StatusCode))
                {
                    throw new TransientException($"{(int)response.StatusCode} {response.ReasonPhrase}");
                }
                if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && offset == blob.Size)
                {
                    return true; // everything arrived before the connection broke
                }
                if (!response.IsSuccessStatusCode)
                {
                    throw await ErrorAsync(session, response, "pull blob " + blob.Digest, cancellationToken).ConfigureAwait(false);
                }
                if (offset > 0 && response.StatusCode != HttpStatusCode.PartialContent)
                {
                    // The server ignored the Range: start over with a fresh ingest.
                    await writer.DisposeAsync().ConfigureAwait(false);
                    writer = await content.OpenWriterAsync(blob.Digest.Algorithm, cancellationToken).ConfigureAwait(false);
                }
                progress?.Report(new TransferProgress(id, blob.Digest, TransferStatus.Downloading, writer.Offset, blob.Size));
                await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                var reported = writer.Offset;
                var step = Math.Max(256 * 1024, blob.Size / 100);
                // A connection that stops delivering is treated like a broken one: resumed from where it stalled.
                using var stall = new CancellationTokenSource(_options.StallTimeout, _options.TimeProvider);
                using var link = cancellationToken.Register(static s => ((CancellationTokenSource)s!).Cancel(), stall);
                int read;
                while ((read = await ReadAsync(stream, buffer, stall, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    if (writer.Offset + read > blob.Size)
                    {
                        throw new BerthException(ErrorCode.FailedPrecondition,
                            $"blob {blob.Digest} of {session.Host}/{session.Repository} is larger than the {blob.Size} bytes its manifest says; it was not stored");
                    }
                    await writer.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    if (writer.Offset - reported >= step)
                    {
                        reported = writer.Offset;
                        progress?.Report(new TransferProgress(id, blob.Digest, TransferStatus.Downloading, reported, blob.Size));
                    }
                }
                if (writer.Offset < blob.Size)
                {
                    throw new TransientException($"the connection closed after {writer.Offset} of {blob.Size} bytes");
                }
                return true;
            }, (attempt, e) => progress?.Report(new TransferProgress(id, blob.Digest, TransferStatus.Retrying, writer.Offset, blob.Size,
                $"attempt {attempt} failed ({e.Message}); resuming at byte {writer.Offset}")), cancellationToken).ConfigureAwait(false);
            progress?.Report(new TransferProgress(id, blob.Digest, TransferStatus.Verifying, blob.Size, blob.Size));
            try
            {
                await writer.CommitAsync(blob.Size, blob.Digest, SourceLabel(session), cancellationToken).ConfigureAwait(false);
            }
            catch (BerthException e) when (e.Code == ErrorCode.FailedPrecondition)
            {
                throw new BerthException(ErrorCode.FailedPrecondition, $"{session.Host}/{session.Repository}: {e.Message}", e);
            }
            progress?.Report(new TransferProgress(id, blob.Digest, TransferStatus.Done, blob.Size, blob.Size));
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            await writer.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<int> ReadAsync(Stream stream, byte[] buffer, CancellationTokenSource stall, CancellationToken cancellationToken)
    {
        try
        {
            var read = await stream.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
            stall.CancelAfter(_options.StallTimeout);
            return read;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TransientException($"no data for {_options.StallTimeout.TotalSeconds:0} s");
        }
    }

    private static Dictionary<string, string> SourceLabel(Session session) =>
        new() { [SourceLabelPrefix + session.Host] = session.Repository };

    /// <summary>Remembers that <paramref name="digest"/> is in this repository, so a later push to a sibling repository can mount it.</summary>
    private async Task AddSourceAsync(Session session, Digest digest, CancellationToken cancellationToken)
    {
        var info = await Images.Content.InfoAsync(digest, cancellationToken).ConfigureAwait(false);
        if (info is null)
        {
            return;
        }
        var key = SourceLabelPrefix + session.Host;
        var repos = info.Labels.TryGetValue(key, out var value) ? value.Split(',', StringSplitOptions.RemoveEmptyEntries).ToList() : [];
        if (repos.Contains(session.Repository))
        {
            return;
        }
        repos.Add(session.Repository);
        // Keep the label short: the most recent repositories are the likeliest mount sources.
        await Images.Content.UpdateLabelsAsync(digest, new Dictionary<string, string?> { [key] = string.Join(',', repos.TakeLast(8)) }, cancellationToken).ConfigureAwait(false);
    }
}
