using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NvDataplane.Diagnostics;

namespace NvDataplane.Headers;

/// <summary>
/// What the parser learned about one frame: offsets relative to the start of the span it was
/// given, plus the fields every later stage needs. Filled once; later stages read, never re-parse.
/// </summary>
public struct PacketInfo
{
    /// <summary>EtherType after any VLAN tag.</summary>
    public ushort EtherType;

    /// <summary>VLAN id of the 802.1Q tag, or -1 when untagged.</summary>
    public int VlanId;

    /// <summary>The tag is an 802.1ad service tag (0x88A8), which no port of the dataplane takes: its VLANs are 802.1Q ones.</summary>
    public bool ServiceTag;

    /// <summary>Offset of the layer-3 header (14, or 18 with a VLAN tag).</summary>
    public int L3Offset;

    /// <summary>Length of the IP packet (IPv4 total length, IPv6 40 + payload length).</summary>
    public int L3Length;

    /// <summary>4 or 6 for IP; 0 otherwise.</summary>
    public byte IpVersion;

    /// <summary>IPv4 IHL×4, or IPv6 40 + extension headers up to the transport header.</summary>
    public int IpHeaderLength;

    /// <summary>The transport protocol (after IPv6 extension headers).</summary>
    public byte Protocol;

    /// <summary>IPv4 TOS or IPv6 traffic class.</summary>
    public byte Tos;

    /// <summary>IPv4 TTL or IPv6 hop limit.</summary>
    public byte Ttl;

    /// <summary>Part of a fragmented datagram (IPv4 MF or offset, or an IPv6 fragment header).</summary>
    public bool IsFragment;

    /// <summary>A fragment other than the first: no transport header.</summary>
    public bool IsLaterFragment;

    /// <summary>IPv4 DF set.</summary>
    public bool DontFragment;

    /// <summary>Offset of the IPv6 fragment header, or -1.</summary>
    public int Ipv6FragmentHeaderOffset;

    /// <summary>An IPv6 routing header with segments left: the destination is a waypoint, not the packet's end (RFC 8200 4.4).</summary>
    public bool RoutingPending;

    public IpAddr Source;
    public IpAddr Destination;

    /// <summary>Offset of the transport header (L3Offset + IpHeaderLength).</summary>
    public int L4Offset;

    /// <summary>TCP/UDP ports when present (first fragment or unfragmented), else 0.</summary>
    public ushort SourcePort;
    public ushort DestinationPort;

    public readonly int L4Length => L3Offset + L3Length - L4Offset;

    /// <summary>Frame length through the end of the IP packet (Ethernet padding excluded).</summary>
    public readonly int IpFrameEnd => L3Offset + L3Length;
}

/// <summary>
/// The span-based parser: Ethernet (one 802.1Q tag), IPv4 with options, IPv6 with its
/// extension-header chain, and the TCP/UDP/ICMP header bounds. Never allocates, never throws:
/// every length is checked before it is read and a failure is a <see cref="DropReason"/>.
/// </summary>
public static class PacketParser
{
    /// <summary>Parses the Ethernet header (and one VLAN tag) of <paramref name="frame"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static DropReason ParseEthernet(ReadOnlySpan<byte> frame, ref PacketInfo info)
    {
        if (frame.Length < Ethernet.HeaderSize)
        {
            return DropReason.Truncated;
        }

        ushort type = Ethernet.ReadType(frame);
        info.VlanId = -1;
        info.L3Offset = Ethernet.HeaderSize;
        info.ServiceTag = type == Ethernet.TypeQinQ;
        if (Ethernet.IsVlanType(type))
        {
            if (frame.Length < Ethernet.HeaderSize + Ethernet.VlanTagSize)
            {
                return DropReason.Truncated;
            }

            info.VlanId = BinaryPrimitives.ReadUInt16BigEndian(frame[14..]) & 0x0FFF;
            type = BinaryPrimitives.ReadUInt16BigEndian(frame[16..]);
            info.L3Offset = Ethernet.HeaderSize + Ethernet.VlanTagSize;
        }

        info.EtherType = type;
        return DropReason.None;
    }

