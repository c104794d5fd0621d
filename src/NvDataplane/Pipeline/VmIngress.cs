using System.Runtime.CompilerServices;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Nvgre;
using NvDataplane.Policy;
using NvDataplane.Rewrite;

namespace NvDataplane.Pipeline;

// Frames a VM sends: source checks, local answers, destination resolution, then same-host
// delivery, NVGRE encapsulation or IP rewrite (docs/FORWARDING.md section 1).
public sealed partial class Forwarder
{
    /// <summary>What the first look at a VM frame decided: dropped, answered locally (ARP, ND, DHCP), routed, or plain unicast.</summary>
    private enum VmPath : byte
    {
        Drop,
        Arp,
        NeighborSolicitation,
        Gateway,
        Unicast,
        Dhcp,
        Flood,
    }

    private DropReason FromVm(PortInfo port, PacketBuffer buffer)
    {
        PacketInfo info = default;
        DropReason r = VmClassify(port, buffer.Frame, ref info, out VmPath path);
        if (path != VmPath.Unicast)
        {
            return VmSlowPath(port, buffer, ref info, path, r);
        }

        uint vsid = port.Vsid!.Vsid;
        int dst = _p.RecordIndex.Find(vsid, info.Destination, out ulong dstData);
        return VmUnicast(port, buffer, ref info, _p.RecordIndex.Find(vsid, info.Source), dst, dstData);
    }

    /// <summary>Parses and sorts a VM frame; for <see cref="VmPath.Drop"/> the reason says why.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DropReason VmClassify(PortInfo port, ReadOnlySpan<byte> frame, ref PacketInfo info, out VmPath path)
    {
        path = VmPath.Drop;
        DropReason r = PacketParser.ParseEthernet(frame, ref info);
        if (r != DropReason.None)
        {
            return r;
        }

        if (info.VlanId >= 0)
        {
            return DropReason.VlanTagged;
        }

        if (Ethernet.ReadSource(frame) != port.Mac)
        {
            return DropReason.SpoofedSource;
        }

        if (info.EtherType == Ethernet.TypeArp)
        {
            path = VmPath.Arp;
            return DropReason.None;
        }

        r = PacketParser.ParseIp(frame, ref info);
        if (r != DropReason.None)
        {
            return r;
        }

        if (info.Protocol == IpProtocol.Icmpv6 && IsNeighborSolicitation(frame, in info))
        {
            path = VmPath.NeighborSolicitation;
            return DropReason.None;
        }

        if (IsNeighborAnnouncement(frame, in info))
        {
            return DropReason.VmNeighborDiscovery;
        }

        var dstMac = Ethernet.ReadDestination(frame);
        if (dstMac.IsMulticast || IsFloodDestination(info.Destination))
        {
            if (DhcpResponder.IsToServer(in info, port.Vsid!))
            {
                path = VmPath.Dhcp;
                return DropReason.None;
            }

            if (port.Vsid!.Flood is null)
            {
                return DropReason.FloodingDisabled;
            }

            path = VmPath.Flood; // replicated to the VSID's VMs (Flooding.cs)
            return DropReason.None;
        }

        path = dstMac == _gatewayMac ? VmPath.Gateway : VmPath.Unicast;
        return DropReason.None;
    }

    /// <summary>Everything but plain unicast: drops, ARP, ND, DHCP, and frames for the gateway (routing, gateway ping).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason VmSlowPath(PortInfo port, PacketBuffer buffer, ref PacketInfo info, VmPath path, DropReason reason)
    {
        switch (path)
        {
            case VmPath.Arp:
                return VmArp(port, buffer, in info);
            case VmPath.NeighborSolicitation:
                return VmNeighborSolicitation(port, buffer, in info);
            case VmPath.Gateway:
                return VmRouted(port, buffer, ref info);
            case VmPath.Dhcp:
                return VmDhcp(port, buffer, in info);
            case VmPath.Flood:
                return VmFlood(port, buffer, ref info);
            default:
                return reason;
        }
    }

