using System.Text;
using System.Text.RegularExpressions;

namespace Berth.Build;

/// <summary>A variable expansion that cannot be done (<c>${X:?must be set}</c>, <c>${}</c>, an unclosed quote).</summary>
public sealed class ExpansionException(string message) : Exception(message);

/// <summary>
/// Docker's word expansion (BuildKit's shell.Lex): <c>$VAR</c>, <c>${VAR}</c>, <c>${VAR:-default}</c>,
/// <c>${VAR-default}</c>, <c>${VAR:+alt}</c>, <c>${VAR+alt}</c>, <c>${VAR:?msg}</c>, <c>${VAR?msg}</c>, the pattern
/// forms <c>#</c> <c>##</c> <c>%</c> <c>%%</c> <c>/</c> <c>//</c>; single quotes are literal, double quotes allow
/// <c>$</c>, the escape character escapes the next character (in double quotes only <c>"</c>, <c>$</c> and itself).
/// Quotes are removed; unset variables expand to nothing.
/// </summary>
public sealed class ShellLex(char escape = '\\')
{
    private const int Eof = -1;

    public char Escape { get; } = escape;

    /// <summary>Quotes are ordinary characters (heredoc content of COPY: only variables and escapes are processed).</summary>
    public bool SkipProcessQuotes { get; init; }

    /// <summary>Expands one word (blanks are kept as they are).</summary>
    public string ProcessWord(string word, IReadOnlyDictionary<string, string> env)
    {
        var worker = new Worker(this, word, env);
        var (result, _) = worker.ProcessStopOn(Eof);
        return result;
    }

    /// <summary>Expands and splits into words on unquoted blanks, including blanks that came from variable values.</summary>
    public IReadOnlyList<string> ProcessWords(string word, IReadOnlyDictionary<string, string> env)
    {
        var worker = new Worker(this, word, env);
        var (_, words) = worker.ProcessStopOn(Eof);
        return words.GetWords();
    }

    private sealed class Words
    {
        private readonly StringBuilder _word = new();
        private readonly List<string> _words = [];
        private bool _inWord;

        public void AddChar(char ch)
        {
            if (char.IsWhiteSpace(ch) && _inWord)
            {
                if (_word.Length != 0)
                {
                    _words.Add(_word.ToString());
                    _word.Clear();
                    _inWord = false;
                }
            }
            else if (!char.IsWhiteSpace(ch))
            {
                AddRawChar(ch);
            }
        }

        public void AddRawChar(char ch)
        {
            _word.Append(ch);
            _inWord = true;
        }

        public void AddString(string s)
        {
            foreach (var ch in s)
            {
                AddChar(ch);
            }
        }

        public void AddRawString(string s)
        {
            _word.Append(s);
            _inWord = true;
        }

        public List<string> GetWords()
        {
            if (_word.Length > 0)
            {
                _words.Add(_word.ToString());
                _word.Clear();
                _inWord = false;
            }
            return _words;
        }
    }

    private sealed class Worker(ShellLex lex, string input, IReadOnlyDictionary<string, string> env)
    {
        private int _pos;

        private int Peek() => _pos < input.Length ? input[_pos] : Eof;

        private int Next() => _pos < input.Length ? input[_pos++] : Eof;

        public (string Result, Words Words) ProcessStopOn(int stop)
        {
            var result = new StringBuilder();
            var words = new Words();
            while (Peek() != Eof)
            {
                var ch = Peek();
                if (stop != Eof && ch == stop)
                {
                    Next();
                    return (result.ToString(), words);
                }
                switch (ch)
                {
                    case '\'' when !lex.SkipProcessQuotes:
                        {
                            var s = ProcessSingleQuote();
                            result.Append(s);
                            words.AddRawString(s);
                            continue;
                        }
                    case '"' when !lex.SkipProcessQuotes:
                        {
                            var s = ProcessDoubleQuote();
                            result.Append(s);
                            words.AddRawString(s);
                            continue;
                        }
                    case '$':
                        {
                            var s = ProcessDollar();
                            result.Append(s);
                            words.AddString(s);
                            continue;
                        }
                }
                var c = (char)Next();
                if (c == lex.Escape)
                {
                    // The escape character escapes the next one; at the end of the word it is dropped.
                    var escaped = Next();
                    if (escaped == Eof)
                    {
                        break;
                    }
                    c = (char)escaped;
                    words.AddRawChar(c);
                }
                else
                {
                    words.AddChar(c);
                }
                result.Append(c);
            }
            if (stop != Eof)
            {
                throw new ExpansionException($"unexpected end of statement while looking for matching {(char)stop}");
            }
            return (result.ToString(), words);
        }

