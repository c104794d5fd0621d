using System.Text;

namespace NvDataplane.Policy.Import;

internal enum TokenKind
{
    End,
    NewLine,
    Semicolon,

    /// <summary><c>|</c>, and the <c>||</c> / <c>&amp;&amp;</c> chains of PowerShell 7: the next command starts.</summary>
    Pipe,
    Word,

    /// <summary>A bare word with a <c>$variable</c> inside, which PowerShell expands.</summary>
    ExpandableWord,
    Parameter,

    /// <summary><c>-Name:value</c>: the value follows at once.</summary>
    ParameterWithValue,
    String,

    /// <summary>A double-quoted string with a <c>$variable</c> or <c>$(...)</c> inside.</summary>
    ExpandableString,
    Variable,
    Splat,
    OpenParen,
    OpenSubExpression,
    OpenArray,
    OpenBlock,
    OpenHashTable,

    /// <summary><c>)</c> or <c>}</c>.</summary>
    Close,
    Comma,
    Assign,
    Redirect,

    /// <summary><c>&amp;</c> or a <c>.</c> followed by a space: run the command named next.</summary>
    CallOperator,

    /// <summary><c>[int]</c>, <c>[void]</c>: a type, as in a cast.</summary>
    TypeLiteral,
}

/// <param name="Text">A word's or string's value (escapes applied), a parameter's name without its dash, else the source text.</param>
/// <param name="Joined">No space between this token and the previous one: <c>(Get-X).Name</c> is one value.</param>
internal readonly record struct Token(TokenKind Kind, string Text, int Line, int Start, int End, bool Joined);

/// <summary>
/// Splits a PowerShell script into tokens as PowerShell's argument mode sees them: comments
/// (<c>#</c>, <c>&lt;# #&gt;</c>) and backtick line continuations vanish; quoted strings
/// (typographic quotes and here-strings too) become their values; en and em dashes start
/// parameters as <c>-</c> does. Only what reading commands needs is told apart: the rest of the
/// language (operators, types, member access) comes out as words and punctuation.
/// </summary>
internal sealed class PowerShellTokenizer(string source, List<ImportMessage> problems)
{
    /// <summary>
    /// Strings nested deeper than this (<c>"$("$(...)")"</c>) end the reading with a problem: a
    /// string's <c>$(...)</c> is skipped by <see cref="SkipBalanced"/>, which reads the strings
    /// inside it by <see cref="Quoted"/>, and a stack overflow would end the process. The same
    /// limit as the parser's for brackets.
    /// </summary>
    public const int MaxNesting = 200;

    private readonly List<Token> _tokens = [];
    private int _nesting;
    private int _pos;
    private int _start;
    private int _line = 1;
    private bool _joined;

    /// <summary>Strings were nested too deep: the rest of the script was not read, and that was reported.</summary>
    public bool CutShort { get; private set; }

    public List<Token> ReadAll()
    {
        while (_pos < source.Length)
        {
            Step();
        }

        _tokens.Add(new Token(TokenKind.End, string.Empty, _line, _pos, _pos, false));
        return _tokens;
    }

    public static bool IsSingleQuote(char c) => c is '\'' or '\u2018' or '\u2019' or '\u201A' or '\u201B';

    public static bool IsDoubleQuote(char c) => c is '"' or '\u201C' or '\u201D' or '\u201E';

    private static bool IsDash(char c) => c is '-' or '\u2013' or '\u2014' or '\u2015';

    private static bool IsSpace(char c) => c is ' ' or '\t' or '\f' or '\v' or '\u00A0' or '\uFEFF';

    private static bool IsNameStart(char c) => char.IsLetter(c) || c == '_';

    private static bool IsNameChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    private char At(int offset) => _pos + offset < source.Length ? source[_pos + offset] : '\0';