    /// <summary>A frame to the gateway MAC: gateway ping, or routed by the customer routes.</summary>
    private DropReason VmRouted(PortInfo port, PacketBuffer buffer, ref PacketInfo info)
    {
        var p = _p;
        var vsid = port.Vsid!;
        if (DhcpResponder.IsToServer(in info, vsid))
        {
            return VmDhcp(port, buffer, in info); // a renewal, sent to the server (gateway) address
        }

        int srcIndex = OwnSource(port, info.Source, buffer.TimestampNs);
        if (srcIndex < 0)
        {
            return DropReason.SpoofedSource;
        }

        if (vsid.IsGatewayAddress(info.Destination))
        {
            return GatewayEcho(port, buffer, in info);
        }

        int dstIndex = Route(port, in info, buffer.TimestampNs, out DropReason r);
        if (r != DropReason.None)
        {
            if (r == DropReason.TtlExpired)
            {
                AnswerWithIcmpError(port, buffer, in info, mtu: -1);
            }

            return r;
        }

        if (OutboundDenied(port.Index, in info))
        {
            return DropReason.AclDeny;
        }

        return DeliverRouted(port, buffer, ref info, srcIndex, dstIndex);
    }

    /// <summary>A routed packet whose source and destination records are known: to a local port, out an external port, or to another host.</summary>
    private DropReason DeliverRouted(PortInfo port, PacketBuffer buffer, ref PacketInfo info, int srcIndex, int dstIndex)
    {
        var p = _p;
        ref readonly RecordEntry dst = ref p.Records[dstIndex];
        if (dst.IsLocal)
        {
            if (dst.LocalPortIndex < 0)
            {
                return DropReason.NoLocalPort;
            }

            if (InboundDenied(dst.LocalPortIndex, in info))
            {
                return DropReason.AclDeny;
            }

            if (p.HasExternalPort && p.Ports[dst.LocalPortIndex].IsExternal)
            {
                return RoutedToExternal(port, buffer, ref info, in dst);
            }

            RoutingRewrite(buffer.Frame, ref info, dst.MacAddress, in p.Records[srcIndex]);
            buffer.Length = info.IpFrameEnd;
            return Forward(dst.LocalPortIndex, buffer);
        }

        if (dst.Rule == TranslationRule.Encap && Redirected(dst.Vsid, dst.CustomerAddress, dst.MacAddress, out var redirected))
        {
            return ToRedirected(port, buffer, ref info, in p.Records[srcIndex], in redirected, routed: true);
        }

        var remote = RemoteDestination.From(in dst);
        return ToRemote(port, buffer, ref info, in p.Records[srcIndex], in remote, routed: true);
    }

    /// <summary>
    /// Plain unicast inside the port's VSID, with the two lookups already done. The destination
    /// is decided from the lookup slot's payload alone (<see cref="ForwardingData"/>): the common
    /// path never reads the destination's record.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DropReason VmUnicast(PortInfo port, PacketBuffer buffer, ref PacketInfo info, int srcIndex, int dstIndex, ulong dstData)
    {
        var p = _p;
        srcIndex = VouchedSource(port, srcIndex, info.Source, buffer.TimestampNs);
        if (srcIndex < 0)
        {
            return DropReason.SpoofedSource;
        }

        if (dstIndex < 0 && (dstIndex = FindLearned(port.Vsid!.Vsid, info.Destination, buffer.TimestampNs, out dstData)) < 0)
        {
            return ClassifyMiss(port.Vsid!, info.Destination);
        }

        if (OutboundDenied(port.Index, in info))
        {
            return DropReason.AclDeny;
        }

        int target = ForwardingData.Index(dstData);
        if (ForwardingData.IsLocal(dstData))
        {
            if (target < 0)
            {
                return DropReason.NoLocalPort;
            }

            if (InboundDenied(target, in info))
            {
                return DropReason.AclDeny;
            }

            if (p.HasExternalPort && p.Ports[target].IsExternal)
            {
                return DropReason.NoLookupRecord; // the gateway CA itself: the external port answers nothing in the tenant
            }

            buffer.Length = info.IpFrameEnd;
            return Forward(target, buffer);
        }

        ref readonly RecordEntry src = ref p.Records[srcIndex];
        bool nat = ForwardingData.IsNat(dstData);
        if (!nat && Redirected(port.Vsid!.Vsid, info.Destination, default, out var redirected))
        {
            return ToRedirected(port, buffer, ref info, in src, in redirected, routed: false);
        }

        var pa = !nat ? default : src.TemplateRow >= 0 ? p.Tunnels[src.TemplateRow + target].RemotePa : p.RemotePas[target];
        var remote = new RemoteDestination(port.Vsid!.Vsid, target, nat, pa, default);
        return ToRemote(port, buffer, ref info, in src, in remote, routed: false);
    }

