using Berth.Core;

namespace Berth.Build;

/// <summary>One problem in a Dockerfile, printed as <c>Dockerfile:7: COPY needs at least two arguments</c>.</summary>
public sealed record DockerfileError(string File, int Line, string Message)
{
    public override string ToString() => Line > 0 ? $"{File}:{Line}: {Message}" : $"{File}: {Message}";
}

/// <summary>A Dockerfile that cannot be built; carries every error found, one per line of the message.</summary>
public sealed class DockerfileException : BerthException
{
    public DockerfileException(IReadOnlyList<DockerfileError> errors)
        : base(CodeFor(errors), string.Join('\n', errors.Select(e => e.ToString())))
    {
        Errors = errors;
    }

    public DockerfileException(DockerfileError error)
        : this([error])
    {
    }

    public IReadOnlyList<DockerfileError> Errors { get; }

    private static ErrorCode CodeFor(IReadOnlyList<DockerfileError> errors) =>
        errors.Count > 0 && errors.All(e => e.Message.StartsWith("not supported: ", StringComparison.Ordinal))
            ? ErrorCode.Unsupported
            : ErrorCode.InvalidArgument;
}
