using System.Text.RegularExpressions;
using Berth.Core;

namespace Berth.Registry.Auth;

/// <summary>
/// Per-repository permissions. The access file has one rule per line: <c>SUBJECT PATTERN ACTIONS</c>, where
/// SUBJECT is a user name, <c>*</c> (any authenticated user) or <c>anonymous</c>; PATTERN is a repository name
/// where <c>*</c> matches any characters (including '/'); ACTIONS is a comma list of pull, push, delete or *.
/// A user gets the union of the rules that match. Without a file, authenticated users may do everything.
/// </summary>
internal sealed class AccessPolicy
{
    private readonly List<Rule> _rules;
    private readonly bool _anonymousPull;

    private sealed record Rule(string Subject, Regex Pattern, RegistryAction Actions);

    private AccessPolicy(List<Rule> rules, bool anonymousPull)
    {
        _rules = rules;
        _anonymousPull = anonymousPull;
    }

    /// <summary>True when anonymous clients may do anything at all (so /v2/ need not challenge them).</summary>
    public bool AnonymousHasAnyAccess => _anonymousPull || _rules.Any(r => r.Subject == "anonymous");

    public static AccessPolicy Load(string? path, bool anonymousPull)
    {
        if (path is null)
        {
            return new AccessPolicy(
                [new Rule("*", new Regex("^.*$", RegexOptions.CultureInvariant), RegistryAction.All)], anonymousPull);
        }
        if (!File.Exists(path))
        {
            throw BerthException.NotFound($"access file {path} does not exist; create it with lines like 'alice team/* pull,push'");
        }
        var rules = new List<Rule>();
        var errors = new List<string>();
        var lineNumber = 0;
        foreach (var raw in File.ReadAllLines(path))
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length != 3)
            {
                errors.Add($"{path}:{lineNumber}: expected 'SUBJECT PATTERN ACTIONS', got '{line}'");
                continue;
            }
            try
            {
                var actions = RegistryActions.Parse(fields[2], $"{path}:{lineNumber}");
                var regex = new Regex("^" + Regex.Escape(fields[1]).Replace("\\*", ".*", StringComparison.Ordinal) + "$", RegexOptions.CultureInvariant);
                rules.Add(new Rule(fields[0], regex, actions));
            }
            catch (BerthException e)
            {
                errors.Add(e.Message);
            }
        }
        if (errors.Count > 0)
        {
            throw BerthException.InvalidArgument(string.Join("; ", errors));
        }
        return new AccessPolicy(rules, anonymousPull);
    }

    /// <summary>What <paramref name="user"/> (null: anonymous) may do with <paramref name="repository"/>.</summary>
    public RegistryAction Allowed(string? user, string repository)
    {
        var result = user is null && _anonymousPull ? RegistryAction.Pull : RegistryAction.None;
        foreach (var rule in _rules)
        {
            var applies = user is null ? rule.Subject == "anonymous" : rule.Subject == "*" || rule.Subject == user;
            if (applies && rule.Pattern.IsMatch(repository))
            {
                result |= rule.Actions;
            }
        }
        return result;
    }
}
