namespace Berth.Core;

/// <summary>The one error vocabulary of Berth; each edge (CLI, Docker API, Kubernetes API) translates it once.</summary>
public enum ErrorCode
{
    InvalidArgument,
    NotFound,
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    PermissionDenied,
    Unavailable,
    Unsupported,
    Internal,
}
