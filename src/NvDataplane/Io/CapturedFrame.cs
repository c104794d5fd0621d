namespace NvDataplane.Io;

/// <summary>One frame read from a capture file.</summary>
/// <param name="TimestampNs">Capture time in nanoseconds since the Unix epoch (0 for a pcapng Simple Packet Block, which carries none).</param>
/// <param name="Data">The captured bytes (possibly fewer than <paramref name="OriginalLength"/> when the capture was cut at its snaplen).</param>
/// <param name="OriginalLength">The length of the frame on the wire.</param>
/// <param name="LinkType">The LINKTYPE_* value of the file or interface the frame was captured on (1 = Ethernet).</param>
public sealed record CapturedFrame(long TimestampNs, byte[] Data, int OriginalLength, ushort LinkType);
