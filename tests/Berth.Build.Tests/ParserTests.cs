namespace Berth.Build.Tests;

public class ParserTests
{
    private static Dockerfile Parse(string text) => DockerfileParser.Parse(text.Replace("\r\n", "\n", StringComparison.Ordinal));

    private static T Single<T>(string text)
        where T : Instruction => Assert.IsType<T>(Assert.Single(Parse(text).Stages[^1].Instructions));

    private static string Errors(string text) => Assert.Throws<DockerfileException>(() => Parse(text)).Message;

    [Theory]
    [InlineData("FROM a\nCOPY x", "Dockerfile:2: COPY needs at least two arguments")]
    [InlineData("FROM a\nRUN", "Dockerfile:2: RUN needs at least one argument")]
    [InlineData("FROM a\nADD one", "Dockerfile:2: ADD needs at least two arguments")]
    [InlineData("FROM a b", "Dockerfile:1: FROM needs either one or three arguments (FROM image [AS name])")]
    [InlineData("FROM a AS 1bad", "Dockerfile:1: FROM: invalid name for build stage: \"1bad\", name can't start with a number or contain symbols")]
    [InlineData("FROM a AS x\nFROM b AS X", "Dockerfile:2: FROM: duplicate stage name \"x\"")]
    [InlineData("RUN true\nFROM a", "Dockerfile:1: RUN comes before the first FROM; only ARG may precede FROM")]
    [InlineData("FROM a\nFOO bar", "Dockerfile:2: unknown instruction: FOO")]
    [InlineData("FROM a\nRUN --mount=type=cache,target=/x make", "Dockerfile:2: not supported: RUN --mount")]
    [InlineData("FROM a\nRUN --network=host make", "Dockerfile:2: not supported: RUN --network=host (only --network=none and --network=default)")]
    [InlineData("FROM a\nRUN --security=insecure make", "Dockerfile:2: not supported: RUN --security")]
    [InlineData("FROM a\nCOPY --bogus=1 a b", "Dockerfile:2: COPY has an unknown flag: --bogus")]
    [InlineData("FROM a\nCOPY --from a b", "Dockerfile:2: COPY: missing a value on flag --from (use --from=<value>)")]
    [InlineData("FROM a\nCOPY --chmod=u+x a b", "Dockerfile:2: COPY: invalid --chmod=u+x; use an octal mode such as 0755")]
    [InlineData("FROM a\nCOPY --link=maybe a b", "Dockerfile:2: COPY: expecting a boolean value for flag --link, not: maybe")]
    [InlineData("FROM a\nCOPY --parents a b/", "Dockerfile:2: not supported: COPY --parents")]
    [InlineData("FROM a\nADD --from=x a b", "Dockerfile:2: ADD has an unknown flag: --from")]
    [InlineData("FROM a\nADD --checksum=md5:x http://h/a b", "Dockerfile:2: ADD: invalid --checksum=md5:x; use sha256:<64 hex digits>")]
    [InlineData("FROM a\nCOPY --checksum=sha256:x a b", "Dockerfile:2: COPY has an unknown flag: --checksum")]
    [InlineData("FROM a\nCMD --x=1 ls", "Dockerfile:2: CMD has an unknown flag: --x")]
    [InlineData("FROM a\nENV", "Dockerfile:2: ENV needs at least one argument")]
    [InlineData("FROM a\nENV onlyname", "Dockerfile:2: ENV needs a name and a value (ENV name=value)")]
    [InlineData("FROM a\nENV a=1 b", "Dockerfile:2: ENV: can't find = in \"b\"; it must be of the form name=value")]
    [InlineData("FROM a\nLABEL =x", "Dockerfile:2: LABEL names can not be blank")]
    [InlineData("FROM a\nARG =x", "Dockerfile:2: ARG names can not be blank")]
    [InlineData("FROM a\nARG", "Dockerfile:2: ARG needs at least one argument")]
    [InlineData("FROM a\nEXPOSE", "Dockerfile:2: EXPOSE needs at least one argument")]
    [InlineData("FROM a\nWORKDIR", "Dockerfile:2: WORKDIR needs exactly one argument")]
    [InlineData("FROM a\nUSER", "Dockerfile:2: USER needs exactly one argument")]
    [InlineData("FROM a\nSTOPSIGNAL", "Dockerfile:2: STOPSIGNAL needs exactly one argument")]
    [InlineData("FROM a\nVOLUME", "Dockerfile:2: VOLUME needs at least one argument")]
    [InlineData("FROM a\nVOLUME [\"\"]", "Dockerfile:2: VOLUME specified can not be an empty string")]
    [InlineData("FROM a\nSHELL /bin/bash -c", "Dockerfile:2: SHELL needs the arguments in JSON form, e.g. SHELL [\"/bin/bash\", \"-c\"]")]
    [InlineData("FROM a\nSHELL []", "Dockerfile:2: SHELL needs at least one argument")]
    [InlineData("FROM a\nCMD [\"a\", 1]", "Dockerfile:2: CMD in JSON form needs an array of strings only")]
    [InlineData("FROM a\nONBUILD ONBUILD RUN x", "Dockerfile:2: ONBUILD: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    [InlineData("FROM a\nONBUILD FROM b", "Dockerfile:2: ONBUILD: FROM isn't allowed as an ONBUILD trigger")]
    [InlineData("FROM a\nONBUILD MAINTAINER me", "Dockerfile:2: ONBUILD: MAINTAINER isn't allowed as an ONBUILD trigger")]
    [InlineData("FROM a\nONBUILD COPY x", "Dockerfile:2: COPY needs at least two arguments")]
    [InlineData("FROM a\nHEALTHCHECK", "Dockerfile:2: HEALTHCHECK needs at least one argument (NONE, or CMD followed by a command)")]
    [InlineData("FROM a\nHEALTHCHECK NONE x", "Dockerfile:2: HEALTHCHECK NONE takes no arguments")]
    [InlineData("FROM a\nHEALTHCHECK --interval=5s NONE", "Dockerfile:2: HEALTHCHECK NONE takes no options")]
    [InlineData("FROM a\nHEALTHCHECK PING x", "Dockerfile:2: HEALTHCHECK: unknown type \"PING\" (try CMD)")]
    [InlineData("FROM a\nHEALTHCHECK CMD", "Dockerfile:2: HEALTHCHECK: missing command after HEALTHCHECK CMD")]
    [InlineData("FROM a\nHEALTHCHECK --interval=5 CMD x", "Dockerfile:2: HEALTHCHECK: --interval=5 is not a duration (use e.g. 30s, 1m30s, 500ms)")]
    [InlineData("FROM a\nHEALTHCHECK --timeout=10us CMD x", "Dockerfile:2: HEALTHCHECK: --timeout=10us cannot be less than 1ms")]
    [InlineData("FROM a\nHEALTHCHECK --retries=-1 CMD x", "Dockerfile:2: HEALTHCHECK: --retries cannot be negative (-1)")]
    [InlineData("FROM a\nHEALTHCHECK --bogus=1 CMD x", "Dockerfile:2: HEALTHCHECK has an unknown flag: --bogus")]
    [InlineData("", "Dockerfile: the Dockerfile is empty; it needs at least a FROM instruction")]
    [InlineData("# just a comment\n\n", "Dockerfile: the Dockerfile is empty; it needs at least a FROM instruction")]
    [InlineData("ARG X=1", "Dockerfile: no FROM instruction; a Dockerfile needs at least one build stage")]
    [InlineData("# escape=x\nFROM a", "Dockerfile:1: invalid escape token 'x' does not match ` or \\")]
    [InlineData("# escape=`\n# escape=\\\nFROM a", "Dockerfile:2: only one escape parser directive can be used")]
    [InlineData("FROM a\nRUN <<EOF\necho hi\n", "Dockerfile:2: RUN: unterminated heredoc <<EOF (no line \"EOF\" before the end of the file)")]
    public void Malformed_dockerfiles_name_line_instruction_and_problem(string text, string expected)
    {
        Assert.Equal(expected, Errors(text));
    }

    [Fact]
    public void Every_error_is_reported_not_just_the_first()
    {
        var e = Assert.Throws<DockerfileException>(() => Parse("FROM a\nCOPY x\nRUN\nBOGUS y\nCOPY --from a b\nWORKDIR /ok\nEXPOSE"));
        Assert.Equal(
            [
                "Dockerfile:2: COPY needs at least two arguments",
                "Dockerfile:3: RUN needs at least one argument",
                "Dockerfile:4: unknown instruction: BOGUS",
                "Dockerfile:5: COPY: missing a value on flag --from (use --from=<value>)",
                "Dockerfile:7: EXPOSE needs at least one argument",
            ],
            e.Errors.Select(x => x.ToString()));
        Assert.Equal(Berth.Core.ErrorCode.InvalidArgument, e.Code);
    }

    [Fact]
    public void Unsupported_only_errors_carry_the_unsupported_code()
    {
        var e = Assert.Throws<DockerfileException>(() => Parse("FROM a\nRUN --mount=type=bind,target=/x ls"));
        Assert.Equal(Berth.Core.ErrorCode.Unsupported, e.Code);
    }

    [Fact]
    public void Error_line_is_the_first_line_of_a_continued_instruction()
    {
        Assert.Equal("Dockerfile:3: COPY needs at least two arguments", Errors("FROM a\n\nCOPY \\\n  onlyone"));
    }

    [Fact]
    public void Line_numbers_count_comments_blank_lines_and_continuations()
    {
        var df = Parse("# comment\nFROM a\n\nRUN a \\\n  # inside\n  b\nENV x=1\n");
        var run = Assert.IsType<RunInstruction>(df.Stages[0].Instructions[0]);
        Assert.Equal(4, run.Location.Line);
        Assert.Equal(6, run.Location.EndLine);
        Assert.Equal(7, df.Stages[0].Instructions[1].Location.Line);
    }

    [Fact]
    public void Instruction_names_are_case_insensitive()
    {
        var df = Parse("from alpine as Build\nrun echo hi\nCoPy a b\n");
        Assert.Equal("build", df.Stages[0].Name);
        Assert.IsType<RunInstruction>(df.Stages[0].Instructions[0]);
        Assert.IsType<CopyInstruction>(df.Stages[0].Instructions[1]);
    }

    [Theory]
    [InlineData("FROM a\nRUN echo a \\\n  b", "echo a   b")]
    [InlineData("FROM a\nRUN echo a \\  \n  b", "echo a   b")]
    [InlineData("FROM a\nRUN echo a \\\n# comment in the middle\n  b", "echo a   b")]
    [InlineData("FROM a\nRUN echo a \\\n\n  b", "echo a   b")]
    [InlineData("FROM a\nRUN echo a \\\n   \n  b \\\n  c", "echo a   b   c")]
    [InlineData("# escape=`\nFROM a\nRUN echo a `\n  b", "echo a   b")]
    [InlineData("# escape=`\nFROM a\nRUN echo C:\\dir\\", "echo C:\\dir\\")]
    [InlineData("FROM a\r\nRUN echo a \\\r\n  b\r\n", "echo a   b")]
    [InlineData("\uFEFFFROM a\nRUN x", "x")]
    public void Continuations_join_lines(string text, string expected)
    {
        var run = Single<RunInstruction>(text);
        Assert.True(run.Command.IsShellForm);
        Assert.Equal(expected, run.Command.Args[0]);
    }

    [Fact]
    public void Empty_continuation_lines_warn()
    {
        var df = Parse("FROM a\nRUN a \\\n\n b");
        Assert.Contains(df.Warnings, w => w.StartsWith("Dockerfile:2: empty continuation line", StringComparison.Ordinal));
    }

    [Fact]
    public void Directives_only_count_at_the_top()
    {
        var df = Parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a");
        Assert.Equal('`', df.EscapeChar);
        Assert.Equal("docker/dockerfile:1", df.Syntax);

        // After a comment or blank line a directive is an ordinary comment.
        Assert.Equal('\\', Parse("# hello\n# escape=`\nFROM a").EscapeChar);
        Assert.Equal('\\', Parse("\n# escape=`\nFROM a").EscapeChar);
        Assert.Equal('\\', Parse("FROM a\n# escape=`\nRUN x").EscapeChar);
        // Unknown directives end the directive block.
        Assert.Equal('\\', Parse("# foo=bar\n# escape=`\nFROM a").EscapeChar);
        Assert.Equal('`', Parse("#ESCAPE = `\nFROM a").EscapeChar);
    }

    [Fact]
    public void Exec_and_shell_forms()
    {
        Assert.Equal(CommandLine.Exec(["echo", "a b"]).Args, Single<RunInstruction>("FROM a\nRUN [\"echo\", \"a b\"]").Command.Args);
        Assert.False(Single<CmdInstruction>("FROM a\nCMD [\"x\"]").Command.IsShellForm);
        // Not valid JSON: shell form, as written.
        var cmd = Single<CmdInstruction>("FROM a\nCMD [\"x\", 'y']");
        Assert.True(cmd.Command.IsShellForm);
        Assert.Equal("[\"x\", 'y']", cmd.Command.Args[0]);
        Assert.Empty(Single<CmdInstruction>("FROM a\nCMD []").Command.Args);
        var ep = Single<EntrypointInstruction>("FROM a\nENTRYPOINT exec top -b");
        Assert.Equal(["/bin/sh", "-c", "exec top -b"], ep.Command.ToArgv(["/bin/sh", "-c"]));
        Assert.Equal(["/bin/bash", "-o", "pipefail", "-c"], Single<ShellInstruction>("FROM a\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]").Shell);
    }

    [Fact]
    public void From_forms_and_global_args()
    {
        var df = Parse("ARG BASE=alpine\nARG V\nFROM --platform=linux/arm64 ${BASE}:$V AS build\nFROM build\nFROM scratch");
        Assert.Equal(2, df.GlobalArgs.Count);
        Assert.Equal(3, df.Stages.Count);
        Assert.Equal("${BASE}:$V", df.Stages[0].From.Image);
        Assert.Equal("linux/arm64", df.Stages[0].From.Platform);
        Assert.Equal("build", df.Stages[0].Name);
        Assert.Null(df.Stages[1].Name);
        Assert.Equal(1, df.Stages[1].Index);
        Assert.Same(df.Stages[0], df.FindStage("BUILD"));
        Assert.Same(df.Stages[2], df.FindStage("2"));
        Assert.Null(df.FindStage("3"));
    }

    [Theory]
    [InlineData("ENV a b c", "a", "b c")]
    [InlineData("ENV a=b", "a", "b")]
    [InlineData("ENV a=\"b c\"", "a", "\"b c\"")]
    [InlineData("ENV a='b c'", "a", "'b c'")]
    [InlineData("ENV a=b\\ c", "a", "b\\ c")]
    [InlineData("ENV a=", "a", "")]
    [InlineData("LABEL \"com.example.vendor\"=\"ACME Inc\"", "\"com.example.vendor\"", "\"ACME Inc\"")]
    public void Key_value_words_keep_quotes_for_expansion(string line, string key, string value)
    {
        var df = Parse("FROM a\n" + line);
        var pairs = df.Stages[0].Instructions[0] switch
        {
            EnvInstruction e => e.Pairs,
            LabelInstruction l => l.Pairs,
            _ => throw new InvalidOperationException(),
        };
        Assert.Equal(new KeyValue(key, value), Assert.Single(pairs));
    }

    [Fact]
    public void Several_pairs_on_one_line()
    {
        var env = Single<EnvInstruction>("FROM a\nENV a=1 b=\"x y\" \\\n    c=3");
        Assert.Equal(["a", "b", "c"], env.Pairs.Select(p => p.Key));
        var label = Single<LabelInstruction>("FROM a\nLABEL version=\"1.0\" description=\"a b\" multi.label=\"x\"");
        Assert.Equal(3, label.Pairs.Count);
        var arg = Single<ArgInstruction>("FROM a\nARG A B=2 C=\"x y\"");
        Assert.Equal([new ArgDeclaration("A", null), new ArgDeclaration("B", "2"), new ArgDeclaration("C", "\"x y\"")], arg.Args);
    }

    [Fact]
    public void Copy_and_add_flags_and_forms()
    {
        var copy = Single<CopyInstruction>("FROM a\nCOPY --from=build --chown=app:app --chmod=0755 --link a b /dst/");
        Assert.Equal("build", copy.From);
        Assert.Equal("app:app", copy.Chown);
        Assert.Equal("0755", copy.Chmod);
        Assert.True(copy.Link);
        Assert.Equal(["a", "b"], copy.Sources);
        Assert.Equal("/dst/", copy.Destination);
        Assert.False(copy.IsAdd);

        var json = Single<CopyInstruction>("FROM a\nCOPY [\"a b\", \"c\", \"/d e/\"]");
        Assert.Equal(["a b", "c"], json.Sources);
        Assert.Equal("/d e/", json.Destination);

        var add = Single<CopyInstruction>("FROM a\nADD --chown=1:2 x.tar.gz /opt/");
        Assert.True(add.IsAdd);
        Assert.Equal("ADD", add.Keyword);
    }

    [Fact]
    public void Run_network_flag()
    {
        Assert.Equal(RunNetwork.None, Single<RunInstruction>("FROM a\nRUN --network=none make").Network);
        Assert.Equal(RunNetwork.Default, Single<RunInstruction>("FROM a\nRUN --network=default make").Network);
        Assert.Equal(RunNetwork.Default, Single<RunInstruction>("FROM a\nRUN make").Network);
    }

    [Fact]
    public void Expose_volume_user_workdir_stopsignal_maintainer()
    {
        Assert.Equal(["80", "443/tcp", "53/udp"], Single<ExposeInstruction>("FROM a\nEXPOSE 80 443/tcp  53/udp").Ports);
        Assert.Equal(["/data", "/logs"], Single<VolumeInstruction>("FROM a\nVOLUME [\"/data\", \"/logs\"]").Paths);
        Assert.Equal(["/data", "/logs"], Single<VolumeInstruction>("FROM a\nVOLUME /data /logs").Paths);
        Assert.Equal("app:staff", Single<UserInstruction>("FROM a\nUSER app:staff").User);
        Assert.Equal("/my dir", Single<WorkdirInstruction>("FROM a\nWORKDIR /my dir").Path);
        Assert.Equal("SIGQUIT", Single<StopSignalInstruction>("FROM a\nSTOPSIGNAL SIGQUIT").Signal);
        var df = Parse("FROM a\nMAINTAINER Jane <jane@example.com>");
        Assert.Equal("Jane <jane@example.com>", Assert.IsType<MaintainerInstruction>(df.Stages[0].Instructions[0]).Maintainer);
        Assert.Contains(df.Warnings, w => w.Contains("MAINTAINER is deprecated", StringComparison.Ordinal));
    }

    [Fact]
    public void Healthcheck_forms()
    {
        var none = Single<HealthcheckInstruction>("FROM a\nHEALTHCHECK NONE");
        Assert.Equal(["NONE"], none.Healthcheck.Test);

        var shell = Single<HealthcheckInstruction>("FROM a\nHEALTHCHECK --interval=30s --timeout=1m30s --start-period=5s --start-interval=500ms --retries=3 CMD curl -f http://localhost/ || exit 1");
        Assert.Equal(["CMD-SHELL", "curl -f http://localhost/ || exit 1"], shell.Healthcheck.Test);
        Assert.Equal(30_000_000_000, shell.Healthcheck.Interval);
        Assert.Equal(90_000_000_000, shell.Healthcheck.Timeout);
        Assert.Equal(5_000_000_000, shell.Healthcheck.StartPeriod);
        Assert.Equal(500_000_000, shell.Healthcheck.StartInterval);
        Assert.Equal(3, shell.Healthcheck.Retries);

        var exec = Single<HealthcheckInstruction>("FROM a\nhealthcheck cmd [\"/bin/check\", \"-q\"]");
        Assert.Equal(["CMD", "/bin/check", "-q"], exec.Healthcheck.Test);
    }

    [Fact]
    public void Onbuild_records_trigger_and_parses_it()
    {
        var onbuild = Single<OnBuildInstruction>("FROM a\nONBUILD COPY --chown=1:1 . /app/src");
        Assert.Equal("COPY --chown=1:1 . /app/src", onbuild.Trigger);
        var inner = Assert.IsType<CopyInstruction>(onbuild.Inner);
        Assert.Equal("1:1", inner.Chown);

        var again = DockerfileParser.ParseTrigger(onbuild.Trigger, '\\', "Dockerfile", 1);
        Assert.IsType<CopyInstruction>(again);
        Assert.Throws<DockerfileException>(() => DockerfileParser.ParseTrigger("FROM x", '\\', "Dockerfile", 1));
    }

    [Fact]
    public void Heredocs()
    {
        var run = Single<RunInstruction>("FROM a\nRUN <<EOF\necho one\necho two\nEOF\n");
        Assert.Equal("echo one\necho two\n", run.Command.Args[0]);
        Assert.Single(run.Heredocs);

        // A heredoc feeding a command stays in the shell line.
        var feed = Single<RunInstruction>("FROM a\nRUN python3 <<EOF > /out\nprint(1)\nEOF\n");
        Assert.Equal("python3 <<EOF > /out\nprint(1)\nEOF", feed.Command.Args[0]);

        var chomp = Single<RunInstruction>("FROM a\nRUN <<-EOT\n\techo tabbed\n\tEOT\n");
        Assert.Equal("echo tabbed\n", chomp.Command.Args[0]);

        var copy = Single<CopyInstruction>("FROM a\nCOPY <<\"EOF\" /etc/motd\nhello $USER\nEOF\n");
        var doc = Assert.Single(copy.Heredocs);
        Assert.Equal("hello $USER\n", doc.Content);
        Assert.False(doc.Expand);
        Assert.Equal(["<<\"EOF\""], copy.Sources);

        var two = Single<CopyInstruction>("FROM a\nCOPY <<one <<two /dst/\nfirst\none\nsecond\ntwo\n");
        Assert.Equal(["first\n", "second\n"], two.Heredocs.Select(h => h.Content));

        // Lines after the heredoc belong to the next instruction.
        var df = Parse("FROM a\nRUN <<EOF\nx\nEOF\nENV a=1\n");
        Assert.Equal(2, df.Stages[0].Instructions.Count);
        Assert.Equal(6 - 1, df.Stages[0].Instructions[1].Location.Line);

        var script = Single<RunInstruction>("FROM a\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n");
        Assert.Equal("#!/usr/bin/env python3\nprint(1)\n", script.Script);
        Assert.Equal([RunInstruction.ScriptPath], script.Command.Args);
        Assert.False(script.Command.IsShellForm);
    }

    [Fact]
    public void Json_form_run_has_no_heredoc()
    {
        var df = Parse("FROM a\nRUN [\"cat\", \"<<EOF\"]\nENV x=1");
        var run = Assert.IsType<RunInstruction>(df.Stages[0].Instructions[0]);
        Assert.Equal(["cat", "<<EOF"], run.Command.Args);
        Assert.IsType<EnvInstruction>(df.Stages[0].Instructions[1]);
    }

    [Fact]
    public void Stages_group_their_instructions()
    {
        var df = Parse("""
            ARG GO=1.22
            FROM golang:${GO} AS build
            WORKDIR /src
            COPY . .
            RUN go build -o /out/app

            FROM scratch
            COPY --from=build /out/app /app
            ENTRYPOINT ["/app"]
            """);
        Assert.Equal(2, df.Stages.Count);
        Assert.Equal(3, df.Stages[0].Instructions.Count);
        Assert.Equal(2, df.Stages[1].Instructions.Count);
        Assert.Equal("scratch", df.Stages[1].From.Image);
        Assert.Equal("1", df.Stages[1].DisplayName);
    }

    [Fact]
    public void Flag_extraction()
    {
        var (args, flags) = DockerfileParser.ExtractFlags("--from=a --chown=\"x y\" -- --notflag b");
        Assert.Equal(["--from=a", "--chown=x y"], flags);
        Assert.Equal("--notflag b", args);
        (args, flags) = DockerfileParser.ExtractFlags("a --b");
        Assert.Empty(flags);
        Assert.Equal("a --b", args);
    }

    [Theory]
    [InlineData("a b  c", new[] { "a", "b", "c" })]
    [InlineData("a=\"x y\" b='p q'", new[] { "a=\"x y\"", "b='p q'" })]
    [InlineData("a=x\\ y b", new[] { "a=x\\ y", "b" })]
    [InlineData("a=\"q\\\"x\" b", new[] { "a=\"q\\\"x\"", "b" })]
    [InlineData("a=''", new[] { "a=''" })]
    public void Words_split_outside_quotes(string text, string[] expected)
    {
        Assert.Equal(expected, DockerfileParser.ParseWords(text, '\\'));
    }

    [Theory]
    [InlineData("30s", 30_000_000_000L)]
    [InlineData("1h2m3.5s", 3_723_500_000_000L)]
    [InlineData("500ms", 500_000_000L)]
    [InlineData("10us", 10_000L)]
    [InlineData("0", 0L)]
    public void Go_durations(string text, long ns)
    {
        Assert.True(GoDuration.TryParse(text, out var parsed));
        Assert.Equal(ns, parsed);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("s")]
    [InlineData("1x")]
    [InlineData("")]
    public void Bad_go_durations(string text) => Assert.False(GoDuration.TryParse(text, out _));

    [Fact]
    public void A_docker_library_style_dockerfile()
    {
        var df = Parse("""
            FROM debian:bookworm-slim

            LABEL maintainer="NGINX Docker Maintainers <docker-maint@nginx.com>"

            ENV NGINX_VERSION   1.25.3
            ENV NJS_VERSION     0.8.2

            RUN set -x \
            # create nginx user/group first, to be consistent throughout docker variants
                && groupadd --system --gid 101 nginx \
                && useradd --system --gid nginx --no-create-home --home /nonexistent --comment "nginx user" --shell /bin/false --uid 101 nginx \
                && apt-get update \
                && \
                NGINX_GPGKEY=573BFD6B3D8FBC641079A6ABABF5BD827BD9BF62; \
                found=''; \
                for server in \
                    hkp://keyserver.ubuntu.com:80 \
                    pgp.mit.edu \
                ; do \
                    echo "Fetching GPG key $NGINX_GPGKEY from $server"; \
                done; \
                test -z "$found" && echo >&2 "error: failed to fetch GPG key $NGINX_GPGKEY" && exit 1; \
                rm -rf /var/lib/apt/lists/*

            COPY docker-entrypoint.sh /
            COPY 10-listen-on-ipv6-by-default.sh /docker-entrypoint.d
            ENTRYPOINT ["/docker-entrypoint.sh"]

            EXPOSE 80

            STOPSIGNAL SIGQUIT

            CMD ["nginx", "-g", "daemon off;"]
            """);
        var instructions = df.Stages[0].Instructions;
        Assert.Equal(["LABEL", "ENV", "ENV", "RUN", "COPY", "COPY", "ENTRYPOINT", "EXPOSE", "STOPSIGNAL", "CMD"], instructions.Select(i => i.Keyword));
        var env = Assert.IsType<EnvInstruction>(instructions[1]);
        Assert.Equal(new KeyValue("NGINX_VERSION", "1.25.3"), Assert.Single(env.Pairs));
        var run = Assert.IsType<RunInstruction>(instructions[3]);
        Assert.Equal(8, run.Location.Line);
        Assert.Equal(23, run.Location.EndLine);
        Assert.DoesNotContain("create nginx user", run.Command.Args[0], StringComparison.Ordinal);
        Assert.Contains("for server in         hkp://keyserver.ubuntu.com:80", run.Command.Args[0], StringComparison.Ordinal);
        Assert.EndsWith("rm -rf /var/lib/apt/lists/*", run.Command.Args[0], StringComparison.Ordinal);
        Assert.Equal(["nginx", "-g", "daemon off;"], Assert.IsType<CmdInstruction>(instructions[9]).Command.Args);
    }
}
