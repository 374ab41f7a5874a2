using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Berth.Registry.Auth;

/// <summary>Who is asking: a user (or anonymous), and, in token mode, what their token grants.</summary>
internal sealed record Caller(string? User, RegistryToken? Token, bool PresentedCredentials);

/// <summary>
/// Authentication and authorisation of registry requests in one of three modes: open (no htpasswd, no token
/// settings), Basic (htpasswd on every request) or Bearer (tokens from the token endpoint).
/// </summary>
internal sealed class RegistryAuth : IDisposable
{
    public const string BasicRealm = "berth-registry";

    private readonly Htpasswd? _htpasswd;
    private readonly AccessPolicy _policy;
    private readonly TokenService? _tokens;

    public RegistryAuth(RegistryOptions options)
    {
        _htpasswd = options.HtpasswdFile is null ? null : new Htpasswd(options.HtpasswdFile);
        _policy = AccessPolicy.Load(options.AccessFile, options.AnonymousPull || (options.HtpasswdFile is null && options.Token is null && options.AccessFile is null));
        _tokens = options.Token is null ? null : new TokenService(options.Token, options.TimeProvider);
        if (options.Token is not null && _htpasswd is null && options.AccessFile is null && !options.AnonymousPull)
        {
            throw Berth.Core.BerthException.InvalidArgument(
                "token authentication needs an htpasswd file (users the token endpoint can check) or an access file granting anonymous rights");
        }
    }

    public bool IsOpen => _htpasswd is null && _tokens is null;

    public TokenService? Tokens => _tokens;

    public AccessPolicy Policy => _policy;

    /// <summary>Checks Basic credentials against htpasswd: the user, null for none, or throws 401 for wrong ones.</summary>
    public string? AuthenticateBasic(HttpRequest request, out bool presented)
    {
        presented = false;
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        presented = true;
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
        }
        catch (FormatException)
        {
            throw Unauthorized(BasicChallenge(), "malformed Basic credentials");
        }
        var colon = decoded.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || _htpasswd is null || !_htpasswd.Verify(decoded[..colon], decoded[(colon + 1)..]))
        {
            throw Unauthorized(BasicChallenge(), "wrong user name or password");
        }
        return decoded[..colon];
    }

    public Caller Identify(HttpContext context)
    {
        if (IsOpen)
        {
            return new Caller(null, null, false);
        }
        if (_tokens is not null)
        {
            var header = context.Request.Headers.Authorization.ToString();
            if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                var token = _tokens.Verify(header[7..].Trim());
                if (token is null)
                {
                    throw Unauthorized(BearerChallenge(context, null, RegistryAction.None, "invalid_token"), "the Bearer token is invalid or expired; fetch a new one from the token endpoint");
                }
                return new Caller(token.Subject, token, true);
            }
            return new Caller(null, null, false);
        }
        var user = AuthenticateBasic(context.Request, out var presented);
        return new Caller(user, null, presented);
    }

    public RegistryAction Granted(Caller caller, string repository)
    {
        if (IsOpen)
        {
            return RegistryAction.All;
        }
        if (_tokens is not null)
        {
            return caller.Token?.ActionsFor(repository) ?? RegistryAction.None;
        }
        return _policy.Allowed(caller.User, repository);
    }

    /// <summary>Throws 401 (with the challenge that tells the client how to authenticate) or 403 unless allowed.</summary>
    public void Require(HttpContext context, Caller caller, string repository, RegistryAction needed)
    {
        if ((Granted(caller, repository) & needed) == needed)
        {
            return;
        }
        var what = string.Join(",", RegistryActions.Names(needed));
        if (caller.User is null)
        {
            var challenge = _tokens is not null
                ? BearerChallenge(context, repository, needed, caller.Token is null ? null : "insufficient_scope")
                : BasicChallenge();
            throw Unauthorized(challenge, $"authentication required to {what} repository '{repository}'", repository);
        }
        throw new RegistryException(HttpStatusCode.Forbidden, RegistryErrorCode.DENIED,
            $"user '{caller.User}' may not {what} repository '{repository}'; ask an administrator for access", repository);
    }

    /// <summary>
    /// For /v2/: callers without credentials are always challenged, because clients (containers/image, docker) learn
    /// how to authenticate only from this ping; without credentials they carry on anonymously.
    /// For /v2/_catalog (<paramref name="ping"/> false), anonymous callers pass when anonymous access exists at all.
    /// </summary>
    public void RequireAuthenticated(HttpContext context, Caller caller, string? scope, bool ping)
    {
        if (IsOpen || caller.User is not null || caller.Token is not null || (!ping && _policy.AnonymousHasAnyAccess))
        {
            return;
        }
        var challenge = _tokens is not null ? BearerChallengeRaw(context, scope, null) : BasicChallenge();
        throw Unauthorized(challenge, "authentication required");
    }

    public static string BasicChallenge() => $"Basic realm=\"{BasicRealm}\"";

    private string BearerChallenge(HttpContext context, string? repository, RegistryAction actions, string? error) =>
        BearerChallengeRaw(context, repository is null ? null : $"repository:{repository}:{string.Join(",", RegistryActions.Names(actions | (actions.HasFlag(RegistryAction.Push) ? RegistryAction.Pull : RegistryAction.None)))}", error);

    private string BearerChallengeRaw(HttpContext context, string? scope, string? error)
    {
        var options = _tokens!.Options;
        var realm = options.Realm ?? $"{context.Request.Scheme}://{context.Request.Host}/token";
        var sb = new StringBuilder($"Bearer realm=\"{realm}\",service=\"{options.Service}\"");
        if (scope is not null)
        {
            sb.Append($",scope=\"{scope}\"");
        }
        if (error is not null)
        {
            sb.Append($",error=\"{error}\"");
        }
        return sb.ToString();
    }

    private static RegistryException Unauthorized(string challenge, string message, string? detail = null) =>
        new(HttpStatusCode.Unauthorized, RegistryErrorCode.UNAUTHORIZED, message, detail) { Challenge = challenge };

    public void Dispose() => _tokens?.Dispose();
}
