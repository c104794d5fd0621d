using System.Buffers.Binary;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using NvDataplane.Cli.Control;
using NvDataplane.Io;

namespace NvDataplane.Cli;

/// <summary>
/// <c>nvdp capture --port P --count N -w FILE</c>: the running daemon's frames on a port (received,
/// sent and, with <c>--drops</c>, dropped with their reason) into a pcapng file as they come, until
/// N frames, the timeout, or Ctrl-C; then one line: the frames written and those the capture lost.
/// </summary>
internal static class CaptureCommand
{
    public static Command Build(TextWriter stdout, TextWriter stderr)
    {
        var port = new Option<string>("--port") { Description = "the port to capture on", Required = true };
        var count = new Option<int>("--count") { Description = $"frames to capture (1 to {ControlApi.MaxCaptureCount})", Required = true };
        var write = new Option<string>("--write", "-w") { Description = "the pcapng file to write", Required = true }.NotEmpty().NotAFolder();
        var drops = new Option<bool>("--drops") { Description = "mark the received frames the daemon dropped, with the reason as the packet's comment" };
        var timeout = new Option<int>("--timeout")
        {
            Description = $"seconds the capture runs at most (1 to {ControlApi.MaxCaptureSeconds})",
            DefaultValueFactory = _ => ControlApi.DefaultCaptureSeconds,
        };
        var daemon = new ControlVerbOptions();
        var command = new Command("capture", "the running daemon's frames on a port, into a pcapng file") { port, count, write, drops, timeout };
        daemon.AddTo(command);
        command.SetAction(parse =>
        {
            string file = parse.GetValue(write)!;
            string query = string.Create(
                CultureInfo.InvariantCulture,
                $"{ControlApi.CapturePath}?port={Uri.EscapeDataString(parse.GetValue(port)!)}&count={parse.GetValue(count)}&drops={(parse.GetValue(drops) ? "true" : "false")}&timeout={parse.GetValue(timeout)}");
            return daemon.Download(parse, stdout, stderr, query, file, () =>
            {
                var (frames, lost) = SummaryAsync(file).GetAwaiter().GetResult();
                if (parse.GetValue(daemon.Format) == "json")
                {
                    var buffer = new MemoryStream();
                    using (var writer = new Utf8JsonWriter(buffer))
                    {
                        writer.WriteStartObject();
                        writer.WriteString("file", file);
                        writer.WriteString("port", parse.GetValue(port));
                        writer.WriteNumber("frames", frames);
                        writer.WriteNumber("lost", lost);
                        writer.WriteEndObject();
                    }

                    stdout.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
                }
                else
                {
                    stdout.WriteLine($"{file}: {frames} frames captured on {parse.GetValue(port)}, {lost} lost");
                }

                return Program.ExitOk;
            });
        });
        return command;
    }

    /// <summary>The frames in the pcapng file the daemon sent, and the lost count of its closing statistics block (isb_ifdrop).</summary>
    private static async Task<(long Frames, long Lost)> SummaryAsync(string file)
    {
        long frames = 0;
        await using (var reader = CaptureReader.Open(file))
        {
            while (await reader.ReadNextAsync() is not null)
            {
                frames++;
            }
        }

        return (frames, await LostOfFileAsync(file));
    }

    /// <summary>
    /// isb_ifdrop of <paramref name="file"/>'s closing statistics block, reading that block alone
    /// from the end of the file (its length is the file's last 4 bytes), whatever the file's size.
    /// </summary>
    internal static async Task<long> LostOfFileAsync(string file)
    {
        // An ISB the daemon writes is 48 bytes; anything longer than this is no ISB of ours.
        const int MaxStatisticsBlockSize = 64 * 1024;
        await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, useAsync: true);
        long size = stream.Length;
        if (size < 12)
        {
            return 0;
        }

        byte[] trailer = new byte[4];
        stream.Seek(-trailer.Length, SeekOrigin.End);
        await stream.ReadExactlyAsync(trailer);
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(trailer);
        if (length < 12 || length > size || length > MaxStatisticsBlockSize)
        {
            return 0;
        }

        byte[] block = new byte[length];
        stream.Seek(-length, SeekOrigin.End);
        await stream.ReadExactlyAsync(block);
        return LostOf(block);
    }

    /// <summary>isb_ifdrop of the last block of <paramref name="file"/> (the whole file, or its end) when it is an Interface Statistics Block (pcapng, little-endian as the daemon writes it); 0 otherwise.</summary>
    internal static long LostOf(ReadOnlySpan<byte> file)
    {
        const uint InterfaceStatisticsBlock = 5;
        const ushort IsbIfDrop = 5;
        const int OptionsOffset = 20;
        if (file.Length < 12)
        {
            return 0;
        }

        int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(file[^4..]);
        if (length < OptionsOffset + 4 || length > file.Length)
        {
            return 0;
        }

        var block = file[^length..];
        if (BinaryPrimitives.ReadUInt32LittleEndian(block) != InterfaceStatisticsBlock)
        {
            return 0;
        }

        for (int at = OptionsOffset; at + 4 <= length - 4;)
        {
            ushort code = BinaryPrimitives.ReadUInt16LittleEndian(block[at..]);
            int size = BinaryPrimitives.ReadUInt16LittleEndian(block[(at + 2)..]);
            if (code == 0)
            {
                break;
            }

            if (code == IsbIfDrop && size == 8 && at + 12 <= length)
            {
                return (long)BinaryPrimitives.ReadUInt64LittleEndian(block[(at + 4)..]);
            }

            at += 4 + ((size + 3) & ~3);
        }

        return 0;
    }
}
