using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace NvDataplane.Io;

/// <summary>
/// Reads a text file the operator names (a configuration, an HNV script). A regular file is
/// read whole; a file that reports no size — a device, a pipe, a /proc file — only up to
/// <see cref="UnsizedLimitBytes"/>, since /dev/zero or /dev/urandom would never end and take
/// the host's memory with them. The text must be UTF-8 (a UTF-8 byte order mark is skipped) or
/// carry a UTF-16 or UTF-32 byte order mark; any other bytes are refused with where the first
/// one is, instead of being read as U+FFFD (a VM name or a comment in Windows-1252 would
/// otherwise turn into something else without a word).
/// </summary>
public static class TextFile
{
    /// <summary>How much of a file that reports no size is read (64 MiB).</summary>
    public const int UnsizedLimitBytes = 64 * 1024 * 1024;

    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">A directory, a sizeless file that goes on past the limit, or bytes that are not text of a known encoding.</exception>
    public static string Read(string path, int unsizedLimitBytes = UnsizedLimitBytes)
    {
        if (Directory.Exists(path))
        {
            throw new InvalidDataException($"\"{path}\" is a directory; give a file");
        }

        byte[] bytes = new FileInfo(path).Length > 0 ? File.ReadAllBytes(path) : ReadUnsized(path, unsizedLimitBytes);
        return Decode(path, bytes);
    }

    private static byte[] ReadUnsized(string path, int limit)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read);
        var buffer = new ArrayBufferWriter<byte>();
        int n;
        while ((n = stream.Read(buffer.GetSpan(64 * 1024))) > 0)
        {
            buffer.Advance(n);
            if (buffer.WrittenCount > limit)
            {
                throw new InvalidDataException($"\"{path}\" reports no size and goes on past {limit / (1024 * 1024)} MiB (a device such as /dev/zero?); give a regular file");
            }
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The text of <paramref name="bytes"/>, as <see cref="Read"/> decodes a file.</summary>
    internal static string Decode(string path, ReadOnlySpan<byte> bytes)
    {
        // The byte order marks File.ReadAllText honoured before: UTF-32 LE first, as it starts like UTF-16 LE.
        Encoding? marked = bytes switch
        {
            [0xFF, 0xFE, 0x00, 0x00, ..] => new UTF32Encoding(bigEndian: false, byteOrderMark: true, throwOnInvalidCharacters: true),
            [0x00, 0x00, 0xFE, 0xFF, ..] => new UTF32Encoding(bigEndian: true, byteOrderMark: true, throwOnInvalidCharacters: true),
            [0xFF, 0xFE, ..] => new UnicodeEncoding(bigEndian: false, byteOrderMark: true, throwOnInvalidBytes: true),
            [0xFE, 0xFF, ..] => new UnicodeEncoding(bigEndian: true, byteOrderMark: true, throwOnInvalidBytes: true),
            _ => null,
        };
        if (marked is not null)
        {
            try
            {
                return marked.GetString(bytes[marked.Preamble.Length..]);
            }
            catch (DecoderFallbackException)
            {
                throw new InvalidDataException($"\"{path}\" starts with a {marked.WebName} byte order mark but is not {marked.WebName} text; save it as UTF-8");
            }
        }

        if (bytes is [0xEF, 0xBB, 0xBF, ..])
        {
            bytes = bytes[3..];
        }

        var text = new char[bytes.Length];
        if (Utf8.ToUtf16(bytes, text, out int read, out int written, replaceInvalidSequences: false) != OperationStatus.Done)
        {
            int line = bytes[..read].Count((byte)'\n') + 1;
            int column = read - (bytes[..read].LastIndexOf((byte)'\n') + 1) + 1;
            throw new InvalidDataException(string.Create(
                CultureInfo.InvariantCulture,
                $"\"{path}\" is not UTF-8 text: byte 0x{bytes[read]:X2} at line {line}, byte {column}; save it as UTF-8"));
        }

        return new string(text, 0, written);
    }
}