    /// <summary>
    /// Customer-route resolution for a frame sent to the gateway MAC: the route of
    /// <see cref="PolicySnapshot.TryRouteFrom"/> (useExternalRouter included, for the frame of
    /// <paramref name="port"/>), then the record of the destination (on-link) or of the next hop.
    /// A next hop with no record of its own is the routing domain's GatewayWildcard VM when that VM
    /// is in the route's VSID.
    /// </summary>
    private int Route(PortInfo port, in PacketInfo info, long nowNs, out DropReason reason)
    {
        reason = DropReason.None;
        var vsid = port.Vsid!;
        if (!_p.TryRouteFrom(vsid.DomainIndex, port, info.Destination, out var route, out _))
        {
            reason = DropReason.NoRoute;
            return -1;
        }

        var target = route.IsOnLink ? info.Destination : route.NextHop;
        int index = _p.RecordIndex.Find(route.Vsid, target);
        if (index < 0)
        {
            index = FindLearned(route.Vsid, target, nowNs);
        }

        if (index < 0)
        {
            index = _p.WildcardNextHop(vsid.DomainIndex, in route);
        }

        if (index < 0)
        {
            reason = DropReason.NoLookupRecord;
            return -1;
        }

        if (IsNatNextHop(in route, in _p.Records[index], info.Destination))
        {
            reason = DropReason.NatNextHop;
            return -1;
        }

        if (info.Ttl <= 1)
        {
            reason = DropReason.TtlExpired;
            return -1;
        }

        return index;
    }

    /// <summary>
    /// Whether the route sends the packet through a next hop on another host whose record
    /// rewrites addresses: IP rewrite carries one address, and the next hop's PA would replace
    /// the packet's own destination (the router would get a packet for itself).
    /// </summary>
    internal static bool IsNatNextHop(in CustomerRouteEntry route, in RecordEntry hop, IpAddr destination) =>
        !route.IsOnLink && hop.Rule == TranslationRule.Nat && !hop.IsLocal && route.NextHop != destination;

    /// <summary>
    /// The record vouching for a source CA sent from <paramref name="port"/>: its record in the
    /// port's VSID with the port's MAC, the GatewayWildcard record of the gateway VM for an address
    /// outside the virtual network (unless <paramref name="wildcard"/> is false, as for ARP and ND
    /// senders; DomainAddresses.cs), useExternalRouter's router record for a VM's CA of the
    /// routing domain the router forwards (unless <paramref name="routed"/> is false, as for ARP,
    /// ND and flooding: link-scope traffic is nobody's to forward), or the port's L2Only record
    /// (the CA is then learned, DynamicRecords.cs); -1 when there is none (spoofed).
    /// </summary>
    private int OwnSource(PortInfo port, IpAddr source, long nowNs, bool wildcard = true, bool routed = true) =>
        VouchedSource(port, _p.RecordIndex.Find(port.Vsid!.Vsid, source), source, nowNs, wildcard, routed);

    /// <summary>As <see cref="OwnSource"/>, with the lookup of the source's own record (<paramref name="srcIndex"/>) already done.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int VouchedSource(PortInfo port, int srcIndex, IpAddr source, long nowNs, bool wildcard = true, bool routed = true)
    {
        if (srcIndex >= 0)
        {
            return _p.Records[srcIndex].MacAddress == port.Mac ? srcIndex
                : routed ? RoutedSource(port, source, nowNs) : -1; // another VM's CA: only its router sends from it
        }

        srcIndex = wildcard ? UnrecordedSource(port, source, nowNs, routed) : LearnFromPort(port, source, nowNs);
        return srcIndex >= 0 && _p.Records[srcIndex].MacAddress == port.Mac ? srcIndex : -1;
    }

