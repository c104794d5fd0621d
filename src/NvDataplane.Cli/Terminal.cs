using Spectre.Console;

namespace NvDataplane.Cli;

/// <summary>Spectre.Console over a command's stdout: colours on a terminal, plain text (and a fixed width) when redirected or in tests.</summary>
internal static class Terminal
{
    public static IAnsiConsole Create(TextWriter stdout, int minWidth = 100, int redirectedWidth = 160)
    {
        bool terminal = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        console.Profile.Width = terminal ? Math.Max(console.Profile.Width, minWidth) : redirectedWidth;
        return console;
    }
}
