using System.Globalization;
using NvDataplane.Io;

namespace NvDataplane.Diagnostics;

/// <summary>
/// The frames <c>nvdp trace</c> takes: a hex string (bytes may be separated by spaces, tabs, line
/// breaks or colons: <c>00155d000002 00155d000001 0800 ...</c>, <c>00:15:5d:...</c>) or a capture
/// file (pcap or pcapng, Ethernet). Every problem is a <see cref="FormatException"/> whose message
/// says what is wrong and where, for the command line to print as is.
/// </summary>
public static class TraceInput
{
    /// <summary>How many frames of a capture are traced at most.</summary>
    public const int DefaultMaxFrames = 1000;

    /// <summary>The frame a hex string spells.</summary>
    /// <exception cref="FormatException">Empty, a character that is no hex digit nor separator, a byte written with one digit, or more than <see cref="PacketTracer.MaxFrameSize"/> bytes.</exception>
    public static byte[] ParseHex(string text) =>
        TryParseHex(text, out var frame, out string? error) ? frame : throw new FormatException(error);

    /// <summary>As <see cref="ParseHex"/>, without throwing: false with the reason in <paramref name="error"/>.</summary>
    public static bool TryParseHex(string? text, out byte[] frame, out string? error)
    {
        frame = [];
        error = null;
        if (string.IsNullOrWhiteSpace(text) || text.All(IsSeparator))
        {
            error = "no frame: the hex string is empty";
            return false;
        }

        var digits = new List<byte>(text.Length);
        int groupStart = -1;
        for (int i = 0; i <= text.Length; i++)
        {
            if (i == text.Length || IsSeparator(text[i]))
            {
                if (groupStart >= 0 && (i - groupStart) % 2 != 0)
                {
                    error = groupStart == 0 && i == text.Length
                        ? $"{i} hex digits: an odd count, and every byte takes two"
                        : $"'{text[groupStart..i]}' at position {groupStart + 1} has {i - groupStart} hex digits: an odd count, and every byte takes two";
                    return false;
                }

                groupStart = -1;
                continue;
            }

            int value = HexValue(text[i]);
            if (value < 0)
            {
                error = $"'{text[i]}' at position {i + 1} is not a hex digit (0-9, a-f); spaces and colons may separate bytes";
                return false;
            }

            if (groupStart < 0)
            {
                groupStart = i;
            }

            digits.Add((byte)value);
        }

        int length = digits.Count / 2;
        if (length > PacketTracer.MaxFrameSize)
        {
            error = $"{length} bytes: longer than the {PacketTracer.MaxFrameSize} bytes a port takes in one frame";
            return false;
        }

        frame = new byte[length];
        for (int i = 0; i < length; i++)
        {
            frame[i] = (byte)((digits[2 * i] << 4) | digits[(2 * i) + 1]);
        }

        return true;
    }

    /// <summary>The first <paramref name="maxFrames"/> frames of the capture file at <paramref name="path"/>.</summary>
    /// <exception cref="FormatException">The file is not a capture, is corrupt, holds no frame, or a frame is not Ethernet, cut short by the snap length, or too long.</exception>
    /// <exception cref="IOException">The file cannot be read (not found, no permission).</exception>
    public static async Task<IReadOnlyList<CapturedFrame>> ReadCaptureAsync(string path, int maxFrames = DefaultMaxFrames, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan | FileOptions.Asynchronous);
        await using (stream.ConfigureAwait(false))
        {
            return await ReadCaptureAsync(stream, path, maxFrames, ct).ConfigureAwait(false);
        }
    }

    /// <summary>As <see cref="ReadCaptureAsync(string, int, CancellationToken)"/>, from a stream (an uploaded file); <paramref name="name"/> names it in errors.</summary>
    public static async Task<IReadOnlyList<CapturedFrame>> ReadCaptureAsync(Stream stream, string name, int maxFrames = DefaultMaxFrames, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFrames, 1);
        var frames = new List<CapturedFrame>();
        var reader = new CaptureReader(stream, name, leaveOpen: true);
        await using (reader.ConfigureAwait(false))
        {
            try
            {
                while (frames.Count < maxFrames && await reader.ReadNextAsync(ct).ConfigureAwait(false) is { } f)
                {
                    int n = frames.Count + 1;
                    if (f.LinkType != PcapLayout.LinkTypeEthernet)
                    {
                        throw new FormatException($"{name}: frame {n}: link type {f.LinkType} is not Ethernet (1)");
                    }

                    if (f.Data.Length < f.OriginalLength)
                    {
                        throw new FormatException($"{name}: frame {n}: {f.Data.Length} of its {f.OriginalLength} bytes were captured (snap length); a trace needs the whole frame");
                    }

                    if (f.Data.Length > PacketTracer.MaxFrameSize)
                    {
                        throw new FormatException($"{name}: frame {n}: {f.Data.Length} bytes, longer than the {PacketTracer.MaxFrameSize} bytes a port takes in one frame");
                    }

                    if (f.Data.Length == 0)
                    {
                        throw new FormatException($"{name}: frame {n} is empty");
                    }

                    frames.Add(f);
                }
            }
            catch (CaptureFormatException e)
            {
                throw new FormatException(e.Message, e);
            }
        }

        if (frames.Count == 0)
        {
            throw new FormatException($"{name}: the capture holds no frame");
        }

        return frames;
    }

    private static bool IsSeparator(char c) => c is ' ' or '\t' or '\r' or '\n' or ':';

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>A frame as hex with a space between bytes (for messages and the text rendering).</summary>
    internal static string Spaced(string hex, int maxBytes)
    {
        int bytes = Math.Min(hex.Length / 2, maxBytes);
        var parts = new string[bytes];
        for (int i = 0; i < bytes; i++)
        {
            parts[i] = hex.Substring(2 * i, 2);
        }

        string text = string.Join(' ', parts);
        return hex.Length / 2 > maxBytes ? text + string.Create(CultureInfo.InvariantCulture, $" … ({hex.Length / 2} bytes)") : text;
    }
}
