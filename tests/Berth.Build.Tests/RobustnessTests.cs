namespace Berth.Build.Tests;

/// <summary>Random Dockerfile-shaped input: the parser and the expander fail only with their own errors, never crash.</summary>
public class RobustnessTests
{
    private static readonly string[] Tokens =
    [
        "FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "LABEL", "ONBUILD", "HEALTHCHECK", "SHELL", "CMD", "WORKDIR", "EXPOSE",
        "VOLUME", "USER", "STOPSIGNAL", "MAINTAINER", "ENTRYPOINT", "AS", "x", "a=b", "\"q", "'s", "\\", "`", "#", "# escape=`",
        "--from=", "--chown=1:2", "--mount=x", "--network=none", "--", "[", "]", "[\"a\"]", "[1]", "<<EOF", "<<-E", "EOF", "E",
        "$", "${", "}", "${A:-b}", "${A:?}", "=", " ", "  ", "\t", "\n", "\n", "\n", "\r\n", "NONE", "--interval=1s", "scratch",
    ];

    [Fact]
    public void Random_dockerfiles_parse_or_fail_with_dockerfile_errors()
    {
        var random = new Random(20261123);
        for (var i = 0; i < 5000; i++)
        {
            var count = random.Next(1, 40);
            var text = string.Concat(Enumerable.Range(0, count).Select(_ => Tokens[random.Next(Tokens.Length)] + (random.Next(3) == 0 ? "" : " ")));
            try
            {
                var df = DockerfileParser.Parse(text);
                Assert.NotEmpty(df.Stages);
            }
            catch (DockerfileException e)
            {
                Assert.NotEmpty(e.Errors);
            }
        }
    }

    [Fact]
    public void Random_words_expand_or_fail_with_expansion_errors()
    {
        var random = new Random(7);
        var env = new Dictionary<string, string> { ["A"] = "x y", ["E"] = string.Empty };
        const string alphabet = "$${}:-+?#%/AE'\"\\` ab*.";
        for (var i = 0; i < 10000; i++)
        {
            var word = new string(Enumerable.Range(0, random.Next(0, 16)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            foreach (var lex in new[] { new ShellLex(), new ShellLex('`'), new ShellLex { SkipProcessQuotes = true } })
            {
                try
                {
                    lex.ProcessWord(word, env);
                    lex.ProcessWords(word, env);
                }
                catch (ExpansionException)
                {
                }
            }
        }
    }

    [Theory]
    [InlineData("[z-a]")]
    [InlineData("[")]
    [InlineData("a\\")]
    [InlineData("[]")]
    public void Bad_globs_are_bad_patterns(string pattern)
    {
        Assert.Throws<BadPatternException>(() => PathRules.GlobRegex(pattern));
    }

    [Fact]
    public void Random_globs_compile_or_fail_as_bad_patterns()
    {
        var random = new Random(5);
        const string alphabet = "*?[]^!\\/.a-bz";
        for (var i = 0; i < 5000; i++)
        {
            var pattern = new string(Enumerable.Range(0, random.Next(1, 10)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            try
            {
                PathRules.Match(pattern, "a/b.c");
            }
            catch (BadPatternException)
            {
            }
        }
    }

    [Fact]
    public void Random_ignore_patterns_compile_or_fail_with_dockerfile_errors()
    {
        var random = new Random(3);
        const string alphabet = "*?[]^!\\/.a-b# ";
        for (var i = 0; i < 5000; i++)
        {
            var pattern = new string(Enumerable.Range(0, random.Next(1, 10)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            try
            {
                DockerIgnore.Parse(pattern).IsExcluded("a/b.c");
            }
            catch (DockerfileException)
            {
            }
        }
    }
}
