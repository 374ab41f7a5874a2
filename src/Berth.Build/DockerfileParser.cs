using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Berth.Build;

/// <summary>
/// Parses the Dockerfile language the way BuildKit's frontend does: parser directives at the very top, comments,
/// line continuations (comments and empty lines allowed inside them), heredocs on RUN/COPY/ADD, JSON and shell forms,
/// case-insensitive instruction names. Every error found is reported, each naming its line and instruction.
/// </summary>
public static partial class DockerfileParser
{
    /// <summary>Parses <paramref name="text"/>; throws <see cref="DockerfileException"/> listing every problem.</summary>
    public static Dockerfile Parse(string text, string file = "Dockerfile")
    {
        var state = new ParseState(file);
        var lines = SplitLines(text);
        var logical = ReadLogicalLines(lines, state);

        var globalArgs = new List<ArgInstruction>();
        var stages = new List<Stage>();
        FromInstruction? currentFrom = null;
        List<Instruction>? current = null;
        var names = new HashSet<string>(StringComparer.Ordinal);

        void CloseStage()
        {
            if (currentFrom is not null)
            {
                stages.Add(new Stage(stages.Count, currentFrom.StageName, currentFrom, current!));
            }
        }

        foreach (var line in logical)
        {
            var instruction = ParseInstruction(line, state, nested: false);
            if (instruction is null)
            {
                continue;
            }
            switch (instruction)
            {
                case FromInstruction from:
                    CloseStage();
                    if (from.StageName is not null && !names.Add(from.StageName))
                    {
                        state.Error(line.Start, $"FROM: duplicate stage name \"{from.StageName}\"");
                    }
                    currentFrom = from;
                    current = [];
                    break;
                case ArgInstruction arg when currentFrom is null:
                    globalArgs.Add(arg);
                    break;
                default:
                    if (currentFrom is null)
                    {
                        state.Error(line.Start, $"{instruction.Keyword} comes before the first FROM; only ARG may precede FROM");
                    }
                    else
                    {
                        current!.Add(instruction);
                    }
                    break;
            }
        }
        CloseStage();

        if (state.Errors.Count == 0 && stages.Count == 0)
        {
            state.Error(0, logical.Count == 0 ? "the Dockerfile is empty; it needs at least a FROM instruction" : "no FROM instruction; a Dockerfile needs at least one build stage");
        }
        if (state.Errors.Count > 0)
        {
            throw new DockerfileException(state.Errors);
        }
        return new Dockerfile(file, state.Escape, state.Syntax, globalArgs, stages, state.Warnings);
    }

    /// <summary>Parses one instruction line on its own (an ONBUILD trigger recorded in a base image).</summary>
    public static Instruction ParseTrigger(string trigger, char escape, string file, int line)
    {
        var state = new ParseState(file) { Escape = escape };
        var lines = SplitLines(trigger);
        // A trigger may carry heredocs (recorded as "RUN <<EOF\n...\nEOF"), so run it through the line reader.
        state.DirectivesDone = true;
        var logical = ReadLogicalLines(lines, state);
        Instruction? result = null;
        if (logical.Count == 1)
        {
            var l = logical[0];
            result = ParseInstruction(l with { Start = line, End = line }, state, nested: true);
            if (result is FromInstruction or MaintainerInstruction or OnBuildInstruction)
            {
                state.Error(line, $"{result.Keyword} isn't allowed as an ONBUILD trigger");
            }
        }
        else if (state.Errors.Count == 0)
        {
            state.Error(line, $"ONBUILD trigger \"{trigger}\" is not a single instruction");
        }
        if (state.Errors.Count > 0 || result is null)
        {
            throw new DockerfileException(state.Errors.Count > 0 ? state.Errors : [new DockerfileError(file, line, "empty ONBUILD trigger")]);
        }
        return result;
    }

    private sealed class ParseState(string file)
    {
        public string File { get; } = file;

        public char Escape { get; set; } = '\\';

        public string? Syntax { get; set; }

        public bool DirectivesDone { get; set; }

        public HashSet<string> SeenDirectives { get; } = [];

        public List<DockerfileError> Errors { get; } = [];

        public List<string> Warnings { get; } = [];

        public void Error(int line, string message) => Errors.Add(new DockerfileError(File, line, message));

        public void Warn(int line, string message) => Warnings.Add(new DockerfileError(File, line, message).ToString());
    }

    private sealed record LogicalLine(int Start, int End, string Text, List<Heredoc> Heredocs);

