using System.Buffers.Binary;
using NvDataplane.Headers;

namespace NvDataplane.Pipeline;

/// <summary>
/// Answers built in the request's own buffer: ARP replies, neighbor advertisements, echo replies
/// (gateway ping and PA ping) and the ICMP errors of the MTU rule. Byte layouts are those of
/// docs/FORWARDING.md; every answer keeps the request's VLAN tag, if any.
/// </summary>
public static class LocalResponder
{
    private static readonly MacAddress AllNodesMac = new(0x3333_0000_0001UL);
    private static readonly IpAddr AllNodes = IpAddr.Parse("ff02::1");

    /// <summary>Turns an ARP request into the reply for <paramref name="target"/> at <paramref name="answeredMac"/>.</summary>
    public static void ArpReply(PacketBuffer buffer, in PacketInfo info, MacAddress answeredMac)
    {
        Span<byte> f = buffer.Data.AsSpan(buffer.Offset);
        Span<byte> arp = f[info.L3Offset..];
        var requester = MacAddress.Read(arp[Arp.SenderMacOffset..]);
        uint requesterIp = BinaryPrimitives.ReadUInt32BigEndian(arp[Arp.SenderIpOffset..]);
        uint target = BinaryPrimitives.ReadUInt32BigEndian(arp[Arp.TargetIpOffset..]);
        var ethSource = Ethernet.ReadSource(f);
        ethSource.Write(f);
        answeredMac.Write(f[Ethernet.SourceOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(arp[Arp.OperationOffset..], Arp.OpReply);
        answeredMac.Write(arp[Arp.SenderMacOffset..]);
        BinaryPrimitives.WriteUInt32BigEndian(arp[Arp.SenderIpOffset..], target);
        requester.Write(arp[Arp.TargetMacOffset..]);
        BinaryPrimitives.WriteUInt32BigEndian(arp[Arp.TargetIpOffset..], requesterIp);
        buffer.Length = info.L3Offset + Arp.Size;
    }

    /// <summary>Turns a neighbor solicitation into the advertisement of <paramref name="target"/>.</summary>
    public static void NeighborAdvertisement(PacketBuffer buffer, in PacketInfo info, IpAddr target, MacAddress answeredMac, bool router)
    {
        Span<byte> f = buffer.Data.AsSpan(buffer.Offset);
        bool fromUnspecified = info.Source.IsUnspecified;
        var ethDestination = fromUnspecified ? AllNodesMac : Ethernet.ReadSource(f);
        IpAddr ipDestination = fromUnspecified ? AllNodes : info.Source;
        ethDestination.Write(f);
        answeredMac.Write(f[Ethernet.SourceOffset..]);
        Span<byte> ip = f[info.L3Offset..];
        const int payload = Icmp.NeighborMessageSize + 8;
        BinaryPrimitives.WriteUInt32BigEndian(ip, 0x6000_0000);
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv6.PayloadLengthOffset..], payload);
        ip[Ipv6.NextHeaderOffset] = IpProtocol.Icmpv6;
        ip[Ipv6.HopLimitOffset] = 255;
        target.Write(ip[Ipv6.SourceOffset..]);
        ipDestination.Write(ip[Ipv6.DestinationOffset..]);
        Span<byte> icmp = ip[Ipv6.HeaderSize..];
        icmp[Icmp.TypeOffset] = Icmp.V6NeighborAdvertisement;
        icmp[Icmp.CodeOffset] = 0;
        uint flags = (router ? 0x8000_0000u : 0) | (fromUnspecified ? 0 : 0x4000_0000u) | 0x2000_0000u;
        BinaryPrimitives.WriteUInt32BigEndian(icmp[4..], flags);
        target.Write(icmp[Icmp.NdTargetOffset..]);
        icmp[Icmp.NdOptionsOffset] = 2; // target link-layer address
        icmp[Icmp.NdOptionsOffset + 1] = 1;
        answeredMac.Write(icmp[(Icmp.NdOptionsOffset + 2)..]);
        WriteIcmpv6Checksum(icmp[..payload], target, ipDestination);
        buffer.Length = info.L3Offset + Ipv6.HeaderSize + payload;
    }

