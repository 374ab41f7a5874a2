using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Berth.Core;
using Berth.Images.Distribution;
using Microsoft.AspNetCore.Http;

namespace Berth.Engine.Api;

internal sealed partial class DockerApiHandler
{
    /// <summary>docker pull (and the pull inside docker run): the registry client, with Docker's JSON progress stream.</summary>
    private async Task PullImageAsync(HttpContext context, string reference)
    {
        if (!ImageReference.TryParse(reference, out var parsed, out var error))
        {
            throw BerthException.InvalidArgument($"invalid reference format: {reference}: {error}");
        }
        var credentials = Credentials(context);
        using var client = new RegistryClient(_engine.Images, new RegistryClientOptions { TimeProvider = _engine.Time });
        // As docker: "Downloaded newer image" whenever the name now points at something it did not point at before,
        // even when every blob was already here (e.g. pulled again after rmi).
        var before = (await _engine.Images.ListAsync(context.RequestAborted).ConfigureAwait(false)).FirstOrDefault(r => r.Name == parsed.ToString())?.Target.Digest;
        await StreamTransferAsync(context, $"Pulling from {parsed.FamiliarRepository}", parsed.Tag ?? parsed.Digest?.ToString() ?? "latest", async progress =>
        {
            var result = await client.PullAsync(parsed, new PullOptions { Credentials = credentials }, progress, context.RequestAborted).ConfigureAwait(false);
            var changed = result.Downloaded || before != result.Target.Digest;
            _engine.Events.Publish("image", "pull", parsed.FamiliarString, new Dictionary<string, string> { ["name"] = parsed.FamiliarString });
            return
            [
                "Digest: " + result.Target.Digest,
                (changed ? "Status: Downloaded newer image for " : "Status: Image is up to date for ") + ContainerEngine.FamiliarName(parsed.ToString()),
            ];
        }).ConfigureAwait(false);
    }

    private async Task PushAsync(HttpContext context, string name)
    {
        var tag = Query(context, "tag");
        var reference = string.IsNullOrEmpty(tag) ? name : name + ":" + tag;
        if (!ImageReference.TryParse(reference, out var parsed, out var error))
        {
            throw BerthException.InvalidArgument($"invalid reference format: {reference}: {error}");
        }
        await InspectImageOrNotFoundAsync(parsed.ToString(), context.RequestAborted).ConfigureAwait(false);
        var credentials = Credentials(context);
        using var client = new RegistryClient(_engine.Images, new RegistryClientOptions { TimeProvider = _engine.Time });
        await StreamTransferAsync(context, $"The push refers to repository [{parsed.Repository}]", null, async progress =>
        {
            var result = await client.PushAsync(parsed.ToString(), null, new PushOptions { Credentials = credentials }, progress, context.RequestAborted).ConfigureAwait(false);
            _engine.Events.Publish("image", "push", parsed.FamiliarString, new Dictionary<string, string> { ["name"] = parsed.FamiliarString });
            return [$"{parsed.Tag ?? "latest"}: digest: {result.Target.Digest} size: {result.Target.Size}"];
        }).ConfigureAwait(false);
    }

    /// <summary>docker login: checks the credentials against the registry; the client keeps them, the daemon does not.</summary>
    private async Task AuthAsync(HttpContext context, System.Text.RegularExpressions.Match m)
    {
        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            throw BerthException.InvalidArgument("malformed login request: " + e.Message);
        }
        string? Field(string name) => body is JsonObject o && o[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        var user = Field("username");
        var server = Field("serveraddress");
        if (string.IsNullOrEmpty(user) || string.IsNullOrEmpty(server))
        {
            throw BerthException.InvalidArgument("login needs username and serveraddress");
        }
        using var client = new RegistryClient(_engine.Images, new RegistryClientOptions { TimeProvider = _engine.Time });
        await client.VerifyCredentialsAsync(server, new RegistryCredentials(user, Field("password") ?? ""), context.RequestAborted).ConfigureAwait(false);
        await WriteJsonAsync(context, new JsonObject { ["Status"] = "Login Succeeded", ["IdentityToken"] = "" }, 200).ConfigureAwait(false);
    }