    /// <summary>A source no record of the port vouches for, sent by a router VM of useExternalRouter (<see cref="RouterSource"/>); -1 otherwise.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int RoutedSource(PortInfo port, IpAddr source, long nowNs) =>
        _p.Global.UseExternalRouter ? RouterSource(_p, port, source, _learned, nowNs, out _) : -1;

    /// <summary>
    /// Whether a frame <paramref name="src"/> vouched for, sent on-link (not routed) to another
    /// host, leaves with the gateway MAC as inner source MAC: a GatewayWildcard VM's from an
    /// address outside the network when the VM is also a useExternalRouter router of the family
    /// (its own record is a route's next hop), as on its routed traffic, so that no host takes
    /// it for the router's forwarding — one that counts the address as a VM's (an L2Only VM's
    /// binding learned there and not here) would, by the router's MAC (RoutedFrom). Not when the
    /// VM has an L2Only record of the family: its frames are then learned by their MAC, as they
    /// may be. Applied after the MTU decision, so an ICMP error still goes to the VM's MAC.
    /// </summary>
    internal static bool MarksGatewayTraffic(PolicySnapshot p, PortInfo port, in RecordEntry src, IpAddr source) =>
        src.Type == RecordType.GatewayWildcard && p.Global.UseExternalRouter && p.RouterRecordOf(port, source.IsV4) >= 0
        && !p.L2OnlyIndex.ContainsKey((port.Vsid!.Vsid, port.Mac.Value, source.IsV4));

    /// <summary>The inner source MAC of a frame about to be encapsulated unrouted: the gateway MAC where <see cref="MarksGatewayTraffic"/> says so.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void MarkGatewayTraffic(PortInfo port, Span<byte> frame, in RecordEntry src, IpAddr source)
    {
        if (MarksGatewayTraffic(_p, port, in src, source))
        {
            _p.Global.GatewayMac.Write(frame[Ethernet.SourceOffset..]);
        }
    }

    /// <summary>
    /// The inner source MAC of a routed packet whose source <paramref name="src"/> vouched for:
    /// the gateway MAC, as the distributed router's hop — but the router's own MAC when a
    /// useExternalRouter router forwards another VM's CA (a Static or Dynamic record vouching for
    /// another address than its own), so that the receiving host tells the router's forwarding
    /// from a gateway's traffic from outside on the same PA (ProviderIngress: RoutedFrom).
    /// </summary>
    internal static MacAddress RoutedSourceMac(PolicySnapshot p, in RecordEntry src, IpAddr source) =>
        src.Type is RecordType.Static or RecordType.Dynamic && src.CustomerAddress != source ? src.MacAddress : p.Global.GatewayMac;

    /// <summary>
    /// ICMPv6 types 133–137 (RFC 4861): link-scope messages that IP rewrite would carry between
    /// PAs with their hop limit 255, where the provider network's own hosts and routers could take
    /// them as their own (nvdp learns from a Nat PA only about that PA, FORWARDING 1.12).
    /// Encapsulated, they stay inside the VSID.
    /// </summary>
    internal static bool IsNeighborDiscovery(ReadOnlySpan<byte> frame, in PacketInfo info) =>
        info.Protocol == IpProtocol.Icmpv6 && info.IpVersion == 6 && !info.IsLaterFragment && info.L4Length > 0
        && frame[info.L4Offset] is >= Icmp.V6RouterSolicitation and <= Icmp.V6NdRedirect;

    /// <summary>
    /// Of those, a router advertisement, neighbor advertisement or redirect (ICMPv6 134, 136,
    /// 137, any code, a first fragment too): what only the VSID's router and neighbor responder —
    /// the dataplane — may say. From a VM, an unsolicited advertisement with the override flag
    /// rewrote its neighbors' entries for the gateway or a VSID-mate (SPEC section 4: ND is
    /// answered by the host and never leaves it; a VM's ARP reply is dropped likewise).
    /// </summary>
    internal static bool IsNeighborAnnouncement(ReadOnlySpan<byte> frame, in PacketInfo info) =>
        IsNeighborDiscovery(frame, in info)
        && frame[info.L4Offset] is Icmp.V6RouterAdvertisement or Icmp.V6NeighborAdvertisement or Icmp.V6NdRedirect;

