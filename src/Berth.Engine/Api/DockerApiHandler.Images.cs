using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.Core;
using Berth.Images.Content;
using Berth.Images.Formats;
using Microsoft.AspNetCore.Http;

namespace Berth.Engine.Api;

internal sealed partial class DockerApiHandler
{
    /// <summary>The image name in the path; clients may send its slashes as %2F (Kestrel leaves those encoded).</summary>
    private static string ImageNameOf(Match m) => Uri.UnescapeDataString(m.Groups["name"].Value);

    private async Task<JsonArray> ImageSummariesAsync(CancellationToken cancellationToken)
    {
        var records = await _engine.Images.ListAsync(cancellationToken).ConfigureAwait(false);
        var result = new JsonArray();
        foreach (var group in records.GroupBy(r => r.Target.Digest))
        {
            Berth.Images.Store.ImageDetails details;
            try
            {
                details = await _engine.Images.InspectAsync(group.First().Name, null, cancellationToken).ConfigureAwait(false);
            }
            catch (BerthException)
            {
                continue; // a name for another platform only
            }
            var labels = new JsonObject();
            foreach (var (k, v) in details.Config.Config?.Labels ?? new Dictionary<string, string>())
            {
                labels[k] = v;
            }
            var containers = _engine.List().Count(c => c.Record.Image == details.Id.ToString());
            result.Add((JsonNode)new JsonObject
            {
                ["Id"] = details.Id.ToString(),
                ["ParentId"] = "",
                ["RepoTags"] = new JsonArray(group.Select(r => (JsonNode?)ImageReference.Parse(r.Name).FamiliarString).ToArray()),
                ["RepoDigests"] = new JsonArray(group.Select(r => (JsonNode?)(ImageReference.Parse(r.Name).FamiliarRepository + "@" + r.Target.Digest)).Distinct().ToArray()),
                ["Created"] = (details.Config.Created ?? group.First().Created).ToUnixTimeSeconds(),
                ["Size"] = details.Size,
                ["SharedSize"] = -1,
                ["Labels"] = labels,
                ["Containers"] = containers,
            });
        }
        return result;
    }

    private async Task ListImagesAsync(HttpContext context, Match _)
    {
        var filters = Filters(Query(context, "filters"));
        var list = await ImageSummariesAsync(context.RequestAborted).ConfigureAwait(false);
        if (filters.TryGetValue("reference", out var refs) && refs.Count > 0)
        {
            var kept = list.Where(i => i!["RepoTags"]!.AsArray().Any(t => refs.Any(r => Glob(r, t!.GetValue<string>()) || Glob(r, t!.GetValue<string>().Split(':')[0])))).Select(i => i!.DeepClone()).ToArray();
            list = new JsonArray(kept);
        }
        if (filters.TryGetValue("dangling", out var d) && d.Contains("true"))
        {
            list = new JsonArray(list.Where(i => i!["RepoTags"]!.AsArray().Count == 0).Select(i => i!.DeepClone()).ToArray());
        }
        await WriteJsonAsync(context, list).ConfigureAwait(false);
    }

