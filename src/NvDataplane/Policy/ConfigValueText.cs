using System.Text.Json;

namespace NvDataplane.Policy;

/// <summary>How configuration values and field names are spelled in problem messages.</summary>
internal static class ConfigValueText
{
    private const int MaxShown = 40;

    /// <summary>"the string "abc"", "the number 5", "an object" ... for "expected X, got Y".</summary>
    public static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"the string {Quote(value.GetString() ?? string.Empty)}",
        JsonValueKind.Number => $"the number {Shorten(value.GetRawText())}",
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>The text in double quotes, shortened when long so one problem stays one line.</summary>
    public static string Quote(string text) => $"\"{Shorten(text)}\"";

    /// <summary>"unknown field; valid fields are a, b, c", with a "did you mean" when one is close.</summary>
    public static string UnknownField(string name, IReadOnlyList<string> validFields)
    {
        string valid = string.Join(", ", validFields);
        string? near = Nearest(name, validFields);
        return near is null
            ? $"unknown field; valid fields are {valid}"
            : $"unknown field; did you mean \"{near}\"? valid fields are {valid}";
    }

    private static string Shorten(string text)
    {
        string oneLine = text.ReplaceLineEndings(" ");
        return oneLine.Length <= MaxShown ? oneLine : string.Concat(oneLine.AsSpan(0, MaxShown), "...");
    }

    /// <summary>A valid name that differs only in case, or by at most two edits.</summary>
    internal static string? Nearest(string name, IReadOnlyList<string> validFields)
    {
        string? best = null;
        int bestDistance = 3;
        foreach (string field in validFields)
        {
            int distance = string.Equals(field, name, StringComparison.OrdinalIgnoreCase) ? 0 : EditDistance(name, field);
            if (distance < bestDistance)
            {
                best = field;
                bestDistance = distance;
            }
        }

        return best;
    }

    private static int EditDistance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 2)
        {
            return int.MaxValue;
        }

        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitution = previous[j - 1] + (char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
