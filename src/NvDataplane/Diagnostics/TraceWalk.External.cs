using NvDataplane.Headers;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using NvDataplane.Rewrite;

namespace NvDataplane.Diagnostics;

// The dataplane as the NVGRE gateway (ExternalPort.cs; docs/FORWARDING.md section 6): frames
// in from the external network, and tenant packets routed out of an external port.
internal sealed partial class TraceWalk
{
    private DropReason FromExternal(PortInfo port)
    {
        var x = port.External!;
        ReadOnlySpan<byte> frame = _buffer.Frame;
        PacketInfo info = default;
        DropReason r = Parse(ref info, ip: false);
        if (r != DropReason.None)
        {
            return r;
        }

        var dstMac = Ethernet.ReadDestination(frame);
        if (info.ServiceTag || info.VlanId != (x.VlanId == 0 ? -1 : x.VlanId))
        {
            return Fail(DropReason.VlanTagged, "parse", info.ServiceTag ? ServiceTagRefused : x.VlanId == 0 ? "the port takes untagged frames only" : $"the port's frames carry VLAN {x.VlanId}");
        }

        if (!ForHostAsIp(port, ref info, i => ExternalArp(port, in i), out r))
        {
            return r;
        }

        var own = x.For(info.IpVersion);
        if (own is not null && info.Protocol == IpProtocol.Icmpv6 && Forwarder.IsNeighborSolicitation(frame, in info))
        {
            return ExternalNeighborSolicitation(port, in info, own.Address);
        }

        if (own is not null && info.Destination == own.Address)
        {
            if (!Forwarder.IsEchoRequest(frame, in info))
            {
                return Fail(DropReason.NoLookupRecord, "echo", $"{own.Address} is the port's own address; only echo requests to it are answered");
            }

            Step("echo", $"echo request to the port's address {own.Address}: answered from the port's MAC, TTL 64");
            return Answer(port.Index, $"answered on port {port.Name} (echo reply from {own.Address})");
        }

        if (dstMac.IsMulticast || Forwarder.IsFloodDestination(info.Destination))
        {
            return Fail(DropReason.FloodingDisabled, "classify", "broadcast / multicast from the external network stays there");
        }

        if (own is null)
        {
            return Fail(DropReason.NoRoute, "classify", $"the port has no IPv{info.IpVersion} address");
        }

        Step("classify", $"from the external network into the routing domain of VSID {port.Vsid!.Vsid}");
        return RouteIn(port, ref info, judged: true);
    }

    /// <summary>
    /// A packet from the external network (or a reply or error the port itself made) routed into
    /// the tenant (Forwarder.ExternalRouteIn): the GatewayWildcard record vouches for its source.
    /// </summary>
    private DropReason RouteIn(PortInfo ext, ref PacketInfo info, bool judged)
    {
        var vsid = ext.Vsid!;
        if (info.Source.IsV6LinkLocal || info.Destination.IsV6LinkLocal)
        {
            return Fail(DropReason.NoRoute, "route", "a link-local address is not routed off its link");
        }

        if (info.Source.IsNotAHost)
        {
            return Fail(DropReason.SpoofedSource, "source", $"{info.Source} is no single host's address (RFC 1812 5.3.7)");
        }

        if (judged && Forwarder.IsPortAddress(ext, info.Source))
        {
            return Fail(DropReason.SpoofedSource, "source", $"{info.Source} is the port's own address, not to be sent from outside");
        }

        int src = Forwarder.ExternalSource(_p, ext, info.Source, _learned, _buffer.TimestampNs, out var owned);
        if (src < 0)
        {
            return Fail(DropReason.SpoofedSource, "source", !owned.IsOutside
                ? $"{info.Source} is {Describe(owned)}, not to be sent from outside: the GatewayWildcard record stands for addresses outside the virtual network only"
                : $"{info.Source}: no record of VSID {vsid.Vsid} with the port's MAC, and no GatewayWildcard record of this family does");
        }

        Step("source", $"{info.Source} stands behind {Describe(src)}", RecordOf(src, "source"));
        int dst = Route(ext, in info, out DropReason r);
        if (r != DropReason.None)
        {
            if (r == DropReason.TtlExpired)
            {
                ExternalIcmpError(ext, in info, IcmpKind(in info, -1));
            }

            return r;
        }

        if (_p.Records[dst].LocalPortIndex == ext.Index)
        {
            return Fail(DropReason.NoRoute, "route", "the route leads back out of this port");
        }

        if (judged && Denied(outbound: true, ext.Index, info.Source, info.Destination, in info))
        {
            return Fail(DropReason.AclDeny, "acl", $"denied by the outbound rules of external port {ext.Name} (what comes in from outside)");
        }

        return DeliverRouted(ext, ref info, src, dst);
    }