    /// <summary>The ARP body at <c>info.L3Offset</c>: at least 28 bytes (else truncated) of Ethernet/IPv4 ARP (else malformed).</summary>
    public static DropReason ParseArp(ReadOnlySpan<byte> frame, in PacketInfo info, out ReadOnlySpan<byte> arp)
    {
        arp = default;
        if (frame.Length - info.L3Offset < Arp.Size)
        {
            return DropReason.Truncated;
        }

        arp = frame[info.L3Offset..];
        return Arp.IsEthernetIpv4(arp) ? DropReason.None : DropReason.MalformedHeader;
    }

    /// <summary>Parses the IP header at <c>info.L3Offset</c> according to <c>info.EtherType</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static DropReason ParseIp(ReadOnlySpan<byte> frame, ref PacketInfo info) =>
        info.EtherType == Ethernet.TypeIpv4 ? ParseIpv4(frame, ref info)
        : info.EtherType == Ethernet.TypeIpv6 ? ParseIpv6(frame, ref info)
        : DropReason.UnsupportedEthertype;

    public static DropReason ParseIpv4(ReadOnlySpan<byte> frame, ref PacketInfo info)
    {
        int l3 = info.L3Offset;
        if (!Ipv4Reader.TryCreate(frame[l3..], out var ip))
        {
            return DropReason.Truncated;
        }

        int ihl = ip.HeaderLength;
        int total = ip.TotalLength;
        if (ip.Version != 4 || ihl < Ipv4.MinHeaderSize || total < ihl)
        {
            return DropReason.MalformedHeader;
        }

        if (total > ip.Bytes.Length || ihl > ip.Bytes.Length)
        {
            return DropReason.Truncated;
        }

        if (!ip.ChecksumValid)
        {
            return DropReason.MalformedHeader;
        }

        ushort ff = ip.FlagsFragment;
        info.IpVersion = 4;
        info.L3Length = total;
        info.IpHeaderLength = ihl;
        info.Protocol = ip.Protocol;
        info.Tos = ip.Tos;
        info.Ttl = ip.Ttl;
        info.DontFragment = (ff & Ipv4.FlagDontFragment) != 0;
        info.IsLaterFragment = (ff & Ipv4.FragmentOffsetMask) != 0;
        info.IsFragment = info.IsLaterFragment || (ff & Ipv4.FlagMoreFragments) != 0;
        if (info.IsLaterFragment && (ff & Ipv4.FragmentOffsetMask) * 8 + total - ihl > ushort.MaxValue)
        {
            // A fragment ending past 65,535 bytes belongs to no datagram (RFC 791); cut again for
            // the MTU, its offsets would run into the flag bits (an MF fragment at the start).
            return DropReason.MalformedHeader;
        }

        info.Ipv6FragmentHeaderOffset = -1;
        info.RoutingPending = false;
        info.Source = ip.Source;
        info.Destination = ip.Destination;
        info.L4Offset = l3 + ihl;
        return ParseTransport(frame, ref info);
    }

