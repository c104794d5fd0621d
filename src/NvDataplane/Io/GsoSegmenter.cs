using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Pipeline;

namespace NvDataplane.Io;

/// <summary>
/// Cuts a frame a local kernel handed over unsegmented (TCP segmentation or UDP segmentation
/// offload: what a veth's other end sends, seen through PACKET_VNET_HDR with the segment size
/// the sending socket chose) into the frames a NIC would have put on the wire, as the kernel's
/// own software GSO does: each segment carries a copy of the headers and up to gso_size bytes
/// of the payload, in order; IPv4 total length, identification (one more per segment) and header
/// checksum, or the IPv6 payload length, are rewritten; TCP segments get their sequence number,
/// with FIN and PSH only on the last and CWR only on the first; UDP segments their length; and
/// every TCP/UDP checksum is computed in full. TCP over IPv4 or IPv6 and UDP segmentation are
/// cut; anything else (UDP fragmentation offload, a fragment, a frame that does not parse) is not.
/// </summary>
public static class GsoSegmenter
{
    /// <summary>virtio_net_hdr gso_type values (include/uapi/linux/virtio_net.h).</summary>
    public const byte GsoNone = 0;
    public const byte GsoTcpV4 = 1;
    public const byte GsoUdp = 3;
    public const byte GsoTcpV6 = 4;
    public const byte GsoUdpL4 = 5;
    public const byte GsoEcn = 0x80;

    /// <summary>
    /// Whether the frame is one this class cuts, and if so where its payload starts and into how
    /// many segments of <paramref name="gsoSize"/> bytes it goes.
    /// </summary>
    public static bool TryPlan(ReadOnlySpan<byte> frame, byte gsoType, int gsoSize, out GsoPlan plan)
    {
        plan = default;
        PacketInfo info = default;
        if (gsoSize <= 0
            || PacketParser.ParseEthernet(frame, ref info) != DropReason.None
            || info.EtherType is not (Ethernet.TypeIpv4 or Ethernet.TypeIpv6)
            || PacketParser.ParseIp(frame, ref info) != DropReason.None
            || info.IsFragment
            || info.IpFrameEnd != frame.Length)
        {
            return false;
        }

        bool ipv4 = info.EtherType == Ethernet.TypeIpv4;
        int l4Header;
        switch (gsoType & ~GsoEcn)
        {
            case GsoTcpV4 when ipv4 && info.Protocol == IpProtocol.Tcp:
            case GsoTcpV6 when !ipv4 && info.Protocol == IpProtocol.Tcp:
                if (info.L4Length < Tcp.MinHeaderSize)
                {
                    return false;
                }

                l4Header = (frame[info.L4Offset + Tcp.DataOffsetOffset] >> 4) * 4;
                if (l4Header < Tcp.MinHeaderSize)
                {
                    return false; // a data offset short of the fixed header: not TCP a kernel wrote
                }

                break;
            case GsoUdpL4 when info.Protocol == IpProtocol.Udp:
                l4Header = Udp.HeaderSize;
                break;
            default:
                return false;
        }

        int headerLength = info.L4Offset + l4Header;
        int payload = frame.Length - headerLength;
        if (payload <= 0)
        {
            return false;
        }

        plan = new GsoPlan(info.L3Offset, info.L4Offset, headerLength, gsoSize, (payload + gsoSize - 1) / gsoSize, ipv4, info.Protocol == IpProtocol.Tcp);
        return true;
    }

    /// <summary>Writes segment <paramref name="index"/> of the frame into the buffer; false when it does not fit.</summary>
    public static bool WriteSegment(ReadOnlySpan<byte> frame, in GsoPlan plan, int index, PacketBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        int start = plan.HeaderLength + (index * plan.SegmentSize);
        int length = Math.Min(plan.SegmentSize, frame.Length - start);
        int total = plan.HeaderLength + length;
        if (total > buffer.Capacity)
        {
            return false;
        }

        var into = buffer.Data.AsSpan(PacketBuffer.Headroom, total);
        frame[..plan.HeaderLength].CopyTo(into);
        frame.Slice(start, length).CopyTo(into[plan.HeaderLength..]);
        buffer.Length = total;

        var ip = into[plan.L3Offset..];
        if (plan.Ipv4)
        {
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.TotalLengthOffset..], (ushort)(total - plan.L3Offset));
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.IdentificationOffset..], (ushort)(BinaryPrimitives.ReadUInt16BigEndian(ip[Ipv4.IdentificationOffset..]) + index));
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.ChecksumOffset..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.ChecksumOffset..], Checksum.Compute(ip[..Ipv4.HeaderLength(ip)]));
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv6.PayloadLengthOffset..], (ushort)(total - plan.L3Offset - Ipv6.HeaderSize));
        }

        var l4 = into[plan.L4Offset..];
        if (plan.Tcp)
        {
            BinaryPrimitives.WriteUInt32BigEndian(l4[Tcp.SequenceOffset..], BinaryPrimitives.ReadUInt32BigEndian(l4[Tcp.SequenceOffset..]) + (uint)(index * plan.SegmentSize));
            if (index < plan.Segments - 1)
            {
                l4[Tcp.FlagsOffset] &= unchecked((byte)~(Tcp.FlagFin | Tcp.FlagPsh));
            }

            if (index > 0)
            {
                l4[Tcp.FlagsOffset] &= unchecked((byte)~Tcp.FlagCwr);
            }
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(l4[Udp.LengthOffset..], (ushort)(total - plan.L4Offset));
        }

        OffloadedChecksum.Complete(into);
        return true;
    }
}

/// <summary>How a frame is cut: where its IP and TCP/UDP headers start, where its payload does, the segment size and count.</summary>
public readonly record struct GsoPlan(int L3Offset, int L4Offset, int HeaderLength, int SegmentSize, int Segments, bool Ipv4, bool Tcp);
