using System.CommandLine;

namespace NvDataplane.Cli;

/// <summary>Options that name a file or a folder.</summary>
internal static class PathOptions
{
    /// <summary>
    /// An empty value is a usage error (exit 2) naming the option: .NET's file APIs throw on an
    /// empty path, which reached the operator as an internal error with a stack trace.
    /// </summary>
    public static Option<T> NotEmpty<T>(this Option<T> option)
    {
        option.Validators.Add(result =>
        {
            if (result.Tokens.Any(t => t.Value.Length == 0))
            {
                result.AddError($"{option.Name}: the path is empty; give a file or folder");
            }
        });
        return option;
    }

    /// <summary>
    /// A file to write that names an existing folder is a usage error (exit 2), said before
    /// anything is done: .NET reports it as "access denied", and a capture would have been taken
    /// from the daemon only to be lost.
    /// </summary>
    public static Option<string> NotAFolder(this Option<string> option) =>
        option.RefusedWhen(Directory.Exists, "that is a folder; give a file");

    /// <summary>
    /// A folder to write into that names an existing file is a usage error (exit 2): .NET says
    /// only "the file already exists".
    /// </summary>
    public static Option<string> NotAFile(this Option<string> option) =>
        option.RefusedWhen(File.Exists, "that is a file; give a folder (it is created when missing)");

    /// <summary>A usage error "OPTION VALUE: <paramref name="why"/>" for the first non-empty value <paramref name="wrong"/> holds for.</summary>
    private static Option<string> RefusedWhen(this Option<string> option, Func<string, bool> wrong, string why)
    {
        option.Validators.Add(result =>
        {
            if (result.Tokens.FirstOrDefault(t => t.Value.Length != 0 && wrong(t.Value)) is { } token)
            {
                result.AddError($"{option.Name} {token.Value}: {why}");
            }
        });
        return option;
    }
}