    /// <summary>A destination CA with no record in the sender's VSID: another tenant's address, or nobody's.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason ClassifyMiss(VsidInfo vsid, IpAddr destination) =>
        _p.RecordOutsideDomain(destination, vsid.DomainIndex) >= 0 ? DropReason.Isolation : DropReason.NoLookupRecord;

    /// <summary>Decrements TTL and sets the inner MACs to gateway (or forwarding router, <see cref="RoutedSourceMac"/> of <paramref name="src"/>) → destination record.</summary>
    private void RoutingRewrite(Span<byte> frame, ref PacketInfo info, MacAddress destinationMac, in RecordEntry src)
    {
        AddressRewriter.DecrementTtl(frame, ref info);
        destinationMac.Write(frame);
        RoutedSourceMac(_p, in src, info.Source).Write(frame[Ethernet.SourceOffset..]);
    }

    private DropReason ToRemote(PortInfo port, PacketBuffer buffer, ref PacketInfo info, in RecordEntry src, in RemoteDestination dst, bool routed)
    {
        bool nat = dst.Nat;
        if (nat && (src.Rule != TranslationRule.Nat || !src.IsLocal))
        {
            return DropReason.NatSourceNotUnique;
        }

        if (nat && IsNeighborDiscovery(buffer.Frame, in info))
        {
            return DropReason.NatNeighborDiscovery;
        }

        if (src.TemplateRow < 0)
        {
            return DropReason.NoProviderRoute;
        }

        var p = _p;
        return Encapsulate(port, buffer, ref info, in src, in dst, in p.Template(in src, dst.RemotePaIndex), p.TemplateBytes, routed);
    }

    /// <summary>Encap or IP rewrite through the tunnel template <paramref name="t"/> (its slot in <paramref name="templateBytes"/>), MTU rule included.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DropReason Encapsulate(PortInfo port, PacketBuffer buffer, ref PacketInfo info, in RecordEntry src, in RemoteDestination dst, in EncapTemplate t, byte[] templateBytes, bool routed)
    {
        bool nat = dst.Nat;
        if (t.Unusable is not (DropReason.None or DropReason.NeighborUnresolved))
        {
            return t.Unusable; // an unresolved next hop is resolved on the way out (SendToProvider)
        }

        int overhead = nat ? 0 : t.Overhead;
        if (info.L3Length + overhead > t.Mtu)
        {
            return TooBig(port, buffer, ref info, in src, in dst, in t, templateBytes, routed);
        }

        Span<byte> frame = buffer.Frame;
        if (routed)
        {
            RoutingRewrite(frame, ref info, dst.MacAddress, in src);
        }
        else if (src.Type == RecordType.GatewayWildcard)
        {
            MarkGatewayTraffic(port, frame, in src, info.Source);
        }

        buffer.Length = info.IpFrameEnd;
        if (nat)
        {
            AddressRewriter.Rewrite(frame, ref info, src.ProviderAddress, dst.ProviderAddress);
            PushL2(buffer, in t, templateBytes);
        }
        else
        {
            NvgreEncapsulator.Push(buffer, buffer.Length, in t, templateBytes, dst.Vsid, info.Tos, FlowHash.Compute(in info));
        }

        return SendToProvider(in t, buffer);
    }

    /// <summary>Replaces the 14-byte Ethernet header with the template's provider-side one (VLAN tag included).</summary>
    private static void PushL2(PacketBuffer buffer, in EncapTemplate t, byte[] templateBytes)
    {
        int l2 = t.IpOffset;
        int start = buffer.Offset + Ethernet.HeaderSize - l2;
        templateBytes.AsSpan(t.ByteOffset, l2).CopyTo(buffer.Data.AsSpan(start));
        buffer.Length = buffer.Length - Ethernet.HeaderSize + l2;
        buffer.Offset = start;
    }