    private void Step()
    {
        char c = source[_pos];
        if (c is '\r' or '\n')
        {
            int start = _pos;
            ConsumeNewLine();
            _tokens.Add(new Token(TokenKind.NewLine, string.Empty, _line - 1, start, _pos, false));
            _joined = false;
        }
        else if (IsSpace(c))
        {
            _pos++;
            _joined = false;
        }
        else if (c == '`' && TryLineContinuation())
        {
            _joined = false;
        }
        else if (c == '#')
        {
            while (_pos < source.Length && source[_pos] is not ('\r' or '\n'))
            {
                _pos++;
            }

            _joined = false;
        }
        else if (c == '<' && At(1) == '#')
        {
            BlockComment();
            _joined = false;
        }
        else
        {
            _start = _pos;
            int line = _line;
            bool joined = _joined;
            var (kind, text) = ReadToken(c);
            _tokens.Add(new Token(kind, text, line, _start, _pos, joined));
            _joined = true;
        }
    }

    private void ConsumeNewLine()
    {
        _pos += source[_pos] == '\r' && At(1) == '\n' ? 2 : 1;
        _line++;
    }

    /// <summary>A backtick at the end of a line (spaces after it forgiven) joins the next line to this one.</summary>
    private bool TryLineContinuation()
    {
        int end = _pos + 1;
        while (end < source.Length && source[end] is ' ' or '\t')
        {
            end++;
        }

        if (end < source.Length && source[end] is not ('\r' or '\n'))
        {
            return false;
        }

        _pos = end;
        if (_pos < source.Length)
        {
            ConsumeNewLine();
        }

        return true;
    }

    private void BlockComment()
    {
        int line = _line;
        _pos += 2;
        while (_pos < source.Length && !(source[_pos] == '#' && At(1) == '>'))
        {
            Advance();
        }

        if (_pos >= source.Length)
        {
            problems.Add(new ImportMessage(line, "the <# comment opened here is never closed with #>; the rest of the script is read as a comment"));
            return;
        }

        _pos += 2;
    }

    /// <summary>One character forward, counting lines.</summary>
    private void Advance()
    {
        if (source[_pos] is '\r' or '\n')
        {
            ConsumeNewLine();
        }
        else
        {
            _pos++;
        }
    }

    private (TokenKind Kind, string Text) ReadToken(char c)
    {
        var (kind, length) = c switch
        {
            ';' => (TokenKind.Semicolon, 1),
            '(' => (TokenKind.OpenParen, 1),
            '{' => (TokenKind.OpenBlock, 1),
            ')' or '}' => (TokenKind.Close, 1),
            ',' => (TokenKind.Comma, 1),
            '=' => (TokenKind.Assign, 1),
            '|' => (TokenKind.Pipe, At(1) == '|' ? 2 : 1),
            '&' => At(1) == '&' ? (TokenKind.Pipe, 2) : (TokenKind.CallOperator, 1),
            '.' when At(1) is ' ' or '\t' => (TokenKind.CallOperator, 1),
            '+' or '-' or '*' or '/' or '%' when At(1) == '=' => (TokenKind.Assign, 2),
            _ => (TokenKind.End, 0),
        };
        if (length != 0)
        {
            _pos += length;
            return (kind, Raw());
        }

        switch (c)
        {
            case '$':
                return Dollar();
            case '@':
                return AtSign();
            case '[':
                SkipBalanced('[', ']');
                return (TokenKind.TypeLiteral, Raw());
            default:
                break;
        }

        if (IsSingleQuote(c) || IsDoubleQuote(c))
        {
            return Quoted(IsSingleQuote(c));
        }

        if (IsDash(c) && (IsNameStart(At(1)) || At(1) == '?'))
        {
            return Parameter();
        }

        return TryRedirect() ? (TokenKind.Redirect, Raw()) : Word();
    }

    /// <summary>The source text of the token being read.</summary>
    private string Raw() => source[_start.._pos];

    private (TokenKind, string) Parameter()
    {
        _pos++;
        int start = _pos;
        while (_pos < source.Length && (IsNameChar(source[_pos]) || source[_pos] == '?'))
        {
            _pos++;
        }

        string name = source[start.._pos];
        if (_pos < source.Length && source[_pos] == ':')
        {
            _pos++;
            return (TokenKind.ParameterWithValue, name);
        }

        return (TokenKind.Parameter, name);
    }

