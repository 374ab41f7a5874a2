namespace Berth.Core;

/// <summary>An expected failure with a message meant for the user: it names the object and, where possible, the fix.</summary>
public class BerthException : Exception
{
    public BerthException(ErrorCode code, string message)
        : base(message) => Code = code;

    public BerthException(ErrorCode code, string message, Exception inner)
        : base(message, inner) => Code = code;

    public ErrorCode Code { get; }

    public static BerthException InvalidArgument(string message) => new(ErrorCode.InvalidArgument, message);

    public static BerthException NotFound(string message) => new(ErrorCode.NotFound, message);

    public static BerthException AlreadyExists(string message) => new(ErrorCode.AlreadyExists, message);

    public static BerthException FailedPrecondition(string message) => new(ErrorCode.FailedPrecondition, message);

    public static BerthException Unsupported(string message) => new(ErrorCode.Unsupported, "not supported: " + message);
}
