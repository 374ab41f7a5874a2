namespace Berth.Build;

/// <summary>Where an instruction sits in its Dockerfile: the first and last physical line (1-based).</summary>
public readonly record struct SourceLocation(string File, int Line, int EndLine)
{
    public override string ToString() => File + ":" + Line;
}

/// <summary>A heredoc attached to a RUN, COPY or ADD line: <c>&lt;&lt;EOF</c> ... <c>EOF</c>.</summary>
/// <param name="Name">The terminator word (also the source name a COPY uses for it).</param>
/// <param name="Content">The lines between the instruction and the terminator, newlines included.</param>
/// <param name="Expand">False when the terminator was quoted (<c>&lt;&lt;"EOF"</c>): no variable expansion.</param>
/// <param name="Chomp">True for <c>&lt;&lt;-EOF</c>: leading tabs are removed from every line.</param>
public sealed record Heredoc(string Name, string Content, bool Expand, bool Chomp);

/// <summary>
/// A command as written: exec form (a JSON array, run as is) or shell form (one string, run through the
/// stage's SHELL, by default <c>/bin/sh -c</c>).
/// </summary>
public sealed record CommandLine(IReadOnlyList<string> Args, bool IsShellForm)
{
    public static CommandLine Shell(string command) => new([command], true);

    public static CommandLine Exec(IReadOnlyList<string> args) => new(args, false);

    /// <summary>The argv to execute with the given shell (the shell form prepends it).</summary>
    public IReadOnlyList<string> ToArgv(IReadOnlyList<string> shell) => IsShellForm ? [.. shell, .. Args] : Args;
}

/// <summary>One parsed Dockerfile instruction. Values that undergo variable expansion are kept raw here; the builder
/// expands them with the environment in effect when the step runs.</summary>
public abstract record Instruction(SourceLocation Location, string Original)
{
    /// <summary>The instruction name in upper case, as Docker prints it.</summary>
    public abstract string Keyword { get; }
}

/// <summary><c>FROM [--platform=P] image [AS name]</c>.</summary>
public sealed record FromInstruction(SourceLocation Location, string Original, string Image, string? StageName, string? Platform)
    : Instruction(Location, Original)
{
    public override string Keyword => "FROM";
}

/// <summary>The network a RUN step gets: <c>--network=default</c> (Berth's default is no network) or <c>none</c>.</summary>
public enum RunNetwork
{
    Default,
    None,
}

/// <summary><c>RUN [--network=none|default] command</c>.</summary>
public sealed record RunInstruction(SourceLocation Location, string Original, CommandLine Command, RunNetwork Network, IReadOnlyList<Heredoc> Heredocs)
    : Instruction(Location, Original)
{
    /// <summary>Where a <c>#!</c> heredoc script is placed for its run (and removed before the commit).</summary>
    public const string ScriptPath = "/.berth-run-script";

    public override string Keyword => "RUN";

    /// <summary>A <c>RUN &lt;&lt;EOF</c> heredoc starting with <c>#!</c>: written to <see cref="ScriptPath"/> and executed.</summary>
    public string? Script { get; init; }
}

public sealed record CmdInstruction(SourceLocation Location, string Original, CommandLine Command) : Instruction(Location, Original)
{
    public override string Keyword => "CMD";
}

public sealed record EntrypointInstruction(SourceLocation Location, string Original, CommandLine Command) : Instruction(Location, Original)
{
    public override string Keyword => "ENTRYPOINT";
}

/// <summary><c>SHELL ["executable", "parameters"]</c> (JSON form only).</summary>
public sealed record ShellInstruction(SourceLocation Location, string Original, IReadOnlyList<string> Shell) : Instruction(Location, Original)
{
    public override string Keyword => "SHELL";
}

/// <summary>A raw <c>key=value</c> pair of ENV or LABEL; quotes and escapes are removed by expansion.</summary>
public sealed record KeyValue(string Key, string Value);

public sealed record EnvInstruction(SourceLocation Location, string Original, IReadOnlyList<KeyValue> Pairs) : Instruction(Location, Original)
{
    public override string Keyword => "ENV";
}

public sealed record LabelInstruction(SourceLocation Location, string Original, IReadOnlyList<KeyValue> Pairs) : Instruction(Location, Original)
{
    public override string Keyword => "LABEL";
}

/// <summary>One <c>name[=default]</c> of an ARG line; the default is raw (expanded when the step runs).</summary>
public sealed record ArgDeclaration(string Name, string? Default);