    /// <summary><c>&gt;</c>, <c>&gt;&gt;</c>, <c>2&gt;</c>, <c>2&gt;&amp;1</c>, <c>*&gt;</c>: output redirection.</summary>
    private bool TryRedirect()
    {
        int end = _pos;
        if (source[end] is >= '1' and <= '6' or '*' && At(1) == '>')
        {
            end++;
        }

        if (source[end] != '>')
        {
            return false;
        }

        end++;
        if (end < source.Length && source[end] == '>')
        {
            end++;
        }

        if (end + 1 < source.Length && source[end] == '&' && char.IsDigit(source[end + 1]))
        {
            end += 2;
        }

        _pos = end;
        return true;
    }

    private (TokenKind, string) Dollar()
    {
        char next = At(1);
        if (next == '(')
        {
            _pos += 2;
            return (TokenKind.OpenSubExpression, "$(");
        }

        if (next == '{')
        {
            SkipBalanced('{', '}');
        }
        else if (IsNameChar(next))
        {
            _pos++;
            while (_pos < source.Length && (IsNameChar(source[_pos]) || (source[_pos] == ':' && IsNameStart(At(1)))))
            {
                _pos++;
            }
        }
        else if (next is '?' or '^' or '$')
        {
            _pos += 2;
        }
        else
        {
            return Word();
        }

        MemberAccess();
        return (TokenKind.Variable, Raw());
    }

    /// <summary><c>.Name</c>, <c>.Method(...)</c>, <c>[index]</c>, <c>::Static</c> written against a variable.</summary>
    private void MemberAccess()
    {
        while (_pos < source.Length)
        {
            if ((source[_pos] == '.' && IsNameStart(At(1))) || (source[_pos] == ':' && At(1) == ':' && IsNameStart(At(2))))
            {
                _pos += source[_pos] == '.' ? 1 : 2;
                while (_pos < source.Length && IsNameChar(source[_pos]))
                {
                    _pos++;
                }
            }
            else if (source[_pos] == '(')
            {
                SkipBalanced('(', ')');
            }
            else if (source[_pos] == '[')
            {
                SkipBalanced('[', ']');
            }
            else
            {
                return;
            }
        }
    }

    private (TokenKind, string) AtSign()
    {
        char next = At(1);
        switch (next)
        {
            case '(':
                _pos += 2;
                return (TokenKind.OpenArray, "@(");
            case '{':
                _pos += 2;
                return (TokenKind.OpenHashTable, "@{");
            default:
                break;
        }

        if ((IsSingleQuote(next) || IsDoubleQuote(next)) && TryHereString(out var hereString))
        {
            return hereString;
        }

        if (IsNameChar(next))
        {
            _pos++;
            while (_pos < source.Length && IsNameChar(source[_pos]))
            {
                _pos++;
            }

            return (TokenKind.Splat, Raw());
        }

        return Word();
    }

    /// <summary><c>@'</c> or <c>@"</c> at the end of a line, up to a line that starts with <c>'@</c> or <c>"@</c>.</summary>
    private bool TryHereString(out (TokenKind, string) token)
    {
        token = default;
        int afterQuote = _pos + 2;
        int end = afterQuote;
        while (end < source.Length && source[end] is ' ' or '\t')
        {
            end++;
        }

        if (end >= source.Length || source[end] is not ('\r' or '\n'))
        {
            return false;
        }

        bool expandable = IsDoubleQuote(source[_pos + 1]);
        int line = _line;
        _pos = end;
        ConsumeNewLine();
        int contentStart = _pos;
        while (_pos < source.Length)
        {
            bool lineStart = _pos == contentStart || source[_pos - 1] is '\r' or '\n';
            if (lineStart && _pos + 1 < source.Length && (expandable ? IsDoubleQuote(source[_pos]) : IsSingleQuote(source[_pos])) && source[_pos + 1] == '@')
            {
                string content = source[contentStart.._pos].TrimEnd('\r', '\n');
                _pos += 2;
                token = expandable && HasExpansion(content) ? (TokenKind.ExpandableString, Raw()) : (TokenKind.String, content);
                return true;
            }

            Advance();
        }

        problems.Add(new ImportMessage(line, "the here-string opened here is never closed; end it with a line that starts with '@ or \"@"));
        token = (TokenKind.String, source[contentStart..]);
        return true;
    }

