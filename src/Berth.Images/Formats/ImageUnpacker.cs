using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Layers;
using Berth.Oci.Image;

namespace Berth.Images.Formats;

/// <summary>Flattens an image into one directory (what `umoci unpack` makes of a rootfs), verifying each diff_id.</summary>
public static class ImageUnpacker
{
    public static async Task UnpackAsync(IContentStore store, ImageManifest manifest, string rootfs, LayerApplyOptions? options = null, CancellationToken cancellationToken = default)
    {
        var config = await store.ReadJsonAsync(manifest.Config.Digest, ImageJsonContext.Default.ImageConfig, cancellationToken).ConfigureAwait(false);
        Directory.CreateDirectory(rootfs);
        for (var i = 0; i < manifest.Layers.Count; i++)
        {
            await using var blob = await store.OpenReadAsync(manifest.Layers[i].Digest, cancellationToken).ConfigureAwait(false);
            var result = await LayerApplier.ApplyAsync(blob, rootfs, options, cancellationToken).ConfigureAwait(false);
            if (i < config.RootFs.DiffIds.Count && result.DiffId != config.RootFs.DiffIds[i])
            {
                throw new BerthException(ErrorCode.FailedPrecondition, $"layer {manifest.Layers[i].Digest} uncompresses to {result.DiffId}, but the config says {config.RootFs.DiffIds[i]}");
            }
        }
    }
}
