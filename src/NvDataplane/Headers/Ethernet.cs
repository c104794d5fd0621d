using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace NvDataplane.Headers;

/// <summary>
/// Ethernet II (IEEE 802.3) header, optionally followed by one 802.1Q tag.
/// <code>
///  0                   1
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3
/// +-----------+-----------+---+         +---+---+---+
/// | dst MAC   | src MAC   |typ|   or    ...|8100|TCI|typ|
/// +-----------+-----------+---+         +---+---+---+
/// </code>
/// </summary>
public static class Ethernet
{
    public const int DestinationOffset = 0;
    public const int SourceOffset = 6;
    public const int TypeOffset = 12;
    public const int HeaderSize = 14;
    public const int VlanTagSize = 4;

    public const ushort TypeIpv4 = 0x0800;
    public const ushort TypeArp = 0x0806;
    public const ushort TypeIpv6 = 0x86DD;
    public const ushort TypeVlan = 0x8100;
    public const ushort TypeQinQ = 0x88A8;
    public const ushort TypeTransparentBridging = 0x6558;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ReadType(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadUInt16BigEndian(frame[TypeOffset..]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static MacAddress ReadDestination(ReadOnlySpan<byte> frame) => MacAddress.Read(frame);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static MacAddress ReadSource(ReadOnlySpan<byte> frame) => MacAddress.Read(frame[SourceOffset..]);

    public static bool IsVlanType(ushort type) => type is TypeVlan or TypeQinQ;
}

/// <summary>
/// ARP for Ethernet/IPv4 (RFC 826), 28 bytes.
/// <code>
/// | htype(2) | ptype(2) | hlen(1) | plen(1) | op(2) | sha(6) | spa(4) | tha(6) | tpa(4) |
/// </code>
/// </summary>
public static class Arp
{
    public const int Size = 28;
    public const int HardwareTypeOffset = 0;
    public const int ProtocolTypeOffset = 2;
    public const int HardwareLengthOffset = 4;
    public const int ProtocolLengthOffset = 5;
    public const int OperationOffset = 6;
    public const int SenderMacOffset = 8;
    public const int SenderIpOffset = 14;
    public const int TargetMacOffset = 18;
    public const int TargetIpOffset = 24;

    public const ushort OpRequest = 1;
    public const ushort OpReply = 2;

    /// <summary>True for an Ethernet/IPv4 ARP body (htype 1, ptype 0x0800, hlen 6, plen 4).</summary>
    public static bool IsEthernetIpv4(ReadOnlySpan<byte> arp) =>
        BinaryPrimitives.ReadUInt16BigEndian(arp) == 1
        && BinaryPrimitives.ReadUInt16BigEndian(arp[ProtocolTypeOffset..]) == Ethernet.TypeIpv4
        && arp[HardwareLengthOffset] == 6
        && arp[ProtocolLengthOffset] == 4;

    public static ushort ReadOperation(ReadOnlySpan<byte> arp) => BinaryPrimitives.ReadUInt16BigEndian(arp[OperationOffset..]);
}