    private static List<string> SplitLines(string text)
    {
        if (text.Length > 0 && text[0] == '\uFEFF')
        {
            text = text[1..];
        }
        var lines = new List<string>(text.Split('\n'));
        if (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }
        for (var i = 0; i < lines.Count; i++)
        {
            if (lines[i].EndsWith('\r'))
            {
                lines[i] = lines[i][..^1];
            }
        }
        return lines;
    }

    [GeneratedRegex(@"^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$")]
    private static partial Regex DirectiveRegex();

    [GeneratedRegex(@"[\t\v\f\r ]+")]
    private static partial Regex WhitespaceRegex();

    [GeneratedRegex(@"^[a-z][a-z0-9\-_\.]*$")]
    private static partial Regex StageNameRegex();

    [GeneratedRegex(@"^(\d*)<<(-?)(.+)$")]
    private static partial Regex HeredocRegex();

    private static bool IsComment(string line) => line.TrimStart(' ', '\t').StartsWith('#');

    private static bool IsBlank(string line) => line.Trim(' ', '\t', '\r', '\f', '\v').Length == 0;

    /// <summary>Recognises a parser directive; once any other line is seen, directives are no longer looked for.</summary>
    private static void PossibleDirective(string line, int lineNo, ParseState state)
    {
        if (state.DirectivesDone)
        {
            return;
        }
        var match = DirectiveRegex().Match(line);
        if (!match.Success)
        {
            state.DirectivesDone = true;
            return;
        }
        var key = match.Groups[1].Value.ToLowerInvariant();
        if (key is not ("escape" or "syntax" or "check"))
        {
            state.DirectivesDone = true;
            return;
        }
        if (!state.SeenDirectives.Add(key))
        {
            state.Error(lineNo, $"only one {key} parser directive can be used");
            return;
        }
        var value = match.Groups[2].Value;
        if (key == "escape")
        {
            if (value is "`" or "\\")
            {
                state.Escape = value[0];
            }
            else
            {
                state.Error(lineNo, $"invalid escape token '{value}' does not match ` or \\");
            }
        }
        else if (key == "syntax")
        {
            state.Syntax = value;
        }
    }

    /// <summary>Strips a trailing escape character (optionally followed by blanks): the line continues.</summary>
    private static bool TrimContinuation(ref string line, char escape)
    {
        var end = line.Length;
        while (end > 0 && line[end - 1] is ' ' or '\t')
        {
            end--;
        }
        if (end > 0 && line[end - 1] == escape)
        {
            line = line[..(end - 1)];
            return true;
        }
        return false;
    }

    private static List<LogicalLine> ReadLogicalLines(List<string> lines, ParseState state)
    {
        var result = new List<LogicalLine>();
        var i = 0;
        while (i < lines.Count)
        {
            var raw = lines[i];
            var lineNo = ++i;
            var token = raw.TrimStart(' ', '\t');
            PossibleDirective(token, lineNo, state);
            if (IsComment(token))
            {
                continue;
            }
            var continues = TrimContinuation(ref token, state.Escape);
            if (!continues && token.Length == 0)
            {
                continue;
            }
            var buffer = new StringBuilder(token);
            var emptyContinuation = false;
            var end = lineNo;
            while (continues && i < lines.Count)
            {
                var next = lines[i];
                end = ++i;
                if (IsComment(next))
                {
                    continue;
                }
                if (IsBlank(next))
                {
                    emptyContinuation = true;
                    continue;
                }
                continues = TrimContinuation(ref next, state.Escape);
                buffer.Append(next);
            }
            var text = buffer.ToString();
            if (emptyContinuation)
            {
                state.Warn(lineNo, "empty continuation line in: " + text.Trim());
            }

            var heredocs = new List<Heredoc>();
            if (CanContainHeredoc(text) && text.Contains("<<", StringComparison.Ordinal))
            {
                foreach (var (name, expand, chomp) in HeredocsInLine(text))
                {
                    var content = new StringBuilder();
                    var terminated = false;
                    while (i < lines.Count)
                    {
                        var body = lines[i];
                        end = ++i;
                        var candidate = chomp ? body.TrimStart('\t') : body;
                        if (candidate == name)
                        {
                            terminated = true;
                            break;
                        }
                        content.Append(chomp ? body.TrimStart('\t') : body).Append('\n');
                    }
                    if (!terminated)
                    {
                        state.Error(lineNo, $"{FirstWord(text).ToUpperInvariant()}: unterminated heredoc <<{name} (no line \"{name}\" before the end of the file)");
                        return result;
                    }
                    heredocs.Add(new Heredoc(name, content.ToString(), expand, chomp));
                }
            }
            result.Add(new LogicalLine(lineNo, end, text, heredocs));
        }
        return result;
    }

