using NvDataplane.Policy.Import;

namespace NvDataplane.Tests.Policy;

/// <summary>PowerShellScriptReader: the commands of a script and their arguments, as PowerShell reads them.</summary>
public class ImportPsReaderTests
{
    private const string Script = """
        <# a block comment
           New-NetVirtualizationLookupRecord -CustomerAddress 10.9.9.9
        #>
        New-Thing -A 'it''s' -B "say `"hi`"" ; Other-Thing -C:5 # Commented-Thing -X 1
        $r = Assigned-Thing -D `
           value
        Get-Stuff | Where-Object { $_.x -eq 1 } | ForEach-Object { Inner-Thing -E $_ }
        $h = @{ Key = 'v'; Other = Valued-Thing }
        foreach ($i in 1..3) { Loop-Thing -F $i }
        Quiet-Thing -G x > $null 2>&1
        & 'Quoted-Thing' -H “smart” –I x
        $here = @"
        Not-A-Command -J $x
        "@
        Last-Thing -K (Sub-Thing -L 1).Name
        """;

    private static ScriptArgument P(string name, int line) => new(ScriptArgumentKind.Parameter, name, line);

    private static ScriptArgument L(string text, int line) => new(ScriptArgumentKind.Literal, text, line);

    [Test]
    public void Finds_every_command_in_source_order_and_nothing_in_comments_strings_or_hashtable_keys()
    {
        var read = PowerShellScriptReader.Read(Script);

        Assert.That(read.Problems, Is.Empty);
        Assert.That(read.Commands.Select(c => (c.Name, c.Line)), Is.EqualTo(new[]
        {
            ("New-Thing", 4), ("Other-Thing", 4), ("Assigned-Thing", 5), ("Get-Stuff", 7), ("Where-Object", 7), ("ForEach-Object", 7),
            ("Inner-Thing", 7), ("Valued-Thing", 8), ("Loop-Thing", 9), ("Quiet-Thing", 10), ("Quoted-Thing", 11), ("Last-Thing", 15), ("Sub-Thing", 15),
        }));
    }

    [Test]
    public void Reads_quotes_escapes_continuations_colon_values_and_typographic_quotes_and_dashes()
    {
        var commands = PowerShellScriptReader.Read(Script).Commands.ToDictionary(c => c.Name, c => c.Arguments);

        Assert.That(commands["New-Thing"], Is.EqualTo(new[] { P("A", 4), L("it's", 4), P("B", 4), L("say \"hi\"", 4) }));
        Assert.That(commands["Other-Thing"], Is.EqualTo(new[] { new ScriptArgument(ScriptArgumentKind.ParameterWithValue, "C", 4), L("5", 4) }));
        Assert.That(commands["Assigned-Thing"], Is.EqualTo(new[] { P("D", 5), L("value", 6) }));
        Assert.That(commands["Quiet-Thing"], Is.EqualTo(new[] { P("G", 10), L("x", 10) }), "redirections are no arguments");
        Assert.That(commands["Quoted-Thing"], Is.EqualTo(new[] { P("H", 11), L("smart", 11), P("I", 11), L("x", 11) }));
    }

    [Test]
    public void Classifies_variables_expressions_and_script_blocks()
    {
        var commands = PowerShellScriptReader.Read(Script).Commands.ToDictionary(c => c.Name, c => c.Arguments);

        Assert.That(commands["Where-Object"], Is.EqualTo(new[] { new ScriptArgument(ScriptArgumentKind.ScriptBlock, "$_.x -eq 1", 7) }));
        Assert.That(commands["Inner-Thing"], Is.EqualTo(new[] { P("E", 7), new ScriptArgument(ScriptArgumentKind.Variable, "$_", 7) }));
        Assert.That(commands["Loop-Thing"], Is.EqualTo(new[] { P("F", 9), new ScriptArgument(ScriptArgumentKind.Variable, "$i", 9) }));
        Assert.That(commands["Last-Thing"], Is.EqualTo(new[] { P("K", 15), new ScriptArgument(ScriptArgumentKind.Expression, "(Sub-Thing -L 1).Name", 15) }));
    }

    [Test]
    public void Knows_the_keyword_or_command_whose_block_a_command_sits_in()
    {
        var within = PowerShellScriptReader.Read(Script).Commands.ToDictionary(c => c.Name, c => c.Within);

        Assert.That(within["Inner-Thing"], Is.EqualTo(new ScriptBlockOwner("ForEach-Object", 7)));
        Assert.That(within["Loop-Thing"], Is.EqualTo(new ScriptBlockOwner("foreach", 9)));
        Assert.That(within["Sub-Thing"], Is.Null, "a ( ) group is no block");
        Assert.That(within["New-Thing"], Is.Null);
    }

    [Test]
    public void True_and_false_are_constants_and_a_string_that_expands_is_an_expression()
    {
        var arguments = PowerShellScriptReader.Read("Any-Thing $TRUE $false 'a$b' \"a`$b\" \"a$b\" a$b").Commands.Single().Arguments;

        Assert.That(arguments.Select(a => (a.Kind, a.Text)), Is.EqualTo(new[]
        {
            (ScriptArgumentKind.Literal, "True"), (ScriptArgumentKind.Literal, "False"), (ScriptArgumentKind.Literal, "a$b"),
            (ScriptArgumentKind.Literal, "a$b"), (ScriptArgumentKind.Expression, "\"a$b\""), (ScriptArgumentKind.Expression, "a$b"),
        }));
    }
}
