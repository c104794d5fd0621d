namespace NvDataplane.Io;

/// <summary>
/// Classic libpcap file layout (draft-ietf-opsawg-pcap). Every field is in the byte order of the
/// writer, told by how the magic number reads.
/// <code>
/// Global header, 24 bytes:
///  0                   4         6         8                   12
///  +-------------------+---------+---------+-------------------+
///  | magic             | v major | v minor | thiszone (int32)  |
///  +-------------------+---------+---------+-------------------+
///  | sigfigs           | snaplen           | linktype / FCS    |
///  +-------------------+-------------------+-------------------+
///  12                  16                  20                  24
///
/// Record header, 16 bytes, followed by incl_len bytes of frame:
///  0                   4                   8                   12                  16
///  +-------------------+-------------------+-------------------+-------------------+
///  | ts_sec            | ts_usec / ts_nsec | incl_len          | orig_len          |
///  +-------------------+-------------------+-------------------+-------------------+
/// </code>
/// </summary>
internal static class PcapLayout
{
    public const int GlobalHeaderSize = 24;
    public const int MagicOffset = 0;
    public const int VersionMajorOffset = 4;
    public const int VersionMinorOffset = 6;
    public const int ThisZoneOffset = 8;
    public const int SigFigsOffset = 12;
    public const int SnapLenOffset = 16;
    public const int LinkTypeOffset = 20;

    public const int RecordHeaderSize = 16;
    public const int TsSecOffset = 0;
    public const int TsFracOffset = 4;
    public const int InclLenOffset = 8;
    public const int OrigLenOffset = 12;

    /// <summary>Magic of a microsecond file, as read in the writer's own byte order.</summary>
    public const uint MagicMicroseconds = 0xA1B2_C3D4;

    /// <summary>Magic of a nanosecond file, as read in the writer's own byte order.</summary>
    public const uint MagicNanoseconds = 0xA1B2_3C4D;

    public const ushort VersionMajor = 2;
    public const ushort VersionMinor = 4;

    /// <summary>The largest frame this project reads or writes; also the snaplen we write.</summary>
    public const int MaxFrameSize = 256 * 1024;

    public const ushort LinkTypeEthernet = 1;
}

/// <summary>
/// pcapng layout (draft-ietf-opsawg-pcapng). Every block has the same frame; the byte order is
/// the one of the current section, told by the Section Header Block's byte-order magic.
/// <code>
/// Any block:
///  0                   4                   8
///  +-------------------+-------------------+---------------- ... ---+-------------------+
///  | block type        | block total length| body (padded to 32 bit)| block total length|
///  +-------------------+-------------------+---------------- ... ---+-------------------+
///
/// Section Header Block (type 0x0A0D0D0A), body:
///  8 byte-order magic 0x1A2B3C4D | 12 major u16 | 14 minor u16 | 16 section length i64 | 24 options
///
/// Interface Description Block (type 1), body:
///  8 link type u16 | 10 reserved u16 | 12 snaplen u32 | 16 options (if_tsresol = 9, if_tsoffset = 14)
///
/// Enhanced Packet Block (type 6), body:
///  8 interface id | 12 timestamp high | 16 timestamp low | 20 captured length | 24 original length
///  28 packet data (padded to 32 bit) | options
///
/// Interface Statistics Block (type 5), body:
///  8 interface id | 12 timestamp high | 16 timestamp low | 20 options
///
/// Simple Packet Block (type 3), body (interface 0, no timestamp):
///  8 original length | 12 packet data, min(original length, snaplen) bytes (padded to 32 bit)
///
/// Option: code u16 | length u16 | value (padded to 32 bit); code 0 ends the list.
/// </code>
/// </summary>
internal static class PcapNgLayout
{
    public const int BlockTypeOffset = 0;
    public const int BlockTotalLengthOffset = 4;
    public const int BlockHeaderSize = 8;
    public const int BlockTrailerSize = 4;
    public const int MinBlockSize = BlockHeaderSize + BlockTrailerSize;

    public const uint SectionHeaderType = 0x0A0D_0D0A;
    public const uint InterfaceDescriptionType = 1;
    public const uint SimplePacketType = 3;
    public const uint InterfaceStatisticsType = 5;
    public const uint EnhancedPacketType = 6;

    public const int ShbByteOrderMagicOffset = 8;
    public const int ShbMajorOffset = 12;
    public const int ShbMinorOffset = 14;
    public const int ShbSectionLengthOffset = 16;
    public const int ShbMinSize = 28;
    public const uint ByteOrderMagic = 0x1A2B_3C4D;
    public const ushort SupportedMajorVersion = 1;

    public const int IdbLinkTypeOffset = 8;
    public const int IdbSnapLenOffset = 12;
    public const int IdbOptionsOffset = 16;
    public const int IdbMinSize = 20;

    public const int EpbInterfaceIdOffset = 8;
    public const int EpbTimestampHighOffset = 12;
    public const int EpbTimestampLowOffset = 16;
    public const int EpbCapturedLengthOffset = 20;
    public const int EpbOriginalLengthOffset = 24;
    public const int EpbDataOffset = 28;
    public const int EpbMinSize = 32;

    public const int SpbOriginalLengthOffset = 8;
    public const int SpbDataOffset = 12;
    public const int SpbMinSize = 16;

    public const int OptionHeaderSize = 4;
    public const ushort OptEndOfOptions = 0;
    public const ushort OptIfTsResol = 9;
    public const ushort OptIfTsOffset = 14;

    /// <summary>opt_comment: UTF-8 text, on any block.</summary>
    public const ushort OptComment = 1;
    public const ushort OptShbUserAppl = 4;
    public const ushort OptIfName = 2;

    /// <summary>epb_flags, 32 bits: bits 0-1 the direction (<see cref="FlagsInbound"/>, <see cref="FlagsOutbound"/>).</summary>
    public const ushort OptEpbFlags = 2;

    /// <summary>epb_dropcount, 64 bits: packets lost between the previous packet and this one.</summary>
    public const ushort OptEpbDropCount = 4;
    public const uint FlagsInbound = 1;
    public const uint FlagsOutbound = 2;

    public const int IsbInterfaceIdOffset = 8;
    public const int IsbTimestampHighOffset = 12;
    public const int IsbTimestampLowOffset = 16;
    public const int IsbOptionsOffset = 20;

    /// <summary>isb_ifdrop, 64 bits: packets the interface (here: the capture ring) dropped.</summary>
    public const ushort OptIsbIfDrop = 5;

    /// <summary>isb_usrdeliv, 64 bits: packets delivered to the user (written to the file).</summary>
    public const ushort OptIsbUsrDeliv = 8;

    /// <summary>Blocks we hold in memory to parse (all but skipped ones): a maximal frame plus room for options.</summary>
    public const int MaxParsedBlockSize = PcapLayout.MaxFrameSize + (64 * 1024);

    /// <summary>Guard against a file that declares interfaces without end.</summary>
    public const int MaxInterfacesPerSection = 65_536;

    /// <summary>Rounds a length up to the next multiple of 4.</summary>
    public static long Pad4(long length) => (length + 3) & ~3L;
}