    private static bool Glob(string pattern, string value) =>
        Regex.IsMatch(value, "^" + Regex.Escape(pattern).Replace("\\*", "[^/]*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$");

    private async Task InspectImageAsync(HttpContext context, Match m)
    {
        var name = ImageNameOf(m);
        var image = await InspectImageOrNotFoundAsync(name, context.RequestAborted).ConfigureAwait(false);
        var config = JsonSerializer.SerializeToNode(image.Config, Berth.Oci.Image.ImageJsonContext.Default.ImageConfig)!.AsObject();
        var records = await _engine.Images.ListAsync(context.RequestAborted).ConfigureAwait(false);
        var o = new JsonObject
        {
            ["Id"] = image.Id.ToString(),
            ["RepoTags"] = new JsonArray(image.RepoTags.Select(t => (JsonNode?)t).ToArray()),
            ["RepoDigests"] = new JsonArray(records.Where(r => r.Target.Digest == image.Target.Digest).Select(r => (JsonNode?)(ImageReference.Parse(r.Name).FamiliarRepository + "@" + r.Target.Digest)).Distinct().ToArray()),
            ["Parent"] = "",
            ["Comment"] = image.Config.History?.LastOrDefault()?.Comment ?? "",
            ["Created"] = image.Config.Created?.UtcDateTime.ToString("o", System.Globalization.CultureInfo.InvariantCulture) ?? "0001-01-01T00:00:00Z",
            ["DockerVersion"] = "",
            ["Author"] = image.Config.Author ?? "",
            ["Config"] = config["config"]?.DeepClone() ?? new JsonObject(),
            ["Architecture"] = image.Config.Architecture,
            ["Variant"] = image.Config.Variant,
            ["Os"] = image.Config.Os,
            ["Size"] = image.Size,
            ["GraphDriver"] = new JsonObject { ["Name"] = "overlay2", ["Data"] = new JsonObject() },
            ["RootFS"] = new JsonObject { ["Type"] = "layers", ["Layers"] = new JsonArray(image.Config.RootFs.DiffIds.Select(d => (JsonNode?)d.ToString()).ToArray()) },
            ["Metadata"] = new JsonObject { ["LastTagTime"] = "0001-01-01T00:00:00Z" },
        };
        await WriteJsonAsync(context, o).ConfigureAwait(false);
    }

    private async Task<Berth.Images.Store.ImageDetails> InspectImageOrNotFoundAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await _engine.Images.InspectAsync(name, null, cancellationToken).ConfigureAwait(false);
        }
        catch (BerthException e) when (e.Code == ErrorCode.NotFound)
        {
            throw BerthException.NotFound($"No such image: {ContainerEngine.FamiliarName(name)}");
        }
        catch (FormatException)
        {
            throw BerthException.NotFound($"No such image: {name}");
        }
    }

    private async Task ImageHistoryAsync(HttpContext context, Match m)
    {
        var name = ImageNameOf(m);
        await InspectImageOrNotFoundAsync(name, context.RequestAborted).ConfigureAwait(false);
        var history = await _engine.Images.HistoryAsync(name, null, context.RequestAborted).ConfigureAwait(false);
        var image = await _engine.Images.InspectAsync(name, null, context.RequestAborted).ConfigureAwait(false);
        var a = new JsonArray();
        var first = true;
        foreach (var h in history)
        {
            a.Add((JsonNode)new JsonObject
            {
                ["Id"] = h.Id,
                ["Created"] = h.Created?.ToUnixTimeSeconds() ?? 0,
                ["CreatedBy"] = h.CreatedBy,
                ["Tags"] = first ? new JsonArray(image.RepoTags.Select(t => (JsonNode?)t).ToArray()) : null,
                ["Size"] = h.Size,
                ["Comment"] = h.Comment,
            });
            first = false;
        }
        await WriteJsonAsync(context, a).ConfigureAwait(false);
    }

    private async Task TagImageAsync(HttpContext context, Match m)
    {
        var name = ImageNameOf(m);
        var repo = Query(context, "repo");
        if (string.IsNullOrEmpty(repo))
        {
            throw BerthException.InvalidArgument("repository name must have at least one component: give ?repo=NAME");
        }
        var tag = Query(context, "tag");
        var target = string.IsNullOrEmpty(tag) ? repo : repo + ":" + tag;
        if (!ImageReference.TryParse(target, out _, out var error))
        {
            throw BerthException.InvalidArgument($"invalid reference format: {target}: {error}");
        }
        var image = await InspectImageOrNotFoundAsync(name, context.RequestAborted).ConfigureAwait(false);
        await _engine.Images.TagAsync(target, image.Target, context.RequestAborted).ConfigureAwait(false);
        _engine.Events.Publish("image", "tag", image.Id.ToString(), new Dictionary<string, string> { ["name"] = ContainerEngine.FamiliarName(target) });
        context.Response.StatusCode = 201;
    }

    private async Task RemoveImageAsync(HttpContext context, Match m)
    {
        var name = ImageNameOf(m);
        var image = await InspectImageOrNotFoundAsync(name, context.RequestAborted).ConfigureAwait(false);
        var force = QueryBool(context, "force");
        var user = _engine.List().FirstOrDefault(c => c.Record.Image == image.Id.ToString());
        // Removing one of several names only untags: the image itself stays, so containers using it do not matter.
        var byName = image.Reference is { } named && image.RepoTags.Count > 1 && image.RepoTags.Contains(named.FamiliarString);
        if (user is not null && !force && !byName)
        {
            throw new BerthException(ErrorCode.Conflict, $"conflict: unable to remove repository reference \"{name}\" (must force) - container {user.Id[..12]} is using its referenced image {image.Id.Encoded[..12]}");
        }
        var removed = await _engine.Images.RemoveAsync(name, force, null, context.RequestAborted).ConfigureAwait(false);
        var result = new JsonArray(removed.Select(r => (JsonNode?)new JsonObject { ["Untagged"] = ImageReference.Parse(r).FamiliarString }).ToArray());
        var remaining = await _engine.Images.ListAsync(context.RequestAborted).ConfigureAwait(false);
        if (!remaining.Any(r => r.Target.Digest == image.Target.Digest) && user is null)
        {
            result.Add((JsonNode)new JsonObject { ["Deleted"] = image.Id.ToString() });
            await _engine.Images.GarbageCollectAsync(context.RequestAborted).ConfigureAwait(false);
            _engine.Events.Publish("image", "delete", image.Id.ToString(), new Dictionary<string, string> { ["name"] = name });
        }
        else
        {
            _engine.Events.Publish("image", "untag", image.Id.ToString(), new Dictionary<string, string> { ["name"] = name });
        }
        await WriteJsonAsync(context, result).ConfigureAwait(false);
    }

    private Task SaveImageAsync(HttpContext context, Match m) => SaveAsync(context, [ImageNameOf(m)]);

    private Task SaveImagesAsync(HttpContext context, Match _) =>
        SaveAsync(context, context.Request.Query["names"].Select(n => n ?? "").Where(n => n.Length > 0).ToList());

    private async Task SaveAsync(HttpContext context, List<string> names)
    {
        if (names.Count == 0)
        {
            throw BerthException.InvalidArgument("no images to save: give ?names=IMAGE");
        }
        var images = new List<(Berth.Oci.Image.Descriptor, IReadOnlyList<string>)>();
        foreach (var n in names)
        {
            var image = await InspectImageOrNotFoundAsync(n, context.RequestAborted).ConfigureAwait(false);
            var tags = image.Reference is { } r && (r.Tag is not null || r.Digest is null) ? [ContainerEngine.FamiliarName(n)] : image.RepoTags;
            images.Add((image.Manifest, tags));
        }
        context.Response.ContentType = "application/x-tar";
        await context.Response.StartAsync(context.RequestAborted).ConfigureAwait(false);
        await DockerArchive.ExportAsync(context.Response.Body, _engine.Images.Content, images, null, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task LoadImagesAsync(HttpContext context, Match _)
    {
        var quiet = QueryBool(context, "quiet");
        // The archive is read whole (it is a tar with its manifest anywhere), spooled to disk, not memory.
        var spool = Path.Combine(_engine.Options.DataRoot, "tmp");
        Directory.CreateDirectory(spool);
        var file = Path.Combine(spool, "load-" + Guid.NewGuid().ToString("N") + ".tar");
        try
        {
            var fs = new FileStream(file, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
            await using (fs.ConfigureAwait(false))
            {
                await context.Request.Body.CopyToAsync(fs, context.RequestAborted).ConfigureAwait(false);
                fs.Position = 0;
                IReadOnlyList<DockerArchive.ImportedImage> imported;
                try
                {
                    imported = await DockerArchive.ImportAsync(fs, _engine.Images.Content, context.RequestAborted).ConfigureAwait(false);
                }
                catch (Exception e) when (e is InvalidDataException or FormatException or JsonException or EndOfStreamException)
                {
                    throw BerthException.InvalidArgument("the input is not a docker-archive (docker save) tar: " + e.Message);
                }
                context.Response.ContentType = "application/json";
                context.Response.StatusCode = 200;
                foreach (var image in imported)
                {
                    var lines = new List<string>();
                    foreach (var tag in image.RepoTags)
                    {
                        await _engine.Images.TagAsync(tag, image.Manifest, context.RequestAborted).ConfigureAwait(false);
                        lines.Add("Loaded image: " + ContainerEngine.FamiliarName(tag));
                    }
                    if (image.RepoTags.Count == 0)
                    {
                        var details = await _engine.Images.Content.ReadJsonAsync(image.Manifest.Digest, Berth.Oci.Image.ImageJsonContext.Default.ImageManifest, context.RequestAborted).ConfigureAwait(false);
                        lines.Add("Loaded image ID: " + details.Config.Digest);
                    }
                    foreach (var line in lines)
                    {
                        var o = new JsonObject { ["stream"] = line + "\n" };
                        await context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(o, DockerJsonContext.Default.JsonObject), context.RequestAborted).ConfigureAwait(false);
                        await context.Response.Body.WriteAsync("\n"u8.ToArray(), context.RequestAborted).ConfigureAwait(false);
                        _engine.Events.Publish("image", "load", line, new Dictionary<string, string>());
                    }
                }
                GC.KeepAlive(quiet);
            }
        }
        finally
        {
            File.Delete(file);
        }
    }

    private async Task CreateImageAsync(HttpContext context, Match _)
    {
        var fromSrc = Query(context, "fromSrc");
        if (fromSrc is not null)
        {
            await ImportImageAsync(context, fromSrc).ConfigureAwait(false);
            return;
        }
        var image = Query(context, "fromImage");
        if (string.IsNullOrEmpty(image))
        {
            throw BerthException.InvalidArgument("give fromImage (pull) or fromSrc (import)");
        }
        var tag = Query(context, "tag");
        // The CLI sends a digest as the tag for name@sha256:...
        var reference = string.IsNullOrEmpty(tag) ? image : tag.StartsWith("sha256:", StringComparison.Ordinal) ? image + "@" + tag : image + ":" + tag;
        await PullImageAsync(context, reference).ConfigureAwait(false);
    }

    private Task PushImageAsync(HttpContext context, Match m) => PushAsync(context, ImageNameOf(m));

    private static Task BuildPruneAsync(HttpContext context, Match _) =>
        WriteJsonAsync(context, new JsonObject { ["CachesDeleted"] = new JsonArray(), ["SpaceReclaimed"] = 0 });

    private async Task PruneImagesAsync(HttpContext context, Match _)
    {
        var filters = Filters(Query(context, "filters"));
        var danglingOnly = !(filters.TryGetValue("dangling", out var dangling) && dangling.Contains("false"));
        var deleted = new JsonArray();
        if (!danglingOnly)
        {
            var records = await _engine.Images.ListAsync(context.RequestAborted).ConfigureAwait(false);
            foreach (var r in records)
            {
                var image = await _engine.Images.InspectAsync(r.Name, null, context.RequestAborted).ConfigureAwait(false);
                if (_engine.ImageInUse(image.Id))
                {
                    continue;
                }
                await _engine.Images.UntagAsync(r.Name, context.RequestAborted).ConfigureAwait(false);
                deleted.Add((JsonNode)new JsonObject { ["Untagged"] = ImageReference.Parse(r.Name).FamiliarString });
            }
        }
        var gc = await _engine.Images.GarbageCollectAsync(context.RequestAborted).ConfigureAwait(false);
        foreach (var blob in gc.RemovedBlobs)
        {
            deleted.Add((JsonNode)new JsonObject { ["Deleted"] = blob.ToString() });
        }
        await WriteJsonAsync(context, new JsonObject { ["ImagesDeleted"] = deleted, ["SpaceReclaimed"] = 0 }).ConfigureAwait(false);
    }
}
