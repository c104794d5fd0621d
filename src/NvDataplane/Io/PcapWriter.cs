using System.Buffers.Binary;

namespace NvDataplane.Io;

/// <summary>
/// Writes a classic pcap file: little-endian, microsecond timestamps, version 2.4, snaplen 262144,
/// Ethernet link type (see <see cref="PcapLayout"/>). Records are buffered and reach the stream on
/// <see cref="CaptureFileWriter.Flush"/> or dispose. The same calls always give byte-identical output.
/// Not thread-safe.
/// </summary>
public sealed class PcapWriter : CaptureFileWriter
{
    /// <summary>Writes the global header (into the buffer) and gets ready for records.</summary>
    public PcapWriter(Stream stream, bool leaveOpen = false)
        : base(stream, leaveOpen)
    {
        Span<byte> header = Reserve(PcapLayout.GlobalHeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.MagicOffset..], PcapLayout.MagicMicroseconds);
        BinaryPrimitives.WriteUInt16LittleEndian(header[PcapLayout.VersionMajorOffset..], PcapLayout.VersionMajor);
        BinaryPrimitives.WriteUInt16LittleEndian(header[PcapLayout.VersionMinorOffset..], PcapLayout.VersionMinor);
        BinaryPrimitives.WriteInt32LittleEndian(header[PcapLayout.ThisZoneOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.SigFigsOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.SnapLenOffset..], PcapLayout.MaxFrameSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.LinkTypeOffset..], PcapLayout.LinkTypeEthernet);
    }

    /// <summary>Creates (or truncates) the file at <paramref name="path"/>.</summary>
    public static PcapWriter Create(string path)
    {
        var stream = CreateFile(path);
        try
        {
            return new PcapWriter(stream, leaveOpen: false);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Appends one record. The timestamp is kept to the microsecond (truncated);
    /// it must lie between the epoch and 2106 (the 32-bit seconds field).
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
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.TsFracOffset..], (uint)(timestampNs / 1_000L % 1_000_000L));
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.InclLenOffset..], (uint)frame.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.OrigLenOffset..], (uint)frame.Length);
        Append(frame);
    }
}
