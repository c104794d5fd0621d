using System.CommandLine;
using System.Text.Json;
using NvDataplane.Cli.Control;
using NvDataplane.Diagnostics;
using NvDataplane.Io;

namespace NvDataplane.Cli;

/// <summary>
/// <c>nvdp trace --port P (--frame HEX | --pcap FILE)</c>: what the running daemon's live policy
/// does with a frame arriving on a port, step by step (<see cref="TraceText"/>), or the
/// <c>/v1/trace</c> answer as is with <c>--format json</c>.
/// </summary>
internal static class TraceCommand
{
    /// <summary>The largest capture --pcap sends: base64 makes it 43 MiB, under the daemon's default 64 MiB request limit.</summary>
    private const int MaxPcapBytes = 32 * 1024 * 1024;

    public static Command Build(TextWriter stdout, TextWriter stderr)
    {
        var port = new Option<string>("--port") { Description = "the port the frame arrives on", Required = true };
        var frame = new Option<string?>("--frame") { Description = "the frame as hex (bytes may be separated by spaces or colons)" };
        var pcap = new Option<string?>("--pcap") { Description = $"a pcap or pcapng file: each frame (the first {TraceInput.DefaultMaxFrames}) is traced" }.NotEmpty();
        var daemon = new ControlVerbOptions();
        var command = new Command("trace", "what the running daemon's policy does with a frame: every decision, the outcome and the frames sent") { port, frame, pcap };
        daemon.AddTo(command);
        command.SetAction(parse =>
        {
            string? hex = parse.GetValue(frame);
            string? file = parse.GetValue(pcap);
            if ((hex is null) == (file is null))
            {
                stderr.WriteLine("nvdp: trace: give the frame as --frame HEX or --pcap FILE (one of them)");
                return Program.ExitUsage;
            }

            byte[]? capture = null;
            if (file is not null)
            {
                try
                {
                    capture = TextFile.ReadBytes(file, MaxPcapBytes);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidDataException)
                {
                    stderr.WriteLine($"nvdp: --pcap {file}: {e.Message}");
                    return Program.ExitUsage;
                }
            }

            using var body = new MemoryStream();
            using (var json = new Utf8JsonWriter(body))
            {
                json.WriteStartObject();
                json.WriteString("port", parse.GetValue(port));
                if (capture is not null)
                {
                    json.WriteBase64String("pcap", capture);
                }
                else
                {
                    json.WriteString("frame", hex);
                }

                json.WriteEndObject();
            }

            return daemon.Send(parse, stdout, stderr, HttpMethod.Post, ControlApi.TracePath, System.Text.Encoding.UTF8.GetString(body.ToArray()), root => Print(stdout, root));
        });
        return command;
    }

    private static void Print(TextWriter stdout, JsonElement root)
    {
        bool first = true;
        foreach (var trace in root.GetProperty("traces").EnumerateArray())
        {
            if (!first)
            {
                stdout.WriteLine();
            }

            first = false;
            stdout.Write(TraceText.Render(TraceResult.FromJson(trace)));
        }
    }
}