    private DropReason ExternalArp(PortInfo port, in PacketInfo info)
    {
        DropReason r = ParseArp(in info, learnsOn: port, out ArpMessage arp);
        if (r != DropReason.None)
        {
            return r;
        }

        var target = arp.Target;
        if (arp.Operation != Arp.OpRequest || port.External!.V4 is not { } own || target != own.Address)
        {
            return Fail(DropReason.NotForHost, "arp", "not a request for the port's IPv4 address");
        }

        Step("arp", $"answered: {target} is at {port.Mac}");
        return Answer(port.Index, $"answered on port {port.Name} (ARP reply for {target})");
    }

    private DropReason ExternalNeighborSolicitation(PortInfo port, in PacketInfo info, IpAddr own)
    {
        var target = IpAddr.ReadV6(_buffer.Frame[(info.L4Offset + Icmp.NdTargetOffset)..]);
        Step("nd", $"neighbor solicitation for {target}");
        if (info.Ttl != 255)
        {
            return Fail(DropReason.MalformedHeader, "nd", $"hop limit {info.Ttl}, not 255");
        }

        if (!Forwarder.Icmpv6ChecksumValid(_buffer.Frame, in info))
        {
            return Fail(DropReason.MalformedHeader, "nd", "bad ICMPv6 checksum: discarded unanswered (RFC 4861 7.1.1)");
        }

        if (target != own)
        {
            return Fail(DropReason.NotForHost, "nd", $"{target} is not the port's address {own}");
        }

        Step("nd", $"answered as a router: {target} is at {port.Mac}");
        return Answer(port.Index, $"answered on port {port.Name} (neighbor advertisement for {target})");
    }

    /// <summary>Decapsulated NVGRE for the local external port (Forwarder.DecapToExternal): routed out, unless it is for the gateway CA itself or an address of the domain's own subnets.</summary>
    private DropReason DecapToExternal(int port, ref PacketInfo info, int dstIndex)
    {
        if (dstIndex >= 0)
        {
            return Fail(DropReason.NoLookupRecord, "external", $"{info.Destination} is the gateway CA itself, which answers nothing in the tenant");
        }

        if (_p.IsOnLinkInDomain(_p.Ports[port].Vsid!.DomainIndex, info.Destination))
        {
            return Fail(DropReason.NoRoute, "external", $"{info.Destination} is in an on-link subnet of the routing domain: traffic between the tenant's own subnets never leaves by the external port (the sender's useExternalRouter took it for its router)");
        }

        return ExternalOut(_p.Ports[port], ref info);
    }

    /// <summary>A packet routed to the gateway CA's record on this host (Forwarder.RoutedToExternal): one hop here, one more out of the gateway.</summary>
    private DropReason RoutedToExternal(PortInfo from, ref PacketInfo info, int gatewayIndex)
    {
        ref readonly RecordEntry gateway = ref _p.Records[gatewayIndex];
        if (from.IsExternal)
        {
            return Fail(DropReason.NoRoute, "external", "from one external network to another is not the tenant's business");
        }

        if (info.Destination == gateway.CustomerAddress)
        {
            return Fail(DropReason.NoLookupRecord, "external", $"{info.Destination} is the gateway CA itself, which answers nothing in the tenant");
        }

        RoutingRewrite(ref info, gateway.MacAddress, _p.Global.GatewayMac);
        return ExternalOut(_p.Ports[gateway.LocalPortIndex], ref info);
    }

