namespace Berth.Networking.Cni;

/// <summary>The error codes the CNI spec reserves (0-99); plugins report them in the error JSON.</summary>
public enum CniErrorCode
{
    IncompatibleVersion = 1,
    UnsupportedField = 2,
    UnknownContainer = 3,
    InvalidEnvironment = 4,
    IoFailure = 5,
    DecodingFailure = 6,
    InvalidNetworkConfig = 7,
    TryAgainLater = 11,
    Generic = 999,
}

/// <summary>A CNI failure with the spec's code, a message naming the object and the fix, and optional details.</summary>
public sealed class CniException : Exception
{
    public CniException(CniErrorCode code, string message, string? details = null)
        : base(message)
    {
        Code = (int)code;
        Details = details;
    }

    public CniException(int code, string message, string? details)
        : base(message)
    {
        Code = code;
        Details = details;
    }

    public int Code { get; }

    public string? Details { get; }

    public CniError ToError(string version) => new() { CniVersion = version, Code = Code, Msg = Message, Details = Details };
}
