using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Policy;
using NvDataplane.Rewrite;

namespace NvDataplane.Pipeline;

// The dataplane as the NVGRE gateway (docs/FORWARDING.md section 6). An external port plays HNV's
// gateway VM inside the tenant: the records of its gateway CA and the routing domain's
// GatewayWildcard record carry its MAC, so whatever the tenant would deliver to that VM is routed
// out onto the physical network instead (new Ethernet header, TTL / hop limit decremented, next hop
// resolved by ARP or neighbor discovery), and what arrives from the physical network is routed by the routing domain's customer
// routes as if the gateway VM had sent it to the gateway MAC.
public sealed partial class Forwarder
{
    private void ExternalChunk(PortInfo port, ReadOnlySpan<PacketBuffer> chunk)
    {
        foreach (var buffer in chunk)
        {
            Settle(buffer, FromExternal(port, buffer));
        }
    }

    /// <summary>A frame from the external network: ARP / ND and echo for the port's addresses answered, IP routed into the tenant.</summary>
    private DropReason FromExternal(PortInfo port, PacketBuffer buffer)
    {
        var x = port.External!;
        PacketInfo info = default;
        ReadOnlySpan<byte> frame = buffer.Frame;
        DropReason r = PacketParser.ParseEthernet(frame, ref info);
        if (r != DropReason.None)
        {
            return r;
        }

        if (info.ServiceTag || info.VlanId != (x.VlanId == 0 ? -1 : x.VlanId))
        {
            return DropReason.VlanTagged;
        }

        var dstMac = Ethernet.ReadDestination(frame);
        if (dstMac != port.Mac && !dstMac.IsMulticast)
        {
            return DropReason.NotForHost;
        }

        if (info.EtherType == Ethernet.TypeArp)
        {
            return ExternalArp(port, buffer, in info);
        }

        r = PacketParser.ParseIp(frame, ref info);
        if (r != DropReason.None)
        {
            return r;
        }

        var own = x.For(info.IpVersion);
        if (own is not null && info.Protocol == IpProtocol.Icmpv6)
        {
            if (IsNeighborSolicitation(frame, in info))
            {
                return ExternalNeighborSolicitation(port, buffer, in info, own.Address);
            }

            if (EndOfAnswer(LearnFromAdvertisement(port, frame, in info, buffer.TimestampNs), buffer) is { } end)
            {
                return end;
            }
        }

        if (own is not null && info.Destination == own.Address)
        {
            if (!IsEchoRequest(frame, in info))
            {
                return DropReason.NoLookupRecord;
            }

            LocalResponder.EchoReply(buffer, in info, port.Mac, 64);
            return Answer(port.Index, buffer);
        }

        if (dstMac.IsMulticast || IsFloodDestination(info.Destination))
        {
            return DropReason.FloodingDisabled;
        }

        if (own is null)
        {
            return DropReason.NoRoute;
        }

        if (info.VlanId >= 0)
        {
            StripVlan(buffer, ref info);
        }

        buffer.Length = info.IpFrameEnd;
        return ExternalRouteIn(port, buffer, ref info, judged: true);
    }

    /// <summary>ARP on the external network: answers for our next hops are learned, requests for the port's address answered.</summary>
    private DropReason ExternalArp(PortInfo port, PacketBuffer buffer, in PacketInfo info)
    {
        DropReason r = PacketParser.ParseArp(buffer.Frame, in info, out ReadOnlySpan<byte> arp);
        if (r != DropReason.None)
        {
            return r;
        }

        if (EndOfAnswer(LearnFromArp(port, in info, arp, buffer.TimestampNs), buffer) is { } end)
        {
            return end;
        }

        if (Arp.ReadOperation(arp) != Arp.OpRequest || port.External!.V4 is not { } own || IpAddr.ReadV4(arp[Arp.TargetIpOffset..]) != own.Address)
        {
            return DropReason.NotForHost;
        }

        LocalResponder.ArpReply(buffer, in info, port.Mac);
        return Answer(port.Index, buffer);
    }