    private static string FirstWord(string text)
    {
        var trimmed = text.TrimStart();
        var space = trimmed.IndexOfAny([' ', '\t']);
        return space < 0 ? trimmed : trimmed[..space];
    }

    private static bool CanContainHeredoc(string text) =>
        FirstWord(text).ToUpperInvariant() is "RUN" or "COPY" or "ADD" or "ONBUILD";

    /// <summary>Finds <c>&lt;&lt;EOF</c>, <c>&lt;&lt;-EOF</c>, <c>&lt;&lt;"EOF"</c> words on a shell-form line.</summary>
    private static List<(string Name, bool Expand, bool Chomp)> HeredocsInLine(string text)
    {
        var docs = new List<(string, bool, bool)>();
        var rest = text.TrimStart();
        // JSON (exec) form never has heredocs.
        var afterKeyword = rest[FirstWord(rest).Length..].TrimStart();
        if (afterKeyword.StartsWith('['))
        {
            return docs;
        }
        foreach (var word in SplitShellWordsRaw(rest))
        {
            var match = HeredocRegex().Match(word);
            if (!match.Success)
            {
                continue;
            }
            var chomp = match.Groups[2].Value == "-";
            var name = match.Groups[3].Value;
            var quoted = name.Contains('"', StringComparison.Ordinal) || name.Contains('\'', StringComparison.Ordinal);
            name = name.Replace("\"", string.Empty, StringComparison.Ordinal).Replace("'", string.Empty, StringComparison.Ordinal);
            if (name.Length == 0 || name.Contains('<', StringComparison.Ordinal))
            {
                continue;
            }
            docs.Add((name, !quoted, chomp));
        }
        return docs;
    }

