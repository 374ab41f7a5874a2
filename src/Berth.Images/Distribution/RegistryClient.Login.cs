using System.Net;
using System.Text.Json;
using Berth.Core;

namespace Berth.Images.Distribution;

public sealed partial class RegistryClient
{
    /// <summary>
    /// Checks <paramref name="credentials"/> against the registry's <c>/v2/</c> (Basic, or a token from the Bearer
    /// realm), then saves them in the credential store. Nothing is saved when the registry refuses them.
    /// </summary>
    public async Task LoginAsync(string registry, RegistryCredentials credentials, CancellationToken cancellationToken = default)
    {
        var store = _options.Credentials ?? throw BerthException.InvalidArgument("login needs a credential store (RegistryClientOptions.Credentials)");
        await VerifyCredentialsAsync(registry, credentials, cancellationToken).ConfigureAwait(false);
        await store.SaveAsync(registry, credentials, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes saved credentials; false when there were none for <paramref name="registry"/>.</summary>
    public Task<bool> LogoutAsync(string registry, CancellationToken cancellationToken = default)
    {
        var store = _options.Credentials ?? throw BerthException.InvalidArgument("logout needs a credential store (RegistryClientOptions.Credentials)");
        _auth.Clear();
        return store.RemoveAsync(registry, cancellationToken);
    }

    /// <summary>Asks the registry whether <paramref name="credentials"/> are good, without saving them.</summary>
    public async Task VerifyCredentialsAsync(string registry, RegistryCredentials credentials, CancellationToken cancellationToken = default)
    {
        var host = CredentialStore.NormalizeHost(registry);
        if (host is "index.docker.io" or "registry-1.docker.io")
        {
            host = "docker.io";
        }
        var baseUri = await BaseUriAsync(host, cancellationToken).ConfigureAwait(false);
        var session = new Session
        {
            Reference = ImageReference.Parse(host + "/login-check"),
            BaseUri = baseUri,
            Actions = "pull",
            Credentials = credentials,
            Auth = new HostAuth(),
        };
        using var anonymous = await _http.GetAsync(new Uri(baseUri, "v2/"), cancellationToken).ConfigureAwait(false);
        if (anonymous.StatusCode != HttpStatusCode.Unauthorized)
        {
            if (!anonymous.IsSuccessStatusCode)
            {
                throw new BerthException(ErrorCode.Unavailable, $"{host} does not answer like a registry: GET {baseUri}v2/ returned {(int)anonymous.StatusCode}");
            }
            return; // no authentication at all: anything goes, as docker login accepts
        }
        var challenge = ChallengeOf(anonymous) ?? throw new BerthException(ErrorCode.Unavailable, $"{host} answered 401 without a WWW-Authenticate challenge");
        if (challenge.IsBearer)
        {
            // docker login asks the realm for a token with no scope: the token server checks the password.
            await FetchTokenAsync(session, challenge, [], cancellationToken).ConfigureAwait(false);
            return;
        }
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(baseUri, "v2/"));
        request.Headers.Authorization = BasicHeader(credentials);
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var (_, message) = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
            throw new BerthException(ErrorCode.PermissionDenied,
                $"unauthorized: {host} refused the credentials of \"{credentials.Username}\" ({message ?? ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture)}); check the user name and password");
        }
    }

    /// <summary>The tags of a repository (following Link pagination).</summary>
    public async Task<IReadOnlyList<string>> ListTagsAsync(string repository, RegistryCredentials? credentials = null, CancellationToken cancellationToken = default)
    {
        var reference = ImageReference.Parse(repository);
        var session = await OpenSessionAsync(reference, credentials, "pull", cancellationToken).ConfigureAwait(false);
        var tags = new List<string>();
        Uri? next = session.Url("tags/list?n=1000");
        for (var page = 0; next is not null && page < 1000; page++)
        {
            var url = next;
            using var response = await SendAsync(session, () => new HttpRequestMessage(HttpMethod.Get, url), cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw await ErrorAsync(session, response, "list tags", cancellationToken).ConfigureAwait(false);
            }
            using var doc = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false));
            if (doc.RootElement.TryGetProperty("tags", out var list) && list.ValueKind == JsonValueKind.Array)
            {
                tags.AddRange(list.EnumerateArray().Select(t => t.GetString()).OfType<string>());
            }
            next = null;
            if (response.Headers.TryGetValues("Link", out var links) && links.FirstOrDefault() is { } link)
            {
                var start = link.IndexOf('<', StringComparison.Ordinal);
                var end = link.IndexOf('>', StringComparison.Ordinal);
                if (start >= 0 && end > start)
                {
                    next = new Uri(session.BaseUri, link[(start + 1)..end]);
                }
            }
        }
        return tags;
    }

    /// <summary>
    /// Gives the manifest <paramref name="source"/> names another tag in the same repository, without downloading any
    /// layer (GET the manifest, PUT it under the new tag).
    /// </summary>
    public async Task<Oci.Image.Descriptor> TagRemoteAsync(string source, string tag, RegistryCredentials? credentials = null, CancellationToken cancellationToken = default)
    {
        var reference = ImageReference.Parse(source);
        var target = reference.WithTag(tag);
        var session = await OpenSessionAsync(target, credentials, "pull,push", cancellationToken).ConfigureAwait(false);
        var (descriptor, bytes) = await FetchManifestAsync(session, reference.Digest?.ToString() ?? reference.Tag!, reference.Digest, cancellationToken).ConfigureAwait(false);
        using var response = await SendAsync(session, () =>
        {
            var body = new ByteArrayContent(bytes);
            body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(descriptor.MediaType);
            return new HttpRequestMessage(HttpMethod.Put, session.Url("manifests/" + tag)) { Content = body };
        }, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw await ErrorAsync(session, response, $"push manifest {session.Repository}:{tag}", cancellationToken).ConfigureAwait(false);
        }
        return descriptor;
    }
}