    /// <summary>Turns an ICMP/ICMPv6 echo request into its reply from <paramref name="sourceMac"/>.</summary>
    public static void EchoReply(PacketBuffer buffer, in PacketInfo info, MacAddress sourceMac, byte ttl)
    {
        Span<byte> f = buffer.Data.AsSpan(buffer.Offset);
        Ethernet.ReadSource(f).Write(f);
        sourceMac.Write(f[Ethernet.SourceOffset..]);
        Span<byte> ip = f.Slice(info.L3Offset, info.L3Length);
        Span<byte> icmp = f[info.L4Offset..(info.L3Offset + info.L3Length)];
        if (info.IpVersion == 4)
        {
            info.Destination.Write(ip[Ipv4.SourceOffset..]);
            info.Source.Write(ip[Ipv4.DestinationOffset..]);
            ip[Ipv4.TtlOffset] = ttl;
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.ChecksumOffset..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.ChecksumOffset..], Checksum.Compute(ip[..info.IpHeaderLength]));
            icmp[Icmp.TypeOffset] = Icmp.EchoReply;
            BinaryPrimitives.WriteUInt16BigEndian(icmp[Icmp.ChecksumOffset..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(icmp[Icmp.ChecksumOffset..], Checksum.Compute(icmp));
        }
        else
        {
            info.Destination.Write(ip[Ipv6.SourceOffset..]);
            info.Source.Write(ip[Ipv6.DestinationOffset..]);
            ip[Ipv6.HopLimitOffset] = ttl;
            icmp[Icmp.TypeOffset] = Icmp.V6EchoReply;
            WriteIcmpv6Checksum(icmp, info.Destination, info.Source);
        }

        buffer.Length = info.L3Offset + info.L3Length;
    }

    /// <summary>
    /// Rewrites the buffer into an ICMP "fragmentation needed" (IPv4) or ICMPv6 "packet too big"
    /// from <paramref name="gateway"/> to the sender, quoting the sender's packet (576 / 1280 byte
    /// limits of RFC 1812 and RFC 4443). The frame had a plain 14-byte Ethernet header. An IPv6
    /// MTU is never reported below 1280 (<see cref="Ipv6MinimumMtu"/>): every IPv6 link carries
    /// that much (RFC 8200 5), and a host ignores a smaller figure (RFC 8201 4).
    /// </summary>
    public static void PacketTooBig(PacketBuffer buffer, in PacketInfo info, MacAddress gatewayMac, IpAddr gateway, int mtu) =>
        IcmpError(buffer, in info, gatewayMac, gateway, info.IpVersion == 4 ? Icmp.DestinationUnreachable : Icmp.V6PacketTooBig, info.IpVersion == 4 ? Icmp.CodeFragmentationNeeded : (byte)0,
            info.IpVersion == 4 ? mtu : Math.Max(mtu, Ipv6MinimumMtu));

    /// <summary>The smallest MTU an IPv6 link may have (RFC 8200 section 5).</summary>
    public const int Ipv6MinimumMtu = 1280;

    /// <summary>
    /// Rewrites the buffer into an ICMP "time exceeded in transit" (type 11 code 0) or ICMPv6
    /// "hop limit exceeded" (type 3 code 0) from <paramref name="gateway"/> to the sender, as a
    /// router does when a routed packet's TTL runs out (what traceroute shows as the hop).
    /// </summary>
    public static void TimeExceeded(PacketBuffer buffer, in PacketInfo info, MacAddress gatewayMac, IpAddr gateway) =>
        IcmpError(buffer, in info, gatewayMac, gateway, info.IpVersion == 4 ? Icmp.TimeExceeded : Icmp.V6TimeExceeded, 0, 0);

    /// <summary>
    /// True when the packet may be answered with an ICMP error: from a single host's address
    /// (<see cref="IpAddr.IsNotAHost"/>), not itself an ICMP error (RFC 1812 4.3.2.7, RFC 4443
    /// 2.4) and, for IPv4, not a later fragment (RFC 792: errors are about fragment zero only).
    /// </summary>
    public static bool MayAnswerWithError(ReadOnlySpan<byte> frame, in PacketInfo info)
    {
        if (info.Source.IsNotAHost)
        {
            return false; // no error to a group, "nobody" or loopback: a forged source would make this a reflector
        }

        if (info.IpVersion == 4 && (info.Destination.IsBroadcastOrMulticast || Ethernet.ReadDestination(frame).IsMulticast))
        {
            // RFC 1812 4.3.2.7: none about a datagram to an IP broadcast or multicast address, or
            // sent as a link-layer broadcast or multicast (10.1.1.255 to ff:ff:ff:ff:ff:ff).
            // IPv6 allows a packet too big about multicast (RFC 4443 2.4 e.3), the one error sent.
            return false;
        }

        if (info.IsLaterFragment)
        {
            return info.IpVersion != 4; // an IPv6 later fragment carries no ICMP header to look at
        }

        bool icmp = info.Protocol == (info.IpVersion == 4 ? IpProtocol.Icmp : IpProtocol.Icmpv6);
        if (!icmp || info.L4Length < 1)
        {
            return true;
        }

        byte type = frame[info.L4Offset + Icmp.TypeOffset];
        return info.IpVersion == 4
            ? type is not (Icmp.DestinationUnreachable or 4 or 5 or Icmp.TimeExceeded or 12) // unreachable, source quench, redirect, time exceeded, parameter problem
            : type >= 128; // ICMPv6 errors are 0..127, informational messages 128..255
    }