public sealed record ArgInstruction(SourceLocation Location, string Original, IReadOnlyList<ArgDeclaration> Args) : Instruction(Location, Original)
{
    public override string Keyword => "ARG";
}

public sealed record ExposeInstruction(SourceLocation Location, string Original, IReadOnlyList<string> Ports) : Instruction(Location, Original)
{
    public override string Keyword => "EXPOSE";
}

/// <summary><c>COPY</c> or <c>ADD</c> with their flags; sources and destination are raw words.</summary>
public sealed record CopyInstruction(
    SourceLocation Location,
    string Original,
    bool IsAdd,
    IReadOnlyList<string> Sources,
    string Destination,
    string? From,
    string? Chown,
    string? Chmod,
    bool Link,
    IReadOnlyList<Heredoc> Heredocs) : Instruction(Location, Original)
{
    public override string Keyword => IsAdd ? "ADD" : "COPY";

    /// <summary><c>ADD --checksum=sha256:...</c>: the digest a downloaded URL must have.</summary>
    public string? Checksum { get; init; }
}

public sealed record VolumeInstruction(SourceLocation Location, string Original, IReadOnlyList<string> Paths) : Instruction(Location, Original)
{
    public override string Keyword => "VOLUME";
}

public sealed record UserInstruction(SourceLocation Location, string Original, string User) : Instruction(Location, Original)
{
    public override string Keyword => "USER";
}

public sealed record WorkdirInstruction(SourceLocation Location, string Original, string Path) : Instruction(Location, Original)
{
    public override string Keyword => "WORKDIR";
}

public sealed record StopSignalInstruction(SourceLocation Location, string Original, string Signal) : Instruction(Location, Original)
{
    public override string Keyword => "STOPSIGNAL";
}

/// <summary>Deprecated; sets the image's author.</summary>
public sealed record MaintainerInstruction(SourceLocation Location, string Original, string Maintainer) : Instruction(Location, Original)
{
    public override string Keyword => "MAINTAINER";
}

/// <summary><c>ONBUILD &lt;instruction&gt;</c>: <see cref="Trigger"/> is recorded into the image and run when a child FROMs it.</summary>
public sealed record OnBuildInstruction(SourceLocation Location, string Original, string Trigger, Instruction Inner) : Instruction(Location, Original)
{
    public override string Keyword => "ONBUILD";
}

/// <summary><c>HEALTHCHECK NONE</c> (<see cref="Healthcheck"/>.Test = ["NONE"]) or <c>HEALTHCHECK [options] CMD ...</c>.</summary>
public sealed record HealthcheckInstruction(SourceLocation Location, string Original, HealthcheckDraft Healthcheck) : Instruction(Location, Original)
{
    public override string Keyword => "HEALTHCHECK";
}

/// <summary>A build stage: its FROM and the instructions up to the next FROM.</summary>
public sealed record Stage(int Index, string? Name, FromInstruction From, IReadOnlyList<Instruction> Instructions)
{
    /// <summary>How the stage is named in messages: its name, or its index.</summary>
    public string DisplayName => Name ?? Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A parsed Dockerfile.</summary>
/// <param name="File">The name used in messages (normally "Dockerfile").</param>
/// <param name="EscapeChar">From the <c># escape=</c> directive; <c>\</c> by default.</param>
/// <param name="Syntax">The <c># syntax=</c> directive if present (recorded, otherwise ignored).</param>
/// <param name="GlobalArgs">ARG instructions before the first FROM; visible in FROM lines only, unless redeclared in a stage.</param>
/// <param name="Warnings">Things Docker accepts but warns about (empty continuation lines, MAINTAINER, ...).</param>
public sealed record Dockerfile(
    string File,
    char EscapeChar,
    string? Syntax,
    IReadOnlyList<ArgInstruction> GlobalArgs,
    IReadOnlyList<Stage> Stages,
    IReadOnlyList<string> Warnings)
{
    /// <summary>Finds a stage by name (case-insensitive) or by index.</summary>
    public Stage? FindStage(string nameOrIndex)
    {
        foreach (var stage in Stages)
        {
            if (stage.Name is not null && string.Equals(stage.Name, nameOrIndex, StringComparison.OrdinalIgnoreCase))
            {
                return stage;
            }
        }
        if (int.TryParse(nameOrIndex, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)
            && index >= 0 && index < Stages.Count)
        {
            return Stages[index];
        }
        return null;
    }
}
