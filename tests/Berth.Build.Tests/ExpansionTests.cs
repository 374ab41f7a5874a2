namespace Berth.Build.Tests;

public class ExpansionTests
{
    private static readonly Dictionary<string, string> Env = new()
    {
        ["PWD"] = "/home",
        ["E"] = string.Empty,
        ["S"] = "a b",
        ["V"] = "foo.tar.gz",
        ["_under9"] = "u",
    };

    [Theory]
    [InlineData("hello", "hello")]
    [InlineData("he'll'o", "hello")]
    [InlineData("he\\'llo", "he'llo")]
    [InlineData("\"hello\"", "hello")]
    [InlineData("\"hello\\\"\"", "hello\"")]
    [InlineData("'hello\\'", "hello\\")]
    [InlineData("\"hel'lo\"", "hel'lo")]
    [InlineData("\"a\\b\"", "a\\b")]
    [InlineData("\"a\\\\b\"", "a\\b")]
    [InlineData("a\\b", "ab")]
    [InlineData("a\\", "a")]
    [InlineData("a\\ b", "a b")]
    [InlineData("$PWD", "/home")]
    [InlineData("${PWD}", "/home")]
    [InlineData("$PWD/x", "/home/x")]
    [InlineData("${PWD}x", "/homex")]
    [InlineData("$PWDx", "")]
    [InlineData("\\$PWD", "$PWD")]
    [InlineData("'$PWD'", "$PWD")]
    [InlineData("\"$PWD\"", "/home")]
    [InlineData("\"\\$PWD\"", "$PWD")]
    [InlineData("$_under9", "u")]
    [InlineData("$", "$")]
    [InlineData("a$", "a$")]
    [InlineData("$ x", "$ x")]
    [InlineData("$1", "")]
    [InlineData("$UNSET", "")]
    [InlineData("${UNSET}", "")]
    [InlineData("${UNSET:-def}", "def")]
    [InlineData("${E:-def}", "def")]
    [InlineData("${PWD:-def}", "/home")]
    [InlineData("${UNSET-def}", "def")]
    [InlineData("${E-def}", "")]
    [InlineData("${PWD:+alt}", "alt")]
    [InlineData("${E:+alt}", "")]
    [InlineData("${UNSET:+alt}", "")]
    [InlineData("${E+alt}", "alt")]
    [InlineData("${UNSET+alt}", "")]
    [InlineData("${UNSET:-$PWD}", "/home")]
    [InlineData("${UNSET:-${PWD}/bin}", "/home/bin")]
    [InlineData("${UNSET:-\"a b\"}", "a b")]
    [InlineData("${E?}", "")]
    [InlineData("${PWD:?}", "/home")]
    [InlineData("${V%.*}", "foo.tar")]
    [InlineData("${V%%.*}", "foo")]
    [InlineData("${V#*.}", "tar.gz")]
    [InlineData("${V##*.}", "gz")]
    [InlineData("${V/tar/zip}", "foo.zip.gz")]
    [InlineData("${V//o/0}", "f00.tar.gz")]
    [InlineData("x${S}y", "xa by")]
    public void Process_word(string word, string expected)
    {
        Assert.Equal(expected, new ShellLex().ProcessWord(word, Env));
    }

    [Theory]
    [InlineData("he'llo", "unexpected end of statement while looking for matching single-quote")]
    [InlineData("\"hello", "unexpected end of statement while looking for matching double-quote")]
    [InlineData("${}", "syntax error: bad substitution")]
    [InlineData("${:x}", "syntax error: bad substitution")]
    [InlineData("${PWD", "syntax error: missing '}'")]
    [InlineData("${PWD:-x", "syntax error: missing '}'")]
    [InlineData("${", "syntax error: missing '}'")]
    [InlineData("${PWD:x}", "unsupported modifier (x) in substitution")]
    [InlineData("${PWD!}", "unsupported modifier (!) in substitution")]
    [InlineData("${UNSET:?must be set}", "UNSET: must be set")]
    [InlineData("${UNSET?}", "UNSET: is not allowed to be unset")]
    [InlineData("${E:?}", "E: is not allowed to be empty")]
    public void Expansion_errors(string word, string message)
    {
        var e = Assert.Throws<ExpansionException>(() => new ShellLex().ProcessWord(word, Env));
        Assert.Equal(message, e.Message);
    }

    [Theory]
    [InlineData("$S c", new[] { "a", "b", "c" })]
    [InlineData("\"$S\" c", new[] { "a b", "c" })]
    [InlineData("a\\ b c", new[] { "a b", "c" })]
    [InlineData("  x   y ", new[] { "x", "y" })]
    [InlineData("'a  b'", new[] { "a  b" })]
    [InlineData("${UNSET}", new string[0])]
    public void Process_words_splits_on_unquoted_blanks(string word, string[] expected)
    {
        Assert.Equal(expected, new ShellLex().ProcessWords(word, Env));
    }

    [Theory]
    [InlineData("`$PWD", "$PWD")]
    [InlineData("C:\\dir\\file", "C:\\dir\\file")]
    [InlineData("a` b", "a b")]
    [InlineData("\"x`\"y\"", "x\"y")]
    public void Backtick_escape(string word, string expected)
    {
        Assert.Equal(expected, new ShellLex('`').ProcessWord(word, Env));
    }

    [Fact]
    public void Skip_process_quotes_keeps_quotes_and_expands_variables()
    {
        var lex = new ShellLex { SkipProcessQuotes = true };
        Assert.Equal("say 'hi' \"/home\"\n", lex.ProcessWord("say 'hi' \"$PWD\"\n", Env));
    }
}