    /// <summary>Splits on blanks outside quotes, keeping quotes in the words.</summary>
    private static List<string> SplitShellWordsRaw(string text)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        char quote = '\0';
        foreach (var ch in text)
        {
            if (quote != '\0')
            {
                word.Append(ch);
                if (ch == quote)
                {
                    quote = '\0';
                }
                continue;
            }
            if (ch is '"' or '\'')
            {
                quote = ch;
                word.Append(ch);
            }
            else if (char.IsWhiteSpace(ch))
            {
                if (word.Length > 0)
                {
                    words.Add(word.ToString());
                    word.Clear();
                }
            }
            else
            {
                word.Append(ch);
            }
        }
        if (word.Length > 0)
        {
            words.Add(word.ToString());
        }
        return words;
    }

    private static Instruction? ParseInstruction(LogicalLine line, ParseState state, bool nested)
    {
        var text = line.Text.Trim();
        var parts = WhitespaceRegex().Split(text, 2);
        var keyword = parts[0].ToUpperInvariant();
        var rest = parts.Length > 1 ? parts[1] : string.Empty;
        var errorCount = state.Errors.Count;
        var location = new SourceLocation(state.File, line.Start, line.End);

        if (!Known.Contains(keyword))
        {
            state.Error(line.Start, $"unknown instruction: {parts[0]}");
            return null;
        }

        var (args, flagWords) = ExtractFlags(rest);
        var flags = new Flags(keyword, flagWords, line.Start, state);
        Instruction? result = keyword switch
        {
            "FROM" => ParseFrom(args, flags, location, text, state),
            "RUN" => ParseRun(args, flags, location, text, line.Heredocs, state),
            "CMD" => ParseCommand(args, flags, location, text, state, keyword),
            "ENTRYPOINT" => ParseCommand(args, flags, location, text, state, keyword),
            "SHELL" => ParseShell(args, flags, location, text, state),
            "ENV" => ParseKeyValues(args, flags, location, text, state, keyword),
            "LABEL" => ParseKeyValues(args, flags, location, text, state, keyword),
            "ARG" => ParseArg(args, flags, location, text, state),
            "EXPOSE" => ParseExpose(args, flags, location, text, state),
            "COPY" => ParseCopy(args, flags, location, text, line.Heredocs, state, isAdd: false),
            "ADD" => ParseCopy(args, flags, location, text, line.Heredocs, state, isAdd: true),
            "VOLUME" => ParseVolume(args, flags, location, text, state),
            "USER" => ParseSingle(args, flags, location, text, state, keyword),
            "WORKDIR" => ParseSingle(args, flags, location, text, state, keyword),
            "STOPSIGNAL" => ParseSingle(args, flags, location, text, state, keyword),
            "MAINTAINER" => ParseSingle(args, flags, location, text, state, keyword),
            "ONBUILD" => ParseOnBuild(rest, flags, location, text, line, state, nested),
            "HEALTHCHECK" => ParseHealthcheck(args, flags, location, text, state),
            _ => null,
        };
        flags.ReportUnused();
        return state.Errors.Count > errorCount ? null : result;
    }

    private static readonly HashSet<string> Known =
    [
        "FROM", "RUN", "CMD", "ENTRYPOINT", "SHELL", "ENV", "LABEL", "ARG", "EXPOSE", "COPY", "ADD", "VOLUME",
        "USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER", "ONBUILD", "HEALTHCHECK",
    ];

    private static Instruction? ParseFrom(string args, Flags flags, SourceLocation loc, string original, ParseState state)
    {
        var platform = flags.String("platform");
        var words = Fields(args);
        string? name = null;
        if (words.Count == 3 && string.Equals(words[1], "AS", StringComparison.OrdinalIgnoreCase))
        {
            name = words[2].ToLowerInvariant();
            if (!StageNameRegex().IsMatch(name))
            {
                state.Error(loc.Line, $"FROM: invalid name for build stage: \"{words[2]}\", name can't start with a number or contain symbols");
                return null;
            }
        }
        else if (words.Count != 1)
        {
            state.Error(loc.Line, words.Count == 0 ? "FROM needs an image name" : "FROM needs either one or three arguments (FROM image [AS name])");
            return null;
        }
        return new FromInstruction(loc, original, words[0], name, platform);
    }

    private static Instruction? ParseRun(string args, Flags flags, SourceLocation loc, string original, List<Heredoc> heredocs, ParseState state)
    {
        var network = RunNetwork.Default;
        var net = flags.String("network");
        if (net is not null)
        {
            switch (net)
            {
                case "none":
                    network = RunNetwork.None;
                    break;
                case "default":
                    break;
                default:
                    state.Error(loc.Line, $"not supported: RUN --network={net} (only --network=none and --network=default)");
                    break;
            }
        }
        if (flags.Has("mount"))
        {
            state.Error(loc.Line, "not supported: RUN --mount");
        }
        if (flags.Has("security"))
        {
            state.Error(loc.Line, "not supported: RUN --security");
        }
        var command = ParseMaybeJson(args, loc, state, "RUN");
        if (command is null)
        {
            return null;
        }
        if (command.Args.Count == 0 || (command.IsShellForm && command.Args[0].Length == 0))
        {
            state.Error(loc.Line, "RUN needs at least one argument");
            return null;
        }
        if (heredocs.Count > 0 && command.IsShellForm)
        {
            var script = command.Args[0].Trim();
            if (heredocs.Count == 1 && IsBareHeredoc(script, heredocs[0].Name))
            {
                // "RUN <<EOF": the heredoc is the script; with a #! line it is a file the kernel executes.
                if (heredocs[0].Content.StartsWith("#!", StringComparison.Ordinal))
                {
                    return new RunInstruction(loc, original, CommandLine.Exec([RunInstruction.ScriptPath]), network, heredocs)
                    {
                        Script = heredocs[0].Content,
                    };
                }
                command = CommandLine.Shell(heredocs[0].Content);
            }
            else
            {
                // The heredocs stay part of a shell command line; the shell reads them itself.
                var full = new StringBuilder(command.Args[0]);
                foreach (var doc in heredocs)
                {
                    full.Append('\n').Append(doc.Content).Append(doc.Name);
                }
                command = CommandLine.Shell(full.ToString());
            }
        }
        return new RunInstruction(loc, original, command, network, heredocs);
    }

    private static bool IsBareHeredoc(string script, string name)
    {
        var match = HeredocRegex().Match(script);
        return match.Success && match.Groups[1].Value.Length == 0
            && match.Groups[3].Value.Replace("\"", string.Empty, StringComparison.Ordinal).Replace("'", string.Empty, StringComparison.Ordinal) == name;
    }

    private static Instruction? ParseCommand(string args, Flags flags, SourceLocation loc, string original, ParseState state, string keyword)
    {
        _ = flags;
        if (args.Length == 0)
        {
            state.Error(loc.Line, $"{keyword} needs at least one argument");
            return null;
        }
        var command = ParseMaybeJson(args, loc, state, keyword);
        if (command is null)
        {
            return null;
        }
        return keyword == "CMD" ? new CmdInstruction(loc, original, command) : new EntrypointInstruction(loc, original, command);
    }

    private static Instruction? ParseShell(string args, Flags flags, SourceLocation loc, string original, ParseState state)
    {
        _ = flags;
        var json = TryParseJsonArray(args, out var jsonError);
        if (jsonError is not null)
        {
            state.Error(loc.Line, "SHELL " + jsonError);
            return null;
        }
        if (json is null)
        {
            state.Error(loc.Line, "SHELL needs the arguments in JSON form, e.g. SHELL [\"/bin/bash\", \"-c\"]");
            return null;
        }
        if (json.Count == 0)
        {
            state.Error(loc.Line, "SHELL needs at least one argument");
            return null;
        }
        return new ShellInstruction(loc, original, json);
    }

    private static Instruction? ParseKeyValues(string args, Flags flags, SourceLocation loc, string original, ParseState state, string keyword)
    {
        _ = flags;
        var words = ParseWords(args, state.Escape);
        if (words.Count == 0)
        {
            state.Error(loc.Line, $"{keyword} needs at least one argument");
            return null;
        }
        var pairs = new List<KeyValue>();
        if (!words[0].Contains('=', StringComparison.Ordinal))
        {
            // The legacy form "ENV key value": everything after the first blank is the value.
            var legacy = WhitespaceRegex().Split(args.Trim(), 2);
            if (legacy.Length < 2)
            {
                state.Error(loc.Line, $"{keyword} needs a name and a value ({keyword} name=value)");
                return null;
            }
            state.Warn(loc.Line, $"{keyword} uses the legacy \"{keyword} key value\" form; prefer {keyword} key=value");
            pairs.Add(new KeyValue(legacy[0], legacy[1]));
        }
        else
        {
            foreach (var word in words)
            {
                var eq = word.IndexOf('=', StringComparison.Ordinal);
                if (eq < 0)
                {
                    state.Error(loc.Line, $"{keyword}: can't find = in \"{word}\"; it must be of the form name=value");
                    return null;
                }
                if (eq == 0)
                {
                    state.Error(loc.Line, $"{keyword} names can not be blank");
                    return null;
                }
                pairs.Add(new KeyValue(word[..eq], word[(eq + 1)..]));
            }
        }
        return keyword == "ENV" ? new EnvInstruction(loc, original, pairs) : new LabelInstruction(loc, original, pairs);
    }

    private static Instruction? ParseArg(string args, Flags flags, SourceLocation loc, string original, ParseState state)
    {
        _ = flags;
        var words = ParseWords(args, state.Escape);
        if (words.Count == 0)
        {
            state.Error(loc.Line, "ARG needs at least one argument");
            return null;
        }
        var decls = new List<ArgDeclaration>();
        foreach (var word in words)
        {
            var eq = word.IndexOf('=', StringComparison.Ordinal);
            if (eq == 0)
            {
                state.Error(loc.Line, "ARG names can not be blank");
                return null;
            }
            decls.Add(eq < 0 ? new ArgDeclaration(word, null) : new ArgDeclaration(word[..eq], word[(eq + 1)..]));
        }
        return new ArgInstruction(loc, original, decls);
    }

    private static Instruction? ParseExpose(string args, Flags flags, SourceLocation loc, string original, ParseState state)
    {
        _ = flags;
        var ports = Fields(args);
        if (ports.Count == 0)
        {
            state.Error(loc.Line, "EXPOSE needs at least one argument");
            return null;
        }
        return new ExposeInstruction(loc, original, ports);
    }

    private static Instruction? ParseCopy(string args, Flags flags, SourceLocation loc, string original, List<Heredoc> heredocs, ParseState state, bool isAdd)
    {
        var keyword = isAdd ? "ADD" : "COPY";
        var from = isAdd ? null : flags.String("from");
        var chown = flags.String("chown");
        var chmod = flags.String("chmod");
        var link = flags.Bool("link");
        if (flags.Has("parents"))
        {
            state.Error(loc.Line, $"not supported: {keyword} --parents");
        }
        if (flags.Has("exclude"))
        {
            state.Error(loc.Line, $"not supported: {keyword} --exclude");
        }
        if (isAdd && flags.Has("keep-git-dir"))
        {
            state.Error(loc.Line, "not supported: ADD --keep-git-dir (ADD from a git repository)");
        }
        var checksum = isAdd ? flags.String("checksum") : null;
        if (checksum is not null && !(checksum.StartsWith("sha256:", StringComparison.Ordinal) && checksum.Length == 71 && checksum[7..].All(char.IsAsciiHexDigit)))
        {
            state.Error(loc.Line, $"ADD: invalid --checksum={checksum}; use sha256:<64 hex digits>");
        }
        if (chmod is not null && !IsOctalMode(chmod))
        {
            state.Error(loc.Line, $"{keyword}: invalid --chmod={chmod}; use an octal mode such as 0755");
        }
        var words = ListMaybeJson(args, loc, state, keyword);
        if (words is null)
        {
            return null;
        }
        if (words.Count < 2)
        {
            state.Error(loc.Line, $"{keyword} needs at least two arguments");
            return null;
        }
        return new CopyInstruction(loc, original, isAdd, words.Take(words.Count - 1).ToList(), words[^1], from, chown, chmod, link, heredocs)
        {
            Checksum = checksum?.ToLowerInvariant(),
        };
    }

    private static bool IsOctalMode(string mode) =>
        mode.Length is > 0 and <= 5 && mode.All(c => c is >= '0' and <= '7');

    private static Instruction? ParseVolume(string args, Flags flags, SourceLocation loc, string original, ParseState state)
    {
        _ = flags;
        var words = ListMaybeJson(args, loc, state, "VOLUME");
        if (words is null)
        {
            return null;
        }
        if (words.Count == 0)
        {
            state.Error(loc.Line, "VOLUME needs at least one argument");
            return null;
        }
        if (words.Any(w => w.Trim().Length == 0))
        {
            state.Error(loc.Line, "VOLUME specified can not be an empty string");
            return null;
        }
        return new VolumeInstruction(loc, original, words);
    }

    private static Instruction? ParseSingle(string args, Flags flags, SourceLocation loc, string original, ParseState state, string keyword)
    {
        _ = flags;
        var value = args.Trim();
        if (value.Length == 0)
        {
            state.Error(loc.Line, $"{keyword} needs exactly one argument");
            return null;
        }
        switch (keyword)
        {
            case "USER":
                return new UserInstruction(loc, original, value);
            case "WORKDIR":
                return new WorkdirInstruction(loc, original, value);
            case "STOPSIGNAL":
                return new StopSignalInstruction(loc, original, value);
            default:
                state.Warn(loc.Line, "MAINTAINER is deprecated; use LABEL org.opencontainers.image.authors=\"...\"");
                return new MaintainerInstruction(loc, original, value);
        }
    }

    private static Instruction? ParseOnBuild(string rest, Flags flags, SourceLocation loc, string original, LogicalLine line, ParseState state, bool nested)
    {
        _ = flags;
        var trigger = rest.Trim();
        if (trigger.Length == 0)
        {
            state.Error(loc.Line, "ONBUILD needs at least one argument");
            return null;
        }
        var innerKeyword = WhitespaceRegex().Split(trigger, 2)[0].ToUpperInvariant();
        switch (innerKeyword)
        {
            case "ONBUILD":
                state.Error(loc.Line, "ONBUILD: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
                return null;
            case "FROM":
            case "MAINTAINER":
                state.Error(loc.Line, $"ONBUILD: {innerKeyword} isn't allowed as an ONBUILD trigger");
                return null;
        }
        if (nested)
        {
            state.Error(loc.Line, "ONBUILD: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
            return null;
        }
        var inner = ParseInstruction(new LogicalLine(line.Start, line.End, trigger, line.Heredocs), state, nested: true);
        if (inner is null)
        {
            return null;
        }
        // The recorded trigger is the text after ONBUILD, heredocs included, so a child can parse it again.
        var recorded = new StringBuilder(trigger);
        foreach (var doc in line.Heredocs)
        {
            recorded.Append('\n').Append(doc.Content).Append(doc.Name);
        }
        return new OnBuildInstruction(loc, original, recorded.ToString(), inner);
    }

    private static Instruction? ParseHealthcheck(string args, Flags flags, SourceLocation loc, string original, ParseState state)
    {
        var trimmed = args.Trim();
        var sep = 0;
        while (sep < trimmed.Length && !char.IsWhiteSpace(trimmed[sep]))
        {
            sep++;
        }
        if (sep == 0)
        {
            state.Error(loc.Line, "HEALTHCHECK needs at least one argument (NONE, or CMD followed by a command)");
            return null;
        }
        var type = trimmed[..sep].ToUpperInvariant();
        var command = trimmed[sep..].Trim();
        if (type == "NONE")
        {
            if (command.Length > 0)
            {
                state.Error(loc.Line, "HEALTHCHECK NONE takes no arguments");
                return null;
            }
            if (flags.Count > 0)
            {
                state.Error(loc.Line, "HEALTHCHECK NONE takes no options");
                flags.MarkAllUsed();
                return null;
            }
            return new HealthcheckInstruction(loc, original, new HealthcheckDraft { Test = ["NONE"] });
        }
        var health = new HealthcheckDraft
        {
            Interval = Duration(flags.String("interval"), "interval", loc, state),
            Timeout = Duration(flags.String("timeout"), "timeout", loc, state),
            StartPeriod = Duration(flags.String("start-period"), "start-period", loc, state),
            StartInterval = Duration(flags.String("start-interval"), "start-interval", loc, state),
        };
        var retries = flags.String("retries");
        if (retries is not null)
        {
            if (!int.TryParse(retries, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var r))
            {
                state.Error(loc.Line, $"HEALTHCHECK: --retries={retries} is not a number");
            }
            else if (r < 0)
            {
                state.Error(loc.Line, $"HEALTHCHECK: --retries cannot be negative ({r})");
            }
            else
            {
                health.Retries = r;
            }
        }
        if (type != "CMD")
        {
            state.Error(loc.Line, $"HEALTHCHECK: unknown type \"{trimmed[..sep]}\" (try CMD)");
            return null;
        }
        if (command.Length == 0)
        {
            state.Error(loc.Line, "HEALTHCHECK: missing command after HEALTHCHECK CMD");
            return null;
        }
        var cmd = ParseMaybeJson(command, loc, state, "HEALTHCHECK");
        if (cmd is null)
        {
            return null;
        }
        if (cmd.Args.Count == 0)
        {
            state.Error(loc.Line, "HEALTHCHECK: missing command after HEALTHCHECK CMD");
            return null;
        }
        health.Test = cmd.IsShellForm ? ["CMD-SHELL", cmd.Args[0]] : ["CMD", .. cmd.Args];
        return new HealthcheckInstruction(loc, original, health);
    }

    private static long Duration(string? value, string flag, SourceLocation loc, ParseState state)
    {
        if (value is null || value.Length == 0)
        {
            return 0;
        }
        if (!GoDuration.TryParse(value, out var ns))
        {
            state.Error(loc.Line, $"HEALTHCHECK: --{flag}={value} is not a duration (use e.g. 30s, 1m30s, 500ms)");
            return 0;
        }
        if (ns == 0)
        {
            return 0;
        }
        if (ns < 1_000_000)
        {
            state.Error(loc.Line, $"HEALTHCHECK: --{flag}={value} cannot be less than 1ms");
            return 0;
        }
        return ns;
    }

    /// <summary>JSON array of strings (exec form) when the text is one, otherwise the shell form.</summary>
    private static CommandLine? ParseMaybeJson(string args, SourceLocation loc, ParseState state, string keyword)
    {
        var json = TryParseJsonArray(args, out var error);
        if (error is not null)
        {
            state.Error(loc.Line, keyword + " " + error);
            return null;
        }
        return json is not null ? CommandLine.Exec(json) : CommandLine.Shell(args);
    }

    private static List<string>? ListMaybeJson(string args, SourceLocation loc, ParseState state, string keyword)
    {
        var json = TryParseJsonArray(args, out var error);
        if (error is not null)
        {
            state.Error(loc.Line, keyword + " " + error);
            return null;
        }
        return json ?? Fields(args);
    }

    /// <summary>
    /// Docker's rule: text that parses as a JSON array is the exec form; an array with a non-string element is an
    /// error; anything else (including malformed JSON) is the shell form.
    /// </summary>
    private static List<string>? TryParseJsonArray(string text, out string? error)
    {
        error = null;
        var trimmed = text.TrimStart();
        if (!trimmed.StartsWith('['))
        {
            return null;
        }
        try
        {
            using var doc = JsonDocument.Parse(trimmed);
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
            {
                return null;
            }
            var list = new List<string>();
            foreach (var element in doc.RootElement.EnumerateArray())
            {
                if (element.ValueKind != JsonValueKind.String)
                {
                    error = "in JSON form needs an array of strings only";
                    return null;
                }
                list.Add(element.GetString()!);
            }
            return list;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static List<string> Fields(string args) =>
        WhitespaceRegex().Split(args.Trim()).Where(w => w.Length > 0).ToList();

    /// <summary>
    /// Splits ENV/LABEL/ARG arguments into words on blanks outside quotes. Quotes and escapes stay in the words
    /// (expansion removes them), exactly as BuildKit's parseWords.
    /// </summary>
    internal static List<string> ParseWords(string rest, char escape)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        var blankOk = false;
        char quote = '\0';
        for (var pos = 0; pos < rest.Length; pos++)
        {
            var ch = rest[pos];
            if (!inWord && quote == '\0')
            {
                if (char.IsWhiteSpace(ch))
                {
                    continue;
                }
                inWord = true;
            }
            if (quote == '\0')
            {
                if (char.IsWhiteSpace(ch))
                {
                    if (blankOk || word.Length > 0)
                    {
                        words.Add(word.ToString());
                    }
                    word.Clear();
                    blankOk = false;
                    inWord = false;
                    continue;
                }
                if (ch is '\'' or '"')
                {
                    quote = ch;
                    blankOk = true;
                }
                if (ch == escape)
                {
                    if (pos + 1 == rest.Length)
                    {
                        continue;
                    }
                    word.Append(ch);
                    ch = rest[++pos];
                }
                word.Append(ch);
                continue;
            }
            // inside quotes
            if (ch == quote)
            {
                quote = '\0';
            }
            else if (ch == escape && quote != '\'')
            {
                if (pos + 1 == rest.Length)
                {
                    quote = '\0';
                    continue;
                }
                word.Append(ch);
                ch = rest[++pos];
            }
            word.Append(ch);
        }
        if (inWord || quote != '\0')
        {
            if (blankOk || word.Length > 0)
            {
                words.Add(word.ToString());
            }
        }
        return words;
    }

    /// <summary>Separates leading <c>--flag[=value]</c> words from the rest of the arguments (BuildKit's extractBuilderFlags).</summary>
    internal static (string Args, List<string> Flags) ExtractFlags(string line)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var pos = 0;
        while (true)
        {
            while (pos < line.Length && char.IsWhiteSpace(line[pos]))
            {
                pos++;
            }
            if (pos >= line.Length)
            {
                return (string.Empty, words);
            }
            if (!(line[pos] == '-' && pos + 1 < line.Length && line[pos + 1] == '-'))
            {
                return (line[pos..].TrimEnd(), words);
            }
            word.Clear();
            char quote = '\0';
            while (pos < line.Length && (quote != '\0' || !char.IsWhiteSpace(line[pos])))
            {
                var ch = line[pos];
                if (quote == '\0' && ch is '\'' or '"')
                {
                    quote = ch;
                }
                else if (quote != '\0' && ch == quote)
                {
                    quote = '\0';
                }
                else if (ch == '\\' && pos + 1 < line.Length)
                {
                    word.Append(line[++pos]);
                }
                else
                {
                    word.Append(ch);
                }
                pos++;
            }
            if (word.ToString() == "--")
            {
                return (line[pos..].Trim(), words);
            }
            words.Add(word.ToString());
        }
    }

    /// <summary>The flags of one instruction; each accessor marks its flag as known, the rest are reported.</summary>
    private sealed class Flags
    {
        private readonly string _keyword;
        private readonly int _line;
        private readonly ParseState _state;
        private readonly List<(string Name, string? Value)> _flags = [];
        private readonly HashSet<string> _used = [];

        public Flags(string keyword, List<string> words, int line, ParseState state)
        {
            _keyword = keyword;
            _line = line;
            _state = state;
            foreach (var word in words)
            {
                var body = word[2..];
                var eq = body.IndexOf('=', StringComparison.Ordinal);
                _flags.Add(eq < 0 ? (body.ToLowerInvariant(), null) : (body[..eq].ToLowerInvariant(), body[(eq + 1)..]));
            }
        }

        public int Count => _flags.Count;

        public bool Has(string name)
        {
            _used.Add(name);
            return _flags.Any(f => f.Name == name);
        }

        public string? String(string name)
        {
            _used.Add(name);
            string? result = null;
            var seen = false;
            foreach (var (flag, value) in _flags)
            {
                if (flag != name)
                {
                    continue;
                }
                if (seen)
                {
                    _state.Error(_line, $"{_keyword}: duplicate flag specified: --{name}");
                }
                seen = true;
                if (value is null)
                {
                    _state.Error(_line, $"{_keyword}: missing a value on flag --{name} (use --{name}=<value>)");
                }
                result = value;
            }
            return result;
        }

        public bool Bool(string name)
        {
            _used.Add(name);
            var result = false;
            foreach (var (flag, value) in _flags)
            {
                if (flag != name)
                {
                    continue;
                }
                switch (value?.ToLowerInvariant())
                {
                    case null or "true":
                        result = true;
                        break;
                    case "false":
                        result = false;
                        break;
                    default:
                        _state.Error(_line, $"{_keyword}: expecting a boolean value for flag --{name}, not: {value}");
                        break;
                }
            }
            return result;
        }

        public void MarkAllUsed()
        {
            foreach (var f in _flags)
            {
                _used.Add(f.Name);
            }
        }

        public void ReportUnused()
        {
            foreach (var (flag, _) in _flags)
            {
                if (!_used.Contains(flag))
                {
                    _state.Error(_line, $"{_keyword} has an unknown flag: --{flag}");
                    _used.Add(flag);
                }
            }
        }
    }
}
