using System.Buffers.Binary;
using NvDataplane.Headers;

namespace NvDataplane.Io;

/// <summary>
/// Finishes a TCP or UDP checksum the sending kernel left for a NIC to compute (checksum
/// offload): a frame an AF_PACKET socket reads from a veth whose other end is a local stack
/// carries only the pseudo-header sum in its checksum field, flagged TP_STATUS_CSUMNOTREADY.
/// Forwarded as it is, every receiver would drop it as corrupt.
/// </summary>
public static class OffloadedChecksum
{
    /// <summary>
    /// Writes the full TCP/UDP checksum of an Ethernet frame (VLAN tags allowed, IPv4 or IPv6
    /// without extension headers, not a fragment); false, leaving the frame alone, for anything else.
    /// </summary>
    public static bool Complete(Span<byte> frame)
    {
        PacketInfo info = default;
        if (PacketParser.ParseEthernet(frame, ref info) != Diagnostics.DropReason.None
            || info.EtherType is not (Ethernet.TypeIpv4 or Ethernet.TypeIpv6)
            || PacketParser.ParseIp(frame, ref info) != Diagnostics.DropReason.None
            || info.IsFragment)
        {
            return false;
        }

        int field = info.Protocol switch
        {
            IpProtocol.Tcp => 16,
            IpProtocol.Udp => 6,
            _ => -1,
        };
        int length = info.L4Length;
        if (field < 0 || length < field + 2)
        {
            return false;
        }

        var l4 = frame.Slice(info.L4Offset, length);
        BinaryPrimitives.WriteUInt16BigEndian(l4[field..], 0);
        ushort sum = Checksum.Compute(l4, Checksum.PseudoHeaderSum(info.Source, info.Destination, info.Protocol, length));
        if (sum == 0 && info.Protocol == IpProtocol.Udp)
        {
            sum = 0xFFFF; // RFC 768: a computed zero is sent as all ones
        }

        BinaryPrimitives.WriteUInt16BigEndian(l4[field..], sum);
        return true;
    }
}