    /// <summary>The MTU rule: ICMP back to the sender, or IPv4 fragmentation when DF is clear.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason TooBig(PortInfo port, PacketBuffer buffer, ref PacketInfo info, in RecordEntry src, in RemoteDestination dst, in EncapTemplate t, byte[] templateBytes, bool routed)
    {
        bool nat = dst.Nat;
        int overhead = nat ? 0 : t.Overhead;
        int maxIp = t.Mtu - overhead;
        if (info.IpVersion == 4 && !info.DontFragment)
        {
            return Fragment(port, buffer, ref info, in src, in dst, in t, templateBytes, routed, maxIp);
        }

        AnswerWithIcmpError(port, buffer, in info, maxIp);
        return DropReason.MtuExceeded;
    }

    /// <summary>
    /// The frame itself is dropped; an ICMP error about it (packet too big with the next-hop
    /// <paramref name="mtu"/>, or time exceeded when <paramref name="mtu"/> is negative), when a
    /// gateway address of the sender's subnet can source it and the frame may be answered at all,
    /// leaves on the sender's port as an extra frame.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void AnswerWithIcmpError(PortInfo port, PacketBuffer buffer, in PacketInfo info, int mtu)
    {
        if (port.IsExternal)
        {
            ExternalIcmpError(port, buffer, in info, mtu);
            return;
        }

        if (!port.Vsid!.TryGetGatewayFor(info.Source, out var gateway) || TxRoom(port.Index) == 0
            || !LocalResponder.MayAnswerWithError(buffer.Frame, in info))
        {
            return;
        }

        var icmp = _pool.Rent();
        if (icmp is null)
        {
            return;
        }

        CopyFrame(buffer, icmp);
        WriteIcmpError(icmp, in info, _p.Global.GatewayMac, gateway, mtu);
        QueueExtra(port.Index, icmp);
    }

    private DropReason Fragment(PortInfo port, PacketBuffer buffer, ref PacketInfo info, in RecordEntry src, in RemoteDestination dst, in EncapTemplate t, byte[] templateBytes, bool routed, int maxIp)
    {
        int ihl = info.IpHeaderLength;
        int perFragment = Ipv4Fragmenter.PayloadPerFragment(maxIp, ihl);
        if (perFragment < 8)
        {
            return DropReason.MtuExceeded;
        }

        int count = Ipv4Fragmenter.Count(buffer.Frame.Slice(info.L3Offset, info.L3Length), maxIp);
        if (RoomForFragments(t.ProviderPortIndex, count) is var noRoom and not DropReason.None)
        {
            return noRoom;
        }

        if (t.Unusable != DropReason.None
            && RoomToWaitFor(NeighborTarget.Of(in t), count, buffer.TimestampNs) is var noWait and not DropReason.None)
        {
            return noWait;
        }

        Span<byte> frame = buffer.Frame;
        if (routed)
        {
            RoutingRewrite(frame, ref info, dst.MacAddress, in src);
        }
        else if (src.Type == RecordType.GatewayWildcard)
        {
            MarkGatewayTraffic(port, frame, in src, info.Source);
        }

        uint flow = FlowHash.Compute(in info);
        bool nat = dst.Nat;
        bool first = true;
        for (int i = 0; i < count && NextFragment(buffer, in info, maxIp, i) is { } piece; i++)
        {
            if (nat)
            {
                PacketInfo fi = default;
                fi.EtherType = Ethernet.TypeIpv4;
                fi.L3Offset = Ethernet.HeaderSize;
                PacketParser.ParseIpv4(piece.Frame, ref fi);
                AddressRewriter.Rewrite(piece.Frame, ref fi, src.ProviderAddress, dst.ProviderAddress);
                PushL2(piece, in t, templateBytes);
            }
            else
            {
                NvgreEncapsulator.Push(piece, piece.Length, in t, templateBytes, dst.Vsid, info.Tos, flow);
            }

            if (SendToProvider(in t, piece, extra: !first) is var lost and not DropReason.None)
            {
                // Only the first fragment can fail (the next hop's wait queue is full, or it has
                // no room): the frame is lost for that reason, and the caller takes it back.
                _pool.Return(piece);
                return lost;
            }

            first = false;
        }

        _pool.Return(buffer);
        return DropReason.None;
    }

