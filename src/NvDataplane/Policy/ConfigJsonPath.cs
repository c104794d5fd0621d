using System.Globalization;
using System.Text;

namespace NvDataplane.Policy;

/// <summary>Builds the JSON paths that name configuration values in problems: <c>$.ports[0].mtu</c>.</summary>
internal static class ConfigJsonPath
{
    public const string Root = "$";

    public static string Property(string parent, string name) =>
        IsPlainName(name) ? $"{parent}.{name}" : $"{parent}['{Escape(name)}']";

    public static string Index(string parent, int index) =>
        string.Create(CultureInfo.InvariantCulture, $"{parent}[{index}]");

    /// <summary>The path one level up (<c>$.ports[0]</c> for <c>$.ports[0].mtu</c>), or null at the root.</summary>
    public static string? Parent(string path)
    {
        int cut = Math.Max(path.LastIndexOf('.'), path.LastIndexOf('['));
        return cut > 0 ? path[..cut] : null;
    }

    private static bool IsPlainName(string name)
    {
        if (name.Length == 0 || !(char.IsAsciiLetter(name[0]) || name[0] == '_'))
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                return false;
            }
        }

        return true;
    }

    private static string Escape(string name)
    {
        var text = new StringBuilder(name.Length + 4);
        foreach (char c in name)
        {
            if (c is '\'' or '\\')
            {
                text.Append('\\');
            }

            text.Append(char.IsControl(c) ? '?' : c);
        }

        return text.ToString();
    }
}
