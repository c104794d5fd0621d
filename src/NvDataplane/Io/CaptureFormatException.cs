namespace NvDataplane.Io;

/// <summary>
/// A capture file is corrupt or truncated. The message reads <c>{file}: byte offset {N}: {what is wrong}</c>,
/// where N is the offset of the file header, record or block that is bad.
/// </summary>
public sealed class CaptureFormatException : Exception
{
    /// <summary>Creates the exception for <paramref name="filePath"/> with the problem found at <paramref name="byteOffset"/>.</summary>
    public CaptureFormatException(string filePath, long byteOffset, string problem)
        : base($"{filePath}: byte offset {byteOffset}: {problem}")
    {
        FilePath = filePath;
        ByteOffset = byteOffset;
        Problem = problem;
    }

    /// <summary>Standard constructor; prefer the one that names the file and offset.</summary>
    public CaptureFormatException()
        : this(string.Empty)
    {
    }

    /// <summary>Standard constructor; prefer the one that names the file and offset.</summary>
    public CaptureFormatException(string message)
        : this(message, null)
    {
    }

    /// <summary>Standard constructor; prefer the one that names the file and offset.</summary>
    public CaptureFormatException(string message, Exception? innerException)
        : base(message, innerException)
    {
        FilePath = string.Empty;
        Problem = message;
    }

    /// <summary>The file (or the display name of the stream) being read.</summary>
    public string FilePath { get; }

    /// <summary>Offset from the start of the file of the header, record or block that is bad.</summary>
    public long ByteOffset { get; }

    /// <summary>What is wrong, without the file name and offset.</summary>
    public string Problem { get; }
}
