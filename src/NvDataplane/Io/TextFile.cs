using System.Text;

namespace NvDataplane.Io;

/// <summary>
/// Reads a text file the operator names (a configuration, an HNV script). A regular file is
/// read whole; a file that reports no size — a device, a pipe, a /proc file — only up to
/// <see cref="UnsizedLimitChars"/>, since /dev/zero or /dev/urandom would never end and take
/// the host's memory with them.
/// </summary>
public static class TextFile
{
    /// <summary>How much of a file that reports no size is read (64 Mi characters).</summary>
    public const int UnsizedLimitChars = 64 * 1024 * 1024;

    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">A directory, or a sizeless file that goes on past the limit.</exception>
    public static string Read(string path, int unsizedLimitChars = UnsizedLimitChars)
    {
        if (Directory.Exists(path))
        {
            throw new InvalidDataException($"\"{path}\" is a directory; give a file");
        }

        if (new FileInfo(path).Length > 0)
        {
            return File.ReadAllText(path);
        }

        using var reader = new StreamReader(path, detectEncodingFromByteOrderMarks: true);
        var text = new StringBuilder();
        var chunk = new char[64 * 1024];
        int n;
        while ((n = reader.ReadBlock(chunk, 0, chunk.Length)) > 0)
        {
            text.Append(chunk, 0, n);
            if (text.Length > unsizedLimitChars)
            {
                throw new InvalidDataException($"\"{path}\" reports no size and goes on past {unsizedLimitChars / (1024 * 1024)} Mi characters (a device such as /dev/zero?); give a regular file");
            }
        }

        return text.ToString();
    }
}
