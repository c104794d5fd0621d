namespace NvDataplane.Policy.Import;

public enum ScriptArgumentKind
{
    /// <summary><c>-Name</c>: a parameter; its value, when it takes one, is the next argument.</summary>
    Parameter,

    /// <summary><c>-Name:value</c>: the next argument is this parameter's value, whatever it looks like.</summary>
    ParameterWithValue,

    /// <summary>A constant: a bare word or number, a quoted string that expands nothing, <c>$true</c>, <c>$false</c>.</summary>
    Literal,

    /// <summary><c>{ ... }</c>: a parameter of type String receives the block's text.</summary>
    ScriptBlock,

    /// <summary><c>$name</c>, <c>$vm.IP</c>: known only when the script runs.</summary>
    Variable,

    /// <summary>Anything else computed when the script runs: <c>(...)</c>, <c>"$x.0/24"</c>, arrays.</summary>
    Expression,

    /// <summary><c>@params</c>: parameters taken from a hashtable variable.</summary>
    Splat,
}

/// <param name="Text">A parameter's name without its dash; a literal's value; a script block's inner text; otherwise the source text on one line.</param>
/// <param name="Line">The 1-based line where the argument starts.</param>
public readonly record struct ScriptArgument(ScriptArgumentKind Kind, string Text, int Line)
{
    public bool IsParameter => Kind is ScriptArgumentKind.Parameter or ScriptArgumentKind.ParameterWithValue;
}

/// <summary>The keyword statement (<c>foreach</c>, <c>if</c>, <c>function</c>) or command (<c>ForEach-Object</c>, <c>Invoke-Command</c>) a <c>{ }</c> block belongs to.</summary>
public sealed record ScriptBlockOwner(string Name, int Line);

/// <summary>A top-level <c>exit</c>, <c>return</c> or <c>throw</c>: the script ends there.</summary>
/// <param name="Keyword">The keyword, in lower case.</param>
public sealed record ScriptEnd(string Keyword, int Line);

/// <summary>One command invocation: its name as written and its arguments in order.</summary>
/// <param name="Line">The line of the command name.</param>
/// <param name="Within">The owner of the innermost block the command sits in; null at the top of the script.</param>
public sealed record ScriptCommand(string Name, int Line, IReadOnlyList<ScriptArgument> Arguments, ScriptBlockOwner? Within = null)
{
    /// <summary>The top-level <c>exit</c>, <c>return</c> or <c>throw</c> the command comes after: the script ends there, and the command never runs.</summary>
    public ScriptEnd? After { get; init; }

    /// <summary>The commands whose script blocks this one sits in, outermost first (<c>Invoke-Command -ComputerName X { ... }</c>); their arguments are all there once the script is read.</summary>
    public IReadOnlyList<ScriptCommand> Enclosing { get; init; } = [];
}

/// <summary>The commands of a script in source order, and what could not be read (unclosed strings, comments, brackets).</summary>
public sealed record ScriptReadResult(IReadOnlyList<ScriptCommand> Commands, IReadOnlyList<ImportMessage> Problems);

/// <summary>
/// Finds every command invocation in a PowerShell script without running it: statements
/// separated by line ends and <c>;</c>, pipelines, assignments (<c>$r = New-...</c>), the
/// bodies of loops, functions and script blocks, the insides of <c>(...)</c>, <c>$(...)</c> and
/// <c>@(...)</c>, the values of hashtables. Keyword statements (<c>foreach</c>, <c>if</c>, ...)
/// are not commands, but the commands in their blocks are; a hashtable's keys
/// (<c>@{ Name = 'x' }</c>) are not commands either. Values are classified, not evaluated: a
/// variable stays a variable. A top-level <c>exit</c>, <c>return</c> or <c>throw</c> (one no
/// <c>trap</c> of the script may catch) ends the script: each command after it says so.
/// </summary>
public static class PowerShellScriptReader
{
    public static ScriptReadResult Read(string script)
    {
        var problems = new List<ImportMessage>();
        var tokenizer = new PowerShellTokenizer(script, problems);
        var tokens = tokenizer.ReadAll();
        var commands = new Parser(script, tokens, problems, tokenizer.CutShort).ReadAll();
        return new ScriptReadResult(commands, [.. problems.OrderBy(p => p.Line)]);
    }

