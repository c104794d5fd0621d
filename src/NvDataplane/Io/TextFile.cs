using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace NvDataplane.Io;

/// <summary>
/// Reads a file the operator names (a configuration, an HNV script, a token, a capture to trace)
/// up to a limit, <see cref="DefaultLimitBytes"/> unless the caller gives one: a larger file is
/// refused saying so, and one that reports no size — a device, a pipe, a /proc file — is read
/// until it passes the limit, since /dev/zero or /dev/urandom would never end and take the
/// host's memory with them. The text must be UTF-8 (a UTF-8 byte order mark is skipped) or
/// carry a UTF-16 or UTF-32 byte order mark; any other bytes are refused with where the first
/// one is, instead of being read as U+FFFD (a VM name or a comment in Windows-1252 would
/// otherwise turn into something else without a word).
/// </summary>
public static class TextFile
{
    /// <summary>How much of a file is read at most (128 MiB: the largest body the control API takes; a policy of 100,000 records is about 25 MiB).</summary>
    public const int DefaultLimitBytes = 128 * 1024 * 1024;

    /// <summary>How much of a token file is read at most.</summary>
    public const int TokenLimitBytes = 4096;

    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">A directory, a file larger than <paramref name="limitBytes"/>, or bytes that are not text of a known encoding.</exception>
    public static string Read(string path, int limitBytes = DefaultLimitBytes) => Decode(path, ReadBytes(path, limitBytes));

    /// <summary>The bytes of the file at <paramref name="path"/>, at most <paramref name="limitBytes"/> of them.</summary>
    /// <exception cref="InvalidDataException">An empty path, a directory, or a file larger than the limit (or, reporting no size, going on past it).</exception>
    public static byte[] ReadBytes(string path, int limitBytes)
    {
        if (path.Length == 0)
        {
            throw new InvalidDataException("\"\" is an empty path; give a file");
        }

        if (Directory.Exists(path))
        {
            throw new InvalidDataException($"\"{path}\" is a directory; give a file");
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read);
        long length = new FileInfo(path).Length;
        if (length > limitBytes)
        {
            throw new InvalidDataException($"\"{path}\" is {Size(length)}, more than the {Size(limitBytes)} read at most; give a smaller file");
        }

        // Read to the end whatever the size said: a device, a pipe or a /proc file says 0.
        var buffer = new ArrayBufferWriter<byte>((int)Math.Max(length, 4096));
        int n;
        while ((n = stream.Read(buffer.GetSpan(64 * 1024))) > 0)
        {
            buffer.Advance(n);
            if (buffer.WrittenCount > limitBytes)
            {
                throw new InvalidDataException(length == 0
                    ? $"\"{path}\" reports no size and goes on past {Size(limitBytes)} (a device such as /dev/zero?); give a regular file"
                    : $"\"{path}\" grew past {Size(limitBytes)} while it was read; give a smaller file");
            }
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static string Size(long bytes) => bytes >= 1024 * 1024
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.#} MiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes");

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