    /// <summary>A neighbor solicitation on the external network: answered (flags R|S|O, port MAC) when its target is the port's IPv6 address.</summary>
    private DropReason ExternalNeighborSolicitation(PortInfo port, PacketBuffer buffer, in PacketInfo info, IpAddr own)
    {
        if (!IsValidSolicitation(buffer.Frame, in info))
        {
            return DropReason.MalformedHeader;
        }

        var target = IpAddr.ReadV6(buffer.Frame[(info.L4Offset + Icmp.NdTargetOffset)..]);
        if (target != own)
        {
            return DropReason.NotForHost;
        }

        LocalResponder.NeighborAdvertisement(buffer, in info, target, port.Mac, router: true); // the port routes for the tenant
        return Answer(port.Index, buffer);
    }

    /// <summary>
    /// Routes a packet from the external network (or an answer from the port's own address) into
    /// the tenant: the source has no record, and the GatewayWildcard record (the port's VSID and
    /// MAC) stands for it; the destination is resolved by the customer routes of the port's
    /// routing domain. A route leading back to the port itself is <c>no_route</c>.
    /// </summary>
    /// <param name="judged">A packet from the outside network, which the port's outbound ACL rules judge; not one the port made itself (an echo reply, an ICMP error).</param>
    private DropReason ExternalRouteIn(PortInfo port, PacketBuffer buffer, ref PacketInfo info, bool judged)
    {
        var p = _p;
        var vsid = port.Vsid!;
        if (info.Source.IsV6LinkLocal || info.Destination.IsV6LinkLocal)
        {
            return DropReason.NoRoute; // a link-local address stays on its link (RFC 4291 2.5.6)
        }

        // RFC 1812 5.3.7: no martian sources; nor, from outside, the port's own address.
        int srcIndex = info.Source.IsNotAHost || (judged && IsPortAddress(port, info.Source)) ? -1
            : ExternalSource(p, port, info.Source, _learned, buffer.TimestampNs, out _);
        if (srcIndex < 0)
        {
            return DropReason.SpoofedSource;
        }

        int dstIndex = Route(port, in info, buffer.TimestampNs, out DropReason r);
        if (r != DropReason.None)
        {
            if (r == DropReason.TtlExpired)
            {
                ExternalIcmpError(port, buffer, in info, mtu: -1);
            }

            return r;
        }

        if (p.Records[dstIndex].LocalPortIndex == port.Index)
        {
            return DropReason.NoRoute;
        }

        if (judged && OutboundDenied(port.Index, in info))
        {
            return DropReason.AclDeny;
        }

        return DeliverRouted(port, buffer, ref info, srcIndex, dstIndex);
    }

    /// <summary>
    /// The record vouching for a source on the external network: the port's own record (its VSID
    /// and MAC, the gateway CA), else the GatewayWildcard record, which stands for addresses
    /// outside the virtual network only, as for a GatewayWildcard VM (DomainAddresses.cs): a VM's
    /// CA, a learned binding, a gateway address or a subnet's edge, from outside, is forged; -1
    /// then (<paramref name="owned"/> says whose it is), or when nothing vouches.
    /// </summary>
    internal static int ExternalSource(PolicySnapshot p, PortInfo port, IpAddr source, LearnedBindings learned, long nowNs, out DomainAddress owned)
    {
        int own = p.FindRecord(port.Vsid!.Vsid, source);
        if (own >= 0 && p.Records[own].MacAddress == port.Mac)
        {
            owned = new DomainAddress(DomainAddressKind.Record, port.Vsid.Vsid, own);
            return own;
        }

        return WildcardSource(p, port, source, learned, nowNs, out owned);
    }

    /// <summary>Whether <paramref name="address"/> is the external port's own address of its family (A): from outside, a forgery.</summary>
    internal static bool IsPortAddress(PortInfo port, IpAddr address) =>
        port.External!.For(address.IsV4 ? 4 : 6) is { } own && own.Address == address;

