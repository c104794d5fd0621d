using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace NvDataplane.Headers;

/// <summary>
/// IPv4 header (RFC 791).
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version|  IHL  |    DSCP/ECN   |          Total Length         |
/// |         Identification        |Flags|      Fragment Offset    |
/// |  Time to Live |    Protocol   |         Header Checksum       |
/// |                       Source Address                          |
/// |                    Destination Address                        |
/// |                    Options (IHL > 5)                          |
/// </code>
/// </summary>
public static class Ipv4
{
    public const int MinHeaderSize = 20;
    public const int VersionIhlOffset = 0;
    public const int TosOffset = 1;
    public const int TotalLengthOffset = 2;
    public const int IdentificationOffset = 4;
    public const int FlagsFragmentOffset = 6;
    public const int TtlOffset = 8;
    public const int ProtocolOffset = 9;
    public const int ChecksumOffset = 10;
    public const int SourceOffset = 12;
    public const int DestinationOffset = 16;

    public const ushort FlagDontFragment = 0x4000;
    public const ushort FlagMoreFragments = 0x2000;
    public const ushort FragmentOffsetMask = 0x1FFF;

    public static ushort ReadTotalLength(ReadOnlySpan<byte> ip) => BinaryPrimitives.ReadUInt16BigEndian(ip[TotalLengthOffset..]);

    public static ushort ReadFlagsFragment(ReadOnlySpan<byte> ip) => BinaryPrimitives.ReadUInt16BigEndian(ip[FlagsFragmentOffset..]);

    public static int HeaderLength(ReadOnlySpan<byte> ip) => (ip[0] & 0x0F) * 4;
}

/// <summary>
/// IPv6 fixed header (RFC 8200), 40 bytes, and the extension headers walked to the transport.
/// <code>
/// |Version| Traffic Class |           Flow Label                  |
/// |         Payload Length        |  Next Header  |   Hop Limit   |
/// |                 Source Address (16)                            |
/// |              Destination Address (16)                          |
/// </code>
/// </summary>
public static class Ipv6
{
    public const int HeaderSize = 40;
    public const int PayloadLengthOffset = 4;
    public const int NextHeaderOffset = 6;
    public const int HopLimitOffset = 7;
    public const int SourceOffset = 8;
    public const int DestinationOffset = 24;

    public const byte HopByHop = 0;
    public const byte Routing = 43;
    public const byte Fragment = 44;
    public const byte DestinationOptions = 60;
    public const byte AuthenticationHeader = 51;
    public const int FragmentHeaderSize = 8;

    /// <summary>Whether <paramref name="next"/> names an extension header that is walked to reach the transport header (RFC 8200 4; AH, RFC 4302).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsExtensionHeader(byte next) =>
        next is HopByHop or Routing or Fragment or DestinationOptions or AuthenticationHeader;

    /// <summary>Whether the fragment header at <paramref name="header"/> has a fragment offset: a later fragment, with no transport header behind it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsLaterFragment(ReadOnlySpan<byte> header) => (BinaryPrimitives.ReadUInt16BigEndian(header[2..]) & 0xFFF8) != 0;

    /// <summary>
    /// The length of the extension header <paramref name="next"/> starting at
    /// <paramref name="header"/> (at least 8 bytes of it): fixed for a fragment header, in 4-byte
    /// units plus 2 for AH, in 8-byte units plus 1 for the others.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ExtensionHeaderLength(byte next, ReadOnlySpan<byte> header) => next switch
    {
        Fragment => FragmentHeaderSize,
        AuthenticationHeader => (header[1] + 2) * 4,
        _ => (header[1] + 1) * 8,
    };

    public static ushort ReadPayloadLength(ReadOnlySpan<byte> ip) => BinaryPrimitives.ReadUInt16BigEndian(ip[PayloadLengthOffset..]);

