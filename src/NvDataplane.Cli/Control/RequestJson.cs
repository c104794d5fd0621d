using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using NvDataplane.Policy;

namespace NvDataplane.Cli.Control;

/// <summary>
/// A request body parsed as one JSON document. The body is copied out of Kestrel's pipe into a
/// pooled buffer (the pipe holds only what its buffer limit allows, so the body must be consumed
/// as it comes) and parsed in place; the document's elements point into that buffer until
/// <see cref="Dispose"/>, which the handler calls once the policy editor has taken the changes.
/// </summary>
internal sealed class RequestJson : IDisposable
{
    private static readonly JsonDocumentOptions Options = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };

    private readonly JsonDocument _document;
    private byte[]? _buffer;

    private RequestJson(JsonDocument document, byte[] buffer)
    {
        _document = document;
        _buffer = buffer;
    }

    public JsonElement Root => _document.RootElement;

    /// <summary>The body as JSON; null after answering 400 (no body, or not JSON: line and byte named).</summary>
    /// <exception cref="BadHttpRequestException">The body is larger than the limit (413), or the client stopped sending.</exception>
    public static async Task<RequestJson?> ReadAsync(HttpContext context)
    {
        var reader = context.Request.BodyReader;
        // Sized from Content-Length, but never beyond the limit: Kestrel refuses a larger body on the first read.
        long limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize ?? ControlConfig.MaxMaxRequestBytes;
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Clamp(context.Request.ContentLength ?? 4096, 256, limit));
        int length = 0;
        try
        {
            while (true)
            {
                ReadResult read = await reader.ReadAsync(context.RequestAborted);
                foreach (var segment in read.Buffer)
                {
                    if (length + segment.Length > buffer.Length)
                    {
                        byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(buffer.Length * 2, length + segment.Length));
                        buffer.AsSpan(0, length).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }

                    segment.Span.CopyTo(buffer.AsSpan(length));
                    length += segment.Length;
                }

                reader.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }

            if (length == 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                await Problem.WriteAsync(context, StatusCodes.Status400BadRequest, "the request needs a JSON body");
                return null;
            }

            var document = JsonDocument.Parse(buffer.AsMemory(0, length), Options);
            return new RequestJson(document, buffer);
        }
        catch (JsonException e)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            await Problem.WriteAsync(context, StatusCodes.Status400BadRequest, "the body is " + ConfigLoader.DescribeInvalidJson(e));
            return null;
        }
        catch (OutOfMemoryException)
        {
            // The parse's one array of values could not be had (more values than an array
            // holds, or no room): the body is too large to take, not a fault of the server.
            ArrayPool<byte>.Shared.Return(buffer);
            await Problem.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, $"the body ({length} bytes) holds more JSON values than can be parsed at once; send fewer changes per request");
            return null;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    public void Dispose()
    {
        _document.Dispose();
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