    private static bool HasExpansion(string text)
    {
        for (int i = 0; i + 1 < text.Length; i++)
        {
            if (text[i] == '`')
            {
                i++;
            }
            else if (text[i] == '$' && (IsNameChar(text[i + 1]) || text[i + 1] is '(' or '{' or '?' or '^' or '$'))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A quoted string: a doubled quote is one quote; in double quotes, backticks escape and
    /// <c>$name</c> or <c>$(...)</c> make the string one PowerShell expands.
    /// </summary>
    private (TokenKind, string) Quoted(bool single)
    {
        if (_nesting == MaxNesting)
        {
            problems.Add(new ImportMessage(_line, $"strings nested more than {MaxNesting} deep here (\"$(\"$(...)\")\"); the rest of the script is not read"));
            CutShort = true;
            _pos = source.Length; // every string and bracket still open is left as it is
            return (TokenKind.ExpandableString, Raw());
        }

        _nesting++;
        var token = QuotedUnnested(single);
        _nesting--;
        return token;
    }

    private (TokenKind, string) QuotedUnnested(bool single)
    {
        int line = _line;
        var value = new StringBuilder();
        bool expandable = false;
        _pos++;
        while (_pos < source.Length)
        {
            char c = source[_pos];
            if (IsQuote(c, single))
            {
                if (!IsQuote(At(1), single))
                {
                    _pos++;
                    return expandable ? (TokenKind.ExpandableString, Raw()) : (TokenKind.String, value.ToString());
                }

                _pos++;
            }
            else if (!single && c == '`' && _pos + 1 < source.Length)
            {
                _pos++;
                value.Append(Escaped(source[_pos]));
                Advance();
                continue;
            }
            else if (!single && c == '$' && At(1) == '(')
            {
                expandable = true;
                SkipBalanced('(', ')');
                continue;
            }
            else if (!single && c == '$' && (IsNameChar(At(1)) || At(1) is '{' or '?' or '^' or '$'))
            {
                expandable = true;
            }

            value.Append(source[_pos]);
            Advance();
        }

        if (CutShort)
        {
            // What the string holds is not known: no constant.
            return (TokenKind.ExpandableString, Raw());
        }

        problems.Add(new ImportMessage(line, "the string opened here is never closed; the rest of the script is read as part of it"));
        return (TokenKind.String, value.ToString());
    }

    private static bool IsQuote(char c, bool single) => single ? IsSingleQuote(c) : IsDoubleQuote(c);

    private static char Escaped(char c) => c switch
    {
        '0' => '\0',
        'a' => '\a',
        'b' => '\b',
        'f' => '\f',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\v',
        _ => c,
    };

    /// <summary>Up to the first <paramref name="open"/> and past its closer, stepping over quoted strings inside.</summary>
    private void SkipBalanced(char open, char close)
    {
        int depth = 0;
        while (_pos < source.Length)
        {
            char c = source[_pos];
            if (c == open)
            {
                depth++;
            }
            else if (c == close && --depth == 0)
            {
                _pos++;
                return;
            }
            else if (IsSingleQuote(c) || IsDoubleQuote(c))
            {
                Quoted(IsSingleQuote(c));
                continue;
            }

            Advance();
        }
    }

    /// <summary>A bare word: up to a space, a line end, a quote or one of <c>; | ( ) { } ,</c>; backticks escape.</summary>
    private (TokenKind, string) Word()
    {
        var value = new StringBuilder();
        bool expandable = false;
        while (_pos < source.Length)
        {
            char c = source[_pos];
            if (IsSpace(c) || c is '\r' or '\n' or ';' or '|' or '(' or ')' or '{' or '}' or ',' || IsSingleQuote(c) || IsDoubleQuote(c))
            {
                break;
            }

            if (c == '`')
            {
                if (At(1) is '\0' or '\r' or '\n')
                {
                    break;
                }

                _pos++;
                c = Escaped(source[_pos]);
            }
            else if (c == '$' && value.Length > 0 && (IsNameChar(At(1)) || At(1) is '{' or '('))
            {
                expandable = true;
            }

            value.Append(c);
            _pos++;
        }

        if (value.Length == 0)
        {
            // A character no rule above takes (such as a lone backtick at the end): one character.
            value.Append(source[_pos]);
            _pos++;
        }

        return expandable ? (TokenKind.ExpandableWord, Raw()) : (TokenKind.Word, value.ToString());
    }
}
