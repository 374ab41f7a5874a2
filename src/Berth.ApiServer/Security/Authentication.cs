using System.Security.Cryptography.X509Certificates;
using Berth.Core;

namespace Berth.ApiServer.Security;

/// <summary>Who is calling: a user name and groups, as Kubernetes' user.Info.</summary>
public sealed record UserInfo(string Name, IReadOnlyList<string> Groups, string Uid = "")
{
    public bool IsMaster => Groups.Contains("system:masters");
}

/// <summary>
/// Client certificates signed by the cluster CA (CN = user, O = groups) and static bearer tokens from a CSV file in
/// Kubernetes' --token-auth-file format: token,user,uid,"group1,group2".
/// </summary>
public sealed class Authenticator
{
    private readonly ClusterPki _pki;
    private readonly Dictionary<string, UserInfo> _tokens;

    // Chain building costs milliseconds; a verified certificate is remembered by its thumbprint.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, UserInfo?> _certificates = new(StringComparer.Ordinal);

    public Authenticator(ClusterPki pki, IReadOnlyDictionary<string, UserInfo> tokens)
    {
        _pki = pki;
        _tokens = new Dictionary<string, UserInfo>(tokens, StringComparer.Ordinal);
    }

    public void AddToken(string token, UserInfo user) => _tokens[token] = user;

    public UserInfo? Authenticate(X509Certificate2? clientCertificate, string? authorization)
    {
        if (authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = authorization["Bearer ".Length..].Trim();
            return _tokens.TryGetValue(token, out var user) ? WithAuthenticated(user) : null;
        }
        if (clientCertificate is not null)
        {
            return _certificates.GetOrAdd(clientCertificate.Thumbprint, _ => FromCertificate(clientCertificate));
        }
        return null;
    }

    private UserInfo? FromCertificate(X509Certificate2 clientCertificate)
    {
        if (_pki.Verify(clientCertificate))
        {
            var name = clientCertificate.GetNameInfo(X509NameType.SimpleName, false);
            var groups = clientCertificate.SubjectName.EnumerateRelativeDistinguishedNames()
                .Where(r => r.GetSingleElementType().Value == "2.5.4.10")
                .Select(r => r.GetSingleElementValue() ?? "")
                .ToList();
            return WithAuthenticated(new UserInfo(name, groups));
        }
        return null;
    }

    private static UserInfo WithAuthenticated(UserInfo u) =>
        u.Groups.Contains("system:authenticated") ? u : u with { Groups = [.. u.Groups, "system:authenticated"] };

    public static Dictionary<string, UserInfo> LoadTokenFile(string path)
    {
        var result = new Dictionary<string, UserInfo>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var line in File.ReadAllLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line) || line.TrimStart().StartsWith('#'))
            {
                continue;
            }
            var fields = SplitCsv(line);
            if (fields.Count < 3)
            {
                throw BerthException.InvalidArgument($"{path}:{lineNo}: expected token,user,uid[,\"group1,group2\"]");
            }
            var groups = fields.Count > 3 ? fields[3].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
            result[fields[0]] = new UserInfo(fields[1], groups, fields[2]);
        }
        return result;
    }

    private static List<string> SplitCsv(string line)
    {
        var fields = new List<string>();
        var cur = new System.Text.StringBuilder();
        var quoted = false;
        foreach (var c in line)
        {
            if (c == '"')
            {
                quoted = !quoted;
            }
            else if (c == ',' && !quoted)
            {
                fields.Add(cur.ToString().Trim());
                cur.Clear();
            }
            else
            {
                cur.Append(c);
            }
        }
        fields.Add(cur.ToString().Trim());
        return fields;
    }
}
