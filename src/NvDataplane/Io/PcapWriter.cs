using System.Buffers.Binary;

namespace NvDataplane.Io;

/// <summary>
/// Writes a classic pcap file: little-endian, microsecond timestamps (or nanosecond ones, with
/// the nanosecond magic 0xA1B23C4D, when asked), version 2.4, snaplen 262144, Ethernet link type
/// (see <see cref="PcapLayout"/>). Records are buffered and reach the stream on
/// <see cref="CaptureFileWriter.Flush"/> or dispose. The same calls always give byte-identical output.
/// Not thread-safe.
/// </summary>
public sealed class PcapWriter : CaptureFileWriter
{
    private readonly bool _nanoseconds;

    /// <summary>
    /// Writes the global header (into the buffer) and gets ready for records, stamped to the
    /// microsecond, or to the nanosecond when <paramref name="nanoseconds"/>.
    /// </summary>
    public PcapWriter(Stream stream, bool leaveOpen = false, bool nanoseconds = false)
        : base(stream, leaveOpen)
    {
        _nanoseconds = nanoseconds;
        Span<byte> header = Reserve(PcapLayout.GlobalHeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.MagicOffset..], nanoseconds ? PcapLayout.MagicNanoseconds : PcapLayout.MagicMicroseconds);
        BinaryPrimitives.WriteUInt16LittleEndian(header[PcapLayout.VersionMajorOffset..], PcapLayout.VersionMajor);
        BinaryPrimitives.WriteUInt16LittleEndian(header[PcapLayout.VersionMinorOffset..], PcapLayout.VersionMinor);
        BinaryPrimitives.WriteInt32LittleEndian(header[PcapLayout.ThisZoneOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.SigFigsOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.SnapLenOffset..], PcapLayout.MaxFrameSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.LinkTypeOffset..], PcapLayout.LinkTypeEthernet);
    }

    /// <summary>Creates (or truncates) the file at <paramref name="path"/>; <paramref name="nanoseconds"/> as for the constructor.</summary>
    public static PcapWriter Create(string path, bool nanoseconds = false)
    {
        var stream = CreateFile(path);
        try
        {
            return new PcapWriter(stream, leaveOpen: false, nanoseconds);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Appends one record. The timestamp is kept to the microsecond (truncated), or whole in a
    /// nanosecond file; it must lie between the epoch and 2106 (the 32-bit seconds field).
    /// </summary>
    public void Write(long timestampNs, ReadOnlySpan<byte> frame)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(timestampNs);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(timestampNs / 1_000_000_000L, uint.MaxValue, nameof(timestampNs));
        if (frame.Length > PcapLayout.MaxFrameSize)
        {
            throw new ArgumentException($"frame of {frame.Length} bytes exceeds the snaplen of {PcapLayout.MaxFrameSize}", nameof(frame));
        }

        Span<byte> header = Reserve(PcapLayout.RecordHeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.TsSecOffset..], (uint)(timestampNs / 1_000_000_000L));
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.TsFracOffset..], _nanoseconds ? (uint)(timestampNs % 1_000_000_000L) : (uint)(timestampNs / 1_000L % 1_000_000L));
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.InclLenOffset..], (uint)frame.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.OrigLenOffset..], (uint)frame.Length);
        Append(frame);
    }
}
