using System.Net;

namespace Berth.Registry;

/// <summary>The error codes of the distribution spec (plus the ones distribution and clients already know).</summary>
internal enum RegistryErrorCode
{
    BLOB_UNKNOWN,
    BLOB_UPLOAD_INVALID,
    BLOB_UPLOAD_UNKNOWN,
    DIGEST_INVALID,
    MANIFEST_BLOB_UNKNOWN,
    MANIFEST_INVALID,
    MANIFEST_UNKNOWN,
    NAME_INVALID,
    NAME_UNKNOWN,
    SIZE_INVALID,
    UNAUTHORIZED,
    DENIED,
    UNSUPPORTED,
    RANGE_INVALID,
    PAGINATION_NUMBER_INVALID,
}

/// <summary>A request the registry refuses; the HTTP edge turns it into the spec's JSON error body.</summary>
internal sealed class RegistryException(HttpStatusCode status, RegistryErrorCode code, string message, string? detail = null) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;

    public RegistryErrorCode Code { get; } = code;

    public string? Detail { get; } = detail;

    /// <summary>The WWW-Authenticate value sent with a 401.</summary>
    public string? Challenge { get; init; }

    public static RegistryException NameInvalid(string name) => new(HttpStatusCode.BadRequest, RegistryErrorCode.NAME_INVALID,
        $"invalid repository name '{name}': use lowercase letters, digits and separators (. _ __ -) in '/'-separated components",
        name);

    public static RegistryException NameUnknown(string name) => new(HttpStatusCode.NotFound, RegistryErrorCode.NAME_UNKNOWN,
        $"repository '{name}' is not known to this registry; push an image to it first", name);

    public static RegistryException DigestInvalid(string message, string? detail = null) =>
        new(HttpStatusCode.BadRequest, RegistryErrorCode.DIGEST_INVALID, message, detail);

    public static RegistryException BlobUnknown(string name, string digest) => new(HttpStatusCode.NotFound, RegistryErrorCode.BLOB_UNKNOWN,
        $"blob {digest} is not in repository '{name}'", digest);

    public static RegistryException ManifestUnknown(string name, string reference) => new(HttpStatusCode.NotFound, RegistryErrorCode.MANIFEST_UNKNOWN,
        $"manifest '{reference}' is not in repository '{name}'", reference);

    public static RegistryException UploadUnknown(string id) => new(HttpStatusCode.NotFound, RegistryErrorCode.BLOB_UPLOAD_UNKNOWN,
        $"upload session '{id}' does not exist (finished, cancelled or expired); start a new upload with POST", id);

    public static RegistryException ManifestInvalid(string message, string? detail = null) =>
        new(HttpStatusCode.BadRequest, RegistryErrorCode.MANIFEST_INVALID, message, detail);

    public static RegistryException Unsupported(string message) =>
        new(HttpStatusCode.MethodNotAllowed, RegistryErrorCode.UNSUPPORTED, "not supported: " + message);
}