    /// <summary>
    /// A decapsulated frame for the local external port: routed out, unless it is for the gateway
    /// CA itself (a record of its own) or for an address of the routing domain's own subnets (a
    /// sending host's useExternalRouter took the port for its router: the physical router would
    /// send it back in from a tenant source, which the port refuses).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason DecapToExternal(int port, PacketBuffer buffer, in PacketInfo info, int dstIndex)
    {
        if (dstIndex >= 0)
        {
            return DropReason.NoLookupRecord;
        }

        if (_p.IsOnLinkInDomain(_p.Ports[port].Vsid!.DomainIndex, info.Destination))
        {
            return DropReason.NoRoute;
        }

        var i = info;
        return ExternalOut(_p.Ports[port], buffer, ref i);
    }

    /// <summary>A packet the distributed router sent to the gateway CA's record on this host: one router hop here, one more out of the gateway.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason RoutedToExternal(PortInfo from, PacketBuffer buffer, ref PacketInfo info, in RecordEntry gateway)
    {
        if (from.IsExternal)
        {
            return DropReason.NoRoute; // from one external network to another is not the tenant's business
        }

        if (info.Destination == gateway.CustomerAddress)
        {
            return DropReason.NoLookupRecord; // the gateway CA itself answers nothing in the tenant
        }

        AddressRewriter.DecrementTtl(buffer.Frame, ref info); // the router hop; ExternalOut's new Ethernet header replaces the MACs
        buffer.Length = info.IpFrameEnd;
        return ExternalOut(_p.Ports[gateway.LocalPortIndex], buffer, ref info);
    }

    /// <summary>
    /// Routes a tenant packet (plain 14-byte Ethernet header) out of the external port: next hop
    /// = the destination inside the port's prefix of the packet's family, else that family's next
    /// hop; TTL / hop limit decremented; MTU of the port; a new Ethernet header (port MAC, VLAN tag)
    /// whose destination is resolved by ARP or neighbor discovery.
    /// </summary>
    private DropReason ExternalOut(PortInfo ext, PacketBuffer buffer, ref PacketInfo info)
    {
        var x = ext.External!;
        var own = x.For(info.IpVersion);
        if (own is null)
        {
            return DropReason.NoRoute;
        }

        if (info.Destination == own.Address)
        {
            return ExternalEcho(ext, buffer, in info);
        }

        IpAddr nextHop = own.Prefix.Contains(info.Destination) ? info.Destination : own.NextHop;
        if (nextHop.IsUnspecified || info.Destination.IsV6LinkLocal || info.Source.IsV6LinkLocal)
        {
            return DropReason.NoRoute;
        }

        if (info.Ttl <= 1)
        {
            IcmpErrorIntoTenant(ext, buffer, in info, mtu: -1);
            return DropReason.TtlExpired;
        }

        var target = new NeighborTarget(ext.Index, nextHop, own.Address, x.VlanId);
        if (info.L3Length > ext.Mtu)
        {
            if (info.IpVersion == 4 && !info.DontFragment)
            {
                return FragmentOut(ext, buffer, ref info, in target);
            }

            IcmpErrorIntoTenant(ext, buffer, in info, ext.Mtu);
            return DropReason.MtuExceeded;
        }

        AddressRewriter.DecrementTtl(buffer.Frame, ref info);
        WriteExternalEthernet(buffer, ext, info.IpVersion, info.L3Length);
        return SendToNeighbor(in target, buffer, extra: false);
    }

    /// <summary>Replaces the frame's 14-byte Ethernet header with the external one: destination left zero for the neighbor resolver, port MAC, VLAN tag.</summary>
    private static void WriteExternalEthernet(PacketBuffer buffer, PortInfo ext, byte ipVersion, int ipLength)
    {
        ushort vlan = ext.External!.VlanId;
        int l2 = vlan == 0 ? Ethernet.HeaderSize : Ethernet.HeaderSize + Ethernet.VlanTagSize;
        buffer.Offset -= l2 - Ethernet.HeaderSize;
        Span<byte> f = buffer.Data.AsSpan(buffer.Offset, l2);
        f[..Ethernet.SourceOffset].Clear();
        ext.Mac.Write(f[Ethernet.SourceOffset..]);
        int type = Ethernet.TypeOffset;
        if (vlan != 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(f[type..], Ethernet.TypeVlan);
            BinaryPrimitives.WriteUInt16BigEndian(f[(type + 2)..], vlan);
            type += Ethernet.VlanTagSize;
        }

        BinaryPrimitives.WriteUInt16BigEndian(f[type..], ipVersion == 4 ? Ethernet.TypeIpv4 : Ethernet.TypeIpv6);
        buffer.Length = l2 + ipLength;
    }

