using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using NvDataplane.Policy;

namespace NvDataplane.Cli.Control;

/// <summary>
/// Error answers as RFC 7807 problem details (<c>application/problem+json</c>): <c>title</c> is the
/// status phrase (the type is the default, about:blank), <c>detail</c> says what was wrong and
/// what to do, and a refused policy change lists every <c>problems[]</c> entry with the JSON path
/// of the offending value (SPEC section 2 paths into the candidate document). Never a stack trace.
/// </summary>
internal static class Problem
{
    public const string ContentType = "application/problem+json";

    /// <summary>Quotes and non-ASCII stay as they are: the messages are read by people, never put into HTML.</summary>
    private static readonly JsonWriterOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Problems listed in one answer at most; the detail says how many there were.</summary>
    public const int MaxListed = 1000;

    public static async Task WriteAsync(HttpContext context, int status, string detail, IReadOnlyList<ConfigProblem>? problems = null)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = ContentType;
        await using var json = new Utf8JsonWriter(response.BodyWriter, Readable);
        json.WriteStartObject();
        json.WriteString("title", ReasonPhrases.GetReasonPhrase(status));
        json.WriteNumber("status", status);
        json.WriteString("detail", detail);
        if (problems is not null)
        {
            json.WriteStartArray("problems");
            foreach (var p in problems.Take(MaxListed))
            {
                json.WriteStartObject();
                json.WriteString("path", p.Path);
                json.WriteString("message", p.Message);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();
    }

    /// <summary>422 for a refused change or query: every problem, and that nothing was changed.</summary>
    public static Task RefusedAsync(HttpContext context, IReadOnlyList<ConfigProblem> problems) =>
        WriteAsync(
            context,
            StatusCodes.Status422UnprocessableEntity,
            problems.Count == 1 ? "1 problem; nothing was changed"
            : problems.Count > MaxListed ? $"{problems.Count} problems, the first {MaxListed} listed; nothing was changed"
            : $"{problems.Count} problems; nothing was changed",
            problems);
}