    /// <summary>Traffic class: the 8 bits after the version nibble.</summary>
    public static byte ReadTrafficClass(ReadOnlySpan<byte> ip) => (byte)((BinaryPrimitives.ReadUInt16BigEndian(ip) >> 4) & 0xFF);
}

/// <summary>IP protocol numbers used by the dataplane.</summary>
public static class IpProtocol
{
    public const byte Icmp = 1;
    public const byte Tcp = 6;
    public const byte Udp = 17;

    /// <summary>DCCP (RFC 4340): ports, then the checksum at offset 6, over a pseudo-header like TCP's.</summary>
    public const byte Dccp = 33;
    public const byte Gre = 47;
    public const byte Icmpv6 = 58;
    public const byte NoNextHeader = 59;

    /// <summary>UDP-Lite (RFC 3828): UDP's layout, the length field a checksum coverage, the checksum mandatory.</summary>
    public const byte UdpLite = 136;
}

/// <summary>TCP header (RFC 9293): ports, then the checksum at offset 16; at least 20 bytes.</summary>
public static class Tcp
{
    public const int MinHeaderSize = 20;
    public const int SourcePortOffset = 0;
    public const int DestinationPortOffset = 2;
    public const int SequenceOffset = 4;
    public const int DataOffsetOffset = 12;
    public const int FlagsOffset = 13;
    public const int ChecksumOffset = 16;

    public const byte FlagFin = 0x01;
    public const byte FlagPsh = 0x08;
    public const byte FlagCwr = 0x80;
}

/// <summary>UDP header (RFC 768): | src port | dst port | length | checksum |, 8 bytes.</summary>
public static class Udp
{
    public const int HeaderSize = 8;
    public const int LengthOffset = 4;
    public const int ChecksumOffset = 6;
}

/// <summary>ICMP (RFC 792) and ICMPv6 (RFC 4443): | type | code | checksum | rest (4) |.</summary>
public static class Icmp
{
    public const int HeaderSize = 8;
    public const int TypeOffset = 0;
    public const int CodeOffset = 1;
    public const int ChecksumOffset = 2;

    public const byte EchoReply = 0;
    public const byte DestinationUnreachable = 3;
    public const byte CodeFragmentationNeeded = 4;
    public const byte EchoRequest = 8;
    public const byte TimeExceeded = 11;

    public const byte V6PacketTooBig = 2;
    public const byte V6TimeExceeded = 3;
    public const byte V6EchoRequest = 128;
    public const byte V6EchoReply = 129;
    public const byte V6RouterSolicitation = 133;
    public const byte V6RouterAdvertisement = 134;
    public const byte V6NeighborSolicitation = 135;
    public const byte V6NeighborAdvertisement = 136;
    public const byte V6NdRedirect = 137;

    /// <summary>NS/NA: ICMPv6 header (4) + reserved/flags (4) + target (16).</summary>
    public const int NeighborMessageSize = 24;
    public const int NdTargetOffset = 8;
    public const int NdOptionsOffset = 24;
}

/// <summary>
/// GRE header as NVGRE uses it (RFC 2784/2890, RFC 7637 section 3.2): C=0, K=1, S=0, Ver=0,
/// protocol 0x6558, then the key = VSID (24 bits) | FlowID (8 bits).
/// <code>
/// |0| |1|0| Reserved0       | Ver |   Protocol Type 0x6558        |
/// |     Virtual Subnet ID (VSID)                  |    FlowID     |
/// </code>
/// </summary>
public static class Gre
{
    public const int BaseSize = 4;
    public const int NvgreSize = 8;
    public const int FlagsVersionOffset = 0;
    public const int ProtocolOffset = 2;
    public const int KeyOffset = 4;
    public const ushort NvgreFlagsVersion = 0x2000;

    public const uint ReservedVsidMax = 0xFFF;
    public const uint VendorVsid = 0xFFFFFF;

    public static bool IsReservedVsid(uint vsid) => vsid <= ReservedVsidMax || vsid == VendorVsid;
}
