using System.Buffers.Binary;
using System.Text;

namespace NvDataplane.Io;

/// <summary>The direction a pcapng packet is flagged with (epb_flags bits 0-1).</summary>
public enum PcapNgDirection
{
    Unknown = 0,
    Inbound = 1,
    Outbound = 2,
}

/// <summary>
/// Writes a pcapng file of one Ethernet interface, little-endian (layout: <see cref="PcapNgLayout"/>):
/// a Section Header Block, one Interface Description Block (if_name, nanosecond timestamps), then
/// an Enhanced Packet Block per packet carrying what classic pcap cannot: the direction
/// (epb_flags), a comment (opt_comment, e.g. why a frame was dropped) and how many packets were
/// lost just before it (epb_dropcount); an Interface Statistics Block may close the file with the
/// totals. Wireshark shows them as <c>frame.packet_flags_direction</c>, <c>frame.comment</c> and
/// <c>frame.drop_count</c>. Not thread-safe.
/// </summary>
public sealed class PcapNgWriter : CaptureFileWriter
{
    /// <summary>The longest comment written (UTF-8 bytes).</summary>
    public const int MaxCommentSize = 4096;

    private const int EpbFixedSize = PcapNgLayout.EpbDataOffset;
    private readonly int _snapLength;

    /// <summary>Writes the section and interface headers (into the buffer) and gets ready for packets.</summary>
    /// <param name="interfaceName">The interface's if_name, e.g. the port's name.</param>
    /// <param name="snapLength">The interface's snaplen: the most bytes a packet of the file holds.</param>
    public PcapNgWriter(Stream stream, string interfaceName, int snapLength = PcapLayout.MaxFrameSize, bool leaveOpen = false)
        : base(stream, leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(interfaceName);
        ArgumentOutOfRangeException.ThrowIfLessThan(snapLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(snapLength, PcapLayout.MaxFrameSize);
        _snapLength = snapLength;
        WriteSectionHeader();
        WriteInterfaceDescription(Encoding.UTF8.GetBytes(interfaceName));
    }

    /// <summary>Creates (or truncates) the file at <paramref name="path"/>.</summary>
    public static PcapNgWriter Create(string path, string interfaceName, int snapLength = PcapLayout.MaxFrameSize)
    {
        var stream = CreateFile(path);
        try
        {
            return new PcapNgWriter(stream, interfaceName, snapLength, leaveOpen: false);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Appends one Enhanced Packet Block: <paramref name="data"/> (at most the snaplen) of a
    /// packet that was <paramref name="originalLength"/> bytes on the wire, with its direction, an
    /// optional comment and the packets lost just before it (0: no epb_dropcount option).
    /// </summary>
    public void Write(long timestampNs, ReadOnlySpan<byte> data, int originalLength, PcapNgDirection direction, string? comment = null, long lostBefore = 0)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(timestampNs);
        ArgumentOutOfRangeException.ThrowIfNegative(lostBefore);
        ArgumentOutOfRangeException.ThrowIfLessThan(originalLength, data.Length);
        if (data.Length > _snapLength)
        {
            throw new ArgumentException($"packet of {data.Length} bytes exceeds the snaplen of {_snapLength}", nameof(data));
        }

        byte[]? text = comment is null ? null : Encoding.UTF8.GetBytes(comment);
        if (text is { Length: > MaxCommentSize })
        {
            throw new ArgumentException($"comment of {text.Length} bytes exceeds {MaxCommentSize}", nameof(comment));
        }

        int padded = (int)PcapNgLayout.Pad4(data.Length);
        int options = OptionSize(4) + (text is null ? 0 : OptionSize(text.Length)) + (lostBefore > 0 ? OptionSize(8) : 0) + PcapNgLayout.OptionHeaderSize;
        int total = EpbFixedSize + padded + options + PcapNgLayout.BlockTrailerSize;

        Span<byte> head = Reserve(EpbFixedSize);
        WriteBlockStart(head, PcapNgLayout.EnhancedPacketType, total);
        BinaryPrimitives.WriteUInt32LittleEndian(head[PcapNgLayout.EpbInterfaceIdOffset..], 0);
        WriteTimestamp(head[PcapNgLayout.EpbTimestampHighOffset..], timestampNs);
        BinaryPrimitives.WriteUInt32LittleEndian(head[PcapNgLayout.EpbCapturedLengthOffset..], (uint)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(head[PcapNgLayout.EpbOriginalLengthOffset..], (uint)originalLength);
        Append(data);
        Reserve(padded - data.Length).Clear();

        Span<byte> tail = Reserve(options + PcapNgLayout.BlockTrailerSize);
        Span<byte> flags = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(flags, (uint)direction);
        int at = WriteOption(tail, PcapNgLayout.OptEpbFlags, flags);
        if (text is not null)
        {
            at += WriteOption(tail[at..], PcapNgLayout.OptComment, text);
        }

        if (lostBefore > 0)
        {
            at += WriteUInt64Option(tail[at..], PcapNgLayout.OptEpbDropCount, (ulong)lostBefore);
        }

        WriteBlockEnd(tail[at..], total);
    }

    /// <summary>
    /// Appends an Interface Statistics Block: the packets the capture lost (isb_ifdrop) and wrote
    /// (isb_usrdeliv) in all, as of <paramref name="timestampNs"/>.
    /// </summary>
    public void WriteStatistics(long timestampNs, long lost, long delivered)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(timestampNs);
        int options = (2 * OptionSize(8)) + PcapNgLayout.OptionHeaderSize;
        int total = PcapNgLayout.IsbOptionsOffset + options + PcapNgLayout.BlockTrailerSize;
        Span<byte> b = Reserve(total);
        WriteBlockStart(b, PcapNgLayout.InterfaceStatisticsType, total);
        BinaryPrimitives.WriteUInt32LittleEndian(b[PcapNgLayout.IsbInterfaceIdOffset..], 0);
        WriteTimestamp(b[PcapNgLayout.IsbTimestampHighOffset..], timestampNs);
        int at = PcapNgLayout.IsbOptionsOffset;
        at += WriteUInt64Option(b[at..], PcapNgLayout.OptIsbIfDrop, (ulong)lost);
        at += WriteUInt64Option(b[at..], PcapNgLayout.OptIsbUsrDeliv, (ulong)delivered);
        WriteBlockEnd(b[at..], total);
    }

    private void WriteSectionHeader()
    {
        ReadOnlySpan<byte> application = "nvdp"u8;
        int options = OptionSize(application.Length) + PcapNgLayout.OptionHeaderSize;
        int total = PcapNgLayout.ShbMinSize + options;
        Span<byte> b = Reserve(total);
        WriteBlockStart(b, PcapNgLayout.SectionHeaderType, total);
        BinaryPrimitives.WriteUInt32LittleEndian(b[PcapNgLayout.ShbByteOrderMagicOffset..], PcapNgLayout.ByteOrderMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(b[PcapNgLayout.ShbMajorOffset..], PcapNgLayout.SupportedMajorVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(b[PcapNgLayout.ShbMinorOffset..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(b[PcapNgLayout.ShbSectionLengthOffset..], -1); // not given
        int at = PcapNgLayout.ShbSectionLengthOffset + 8;
        at += WriteOption(b[at..], PcapNgLayout.OptShbUserAppl, application);
        WriteBlockEnd(b[at..], total);
    }

    private void WriteInterfaceDescription(byte[] name)
    {
        ReadOnlySpan<byte> nanoseconds = [9]; // if_tsresol: 10^-9 s
        int options = OptionSize(name.Length) + OptionSize(1) + PcapNgLayout.OptionHeaderSize;
        int total = PcapNgLayout.IdbOptionsOffset + options + PcapNgLayout.BlockTrailerSize;
        Span<byte> b = Reserve(total);
        WriteBlockStart(b, PcapNgLayout.InterfaceDescriptionType, total);
        BinaryPrimitives.WriteUInt16LittleEndian(b[PcapNgLayout.IdbLinkTypeOffset..], PcapLayout.LinkTypeEthernet);
        BinaryPrimitives.WriteUInt16LittleEndian(b[(PcapNgLayout.IdbLinkTypeOffset + 2)..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b[PcapNgLayout.IdbSnapLenOffset..], (uint)_snapLength);
        int at = PcapNgLayout.IdbOptionsOffset;
        at += WriteOption(b[at..], PcapNgLayout.OptIfName, name);
        at += WriteOption(b[at..], PcapNgLayout.OptIfTsResol, nanoseconds);
        WriteBlockEnd(b[at..], total);
    }

    private static int OptionSize(int valueLength) => PcapNgLayout.OptionHeaderSize + (int)PcapNgLayout.Pad4(valueLength);

    private static void WriteBlockStart(Span<byte> block, uint type, int total)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(block[PcapNgLayout.BlockTypeOffset..], type);
        BinaryPrimitives.WriteUInt32LittleEndian(block[PcapNgLayout.BlockTotalLengthOffset..], (uint)total);
    }

    /// <summary>opt_endofopt, then the block's closing total length.</summary>
    private static void WriteBlockEnd(Span<byte> at, int total)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(at, PcapNgLayout.OptEndOfOptions);
        BinaryPrimitives.WriteUInt32LittleEndian(at[PcapNgLayout.OptionHeaderSize..], (uint)total);
    }

    /// <summary>Timestamp in the interface's units (ns), high 32 bits then low 32 bits.</summary>
    private static void WriteTimestamp(Span<byte> at, long timestampNs)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(at, (uint)((ulong)timestampNs >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(at[4..], (uint)timestampNs);
    }

    private static int WriteOption(Span<byte> at, ushort code, ReadOnlySpan<byte> value)
    {
        int size = OptionSize(value.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(at, code);
        BinaryPrimitives.WriteUInt16LittleEndian(at[2..], (ushort)value.Length);
        value.CopyTo(at[PcapNgLayout.OptionHeaderSize..]);
        at[(PcapNgLayout.OptionHeaderSize + value.Length)..size].Clear();
        return size;
    }

    private static int WriteUInt64Option(Span<byte> at, ushort code, ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return WriteOption(at, code, bytes);
    }
}