    /// <param name="cutShort">The tokenizer stopped early (and said so): brackets it left open are not reported.</param>
    private sealed class Parser(string source, List<Token> tokens, List<ImportMessage> problems, bool cutShort)
    {
        private const int MaxShown = 60;

        private static readonly HashSet<string> Keywords = new(StringComparer.OrdinalIgnoreCase)
        {
            "begin", "break", "catch", "class", "configuration", "continue", "data", "define", "do", "dynamicparam", "else",
            "elseif", "end", "enum", "exit", "filter", "finally", "for", "foreach", "from", "function", "hidden", "if", "in",
            "inlinescript", "parallel", "param", "process", "return", "sequence", "static", "switch", "throw", "trap", "try",
            "until", "using", "var", "while", "workflow",
        };

        private readonly List<(int Start, ScriptCommand Command)> _commands = [];

        /// <summary>A <c>trap</c> may let the script go on after a <c>throw</c>.</summary>
        private readonly bool _trapped = tokens.Exists(t => t.Kind == TokenKind.Word && t.Text.Equals("trap", StringComparison.OrdinalIgnoreCase));

        /// <summary>The top-level statement that ended the script, once read.</summary>
        private ScriptEnd? _end;
        private int _index;
        private int _hashTableDepth;

        /// <summary>The owner of the block being read.</summary>
        private ScriptBlockOwner? _within;

        /// <summary>Who a block opened now belongs to: the keyword statement or command being read.</summary>
        private ScriptBlockOwner? _owner;

        /// <summary>The command being read when a block opened now belongs to a command.</summary>
        private ScriptCommand? _ownerCommand;

        /// <summary>The commands whose blocks are being read, outermost first.</summary>
        private IReadOnlyList<ScriptCommand> _enclosing = [];

        public List<ScriptCommand> ReadAll()
        {
            ParseStatements(null);
            return [.. _commands.OrderBy(c => c.Start).Select(c => c.Command)];
        }

        private Token Peek(int ahead = 0) => tokens[Math.Min(_index + ahead, tokens.Count - 1)];

        private Token Next() => tokens[Math.Min(_index++, tokens.Count - 1)];

        private Token Previous() => tokens[Math.Clamp(_index - 1, 0, tokens.Count - 1)];

        private bool AtStatementEnd() => Peek().Kind is TokenKind.NewLine or TokenKind.Semicolon or TokenKind.Pipe or TokenKind.Close or TokenKind.End;

        private void SkipNewLines()
        {
            while (Peek().Kind == TokenKind.NewLine)
            {
                _index++;
            }
        }

        /// <summary>Brackets nested deeper than this end the reading with a problem (the reader recurses, and a stack overflow would end the process).</summary>
        private const int MaxNesting = PowerShellTokenizer.MaxNesting;

        private int _nesting;
        private bool _tooDeep = cutShort;

        /// <summary>Statements up to the closer of <paramref name="opener"/> (consumed), or to the end of the script at the top.</summary>
        private void ParseStatements(Token? opener)
        {
            if (opener is not { } first)
            {
                ReadStatements(null);
                return;
            }

            if (_nesting == MaxNesting)
            {
                if (!_tooDeep)
                {
                    problems.Add(new ImportMessage(first.Line, $"brackets nested more than {MaxNesting} deep here; the rest of the script is not read"));
                }

                _tooDeep = true;
                _index = tokens.Count - 1; // the end: every bracket still open is left as it is
                return;
            }

            _nesting++;
            try
            {
                ReadStatements(opener);
            }
            finally
            {
                _nesting--;
            }
        }

