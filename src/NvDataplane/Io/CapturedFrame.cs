namespace NvDataplane.Io;

/// <summary>One frame read from a capture file.</summary>
/// <param name="TimestampNs">Capture time in nanoseconds since the Unix epoch, 1970 to 2262 (0 for a pcapng Simple Packet Block, which carries none).</param>
/// <param name="Data">The captured bytes (possibly fewer than <paramref name="OriginalLength"/> when the capture was cut at its snaplen).</param>
/// <param name="OriginalLength">The length of the frame on the wire.</param>
/// <param name="LinkType">The LINKTYPE_* value of the file or interface the frame was captured on (1 = Ethernet).</param>
public sealed record CapturedFrame(long TimestampNs, byte[] Data, int OriginalLength, ushort LinkType)
{
    /// <summary>File offset of the record or block the frame came from, for messages about it.</summary>
    public long ByteOffset { get; init; }

    /// <summary>The pcapng interface id the frame was captured on (0 for a Simple Packet Block); -1 in a classic pcap file.</summary>
    public int InterfaceId { get; init; } = -1;
}