    /// <summary>
    /// Whether <paramref name="count"/> fragments find slots in the port's transmit queue
    /// (else tx_full) and free buffers, one each (else pool_exhausted: not the queue's fault).
    /// </summary>
    private DropReason RoomForFragments(int port, int count) =>
        TxRoom(port) < count ? DropReason.TxFull : _pool.Available < count ? DropReason.PoolExhausted : DropReason.None;

    /// <summary>
    /// Fragment <paramref name="index"/> of the frame's IPv4 packet, behind a copy of its Ethernet
    /// header, in a buffer of its own; null past the last one. The caller checked the pool holds enough.
    /// </summary>
    private PacketBuffer? NextFragment(PacketBuffer buffer, in PacketInfo info, int maxIp, int index)
    {
        var piece = _pool.Rent()!;
        ReadOnlySpan<byte> frame = buffer.Frame;
        Span<byte> pf = piece.Data.AsSpan(piece.Offset);
        frame[..Ethernet.HeaderSize].CopyTo(pf);
        int len = Ipv4Fragmenter.WriteFragment(frame.Slice(info.L3Offset, info.L3Length), maxIp, index, pf[Ethernet.HeaderSize..]);
        if (len == 0)
        {
            _pool.Return(piece);
            return null;
        }

        piece.Length = Ethernet.HeaderSize + len;
        piece.TimestampNs = buffer.TimestampNs;
        return piece;
    }

    private DropReason VmArp(PortInfo port, PacketBuffer buffer, in PacketInfo info)
    {
        DropReason r = PacketParser.ParseArp(buffer.Frame, in info, out ReadOnlySpan<byte> arp);
        if (r != DropReason.None)
        {
            return r;
        }

        if (Arp.ReadOperation(arp) != Arp.OpRequest)
        {
            return DropReason.ArpUnresolved;
        }

        var vsid = port.Vsid!;
        var senderIp = IpAddr.ReadV4(arp[Arp.SenderIpOffset..]);
        if (MacAddress.Read(arp[Arp.SenderMacOffset..]) != port.Mac)
        {
            return DropReason.SpoofedSource;
        }

        if (!senderIp.IsUnspecified && OwnSource(port, senderIp, buffer.TimestampNs, wildcard: false, routed: false) < 0)
        {
            return DropReason.SpoofedSource;
        }

        var target = IpAddr.ReadV4(arp[Arp.TargetIpOffset..]);
        if (!TryAnswerFor(vsid, target, port.Mac, buffer.TimestampNs, out var answered, out _))
        {
            return DropReason.ArpUnresolved;
        }

        LocalResponder.ArpReply(buffer, in info, answered);
        return Answer(port.Index, buffer);
    }

    /// <summary>The MAC that answers ARP/ND for <paramref name="target"/> in the VSID: the gateway MAC or the record's MAC (never the requester's own).</summary>
    private bool TryAnswerFor(VsidInfo vsid, IpAddr target, MacAddress requester, long nowNs, out MacAddress answered, out bool isGateway)
    {
        isGateway = vsid.IsGatewayAddress(target);
        if (isGateway)
        {
            answered = _p.Global.GatewayMac;
            return true;
        }

        int r = _p.RecordIndex.Find(vsid.Vsid, target);
        if (r < 0)
        {
            r = FindLearned(vsid.Vsid, target, nowNs); // answered with the L2Only record's MAC
        }

        answered = r >= 0 ? _p.Records[r].MacAddress : default;
        return r >= 0 && answered != requester;
    }

    internal static bool IsNeighborSolicitation(ReadOnlySpan<byte> frame, in PacketInfo info) =>
        !info.IsFragment
        && info.L4Length >= Icmp.NeighborMessageSize
        && frame[info.L4Offset] == Icmp.V6NeighborSolicitation
        && frame[info.L4Offset + 1] == 0;