        private void ReadStatements(Token? opener)
        {
            char? closer = opener is { } o ? (o.Kind is TokenKind.OpenBlock or TokenKind.OpenHashTable ? '}' : ')') : null;
            while (true)
            {
                while (Peek().Kind is TokenKind.NewLine or TokenKind.Semicolon)
                {
                    _index++;
                }

                var token = Peek();
                if (token.Kind == TokenKind.End)
                {
                    if (opener is { } open && !_tooDeep)
                    {
                        problems.Add(new ImportMessage(open.Line, $"the '{open.Text}' opened here is never closed with '{closer}'"));
                    }

                    return;
                }

                if (token.Kind == TokenKind.Close)
                {
                    _index++;
                    if (opener is not { } open)
                    {
                        problems.Add(new ImportMessage(token.Line, $"'{token.Text}' closes nothing; remove it or add its opening bracket"));
                        continue;
                    }

                    if (token.Text[0] != closer)
                    {
                        problems.Add(new ImportMessage(token.Line, $"'{token.Text}' closes the '{open.Text}' of line {open.Line}, which needs '{closer}'"));
                    }

                    return;
                }

                ParsePipeline();
                if (opener is null && _end is null && token.Kind == TokenKind.Word && EndsScript(token.Text))
                {
                    _end = new ScriptEnd(token.Text.ToLowerInvariant(), token.Line);
                }
            }
        }

        private bool EndsScript(string keyword) =>
            keyword.Equals("exit", StringComparison.OrdinalIgnoreCase) || keyword.Equals("return", StringComparison.OrdinalIgnoreCase)
            || (keyword.Equals("throw", StringComparison.OrdinalIgnoreCase) && !_trapped);

        private void ParsePipeline()
        {
            ParseStatement();
            while (Peek().Kind == TokenKind.Pipe)
            {
                _index++;
                SkipNewLines();
                ParseStatement();
            }
        }

        private void ParseStatement()
        {
            var first = Peek();
            bool key = _hashTableDepth > 0 && first.Kind is TokenKind.Word or TokenKind.String;
            if ((first.Kind == TokenKind.Variable || key) && Peek(1).Kind == TokenKind.Assign)
            {
                // $record = New-..., and Key = value in a hashtable: the value is a statement of its own.
                _index += 2;
                SkipNewLines();
                ParseStatement();
            }
            else if (first.Kind == TokenKind.CallOperator && Peek(1).Kind is TokenKind.Word or TokenKind.String)
            {
                _index++;
                ParseCommand(Next());
            }
            else if (first.Kind == TokenKind.Word && IsCommandName(first.Text) && !Keywords.Contains(first.Text))
            {
                ParseCommand(Next());
            }
            else
            {
                bool keyword = first.Kind == TokenKind.Word && Keywords.Contains(first.Text);
                var (outer, outerCommand) = (_owner, _ownerCommand);
                (_owner, _ownerCommand) = (keyword ? new ScriptBlockOwner(first.Text, first.Line) : null, null);
                while (true)
                {
                    while (!AtStatementEnd())
                    {
                        ReadValue();
                    }

                    // foreach (...) and if (...) may have their { on the next line.
                    if (!keyword || Peek().Kind != TokenKind.NewLine || NextAfterNewLines().Kind != TokenKind.OpenBlock)
                    {
                        break;
                    }

                    SkipNewLines();
                }

                (_owner, _ownerCommand) = (outer, outerCommand);
            }
        }

        private Token NextAfterNewLines()
        {
            int ahead = 0;
            while (Peek(ahead).Kind == TokenKind.NewLine)
            {
                ahead++;
            }

            return Peek(ahead);
        }

        private static bool IsCommandName(string word) =>
            word.Length > 0 && (char.IsLetter(word[0]) || word[0] is '_' or '.' or '\\' or '/' or '~' or '%' or '?');

        private void ParseCommand(Token name)
        {
            // The command exists before its arguments are read, so that the commands in its blocks can name it.
            var arguments = new List<ScriptArgument>();
            var command = new ScriptCommand(name.Text, name.Line, arguments, _within) { After = _end, Enclosing = _enclosing };
            var (outer, outerCommand) = (_owner, _ownerCommand);
            (_owner, _ownerCommand) = (new ScriptBlockOwner(name.Text, name.Line), command);
            var lastValue = (Start: -1, Index: -1);
            while (!AtStatementEnd())
            {
                var token = Peek();
                switch (token.Kind)
                {
                    case TokenKind.Parameter:
                        _index++;
                        arguments.Add(new ScriptArgument(ScriptArgumentKind.Parameter, token.Text, token.Line));
                        break;
                    case TokenKind.ParameterWithValue:
                        _index++;
                        arguments.Add(new ScriptArgument(ScriptArgumentKind.ParameterWithValue, token.Text, token.Line));
                        break;
                    case TokenKind.Redirect:
                        // > file, 2> file: the target is no argument; 2>&1 has none.
                        _index++;
                        if (!token.Text.Contains('&', StringComparison.Ordinal) && !AtStatementEnd())
                        {
                            ReadValue();
                        }

                        break;
                    case TokenKind.Comma when lastValue.Index == arguments.Count - 1 && lastValue.Index >= 0:
                        // "a","b": one argument, an array.
                        _index++;
                        SkipNewLines();
                        if (!AtStatementEnd())
                        {
                            ReadValue();
                        }

                        arguments[^1] = new ScriptArgument(ScriptArgumentKind.Expression, Shown(lastValue.Start, Previous().End), arguments[^1].Line);
                        break;
                    default:
                        lastValue = (token.Start, arguments.Count);
                        arguments.Add(ReadValue());
                        break;
                }
            }

            (_owner, _ownerCommand) = (outer, outerCommand);
            _commands.Add((name.Start, command));
        }

