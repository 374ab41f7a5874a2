namespace Berth.Images.Distribution;

/// <summary>
/// A parsed <c>WWW-Authenticate</c> challenge: <c>Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"</c>
/// or <c>Basic realm="..."</c>.
/// </summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);

    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    public string? Realm => Parameters.GetValueOrDefault("realm");

    public string? Service => Parameters.GetValueOrDefault("service");

    public string? Scope => Parameters.GetValueOrDefault("scope");

    /// <summary>Parses one header value (a scheme followed by comma-separated key=value or key="quoted value" pairs); null when empty.</summary>
    public static AuthChallenge? Parse(string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
        {
            return null;
        }
        var s = header.Trim();
        var space = s.IndexOf(' ', StringComparison.Ordinal);
        var scheme = space < 0 ? s : s[..space];
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = space < 0 ? s.Length : space + 1;
        while (i < s.Length)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == ','))
            {
                i++;
            }
            var eq = s.IndexOf('=', i);
            if (eq < 0)
            {
                break;
            }
            var key = s[i..eq].Trim();
            i = eq + 1;
            string value;
            if (i < s.Length && s[i] == '"')
            {
                var sb = new System.Text.StringBuilder();
                i++;
                while (i < s.Length && s[i] != '"')
                {
                    if (s[i] == '\\' && i + 1 < s.Length)
                    {
                        i++;
                    }
                    sb.Append(s[i]);
                    i++;
                }
                i++; // closing quote
                value = sb.ToString();
            }
            else
            {
                var comma = s.IndexOf(',', i);
                var end = comma < 0 ? s.Length : comma;
                value = s[i..end].Trim();
                i = end;
            }
            if (key.Length > 0)
            {
                parameters[key] = value;
            }
        }
        return new AuthChallenge(scheme, parameters);
    }
}