    /// <summary>An IPv4 packet without DF over the external MTU: fragmented (section 3's rule with overhead 0), each fragment sent on.</summary>
    private DropReason FragmentOut(PortInfo ext, PacketBuffer buffer, ref PacketInfo info, in NeighborTarget target)
    {
        int ihl = info.IpHeaderLength;
        int perFragment = Ipv4Fragmenter.PayloadPerFragment(ext.Mtu, ihl);
        if (perFragment < 8)
        {
            return DropReason.MtuExceeded;
        }

        int count = Ipv4Fragmenter.Count(buffer.Frame.Slice(info.L3Offset, info.L3Length), ext.Mtu);
        if (RoomForFragments(ext.Index, count) is var noRoom and not DropReason.None)
        {
            return noRoom;
        }

        if (RoomToWaitFor(in target, count, buffer.TimestampNs) is var noWait and not DropReason.None)
        {
            return noWait;
        }

        AddressRewriter.DecrementTtl(buffer.Frame, ref info);
        ReadOnlySpan<byte> ip = buffer.Frame.Slice(info.L3Offset, info.L3Length);
        for (int i = 0; i < count; i++)
        {
            var piece = _pool.Rent()!;
            int len = Ipv4Fragmenter.WriteFragment(ip, ext.Mtu, i, piece.Data.AsSpan(piece.Offset + Ethernet.HeaderSize));
            if (len == 0)
            {
                _pool.Return(piece);
                break;
            }

            piece.TimestampNs = buffer.TimestampNs;
            WriteExternalEthernet(piece, ext, 4, len);
            if (SendToNeighbor(in target, piece, extra: i != 0) is var lost and not DropReason.None)
            {
                _pool.Return(piece); // only the first can fail, as in Fragment: the caller takes the frame back
                return lost;
            }
        }

        _pool.Return(buffer);
        return DropReason.None;
    }

    /// <summary>Echo from the tenant to the external port's address: the reply enters the tenant as if it came in on the port.</summary>
    private DropReason ExternalEcho(PortInfo ext, PacketBuffer buffer, in PacketInfo info)
    {
        if (!IsEchoRequest(buffer.Frame, in info))
        {
            return DropReason.NoLookupRecord;
        }

        LocalResponder.EchoReply(buffer, in info, ext.Mac, 64);
        long forwarded = Counters.Forwarded;
        _answering = true; // a reply that waits for its next hop is answered when it leaves, not forwarded
        DropReason r;
        try
        {
            r = ReenterFromExternal(ext, buffer);
        }
        finally
        {
            _answering = false;
        }

        if (r == DropReason.None && Counters.Forwarded != forwarded)
        {
            Counters.Forwarded = forwarded;
            Counters.Answered++;
        }

        return r;
    }

    /// <summary>
    /// An ICMP error about a packet leaving by the external port, from the port's address, routed
    /// back into the tenant as an extra frame: not counted when it leaves (the packet it is about
    /// is counted, dropped), but counted under its own reason when it cannot (a receiving port's
    /// inbound ACL denies it, say), as a flood copy is.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void IcmpErrorIntoTenant(PortInfo ext, PacketBuffer buffer, in PacketInfo info, int mtu)
    {
        if (ext.External!.For(info.IpVersion) is not { } own || !LocalResponder.MayAnswerWithError(buffer.Frame, in info) || _pool.Rent() is not { } icmp)
        {
            return;
        }

        CopyFrame(buffer, icmp);
        WriteIcmpError(icmp, in info, ext.Mac, own.Address, mtu);
        long forwarded = Counters.Forwarded;
        _sendingExtra = true; // a wait for the provider next hop must not count it as an input of its own
        try
        {
            if (ReenterFromExternal(ext, icmp) is var lost and not DropReason.None)
            {
                Counters.Drops[(int)lost]++;
                _pool.Return(icmp);
            }
        }
        finally
        {
            _sendingExtra = false;
        }

        Counters.Forwarded = forwarded;
    }

