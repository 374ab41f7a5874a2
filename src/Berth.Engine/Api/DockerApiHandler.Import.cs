using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Formats;
using Berth.Oci.Image;
using Microsoft.AspNetCore.Http;

namespace Berth.Engine.Api;

internal sealed partial class DockerApiHandler
{
    /// <summary>docker import: the body (a tar, plain or gzip) becomes the single layer of a new image.</summary>
    private async Task ImportImageAsync(HttpContext context, string fromSrc)
    {
        if (fromSrc != "-")
        {
            throw BerthException.Unsupported($"importing from a URL ({fromSrc}); pipe the tar in: docker import - NAME < file.tar");
        }
        var spool = Path.Combine(_engine.Options.DataRoot, "tmp");
        Directory.CreateDirectory(spool);
        var file = Path.Combine(spool, "import-" + Guid.NewGuid().ToString("N") + ".tar");
        try
        {
            var fs = new FileStream(file, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
            await using (fs.ConfigureAwait(false))
            {
                await context.Request.Body.CopyToAsync(fs, context.RequestAborted).ConfigureAwait(false);
                if (fs.Length == 0)
                {
                    throw BerthException.InvalidArgument("docker import: the input is empty; give a tar of a root filesystem");
                }
                fs.Position = 0;
                var magic = new byte[2];
                fs.ReadExactly(magic);
                var gzip = magic[0] == 0x1f && magic[1] == 0x8b;
                fs.Position = 0;
                Digest diffId;
                using (var sha = SHA256.Create())
                {
                    Stream plain = gzip ? new GZipStream(fs, CompressionMode.Decompress, leaveOpen: true) : fs;
                    diffId = Digest.FromHash("sha256", await sha.ComputeHashAsync(plain, context.RequestAborted).ConfigureAwait(false));
                    if (gzip)
                    {
                        await plain.DisposeAsync().ConfigureAwait(false);
                    }
                }
                fs.Position = 0;
                var info = await _engine.Images.Content.WriteAsync(fs, cancellationToken: context.RequestAborted).ConfigureAwait(false);
                var now = _engine.Time.GetUtcNow();
                var message = Query(context, "message");
                var config = new ImageConfig
                {
                    Architecture = "amd64",
                    Os = "linux",
                    Created = now,
                    Config = new ContainerConfig { Env = [Containers.ConfigMerge.DefaultPath] },
                    RootFs = new RootFs { DiffIds = [diffId] },
                    History = [new HistoryEntry { Created = now, CreatedBy = "", Comment = string.IsNullOrEmpty(message) ? "Imported from -" : message }],
                };
                var layer = new Descriptor { MediaType = gzip ? MediaTypes.DockerLayerGzip : MediaTypes.DockerLayer, Digest = info.Digest, Size = info.Size };
                var manifest = await ImageWriter.WriteImageAsync(_engine.Images.Content, config, [layer], docker: true, cancellationToken: context.RequestAborted).ConfigureAwait(false);
                var repo = Query(context, "repo");
                var tag = Query(context, "tag");
                if (!string.IsNullOrEmpty(repo))
                {
                    await _engine.Images.TagAsync(string.IsNullOrEmpty(tag) ? repo : repo + ":" + tag, manifest, context.RequestAborted).ConfigureAwait(false);
                }
                else
                {
                    // An untagged import still needs a name to be kept; Docker shows it as <none>. Berth tags it by ID.
                    await _engine.Images.TagAsync("imported/" + diffId.Encoded[..12] + ":latest", manifest, context.RequestAborted).ConfigureAwait(false);
                }
                var configDigest = (await _engine.Images.Content.ReadJsonAsync(manifest.Digest, ImageJsonContext.Default.ImageManifest, context.RequestAborted).ConfigureAwait(false)).Config.Digest;
                context.Response.ContentType = "application/json";
                var o = new JsonObject { ["status"] = configDigest.ToString() };
                await context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(o, DockerJsonContext.Default.JsonObject), context.RequestAborted).ConfigureAwait(false);
                await context.Response.Body.WriteAsync("\n"u8.ToArray(), context.RequestAborted).ConfigureAwait(false);
                _engine.Events.Publish("image", "import", configDigest.ToString(), new Dictionary<string, string>());
            }
        }
        finally
        {
            File.Delete(file);
        }
    }
}