        private string ProcessSingleQuote()
        {
            Next();
            var sb = new StringBuilder();
            while (true)
            {
                var ch = Next();
                if (ch == Eof)
                {
                    throw new ExpansionException("unexpected end of statement while looking for matching single-quote");
                }
                if (ch == '\'')
                {
                    return sb.ToString();
                }
                sb.Append((char)ch);
            }
        }

        private string ProcessDoubleQuote()
        {
            Next();
            var sb = new StringBuilder();
            while (true)
            {
                var ch = Peek();
                if (ch == Eof)
                {
                    throw new ExpansionException("unexpected end of statement while looking for matching double-quote");
                }
                if (ch == '"')
                {
                    Next();
                    return sb.ToString();
                }
                if (ch == '$')
                {
                    sb.Append(ProcessDollar());
                    continue;
                }
                ch = Next();
                if (ch == lex.Escape)
                {
                    var after = Peek();
                    if (after == Eof)
                    {
                        continue;
                    }
                    if (after == '"' || after == '$' || after == lex.Escape)
                    {
                        ch = Next();
                    }
                }
                sb.Append((char)ch);
            }
        }

        private bool TryGet(string name, out string value)
        {
            if (env.TryGetValue(name, out var v))
            {
                value = v;
                return true;
            }
            value = string.Empty;
            return false;
        }

        private string ProcessDollar()
        {
            Next();
            if (Peek() != '{')
            {
                var name = ProcessName();
                if (name.Length == 0)
                {
                    return "$";
                }
                TryGet(name, out var value);
                return value;
            }
            Next();
            switch (Peek())
            {
                case Eof:
                    throw new ExpansionException("syntax error: missing '}'");
                case '{':
                case '}':
                case ':':
                    throw new ExpansionException("syntax error: bad substitution");
            }
            var varName = ProcessName();
            var ch = Next();
            switch (ch)
            {
                case '}':
                    {
                        TryGet(varName, out var value);
                        return value;
                    }
                case '?':
                    {
                        var (word, _) = ProcessStopOnBrace();
                        if (!TryGet(varName, out var value))
                        {
                            throw new ExpansionException($"{varName}: {(word.Length == 0 ? "is not allowed to be unset" : word)}");
                        }
                        return value;
                    }
                case '+':
                case '-':
                    {
                        var (word, _) = ProcessStopOnBrace();
                        var set = TryGet(varName, out var value);
                        return ch == '+' ? (set ? word : string.Empty) : (set ? value : word);
                    }
                case ':':
                    {
                        var modifier = Next();
                        var (word, _) = ProcessStopOnBrace();
                        var set = TryGet(varName, out var value);
                        switch (modifier)
                        {
                            case '+':
                                return value.Length > 0 ? word : string.Empty;
                            case '-':
                                return value.Length == 0 ? word : value;
                            case '?':
                                if (!set)
                                {
                                    throw new ExpansionException($"{varName}: {(word.Length == 0 ? "is not allowed to be unset" : word)}");
                                }
                                if (value.Length == 0)
                                {
                                    throw new ExpansionException($"{varName}: {(word.Length == 0 ? "is not allowed to be empty" : word)}");
                                }
                                return value;
                            default:
                                throw new ExpansionException($"unsupported modifier ({(modifier == Eof ? "EOF" : ((char)modifier).ToString())}) in substitution");
                        }
                    }
                case '#':
                case '%':
                    {
                        var longest = Peek() == ch;
                        if (longest)
                        {
                            Next();
                        }
                        var (pattern, _) = ProcessStopOnBrace();
                        TryGet(varName, out var value);
                        return ch == '#' ? TrimPrefix(value, pattern, longest) : TrimSuffix(value, pattern, longest);
                    }
                case '/':
                    {
                        var all = Peek() == '/';
                        if (all)
                        {
                            Next();
                        }
                        var (pattern, _) = ProcessStopOn('/');
                        var (replacement, _) = ProcessStopOnBrace();
                        TryGet(varName, out var value);
                        return Replace(value, pattern, replacement, all);
                    }
                case Eof:
                    throw new ExpansionException("syntax error: missing '}'");
                default:
                    throw new ExpansionException($"unsupported modifier ({(char)ch}) in substitution");
            }
        }

