using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.ApiServer.Http;

namespace Berth.ApiServer.Registry;

/// <summary>Kubernetes' name, label and annotation rules (apimachinery/pkg/util/validation), reporting every error.</summary>
public static partial class Validation
{
    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1123LabelRegex();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Dns1123SubdomainRegex();

    [GeneratedRegex("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")]
    private static partial Regex LabelValueRegex();

    [GeneratedRegex("^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")]
    private static partial Regex QualifiedNameRegex();

    [GeneratedRegex("^[-._a-zA-Z0-9]+$")]
    private static partial Regex ConfigMapKeyRegex();

    public static string? Dns1123Label(string value)
    {
        if (value.Length > 63)
        {
            return "must be no more than 63 characters";
        }
        return Dns1123LabelRegex().IsMatch(value)
            ? null
            : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    }

    public static string? Dns1123Subdomain(string value)
    {
        if (value.Length > 253)
        {
            return "must be no more than 253 characters";
        }
        return Dns1123SubdomainRegex().IsMatch(value)
            ? null
            : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    }

    /// <summary>Path-segment names (RBAC objects): anything but "." "..", "/" and "%".</summary>
    public static string? PathSegmentName(string value)
    {
        if (value is "." or "..")
        {
            return $"may not be '{value}'";
        }
        return value.Contains('/') || value.Contains('%') ? "may not contain '/' or '%'" : null;
    }

    public static void QualifiedName(string field, string key, List<FieldError> errors)
    {
        var name = key;
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            var prefix = key[..slash];
            name = key[(slash + 1)..];
            var perr = prefix.Length == 0 ? "must be non-empty" : Dns1123Subdomain(prefix);
            if (perr is not null)
            {
                errors.Add(FieldError.Invalid(field, key, "prefix part " + perr));
            }
        }
        if (name.Length == 0 || name.Length > 63 || !QualifiedNameRegex().IsMatch(name))
        {
            errors.Add(FieldError.Invalid(field, key,
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"));
        }
    }

    public static void Labels(string field, JsonNode? labels, List<FieldError> errors)
    {
        if (labels is null)
        {
            return;
        }
        if (labels is not JsonObject o)
        {
            errors.Add(FieldError.Invalid(field, labels, "must be a map of strings"));
            return;
        }
        foreach (var (k, v) in o)
        {
            QualifiedName(field, k, errors);
            var value = v is JsonValue jv && jv.GetValueKind() == JsonValueKind.String ? jv.GetValue<string>() : null;
            if (value is null)
            {
                errors.Add(FieldError.Invalid(field + "[" + k + "]", v, "must be a string"));
            }
            else if (value.Length > 63 || !LabelValueRegex().IsMatch(value))
            {
                errors.Add(FieldError.Invalid(field, value,
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"));
            }
        }
    }

    public static void Annotations(string field, JsonNode? annotations, List<FieldError> errors)
    {
        if (annotations is not JsonObject o)
        {
            return;
        }
        long total = 0;
        foreach (var (k, v) in o)
        {
            QualifiedName(field, k.ToLowerInvariant(), errors);
            total += k.Length + Json.Scalar(v).Length;
        }
        if (total > 256 * 1024)
        {
            errors.Add(FieldError.TooLong(field, 256 * 1024));
        }
    }

    public static void DataKeys(string field, JsonNode? data, List<FieldError> errors)
    {
        if (data is not JsonObject o)
        {
            return;
        }
        foreach (var (k, _) in o)
        {
            if (k.Length > 253 || !ConfigMapKeyRegex().IsMatch(k))
            {
                errors.Add(FieldError.Invalid(field, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
            }
        }
    }

    public static void Port(string field, long? port, List<FieldError> errors, bool required = true)
    {
        if (port is null)
        {
            if (required)
            {
                errors.Add(FieldError.Required(field));
            }
            return;
        }
        if (port is < 1 or > 65535)
        {
            errors.Add(FieldError.Invalid(field, port.Value, "must be between 1 and 65535, inclusive"));
        }
    }

    public static void Protocol(string field, JsonNode? node, List<FieldError> errors)
    {
        var p = node.Str("protocol");
        if (p is not null && p is not ("TCP" or "UDP" or "SCTP"))
        {
            errors.Add(FieldError.NotSupported(field, p, ["SCTP", "TCP", "UDP"]));
        }
    }
}