        /// <summary>One value and whatever is written against it (<c>(Get-X).Name</c>, <c>[int]$x</c>).</summary>
        private ScriptArgument ReadValue()
        {
            var first = Next();
            var (kind, text) = ReadOne(first);
            while (Peek().Joined && !AtStatementEnd() && Peek().Kind is not (TokenKind.Comma or TokenKind.Parameter or TokenKind.ParameterWithValue or TokenKind.Redirect))
            {
                ReadValue();
                kind = ScriptArgumentKind.Expression;
            }

            if (kind is ScriptArgumentKind.Variable or ScriptArgumentKind.Expression or ScriptArgumentKind.Splat)
            {
                text = Shown(first.Start, Previous().End);
            }

            return new ScriptArgument(kind, text, first.Line);
        }

        private (ScriptArgumentKind Kind, string Text) ReadOne(Token first)
        {
            switch (first.Kind)
            {
                case TokenKind.Word or TokenKind.String:
                    return (ScriptArgumentKind.Literal, first.Text);
                case TokenKind.Variable when first.Text.Equals("$true", StringComparison.OrdinalIgnoreCase):
                    return (ScriptArgumentKind.Literal, "True");
                case TokenKind.Variable when first.Text.Equals("$false", StringComparison.OrdinalIgnoreCase):
                    return (ScriptArgumentKind.Literal, "False");
                case TokenKind.Variable:
                    return (ScriptArgumentKind.Variable, first.Text);
                case TokenKind.Splat:
                    return (ScriptArgumentKind.Splat, first.Text);
                case TokenKind.OpenParen or TokenKind.OpenSubExpression or TokenKind.OpenArray:
                    ParseStatements(first);
                    return (ScriptArgumentKind.Expression, string.Empty);
                case TokenKind.OpenBlock:
                    return (ScriptArgumentKind.ScriptBlock, ReadBlock(first));
                case TokenKind.OpenHashTable:
                    _hashTableDepth++;
                    ParseStatements(first);
                    _hashTableDepth--;
                    return (ScriptArgumentKind.Expression, string.Empty);
                default:
                    return (ScriptArgumentKind.Expression, string.Empty);
            }
        }

        /// <summary>The commands inside a block count wherever it sits, and know its owner; its text is the value. A block in a hashtable has no keys.</summary>
        private string ReadBlock(Token open)
        {
            var (outerDepth, outerWithin, outerEnclosing) = (_hashTableDepth, _within, _enclosing);
            (_hashTableDepth, _within) = (0, _owner ?? _within);
            if (_owner is not null && _ownerCommand is { } command)
            {
                _enclosing = [.. _enclosing, command];
            }

            ParseStatements(open);
            (_hashTableDepth, _within, _enclosing) = (outerDepth, outerWithin, outerEnclosing);
            var last = Previous();
            int end = last.Kind == TokenKind.Close && last.Start >= open.End ? last.Start : last.End;
            return source[open.End..Math.Max(open.End, end)].Trim();
        }

        /// <summary>Source text for messages: on one line, shortened when long.</summary>
        private string Shown(int start, int end)
        {
            string text = string.Join(' ', source[start..end].Replace("`", string.Empty, StringComparison.Ordinal)
                .Split((char[])[' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries));
            return text.Length <= MaxShown ? text : string.Concat(text.AsSpan(0, MaxShown), "...");
        }
    }
}