    /// <summary>
    /// Whether a neighbor solicitation passes RFC 4861 7.1.1's checks an answer needs: hop limit
    /// 255 and a valid ICMPv6 checksum; one that fails is silently discarded (malformed_header).
    /// </summary>
    internal static bool IsValidSolicitation(ReadOnlySpan<byte> frame, in PacketInfo info) =>
        info.Ttl == 255 && Icmpv6ChecksumValid(frame, in info);

    /// <summary>Whether the ICMPv6 message of <paramref name="info"/> sums to zero with its pseudo-header (RFC 4443 2.3).</summary>
    internal static bool Icmpv6ChecksumValid(ReadOnlySpan<byte> frame, in PacketInfo info) =>
        Checksum.Compute(frame.Slice(info.L4Offset, info.L4Length), Checksum.PseudoHeaderSum(info.Source, info.Destination, IpProtocol.Icmpv6, info.L4Length)) == 0;

    private DropReason VmNeighborSolicitation(PortInfo port, PacketBuffer buffer, in PacketInfo info)
    {
        ReadOnlySpan<byte> frame = buffer.Frame;
        if (!IsValidSolicitation(frame, in info))
        {
            return DropReason.MalformedHeader;
        }

        var vsid = port.Vsid!;
        if (!info.Source.IsUnspecified && OwnSource(port, info.Source, buffer.TimestampNs, wildcard: false, routed: false) < 0
            && !info.Source.IsV6LinkLocal)
        {
            return DropReason.SpoofedSource; // link-local sources (fe80::/10) are the VM's own business and carry no record
        }

        var target = IpAddr.ReadV6(frame[(info.L4Offset + Icmp.NdTargetOffset)..]);
        if (!TryAnswerFor(vsid, target, port.Mac, buffer.TimestampNs, out var answered, out bool isGateway))
        {
            return DropReason.ArpUnresolved;
        }

        LocalResponder.NeighborAdvertisement(buffer, in info, target, answered, router: isGateway);
        return Answer(port.Index, buffer);
    }

    /// <summary>Echo requests to a gateway address are answered; anything else sent to it is not for anyone.</summary>
    private DropReason GatewayEcho(PortInfo port, PacketBuffer buffer, in PacketInfo info)
    {
        if (!IsEchoRequest(buffer.Frame, in info))
        {
            return DropReason.NoLookupRecord;
        }

        LocalResponder.EchoReply(buffer, in info, _p.Global.GatewayMac, 64);
        return Answer(port.Index, buffer);
    }

    /// <summary>
    /// An echo request the host answers on the provider port ("PA ping", SPEC section 4): to any
    /// local PA, a Nat record's included, unless it comes from another Nat record's PA: between
    /// two Nat PAs it is VM traffic, rewritten back to CAs and answered by the VM (NAT reverse).
    /// </summary>
    internal static bool IsPaPing(PolicySnapshot p, ReadOnlySpan<byte> frame, in PacketInfo info) =>
        IsEchoRequest(frame, in info) && (p.NatIndex.Find(0, info.Destination) < 0 || p.NatIndex.Find(0, info.Source) < 0);

    internal static bool IsEchoRequest(ReadOnlySpan<byte> frame, in PacketInfo info) =>
        !info.IsFragment
        && info.L4Length >= Icmp.HeaderSize
        && ((info.IpVersion == 4 && info.Protocol == IpProtocol.Icmp && frame[info.L4Offset] == Icmp.EchoRequest)
            || (info.IpVersion == 6 && info.Protocol == IpProtocol.Icmpv6 && frame[info.L4Offset] == Icmp.V6EchoRequest))
        && frame[info.L4Offset + 1] == 0;
}

/// <summary>What forwarding to another host needs of the destination, from its record or from its lookup slot.</summary>
internal readonly record struct RemoteDestination(uint Vsid, int RemotePaIndex, bool Nat, IpAddr ProviderAddress, MacAddress MacAddress)
{
    public static RemoteDestination From(in RecordEntry r) =>
        new(r.Vsid, r.RemotePaIndex, r.Rule == TranslationRule.Nat, r.ProviderAddress, r.MacAddress);
}
