using System.Text.Json.Nodes;

namespace Berth.ApiServer.Http;

/// <summary>One invalid field, reported in a 422's details.causes (Kubernetes' field.Error).</summary>
public sealed record FieldError(string Field, string Reason, string Message)
{
    public static FieldError Required(string field, string? detail = null) =>
        new(field, "FieldValueRequired", "Required value" + (detail is null ? "" : ": " + detail));

    public static FieldError Invalid(string field, JsonNode? value, string detail) =>
        new(field, "FieldValueInvalid", $"Invalid value: {Render(value)}: {detail}");

    public static FieldError NotSupported(string field, JsonNode? value, IEnumerable<string> supported) =>
        new(field, "FieldValueNotSupported", $"Unsupported value: {Render(value)}: supported values: {string.Join(", ", supported.Select(s => "\"" + s + "\""))}");

    public static FieldError Forbidden(string field, string detail) => new(field, "FieldValueForbidden", "Forbidden: " + detail);

    public static FieldError Duplicate(string field, JsonNode? value) => new(field, "FieldValueDuplicate", $"Duplicate value: {Render(value)}");

    public static FieldError TooLong(string field, int max) => new(field, "FieldValueTooLong", $"Too long: may not be more than {max} bytes");

    private static string Render(JsonNode? value) => value switch
    {
        null => "null",
        JsonValue v when v.TryGetValue<string>(out var s) => "\"" + s + "\"",
        _ => value.ToJsonString(),
    };

    public override string ToString() => Field + ": " + Message;
}

/// <summary>
/// A failure the API reports as a Kubernetes <c>Status</c>. Messages follow Kubernetes' wording exactly, because
/// kubectl prints them as-is and users (and scripts) know them.
/// </summary>
public sealed class ApiException : Exception
{
    public ApiException(int code, string reason, string message, JsonObject? details = null)
        : base(message)
    {
        Code = code;
        Reason = reason;
        Details = details;
    }

    public int Code { get; }

    public string Reason { get; }

    public JsonObject? Details { get; }

    public static string Qualified(string group, string resource) => group.Length == 0 ? resource : resource + "." + group;

    public static ApiException NotFound(string group, string resource, string name) =>
        new(404, "NotFound", $"{Qualified(group, resource)} \"{name}\" not found", Detail(group, resource, name));

    public static ApiException NotFoundPlain(string message) => new(404, "NotFound", message);

    public static ApiException AlreadyExists(string group, string resource, string name) =>
        new(409, "AlreadyExists", $"{Qualified(group, resource)} \"{name}\" already exists", Detail(group, resource, name));

    public static ApiException Conflict(string group, string resource, string name, string why) =>
        new(409, "Conflict", $"Operation cannot be fulfilled on {Qualified(group, resource)} \"{name}\": {why}", Detail(group, resource, name));

    public static ApiException StaleUpdate(string group, string resource, string name) =>
        Conflict(group, resource, name, "the object has been modified; please apply your changes to the latest version and try again");

    public static ApiException BadRequest(string message) => new(400, "BadRequest", message);

    public static ApiException Gone(string message) => new(410, "Expired", message);

    public static ApiException MethodNotAllowed(string message) => new(405, "MethodNotAllowed", message);

    public static ApiException UnsupportedMediaType(string message) => new(415, "UnsupportedMediaType", message);

    public static ApiException Unauthorized() => new(401, "Unauthorized", "Unauthorized");

    public static ApiException TooLarge(string message) => new(413, "RequestEntityTooLarge", message);

    public static ApiException Forbidden(string group, string resource, string name, string message) =>
        new(403, "Forbidden", message, Detail(group, resource, name));

    public static ApiException Internal(string message) => new(500, "InternalError", "Internal error occurred: " + message);

    public static ApiException Invalid(string kind, string group, string name, IReadOnlyList<FieldError> errors)
    {
        var qualified = group.Length == 0 ? kind : kind + "." + group;
        var list = errors.Count == 1 ? errors[0].ToString() : "[" + string.Join(", ", errors) + "]";
        var details = Detail(group, null, name);
        details["kind"] = kind;
        var causes = new JsonArray();
        foreach (var e in errors)
        {
            causes.Add(new JsonObject { ["reason"] = e.Reason, ["message"] = e.Message, ["field"] = e.Field });
        }
        details["causes"] = causes;
        return new ApiException(422, "Invalid", $"{qualified} \"{name}\" is invalid: {list}", details);
    }

    private static JsonObject Detail(string group, string? resource, string name)
    {
        var d = new JsonObject { ["name"] = name };
        if (group.Length > 0)
        {
            d["group"] = group;
        }
        if (resource is not null)
        {
            d["kind"] = resource;
        }
        return d;
    }

    public JsonObject ToStatus() => StatusObject(Code, Reason, Message, Details);

    public static JsonObject StatusObject(int code, string reason, string message, JsonObject? details)
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
        };
        if (details is not null)
        {
            status["details"] = details.DeepClone();
        }
        status["code"] = code;
        return status;
    }

    public static JsonObject Success(JsonObject? details = null)
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Success",
        };
        if (details is not null)
        {
            status["details"] = details;
        }
        return status;
    }
}
