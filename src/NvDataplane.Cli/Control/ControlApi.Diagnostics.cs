using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NvDataplane.Diagnostics;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Cli.Control;

/// <summary>
/// The diagnostic endpoints: <c>POST /v1/trace</c> explains what the live policy does with a
/// frame (<see cref="PacketTracer"/>), <c>GET /v1/capture</c> streams a port's frames as pcapng
/// while a <see cref="CaptureSession"/> runs. Neither changes the policy nor waits in the worker.
/// </summary>
internal sealed partial class ControlApi
{
    public const string TracePath = "/v1/trace";
    public const string CapturePath = "/v1/capture";

    /// <summary>The most frames one capture request may ask for.</summary>
    public const int MaxCaptureCount = 1_000_000;

    /// <summary>How long a capture runs at most when the request names no timeout, and the most it may name.</summary>
    public const int DefaultCaptureSeconds = 60;

    public const int MaxCaptureSeconds = 3600;

    public const string PcapNgContentType = "application/x-pcapng";

    private const string TraceShape = """the body is {"port": NAME, "frame": HEX} or {"port": NAME, "pcap": BASE64 of a pcap or pcapng file}""";

    private void MapDiagnostics(IEndpointRouteBuilder app)
    {
        app.MapPost(TracePath, TraceAsync);
        app.MapGet(CapturePath, CaptureAsync);
        Routes[TracePath] = ["POST"];
        Routes[CapturePath] = ["GET"];
    }

    /// <summary>Why <paramref name="port"/> cannot be traced or captured on <paramref name="policy"/>; null when it is a port of it.</summary>
    private static string? UnknownPort(PolicySnapshot policy, string port) =>
        policy.FindPort(port) >= 0 ? null : $"no port named '{port}'; the ports are {string.Join(", ", policy.Ports.Select(p => p.Name))}";

    private async Task TraceAsync(HttpContext context)
    {
        using var body = await RequestJson.ReadAsync(context);
        if (body is null)
        {
            return;
        }

        var root = body.Root;
        if (root.ValueKind != JsonValueKind.Object
            || !root.TryGetProperty("port", out var portValue) || portValue.ValueKind != JsonValueKind.String
            || root.TryGetProperty("frame", out var hex) == root.TryGetProperty("pcap", out var pcap)
            || (hex.ValueKind != JsonValueKind.Undefined && hex.ValueKind != JsonValueKind.String)
            || (pcap.ValueKind != JsonValueKind.Undefined && pcap.ValueKind != JsonValueKind.String))
        {
            await Problem.WriteAsync(context, StatusCodes.Status400BadRequest, TraceShape + " (one of frame and pcap, as strings)");
            return;
        }

        string port = portValue.GetString()!;
        var policy = editor.Store.Current;
        if (UnknownPort(policy, port) is { } unknown)
        {
            await Problem.WriteAsync(context, StatusCodes.Status422UnprocessableEntity, unknown);
            return;
        }

        IReadOnlyList<TraceResult> results;
        if (hex.ValueKind == JsonValueKind.String)
        {
            if (!TraceInput.TryParseHex(hex.GetString(), out byte[] frame, out string? error))
            {
                await Problem.WriteAsync(context, StatusCodes.Status400BadRequest, "frame: " + error);
                return;
            }

            results = [PacketTracer.Trace(policy, port, frame)];
        }
        else
        {
            byte[] file;
            try
            {
                file = Convert.FromBase64String(pcap.GetString()!);
            }
            catch (FormatException)
            {
                await Problem.WriteAsync(context, StatusCodes.Status400BadRequest, "pcap: not base64; send the capture file's bytes base64-encoded");
                return;
            }

            IReadOnlyList<CapturedFrame> frames;
            try
            {
                using var stream = new MemoryStream(file, writable: false);
                frames = await TraceInput.ReadCaptureAsync(stream, "the uploaded capture", ct: context.RequestAborted);
            }
            catch (FormatException e)
            {
                await Problem.WriteAsync(context, StatusCodes.Status422UnprocessableEntity, "pcap: " + e.Message);
                return;
            }

            results = PacketTracer.TraceAll(policy, port, frames);
        }

        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.BodyWriter);
        json.WriteStartObject();
        json.WriteNumber("policyVersion", policy.Version);
        json.WriteStartArray("traces");
        foreach (var result in results)
        {
            json.WriteRawValue(result.ToJson(indented: false));
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>
    /// Arms a capture, sends the headers (the capture is armed once they arrive), then writes
    /// pcapng as frames come until the count is reached, the timeout passes, the daemon stops or
    /// the client goes; every way out stops the session, so the worker stops copying, and all but
    /// the last still end the file with its statistics block.
    /// </summary>
    private async Task CaptureAsync(HttpContext context)
    {
        var query = context.Request.Query;
        string? port = query["port"];
        string? refusal = string.IsNullOrEmpty(port) ? "name the port: ?port=NAME&count=N" : null;
        int count = 0;
        int seconds = DefaultCaptureSeconds;
        bool drops = false;
        if (refusal is null && !(int.TryParse(query["count"], NumberStyles.None, CultureInfo.InvariantCulture, out count) && count is >= 1 and <= MaxCaptureCount))
        {
            refusal = $"count: give the frames to capture, 1 to {MaxCaptureCount}";
        }
        else if (refusal is null && query.ContainsKey("timeout")
            && !(int.TryParse(query["timeout"], NumberStyles.None, CultureInfo.InvariantCulture, out seconds) && seconds is >= 1 and <= MaxCaptureSeconds))
        {
            refusal = $"timeout: seconds the capture may run, 1 to {MaxCaptureSeconds} (default {DefaultCaptureSeconds})";
        }
        else if (refusal is null && query.ContainsKey("drops") && !bool.TryParse(query["drops"], out drops))
        {
            refusal = "drops: true or false";
        }

        if (refusal is not null)
        {
            await Problem.WriteAsync(context, StatusCodes.Status400BadRequest, refusal);
            return;
        }

        if (stats.Workers.Count == 0)
        {
            await Problem.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "no worker runs here, so there is nothing to capture");
            return;
        }

        // One worker owns every port today; its policy names the ports it serves.
        var worker = stats.Workers[0];
        if (UnknownPort(worker.Forwarder.Policy, port!) is { } unknown)
        {
            await Problem.WriteAsync(context, StatusCodes.Status422UnprocessableEntity, unknown);
            return;
        }

        await using var session = PortCapture.Start(worker, port!, count, drops);
        var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        limit.CancelAfter(TimeSpan.FromSeconds(seconds));
        var response = context.Response;
        response.ContentType = PcapNgContentType;
        response.Headers.ContentDisposition = $"attachment; filename=\"{port}.pcapng\"";

        // The pcapng writer writes synchronously when a batch outgrows its buffer.
        if (context.Features.Get<IHttpBodyControlFeature>() is { } control)
        {
            control.AllowSynchronousIO = true;
        }

        try
        {
            await response.StartAsync(context.RequestAborted);
            await response.Body.FlushAsync(context.RequestAborted);
            await session.WriteToAsync(response.Body, limit.Token);
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The client went away: the session is stopped (disposed), nothing more to say to anyone.
        }
    }
}