    /// <summary>Out of the external port (Forwarder.ExternalOut): next hop, TTL, MTU, then the neighbor's MAC by ARP / ND.</summary>
    private DropReason ExternalOut(PortInfo ext, ref PacketInfo info)
    {
        var x = ext.External!;
        var own = x.For(info.IpVersion);
        if (own is null)
        {
            return Fail(DropReason.NoRoute, "external", $"external port {ext.Name} has no IPv{info.IpVersion} address");
        }

        if (info.Destination == own.Address)
        {
            return ExternalEcho(ext, in info, own.Address);
        }

        IpAddr nextHop = own.Prefix.Contains(info.Destination) ? info.Destination : own.NextHop;
        if (info.Destination.IsV6LinkLocal || info.Source.IsV6LinkLocal)
        {
            return Fail(DropReason.NoRoute, "external", "a link-local address is not routed off its link");
        }

        if (nextHop.IsUnspecified)
        {
            return Fail(DropReason.NoRoute, "external", $"{info.Destination} is outside {own.Prefix} and port {ext.Name} has no next hop");
        }

        Step("external", $"out of {ext.Name}: next hop {nextHop} ({(nextHop == info.Destination ? $"on-link in {own.Prefix}" : "the port's next hop")}){(x.VlanId != 0 ? $", VLAN {x.VlanId}" : string.Empty)}");
        if (info.Ttl <= 1)
        {
            IcmpErrorIntoTenant(ext, in info, -1, own.Address);
            return Fail(DropReason.TtlExpired, "external", $"{(info.IpVersion == 4 ? "TTL" : "hop limit")} {info.Ttl} for the gateway's hop");
        }

        if (info.L3Length > ext.Mtu)
        {
            Step("mtu", $"IP packet {info.L3Length} bytes > MTU {ext.Mtu} of {ext.Name}");
            if (info.IpVersion == 4 && !info.DontFragment)
            {
                return FragmentOut(ext, ref info, nextHop, own.Address);
            }

            IcmpErrorIntoTenant(ext, in info, ext.Mtu, own.Address);
            return Fail(DropReason.MtuExceeded, "mtu", info.IpVersion == 4 ? "DF is set" : "IPv6 is never fragmented on the way");
        }

        byte before = info.Ttl;
        AddressRewriter.DecrementTtl(_buffer.Frame, ref info);
        Step("external", $"gateway hop: {(info.IpVersion == 4 ? "TTL" : "hop limit")} {before} → {info.Ttl}; new Ethernet header from {ext.Mac}");
        return SendToNeighbor(ext.Index, ext.External!.VlanId, nextHop, own.Address, extra: false, $"routed out of port {ext.Name} to {nextHop}");
    }

    /// <summary>IPv4 without DF over the external MTU (Forwarder.FragmentOut).</summary>
    private DropReason FragmentOut(PortInfo ext, ref PacketInfo info, IpAddr nextHop, IpAddr own)
    {
        int ihl = info.IpHeaderLength;
        int perFragment = Ipv4Fragmenter.PayloadPerFragment(ext.Mtu, ihl);
        if (perFragment < 8)
        {
            return Fail(DropReason.MtuExceeded, "mtu", $"a fragment of at most {ext.Mtu} bytes would carry no 8 bytes of payload");
        }

        int pieces = Fragments(in info, ext.Mtu);
        if (RoomForFragments(pieces) is var noRoom and not DropReason.None)
        {
            return noRoom;
        }

        AddressRewriter.DecrementTtl(_buffer.Frame, ref info);
        Step("mtu", $"no DF: fragmented into {pieces} fragments of at most {ext.Mtu} bytes");
        for (int i = 0; i < pieces; i++)
        {
            SendToNeighbor(ext.Index, ext.External!.VlanId, nextHop, own, extra: i != 0, $"routed out of port {ext.Name} to {nextHop} in {pieces} fragments");
        }

        _rented--;
        return DropReason.None;
    }

    /// <summary>Echo from the tenant to the external port's address (Forwarder.ExternalEcho): the reply enters the tenant as if it came in on the port.</summary>
    private DropReason ExternalEcho(PortInfo ext, in PacketInfo info, IpAddr own)
    {
        if (!Forwarder.IsEchoRequest(_buffer.Frame, in info))
        {
            return Fail(DropReason.NoLookupRecord, "echo", $"{own} is the external port's own address; only echo requests to it are answered");
        }

        Step("echo", $"echo request to external port {ext.Name}'s address {own}: the reply is routed back into the tenant");
        LocalResponder.EchoReply(_buffer, in info, ext.Mac, 64);
        bool forwarded = _forwarded;
        DropReason r = Reenter(ext, out string? reply);
        if (r == DropReason.None && _forwarded != forwarded)
        {
            _forwarded = forwarded;
            _answered = true;
            _summary = $"answered: echo reply from {own}, {reply}";
        }
        else if (r == DropReason.None)
        {
            _summary ??= $"echo reply from {own}: {reply}";
        }

        return r;
    }

    /// <summary>An ICMP error about a packet leaving by the external port, from the port's address, routed back into the tenant (Forwarder.IcmpErrorIntoTenant).</summary>
    private void IcmpErrorIntoTenant(PortInfo ext, in PacketInfo info, int mtu, IpAddr own)
    {
        string kind = IcmpKind(in info, mtu);
        if (!LocalResponder.MayAnswerWithError(_buffer.Frame, in info))
        {
            Step("icmp", $"no {kind}: never about an ICMP error or a later IPv4 fragment");
            return;
        }

        if (mtu < 0)
        {
            LocalResponder.TimeExceeded(_buffer, in info, ext.Mac, own);
        }
        else
        {
            LocalResponder.PacketTooBig(_buffer, in info, ext.Mac, own, mtu);
        }

        Step("icmp", $"{kind} from {own} to {info.Source}, routed back into the tenant");
        _rented++;
        bool forwarded = _forwarded;
        DropReason r = Reenter(ext, out string? where);
        _forwarded = forwarded;
        if (r != DropReason.None)
        {
            _lost.Add(r);
        }

        _also.Add(r == DropReason.None ? $"{kind} {where}" : $"{kind} lost as {DropReasons.Name(r)}");
    }

    /// <summary>An ICMP error about a packet from the external network, out of the port to its sender (Forwarder.ExternalIcmpError).</summary>
    private void ExternalIcmpError(PortInfo ext, in PacketInfo info, string kind)
    {
        if (ext.External!.For(info.IpVersion) is not { } own)
        {
            return;
        }

        if (!LocalResponder.MayAnswerWithError(_buffer.Frame, in info))
        {
            Step("icmp", $"no {kind}: never about an ICMP error or a later IPv4 fragment");
            return;
        }

        Step("icmp", $"{kind} from {own.Address} to {info.Source}, out of {ext.Name}");
        Extra(ext.Index, $"{kind} sent out of port {ext.Name}");
    }

    /// <summary>
    /// Parses the frame the port just made in the walk's buffer (an echo reply, an ICMP error) and
    /// routes it into the tenant (Forwarder.ReenterFromExternal); <paramref name="where"/> says where it went.
    /// </summary>
    private DropReason Reenter(PortInfo ext, out string? where)
    {
        string? outer = _summary;
        _summary = null;
        PacketInfo info = default;
        DropReason r = PacketParser.ParseEthernet(_buffer.Frame, ref info);
        if (r == DropReason.None)
        {
            r = PacketParser.ParseIp(_buffer.Frame, ref info);
        }

        if (r == DropReason.None)
        {
            Step("parse", $"made here: {Describe(in info)}");
            r = RouteIn(ext, ref info, judged: false);
        }

        where = _summary;
        _summary = outer;
        return r;
    }
}