        private (string, Words) ProcessStopOnBrace()
        {
            try
            {
                return ProcessStopOn('}');
            }
            catch (ExpansionException) when (Peek() == Eof)
            {
                throw new ExpansionException("syntax error: missing '}'");
            }
        }

        private string ProcessName()
        {
            var name = new StringBuilder();
            while (Peek() != Eof)
            {
                var ch = (char)Peek();
                if (name.Length == 0 && char.IsAsciiDigit(ch))
                {
                    while (Peek() != Eof && char.IsAsciiDigit((char)Peek()))
                    {
                        name.Append((char)Next());
                    }
                    return name.ToString();
                }
                if (name.Length == 0 && ch is '@' or '*' or '#' or '?' or '-' or '$' or '!' or '0')
                {
                    Next();
                    return ch.ToString();
                }
                if (!char.IsLetterOrDigit(ch) && ch != '_')
                {
                    break;
                }
                name.Append((char)Next());
            }
            return name.ToString();
        }
    }

    private static Regex GlobToRegex(string pattern, string anchorStart, string anchorEnd)
    {
        var sb = new StringBuilder(anchorStart);
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*':
                    sb.Append(".*?");
                    break;
                case '?':
                    sb.Append('.');
                    break;
                case '[':
                    var close = pattern.IndexOf(']', i + 1);
                    if (close > i + 1)
                    {
                        var body = pattern[(i + 1)..close];
                        if (body.StartsWith('!'))
                        {
                            body = "^" + body[1..];
                        }
                        sb.Append('[').Append(body.Replace("\\", "\\\\", StringComparison.Ordinal)).Append(']');
                        i = close;
                    }
                    else
                    {
                        sb.Append("\\[");
                    }
                    break;
                case '\\' when i + 1 < pattern.Length:
                    sb.Append(Regex.Escape(pattern[++i].ToString()));
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }
        sb.Append(anchorEnd);
        return new Regex(sb.ToString(), RegexOptions.Singleline | RegexOptions.CultureInvariant);
    }

    private static string TrimPrefix(string value, string pattern, bool longest)
    {
        var regex = GlobToRegex(pattern, "^", "$");
        if (longest)
        {
            for (var len = value.Length; len >= 0; len--)
            {
                if (regex.IsMatch(value[..len]))
                {
                    return value[len..];
                }
            }
        }
        else
        {
            for (var len = 0; len <= value.Length; len++)
            {
                if (regex.IsMatch(value[..len]))
                {
                    return value[len..];
                }
            }
        }
        return value;
    }

    private static string TrimSuffix(string value, string pattern, bool longest)
    {
        var regex = GlobToRegex(pattern, "^", "$");
        if (longest)
        {
            for (var start = 0; start <= value.Length; start++)
            {
                if (regex.IsMatch(value[start..]))
                {
                    return value[..start];
                }
            }
        }
        else
        {
            for (var start = value.Length; start >= 0; start--)
            {
                if (regex.IsMatch(value[start..]))
                {
                    return value[..start];
                }
            }
        }
        return value;
    }

    private static string Replace(string value, string pattern, string replacement, bool all)
    {
        if (pattern.Length == 0)
        {
            return value;
        }
        // Longest match at the leftmost position, as in the shell.
        var sb = new StringBuilder();
        var regex = GlobToRegex(pattern, "^", "$");
        var i = 0;
        var replaced = false;
        while (i <= value.Length)
        {
            var matched = -1;
            if (!replaced || all)
            {
                for (var end = value.Length; end > i; end--)
                {
                    if (regex.IsMatch(value[i..end]))
                    {
                        matched = end;
                        break;
                    }
                }
            }
            if (matched > 0)
            {
                sb.Append(replacement);
                i = matched;
                replaced = true;
                continue;
            }
            if (i < value.Length)
            {
                sb.Append(value[i]);
            }
            i++;
        }
        return sb.ToString();
    }
}