    /// <summary>
    /// Rewrites the buffer into an ICMP / ICMPv6 error (<paramref name="type"/>, <paramref name="code"/>,
    /// the 32-bit field after the checksum = <paramref name="word"/>) from the gateway to the sender,
    /// quoting as much of the sender's packet as RFC 1812 / RFC 4443 allow.
    /// </summary>
    private static void IcmpError(PacketBuffer buffer, in PacketInfo info, MacAddress gatewayMac, IpAddr gateway, byte type, byte code, int word)
    {
        bool v4 = info.IpVersion == 4;
        int ipHeader = v4 ? Ipv4.MinHeaderSize : Ipv6.HeaderSize;
        int limit = v4 ? 576 : 1280;
        int quote = Math.Min(info.L3Length, limit - ipHeader - Icmp.HeaderSize);
        int prefix = Ethernet.HeaderSize + ipHeader + Icmp.HeaderSize;
        int start = buffer.Offset + info.L3Offset - prefix;
        Span<byte> old = buffer.Data.AsSpan(buffer.Offset, Ethernet.HeaderSize);
        var sender = Ethernet.ReadSource(old);
        Span<byte> f = buffer.Data.AsSpan(start, prefix + quote);
        sender.Write(f);
        gatewayMac.Write(f[Ethernet.SourceOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(f[Ethernet.TypeOffset..], v4 ? Ethernet.TypeIpv4 : Ethernet.TypeIpv6);
        Span<byte> ip = f[Ethernet.HeaderSize..];
        Span<byte> icmp = ip[ipHeader..];
        ip[..(ipHeader + Icmp.HeaderSize)].Clear();
        int ipLength = ipHeader + Icmp.HeaderSize + quote;
        icmp[Icmp.TypeOffset] = type;
        icmp[Icmp.CodeOffset] = code;
        if (v4)
        {
            ip[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.TotalLengthOffset..], (ushort)ipLength);
            ip[Ipv4.TtlOffset] = 64;
            ip[Ipv4.ProtocolOffset] = IpProtocol.Icmp;
            gateway.Write(ip[Ipv4.SourceOffset..]);
            info.Source.Write(ip[Ipv4.DestinationOffset..]);
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.ChecksumOffset..], Checksum.Compute(ip[..ipHeader]));
            BinaryPrimitives.WriteUInt16BigEndian(icmp[6..], (ushort)word); // RFC 1191: next-hop MTU in the low 16 bits
            BinaryPrimitives.WriteUInt16BigEndian(icmp[Icmp.ChecksumOffset..], Checksum.Compute(icmp[..(Icmp.HeaderSize + quote)]));
        }
        else
        {
            ip[0] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv6.PayloadLengthOffset..], (ushort)(Icmp.HeaderSize + quote));
            ip[Ipv6.NextHeaderOffset] = IpProtocol.Icmpv6;
            ip[Ipv6.HopLimitOffset] = 64;
            gateway.Write(ip[Ipv6.SourceOffset..]);
            info.Source.Write(ip[Ipv6.DestinationOffset..]);
            BinaryPrimitives.WriteUInt32BigEndian(icmp[4..], (uint)word);
            WriteIcmpv6Checksum(icmp[..(Icmp.HeaderSize + quote)], gateway, info.Source);
        }

        buffer.Offset = start;
        buffer.Length = prefix + quote;
    }

    private static void WriteIcmpv6Checksum(Span<byte> icmp, IpAddr source, IpAddr destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(icmp[Icmp.ChecksumOffset..], 0);
        ulong pseudo = Checksum.PseudoHeaderSum(source, destination, IpProtocol.Icmpv6, icmp.Length);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[Icmp.ChecksumOffset..], Checksum.Compute(icmp, pseudo));
    }
}
