using System.Text.Json.Serialization.Metadata;
using System.Text.Json;
using Berth.Core;

namespace Berth.Images.Content;

public static class ContentStoreExtensions
{
    /// <summary>Ingests a whole stream, verified against what the caller expects.</summary>
    public static async ValueTask<ContentInfo> WriteAsync(this IContentStore store, Stream content, long? expectedSize = null, Digest? expectedDigest = null,
        IReadOnlyDictionary<string, string>? labels = null, CancellationToken cancellationToken = default)
    {
        await using var writer = await store.OpenWriterAsync(expectedDigest?.Algorithm ?? Digest.Sha256, cancellationToken).ConfigureAwait(false);
        var buffer = new byte[1 << 17];
        int read;
        while ((read = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (expectedSize is { } max && writer.Offset + read > max)
            {
                throw new BerthException(ErrorCode.FailedPrecondition,
                    $"content {expectedDigest?.ToString() ?? "(unnamed)"} is larger than the expected {max} bytes; the blob was not stored");
            }
            await writer.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
        }
        return await writer.CommitAsync(expectedSize, expectedDigest, labels, cancellationToken).ConfigureAwait(false);
    }

    public static async ValueTask<ContentInfo> WriteBytesAsync(this IContentStore store, ReadOnlyMemory<byte> content, Digest? expectedDigest = null,
        IReadOnlyDictionary<string, string>? labels = null, CancellationToken cancellationToken = default)
    {
        await using var writer = await store.OpenWriterAsync(expectedDigest?.Algorithm ?? Digest.Sha256, cancellationToken).ConfigureAwait(false);
        await writer.WriteAsync(content, cancellationToken).ConfigureAwait(false);
        return await writer.CommitAsync(content.Length, expectedDigest, labels, cancellationToken).ConfigureAwait(false);
    }

    public static async ValueTask<byte[]> ReadBytesAsync(this IContentStore store, Digest digest, CancellationToken cancellationToken = default)
    {
        await using var stream = await store.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false);
        using var memory = new MemoryStream();
        await stream.CopyToAsync(memory, cancellationToken).ConfigureAwait(false);
        return memory.ToArray();
    }

    public static async ValueTask<T> ReadJsonAsync<T>(this IContentStore store, Digest digest, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken = default)
    {
        var bytes = await store.ReadBytesAsync(digest, cancellationToken).ConfigureAwait(false);
        try
        {
            return JsonSerializer.Deserialize(bytes, typeInfo) ?? throw new JsonException("null document");
        }
        catch (JsonException e)
        {
            throw BerthException.InvalidArgument($"blob {digest} is not a valid {typeof(T).Name}: {e.Message}");
        }
    }

    public static async ValueTask<bool> ExistsAsync(this IContentStore store, Digest digest, CancellationToken cancellationToken = default) =>
        await store.InfoAsync(digest, cancellationToken).ConfigureAwait(false) is not null;
}
