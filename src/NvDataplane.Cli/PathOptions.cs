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
}