    /// <summary>An ICMP error about a packet from the external network, from the port's address, back out of the port to its sender.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ExternalIcmpError(PortInfo ext, PacketBuffer buffer, in PacketInfo info, int mtu)
    {
        if (ext.External!.For(info.IpVersion) is not { } own || TxRoom(ext.Index) == 0 || !LocalResponder.MayAnswerWithError(buffer.Frame, in info) || _pool.Rent() is not { } icmp)
        {
            return;
        }

        CopyFrame(buffer, icmp);
        WriteIcmpError(icmp, in info, ext.Mac, own.Address, mtu);
        ushort vlan = ext.External!.VlanId;
        if (vlan != 0)
        {
            Span<byte> d = icmp.Data.AsSpan();
            d.Slice(icmp.Offset, 2 * 6).CopyTo(d[(icmp.Offset - Ethernet.VlanTagSize)..]);
            icmp.Offset -= Ethernet.VlanTagSize;
            icmp.Length += Ethernet.VlanTagSize;
            BinaryPrimitives.WriteUInt16BigEndian(d[(icmp.Offset + Ethernet.TypeOffset)..], Ethernet.TypeVlan);
            BinaryPrimitives.WriteUInt16BigEndian(d[(icmp.Offset + Ethernet.TypeOffset + 2)..], vlan);
        }

        QueueExtra(ext.Index, icmp);
    }

    /// <summary>The frame of <paramref name="from"/>, with its timestamp, into a fresh pool buffer <paramref name="to"/>.</summary>
    private static void CopyFrame(PacketBuffer from, PacketBuffer to)
    {
        from.Frame.CopyTo(to.Data.AsSpan(to.Offset));
        to.Length = from.Length;
        to.TimestampNs = from.TimestampNs;
    }

    /// <summary>Time exceeded (<paramref name="mtu"/> negative) or packet too big, in place.</summary>
    private static void WriteIcmpError(PacketBuffer icmp, in PacketInfo info, MacAddress mac, IpAddr source, int mtu)
    {
        if (mtu < 0)
        {
            LocalResponder.TimeExceeded(icmp, in info, mac, source);
        }
        else
        {
            LocalResponder.PacketTooBig(icmp, in info, mac, source, mtu);
        }
    }

    /// <summary>Parses a frame the port itself made (plain Ethernet + IP) and routes it into the tenant.</summary>
    private DropReason ReenterFromExternal(PortInfo ext, PacketBuffer buffer)
    {
        PacketInfo info = default;
        DropReason r = PacketParser.ParseEthernet(buffer.Frame, ref info);
        if (r == DropReason.None)
        {
            r = PacketParser.ParseIp(buffer.Frame, ref info);
        }

        return r == DropReason.None ? ExternalRouteIn(ext, buffer, ref info, judged: false) : r;
    }

    /// <summary>Removes an 802.1Q tag in place (the MACs move up 4 bytes) so the tenant sees a plain frame.</summary>
    private static void StripVlan(PacketBuffer buffer, ref PacketInfo info)
    {
        Span<byte> d = buffer.Data.AsSpan();
        d.Slice(buffer.Offset, 2 * 6).CopyTo(d[(buffer.Offset + Ethernet.VlanTagSize)..]);
        buffer.Offset += Ethernet.VlanTagSize;
        buffer.Length -= Ethernet.VlanTagSize;
        info.L3Offset -= Ethernet.VlanTagSize;
        info.L4Offset -= Ethernet.VlanTagSize;
        if (info.Ipv6FragmentHeaderOffset > 0)
        {
            info.Ipv6FragmentHeaderOffset -= Ethernet.VlanTagSize;
        }

        info.VlanId = -1;
    }
}
