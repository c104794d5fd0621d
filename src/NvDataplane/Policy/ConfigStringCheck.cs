using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Unicode;

namespace NvDataplane.Policy;

/// <summary>
/// Finds strings and field names that JSON accepts but .NET cannot read: a <c>\uD800</c>-style
/// escape that leaves half a UTF-16 surrogate pair, or bytes that are not UTF-8 (a request body
/// is parsed as sent). The readers run only on a document without them, so reading a string
/// never throws.
/// </summary>
internal static class ConfigStringCheck
{
    private const string Fix = "contains a \\u escape of half a UTF-16 surrogate pair; write the character itself or a complete pair";

    private const string NotUtf8 = "holds bytes that are not UTF-8 (such as 0xFF); send the text as UTF-8";

    public static void Check(JsonElement element, string path, ConfigProblemList problems)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (TryReadName(property) is { } name)
                    {
                        Check(property.Value, ConfigJsonPath.Property(path, name), problems);
                    }
                    else
                    {
                        problems.Add(path, $"a field name {(Utf8.IsValid(JsonMarshal.GetRawUtf8PropertyName(property)) ? Fix : NotUtf8)}");
                    }
                }

                break;
            case JsonValueKind.Array:
                int index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    Check(item, ConfigJsonPath.Index(path, index++), problems);
                }

                break;
            case JsonValueKind.String when !TryGetString(element, out _):
                problems.Add(path, $"the string {(Utf8.IsValid(JsonMarshal.GetRawUtf8Value(element)) ? Fix : NotUtf8)}");
                break;
            default:
                break;
        }
    }

    private static string? TryReadName(JsonProperty property)
    {
        try
        {
            return property.Name;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The string <paramref name="text"/> holds (a JSON string), or false when it has half a surrogate pair (see <see cref="Check"/>).</summary>
    public static bool TryGetString(JsonElement text, out string value)
    {
        try
        {
            value = text.GetString()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            value = "";
            return false;
        }
    }
}
