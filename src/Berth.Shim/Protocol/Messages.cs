using System.Text.Json.Serialization;

namespace Berth.Shim.Protocol;

/// <summary>The operations a client asks of a shim; one request per connection (attach and exec then stream on it).</summary>
internal static class Ops
{
    public const string Status = "status";
    public const string Start = "start";
    public const string Wait = "wait";
    public const string Kill = "kill";
    public const string Pause = "pause";
    public const string Resume = "resume";
    public const string Attach = "attach";
    public const string Resize = "resize";
    public const string Exec = "exec";
    public const string ExecStart = "exec-start";
    public const string ExecWait = "exec-wait";
    public const string Delete = "delete";
}

internal sealed class ShimRequest
{
    public string Op { get; set; } = "";

    /// <summary>The exec a request is about (kill, resize, exec-*); null for the container's init.</summary>
    public string? ExecId { get; set; }

    public int Signal { get; set; }

    public bool All { get; set; }

    public bool Stdin { get; set; }

    public bool Stdout { get; set; }

    public bool Stderr { get; set; }

    public ushort Rows { get; set; }

    public ushort Columns { get; set; }

    /// <summary>exec: the OCI process as JSON (written as-is to the runtime's --process file).</summary>
    public string? Process { get; set; }

    public bool Terminal { get; set; }
}

internal sealed class ShimResponse
{
    public bool Ok { get; set; }

    public string? Error { get; set; }

    /// <summary>A <see cref="Core.ErrorCode"/> name for <see cref="Error"/>.</summary>
    public string? Code { get; set; }

    public int Pid { get; set; }

    public ShimState State { get; set; }

    public ShimExit? Exit { get; set; }

    public int ExitCode { get; set; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(ShimRequest))]
[JsonSerializable(typeof(ShimResponse))]
[JsonSerializable(typeof(ShimOptions))]
[JsonSerializable(typeof(ShimExit))]
internal sealed partial class ShimJsonContext : JsonSerializerContext;