    public static DropReason ParseIpv6(ReadOnlySpan<byte> frame, ref PacketInfo info)
    {
        int l3 = info.L3Offset;
        if (!Ipv6Reader.TryCreate(frame[l3..], out var header))
        {
            return DropReason.Truncated;
        }

        if (header.Version != 6)
        {
            return DropReason.MalformedHeader;
        }

        if (header.Source.IsV4 || header.Destination.IsV4)
        {
            // IPv4-mapped addresses (::ffff:0:0/96) never appear on the wire (RFC 4291 2.5.5.2);
            // read as IPv4 they would match IPv4 records and rules.
            return DropReason.MalformedHeader;
        }

        ReadOnlySpan<byte> ip = header.Bytes;
        int total = Ipv6.HeaderSize + header.PayloadLength;
        if (total > ip.Length)
        {
            return DropReason.Truncated;
        }

        info.IpVersion = 6;
        info.L3Length = total;
        info.Tos = header.TrafficClass;
        info.Ttl = header.HopLimit;
        info.DontFragment = true;
        info.IsFragment = false;
        info.IsLaterFragment = false;
        info.Ipv6FragmentHeaderOffset = -1;
        info.RoutingPending = false;
        info.Source = header.Source;
        info.Destination = header.Destination;

        // Walk the extension-header chain to the transport header.
        byte next = header.NextHeader;
        int offset = Ipv6.HeaderSize;
        for (int guard = 0; guard < 16; guard++)
        {
            if (!Ipv6.IsExtensionHeader(next))
            {
                break;
            }

            if (total - offset < 8)
            {
                return DropReason.Truncated;
            }

            if (next == Ipv6.HopByHop && offset != Ipv6.HeaderSize)
            {
                return DropReason.MalformedHeader; // RFC 8200 4.3: only right after the IPv6 header
            }

            int length = Ipv6.ExtensionHeaderLength(next, ip[offset..]);
            if (next == Ipv6.Fragment)
            {
                info.IsFragment = true;
                info.IsLaterFragment = Ipv6.IsLaterFragment(ip[offset..]);
                info.Ipv6FragmentHeaderOffset = l3 + offset;
            }
            else if (next == Ipv6.Routing)
            {
                info.RoutingPending |= ip[offset + 3] != 0; // segments left
            }

            if (total - offset < length)
            {
                return DropReason.Truncated;
            }

            next = ip[offset];
            offset += length;
            if (info.IsLaterFragment)
            {
                break; // what follows a later fragment's header is payload, whatever its next header says
            }
        }

        if (!info.IsLaterFragment && Ipv6.IsExtensionHeader(next))
        {
            return DropReason.MalformedHeader; // more than 16 extension headers: no real stack sends that
        }

        info.Protocol = next;
        info.IpHeaderLength = offset;
        info.L4Offset = l3 + offset;
        return ParseTransport(frame, ref info);
    }

    /// <summary>Checks the transport header fits and reads TCP/UDP ports (not in later fragments; in a first fragment when its first four transport bytes are there).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static DropReason ParseTransport(ReadOnlySpan<byte> frame, ref PacketInfo info)
    {
        info.SourcePort = 0;
        info.DestinationPort = 0;
        if (info.IsLaterFragment)
        {
            return DropReason.None;
        }

        int available = info.L3Offset + info.L3Length - info.L4Offset;
        int needed = info.Protocol switch
        {
            IpProtocol.Tcp => Tcp.MinHeaderSize,
            IpProtocol.Udp => Udp.HeaderSize,
            IpProtocol.Icmp or IpProtocol.Icmpv6 => 4,
            IpProtocol.Gre => Gre.BaseSize,
            _ => 0,
        };

        // An IPv4 first fragment may legitimately carry less than a whole transport header; an
        // unfragmented packet must hold it, and so must an IPv6 first fragment (RFC 7112: the
        // whole header chain through the upper-layer header, else ACLs could not see its ports).
        // An IPv4 first fragment's ports are read when its first four transport bytes are there,
        // as ACLs match them then (AclCheck).
        if (available < needed)
        {
            if (!info.IsFragment)
            {
                return DropReason.Truncated;
            }

            if (info.IpVersion == 6)
            {
                return DropReason.MalformedHeader;
            }
        }

        if (info.Protocol is IpProtocol.Tcp or IpProtocol.Udp && available >= 4)
        {
            ReadOnlySpan<byte> l4 = frame[info.L4Offset..];
            info.SourcePort = BinaryPrimitives.ReadUInt16BigEndian(l4);
            info.DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(l4[2..]);
        }

        return DropReason.None;
    }
}
