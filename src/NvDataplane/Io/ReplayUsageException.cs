namespace NvDataplane.Io;

/// <summary>
/// A replay was asked for something it cannot do (an unknown port, a reload that changes the
/// ports, an input that is also an output); nothing was read or written. <c>nvdp replay</c>
/// reports it as bad usage (exit 2), unlike any other <see cref="ArgumentException"/>, which
/// would be a defect.
/// </summary>
public sealed class ReplayUsageException : ArgumentException
{
    /// <summary>Creates the exception with the message shown to the user.</summary>
    public ReplayUsageException(string message)
        : base(message)
    {
    }

    /// <summary>Standard constructor.</summary>
    public ReplayUsageException()
    {
    }

    /// <summary>Standard constructor.</summary>
    public ReplayUsageException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