    private static RegistryCredentials? Credentials(HttpContext context)
    {
        var header = context.Request.Headers["X-Registry-Auth"].ToString();
        if (string.IsNullOrEmpty(header))
        {
            return null;
        }
        try
        {
            var padded = header.Replace('-', '+').Replace('_', '/');
            padded = padded.PadRight(padded.Length + ((4 - (padded.Length % 4)) % 4), '=');
            var node = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(padded)));
            var user = node?["username"]?.GetValue<string>();
            var password = node?["password"]?.GetValue<string>();
            return string.IsNullOrEmpty(user) ? null : new RegistryCredentials(user, password ?? "");
        }
        catch (Exception e) when (e is FormatException or JsonException or InvalidOperationException)
        {
            throw BerthException.InvalidArgument("invalid X-Registry-Auth header: " + e.Message);
        }
    }

    /// <summary>
    /// Runs a transfer, streaming its progress as Docker's JSON messages. An error before any progress is an ordinary
    /// error response (the CLI shows it and exits 1, or 125 inside docker run); a later one is an errorDetail line.
    /// </summary>
    private static async Task StreamTransferAsync(HttpContext context, string first, string? firstId, Func<IProgress<TransferProgress>, Task<string[]>> transfer)
    {
        var channel = Channel.CreateUnbounded<TransferProgress>();
        var progress = new Progress(channel.Writer);
        var task = transfer(progress);
        var started = false;
        async Task WriteAsync(JsonObject o)
        {
            if (!started)
            {
                started = true;
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/json";
                await WriteLineAsync(context, firstId is null ? new JsonObject { ["status"] = first } : new JsonObject { ["status"] = first, ["id"] = firstId }).ConfigureAwait(false);
            }
            await WriteLineAsync(context, o).ConfigureAwait(false);
        }
        _ = task.ContinueWith(_ => channel.Writer.TryComplete(), TaskScheduler.Default);
        await foreach (var p in channel.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            await WriteAsync(ProgressJson(p)).ConfigureAwait(false);
        }
        string[] final;
        try
        {
            final = await task.ConfigureAwait(false);
        }
        catch (BerthException e) when (started)
        {
            await WriteLineAsync(context, new JsonObject { ["errorDetail"] = new JsonObject { ["message"] = e.Message }, ["error"] = e.Message }).ConfigureAwait(false);
            return;
        }
        foreach (var line in final)
        {
            await WriteAsync(new JsonObject { ["status"] = line }).ConfigureAwait(false);
        }
    }

    private static JsonObject ProgressJson(TransferProgress p)
    {
        var status = p.Status switch
        {
            TransferStatus.Waiting => "Waiting",
            TransferStatus.Downloading => "Downloading",
            TransferStatus.Verifying => "Verifying Checksum",
            TransferStatus.Done => "Pull complete",
            TransferStatus.AlreadyExists => "Already exists",
            TransferStatus.Pushing => "Pushing",
            TransferStatus.Pushed => "Pushed",
            TransferStatus.Mounted => "Mounted from " + (p.Message ?? "another repository"),
            TransferStatus.Retrying => "Retrying: " + p.Message,
            _ => p.Status.ToString(),
        };
        var o = new JsonObject { ["status"] = status, ["id"] = p.Id };
        if (p.Status is TransferStatus.Downloading or TransferStatus.Pushing)
        {
            o["progressDetail"] = new JsonObject { ["current"] = p.Current, ["total"] = p.Total };
        }
        return o;
    }

    private static async Task WriteLineAsync(HttpContext context, JsonObject o)
    {
        await context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(o, DockerJsonContext.Default.JsonObject)).ConfigureAwait(false);
        await context.Response.Body.WriteAsync("\r\n"u8.ToArray()).ConfigureAwait(false);
        await context.Response.Body.FlushAsync().ConfigureAwait(false);
    }

    private sealed class Progress(ChannelWriter<TransferProgress> writer) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => writer.TryWrite(value);
    }
}
