using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Berth.Build;
using Berth.Core;
using Microsoft.AspNetCore.Http;

namespace Berth.Engine.Api;

internal sealed partial class DockerApiHandler
{
    private ImageBuildService? _builds;

    private ImageBuildService Builds => LazyInitializer.EnsureInitialized(ref _builds,
        () => new ImageBuildService(_engine.Images, Path.Combine(_engine.Options.DataRoot, "build"), _engine.Options.RuntimePath, _engine.Time));

    /// <summary>POST /build (the classic builder protocol): context tar in, Docker's JSON stream of step output out.</summary>
    private async Task BuildImageAsync(HttpContext context, Match match)
    {
        if (Query(context, "remote") is { Length: > 0 } remote)
        {
            throw BerthException.Unsupported($"building from a remote context ({remote}); send the context as a tar");
        }
        if (QueryInt(context, "version") is 2 || Query(context, "version") == "2")
        {
            throw BerthException.Unsupported("BuildKit sessions (version=2); Berth serves the classic builder (DOCKER_BUILDKIT=0)");
        }
        // The context is spooled to disk first: the builder reads it synchronously, and a slow client must not hold a build.
        var spool = Path.Combine(_engine.Options.DataRoot, "tmp");
        Directory.CreateDirectory(spool);
        var contextFile = new FileStream(Path.Combine(spool, "build-" + Guid.NewGuid().ToString("N") + ".tar"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
        await using var _contextFile = contextFile.ConfigureAwait(false);
        await context.Request.Body.CopyToAsync(contextFile, context.RequestAborted).ConfigureAwait(false);
        contextFile.Position = 0;
        var request = new ImageBuildRequest
        {
            ContextTar = contextFile,
            Dockerfile = Query(context, "dockerfile"),
            Tags = context.Request.Query["t"].Select(t => t ?? "").Where(t => t.Length > 0).ToList(),
            BuildArgs = JsonMap(Query(context, "buildargs"), "buildargs"),
            Labels = JsonMap(Query(context, "labels"), "labels"),
            Target = Query(context, "target") is { Length: > 0 } target ? target : null,
            NoCache = QueryBool(context, "nocache"),
            Platform = Query(context, "platform") is { Length: > 0 } platform ? platform : "linux/amd64",
        };
        var quiet = QueryBool(context, "q");
        var channel = Channel.CreateUnbounded<JsonObject>();
        var progress = new BuildProgress(channel.Writer, quiet);
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        var build = Task.Run(() => Builds.BuildAsync(request, progress, context.RequestAborted), context.RequestAborted);
        _ = match;
        _ = build.ContinueWith(_ => channel.Writer.TryComplete(), TaskScheduler.Default);
        await foreach (var line in channel.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            await WriteLineAsync(context, line).ConfigureAwait(false);
        }
        try
        {
            var result = await build.ConfigureAwait(false);
            await WriteLineAsync(context, new JsonObject { ["aux"] = new JsonObject { ["ID"] = result.ImageId.ToString() } }).ConfigureAwait(false);
            if (quiet)
            {
                await WriteLineAsync(context, new JsonObject { ["stream"] = result.ImageId + "\n" }).ConfigureAwait(false);
            }
            else
            {
                await WriteLineAsync(context, new JsonObject { ["stream"] = $"Successfully built {result.ImageId.Encoded[..12]}\n" }).ConfigureAwait(false);
                foreach (var tag in result.Tags)
                {
                    await WriteLineAsync(context, new JsonObject { ["stream"] = $"Successfully tagged {ContainerEngine.FamiliarName(tag)}\n" }).ConfigureAwait(false);
                }
            }
            _engine.Events.Publish("image", "build", result.ImageId.ToString(), new Dictionary<string, string>());
        }
        catch (BerthException e)
        {
            await WriteLineAsync(context, new JsonObject { ["errorDetail"] = new JsonObject { ["message"] = e.Message }, ["error"] = e.Message }).ConfigureAwait(false);
        }
    }

    private static Dictionary<string, string> JsonMap(string? json, string name)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(json))
        {
            return result;
        }
        try
        {
            if (JsonNode.Parse(json) is JsonObject o)
            {
                foreach (var (k, v) in o)
                {
                    if (v is not null)
                    {
                        result[k] = v.GetValue<string>();
                    }
                }
                return result;
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw BerthException.InvalidArgument($"invalid {name}: {e.Message}");
        }
        throw BerthException.InvalidArgument($"invalid {name}: expected a JSON object of strings");
    }

    private sealed class BuildProgress(ChannelWriter<JsonObject> writer, bool quiet) : IBuildProgress
    {
        public void Report(BuildEvent buildEvent)
        {
            if (quiet && buildEvent is not BuildWarning)
            {
                return;
            }
            var text = buildEvent switch
            {
                StepStarted s => $"Step {s.Step}/{s.Total} : {s.Text}\n",
                StepCached => " ---> Using cache\n",
                StepOutput o => o.Line.EndsWith('\n') ? o.Line : o.Line + "\n",
                StepCompleted c => $" ---> {c.Id}\n",
                BuildWarning w => "[Warning] " + w.Message + "\n",
                _ => null,
            };
            if (text is not null)
            {
                writer.TryWrite(new JsonObject { ["stream"] = text });
            }
        }
    }
}
