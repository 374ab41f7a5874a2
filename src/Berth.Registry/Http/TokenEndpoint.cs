using System.Buffers;
using System.Net;
using System.Text.Json;
using Berth.Registry.Auth;
using Microsoft.AspNetCore.Http;

namespace Berth.Registry.Http;

/// <summary>
/// The token endpoint of the Docker registry token flow: GET /token?service=S&amp;scope=repository:NAME:ACTIONS (with
/// optional Basic credentials) or POST /token with an OAuth2 password grant. It grants each requested scope
/// intersected with what the access policy allows the caller.
/// </summary>
internal sealed class TokenEndpoint(RegistryAuth auth, RegistryMetrics metrics)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await HandleAsync(context).ConfigureAwait(false);
        }
        catch (RegistryException e)
        {
            await RegistryHandler.WriteErrorAsync(context, e).ConfigureAwait(false);
        }
        finally
        {
            metrics.Request(context.Request.Method, context.Response.StatusCode);
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var tokens = auth.Tokens ?? throw new RegistryException(HttpStatusCode.NotFound, RegistryErrorCode.UNSUPPORTED,
            "this registry does not issue tokens; it was started without token authentication");
        var request = context.Request;
        string? user;
        string service;
        List<string> scopes;
        if (request.Method == "POST" && request.HasFormContentType)
        {
            var form = await request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
            var grant = form["grant_type"].ToString();
            if (grant != "password")
            {
                throw new RegistryException(HttpStatusCode.BadRequest, RegistryErrorCode.UNSUPPORTED,
                    $"grant_type '{grant}' is not supported; use 'password' or GET with Basic credentials");
            }
            var basic = new DefaultHttpContext();
            basic.Request.Headers.Authorization = "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(form["username"] + ":" + form["password"]));
            user = auth.AuthenticateBasic(basic.Request, out _);
            service = form["service"].ToString();
            scopes = form["scope"].SelectMany(s => (s ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        }
        else if (request.Method is "GET")
        {
            user = auth.AuthenticateBasic(request, out _);
            service = request.Query["service"].ToString();
            scopes = request.Query["scope"].SelectMany(s => (s ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        }
        else
        {
            throw new RegistryException(HttpStatusCode.MethodNotAllowed, RegistryErrorCode.UNSUPPORTED, "use GET or POST on /token");
        }
        if (service.Length > 0 && service != tokens.Options.Service)
        {
            throw new RegistryException(HttpStatusCode.BadRequest, RegistryErrorCode.DENIED,
                $"this token endpoint serves '{tokens.Options.Service}', not '{service}'");
        }
        var access = new List<TokenAccess>();
        foreach (var scope in scopes)
        {
            var first = scope.IndexOf(':', StringComparison.Ordinal);
            var last = scope.LastIndexOf(':');
            if (first <= 0 || last <= first)
            {
                throw new RegistryException(HttpStatusCode.BadRequest, RegistryErrorCode.UNSUPPORTED,
                    $"scope '{scope}' is not of the form TYPE:NAME:ACTIONS");
            }
            var type = scope[..first];
            var name = scope[(first + 1)..last];
            var actions = scope[(last + 1)..];
            if (type == "registry" && name == "catalog")
            {
                if (user is not null || auth.Policy.AnonymousHasAnyAccess)
                {
                    access.Add(new TokenAccess(type, name, RegistryAction.None, Catalog: true));
                }
                continue;
            }
            if (type != "repository" || !RepositoryName.IsValid(name))
            {
                continue;
            }
            var allowed = auth.Policy.Allowed(user, name);
            var requested = RegistryActions.ParseLenient(actions);
            // Clients (skopeo, docker) ask for push when deleting; grant delete with push when the policy allows both.
            if (requested.HasFlag(RegistryAction.Push))
            {
                requested |= RegistryAction.Delete;
            }
            var granted = requested & allowed;
            access.Add(new TokenAccess(type, name, granted));
        }
        var (token, issuedAt, expiresIn) = tokens.Issue(user, access);
        var body = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(body))
        {
            w.WriteStartObject();
            w.WriteString("token", token);
            w.WriteString("access_token", token);
            w.WriteNumber("expires_in", expiresIn);
            w.WriteString("issued_at", issuedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteEndObject();
        }
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.WrittenCount;
        await context.Response.Body.WriteAsync(body.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }
}
