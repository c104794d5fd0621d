using NvDataplane.Headers;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Diagnostics;

// Frames a VM sends (VmIngress.cs, VmDhcp.cs, Flooding.cs; docs/FORWARDING.md section 1).
internal sealed partial class TraceWalk
{
    private DropReason FromVm(PortInfo port)
    {
        ReadOnlySpan<byte> frame = _buffer.Frame;
        PacketInfo info = default;
        DropReason r = Parse(ref info, ip: false);
        if (r != DropReason.None)
        {
            return r;
        }

        var sourceMac = Ethernet.ReadSource(frame);
        if (info.VlanId >= 0)
        {
            return Fail(DropReason.VlanTagged, "parse", "a vm port takes untagged frames only");
        }

        if (sourceMac != port.Mac)
        {
            return Fail(DropReason.SpoofedSource, "source", $"source MAC {sourceMac} is not the port's MAC {port.Mac}");
        }

        if (info.EtherType == Ethernet.TypeArp)
        {
            return VmArp(port, in info);
        }

        r = Parse(ref info, ip: true);
        if (r != DropReason.None)
        {
            return r;
        }

        if (info.Protocol == IpProtocol.Icmpv6 && Forwarder.IsNeighborSolicitation(frame, in info))
        {
            return VmNeighborSolicitation(port, in info);
        }

        if (Forwarder.IsNeighborAnnouncement(frame, in info))
        {
            return Fail(DropReason.VmNeighborDiscovery, "classify", $"ICMPv6 type {frame[info.L4Offset]} (router / neighbor advertisement, redirect) from a VM: the host answers neighbor discovery and is the VSID's router; a VM's would teach its neighbors wrong MACs");
        }

        var vsid = port.Vsid!;
        var dstMac = Ethernet.ReadDestination(frame);
        if (dstMac.IsMulticast || Forwarder.IsFloodDestination(info.Destination))
        {
            if (DhcpResponder.IsToServer(in info, vsid))
            {
                return VmDhcp(port, in info);
            }

            if (vsid.Flood is null)
            {
                return Fail(DropReason.FloodingDisabled, "classify", $"broadcast / multicast, and VSID {vsid.Vsid} does not flood (virtualSubnets)");
            }

            Step("classify", $"broadcast / multicast in VSID {vsid.Vsid}, which floods: replicated to its VMs");
            return VmFlood(port, ref info);
        }

        if (dstMac == _p.Global.GatewayMac)
        {
            Step("classify", $"to the gateway MAC {dstMac}: for the distributed router");
            return VmRouted(port, ref info);
        }

        Step("classify", $"unicast to {dstMac} in VSID {vsid.Vsid}");
        return VmUnicast(port, ref info);
    }

    private DropReason VmUnicast(PortInfo port, ref PacketInfo info)
    {
        var vsid = port.Vsid!;
        int src = Vouch(port, _p.RecordIndex.Find(vsid.Vsid, info.Source), info.Source, wildcard: true);
        if (src < 0)
        {
            return DropReason.SpoofedSource;
        }

        int dst = _p.RecordIndex.Find(vsid.Vsid, info.Destination);
        if (dst >= 0)
        {
            Step("destination", $"{info.Destination}: {Describe(dst)}", RecordOf(dst, "destination"));
        }
        else if ((dst = FindLearned(vsid.Vsid, info.Destination)) >= 0)
        {
            Step("destination", $"{info.Destination}: no record; a Dynamic binding to {Describe(dst)}", RecordOf(dst, "destination", info.Destination));
        }
        else
        {
            return Miss(vsid, info.Destination);
        }

        if (Denied(outbound: true, port.Index, info.Source, info.Destination, in info))
        {
            return Fail(DropReason.AclDeny, "acl", "denied by the sender's outbound rules");
        }

        ref readonly RecordEntry d = ref _p.Records[dst];
        if (d.IsLocal)
        {
            int target = d.LocalPortIndex;
            if (target < 0)
            {
                return Fail(DropReason.NoLocalPort, "deliver", $"PA {d.ProviderAddress} is this host's, but no port has VSID {d.Vsid} and MAC {d.MacAddress}");
            }

            if (Denied(outbound: false, target, info.Source, info.Destination, in info))
            {
                return Fail(DropReason.AclDeny, "acl", $"denied by the inbound rules of {PortName(target)}");
            }

            if (_p.HasExternalPort && _p.Ports[target].IsExternal)
            {
                return Fail(DropReason.NoLookupRecord, "deliver", $"{info.Destination} is the gateway CA of external port {PortName(target)}, which answers nothing in the tenant");
            }

            Step("deliver", $"same host: to port {PortName(target)} as sent{Padding(in info)}");
            return Forward(target, $"delivered to port {PortName(target)}");
        }

        return ToRemote(port, ref info, src, dst, routed: false);
    }

    /// <summary>A destination with no record in the sender's VSID (Forwarder.ClassifyMiss).</summary>
    private DropReason Miss(VsidInfo vsid, IpAddr destination)
    {
        int any = _p.AnyVsidIndex.Find(0, destination);
        if (any < 0)
        {
            return Fail(DropReason.NoLookupRecord, "destination", $"{destination}: no record in VSID {vsid.Vsid} nor anywhere else");
        }

        int outside = _p.RecordOutsideDomain(destination, vsid.DomainIndex);
        return outside >= 0
            ? Fail(DropReason.Isolation, "destination", $"{destination}: no record in VSID {vsid.Vsid}; VSID {_p.Records[outside].Vsid} has one, in another routing domain")
            : Fail(DropReason.NoLookupRecord, "destination", $"{destination}: no record in VSID {vsid.Vsid} (VSID {_p.Records[any].Vsid} of the same routing domain has one: reach it through the gateway MAC)");
    }

    /// <summary>
    /// The record vouching for a source CA from <paramref name="port"/> (Forwarder.VouchedSource):
    /// its own record with the port's MAC, the GatewayWildcard VM's record (unless
    /// <paramref name="wildcard"/> is false), useExternalRouter's router record (unless
    /// <paramref name="routed"/> is false), or the port's L2Only record (the CA is then learned);
    /// -1, with the reason in a step, when none does.
    /// </summary>
    private int Vouch(PortInfo port, int own, IpAddr source, bool wildcard, bool routed = true)
    {
        var vsid = port.Vsid!;
        if (own >= 0)
        {
            if (_p.Records[own].MacAddress == port.Mac)
            {
                Step("source", $"{source} vouched for by its {Describe(own)}", RecordOf(own, "source"));
                return own;
            }

            if (routed && RouterVouch(port, source) is int router and >= 0)
            {
                return router;
            }

            Fail(DropReason.SpoofedSource, "source", $"{source}: its {Describe(own)} names another MAC than the port's {port.Mac}");
            return -1;
        }

        var owned = DomainAddress.Outside;
        int w = wildcard ? Forwarder.WildcardSource(_p, port, source, _learned, _buffer.TimestampNs, out owned) : -1;
        if (w >= 0)
        {
            Step("source", $"{source} has no record and is outside the virtual network; the port is its routing domain's GatewayWildcard VM: {Describe(w)}", RecordOf(w, "source"));
            return w;
        }

        if (wildcard && routed && RouterVouch(port, source) is int router2 and >= 0)
        {
            return router2; // before learning, as the forwarder (DynamicRecords.cs UnrecordedSource)
        }

        int l2 = L2OnlyRecord(vsid.Vsid, port.Mac, source.IsV4);
        if (l2 >= 0 && Forwarder.IsLearnable(_p, vsid, source))
        {
            Learn(vsid.Vsid, source, l2);
            Step("source", $"{source} has no record; the port's L2Only {Describe(l2)} vouches, and (VSID {vsid.Vsid}, {source}) is learned as a Dynamic binding", RecordOf(l2, "source", source));
            return l2;
        }

        string why = !owned.IsOutside ? $"the port is the GatewayWildcard VM, which stands for addresses outside the virtual network only, and {source} is {Describe(owned)}"
            : l2 >= 0 ? LearnRefused(vsid, source)
            : wildcard ? "the port is not the GatewayWildcard VM and has no L2Only record of this family"
            : "the port has no L2Only record of this family";
        Fail(DropReason.SpoofedSource, "source", $"{source}: no record in VSID {vsid.Vsid}; {why}");
        return -1;
    }

    /// <summary>useExternalRouter's router record vouching for a VM's CA the port forwards (Forwarder.RoutedSource), with its step; -1 when none.</summary>
    private int RouterVouch(PortInfo port, IpAddr source)
    {
        if (!_p.Global.UseExternalRouter)
        {
            return -1;
        }

        int router = Forwarder.RouterSource(_p, port, source, _learned, _buffer.TimestampNs, out var owned);
        if (router >= 0)
        {
            Step("source", $"{source} is {Describe(owned)}; the port is a router the routing domain's customer routes name, which forwards the domain's traffic between its subnets with the senders' CAs (useExternalRouter): {Describe(router)}", RecordOf(router, "source"));
        }

        return router;
    }

    /// <summary>Why the port's L2Only record cannot learn <paramref name="source"/> (Forwarder.IsLearnable).</summary>
    private string LearnRefused(VsidInfo vsid, IpAddr source)
    {
        var owned = Forwarder.DomainAddressOf(_p, vsid.Vsid, vsid.DomainIndex, source, learned: null, 0);
        return owned.IsOutside
            ? "the port's L2Only record cannot learn it (unspecified, broadcast, multicast or link-local)"
            : $"the port's L2Only record cannot learn it: it is {Describe(owned)}";
    }

    private DropReason VmArp(PortInfo port, in PacketInfo info)
    {
        DropReason r = ParseArp(in info, learnsOn: null, out ArpMessage arp);
        if (r != DropReason.None)
        {
            return r;
        }

        var (senderIp, senderMac, target) = (arp.SenderIp, arp.SenderMac, arp.Target);
        if (arp.Operation != Arp.OpRequest)
        {
            return Fail(DropReason.ArpUnresolved, "arp", "not a request: only requests are answered");
        }

        if (senderMac != port.Mac)
        {
            return Fail(DropReason.SpoofedSource, "arp", $"sender MAC {senderMac} is not the port's MAC {port.Mac}");
        }

        if (!senderIp.IsUnspecified && Vouch(port, _p.RecordIndex.Find(port.Vsid!.Vsid, senderIp), senderIp, wildcard: false, routed: false) < 0)
        {
            return DropReason.SpoofedSource;
        }

        if (!AnswerFor(port, target, out var answered))
        {
            return DropReason.ArpUnresolved;
        }

        Step("arp", $"answered: {target} is at {answered}; the 42-byte reply goes back on {port.Name}");
        return Answer(port.Index, $"answered on port {port.Name} (ARP reply: {target} is at {answered})");
    }

    /// <summary>
    /// Who answers ARP / ND for <paramref name="target"/> in the port's VSID (Forwarder.TryAnswerFor):
    /// the gateway MAC for a gateway address, else the target's record (or Dynamic binding) unless
    /// it is the requester's own. False, with a step saying why, leaves it unanswered (arp_unresolved).
    /// </summary>
    private bool AnswerFor(PortInfo port, IpAddr target, out MacAddress answered)
    {
        var vsid = port.Vsid!;
        if (vsid.IsGatewayAddress(target))
        {
            answered = _p.Global.GatewayMac;
            Step("target", $"{target} is a gateway address of VSID {vsid.Vsid}: answered with the gateway MAC {answered}");
            return true;
        }

        int r = _p.RecordIndex.Find(vsid.Vsid, target);
        bool learned = false;
        if (r < 0)
        {
            r = FindLearned(vsid.Vsid, target);
            learned = r >= 0;
        }

        if (r < 0)
        {
            answered = default;
            Fail(DropReason.ArpUnresolved, "target", $"{target}: no record (nor Dynamic binding) in VSID {vsid.Vsid}, not a gateway address");
            return false;
        }

        answered = _p.Records[r].MacAddress;
        if (answered == port.Mac)
        {
            Fail(DropReason.ArpUnresolved, "target", $"{target} is the requester's own address ({Describe(r)}): a VM probing its own address hears nothing");
            return false;
        }

        Step("target", $"{target}: {(learned ? "Dynamic binding to " : string.Empty)}{Describe(r)}", RecordOf(r, "target", learned ? target : null));
        return true;
    }

    private DropReason VmNeighborSolicitation(PortInfo port, in PacketInfo info)
    {
        ReadOnlySpan<byte> frame = _buffer.Frame;
        var target = IpAddr.ReadV6(frame[(info.L4Offset + Icmp.NdTargetOffset)..]);
        Step("nd", $"neighbor solicitation for {target} from {info.Source}");
        if (info.Ttl != 255)
        {
            return Fail(DropReason.MalformedHeader, "nd", $"hop limit {info.Ttl}, not 255");
        }

        if (!Forwarder.Icmpv6ChecksumValid(_buffer.Frame, in info))
        {
            return Fail(DropReason.MalformedHeader, "nd", "bad ICMPv6 checksum: discarded unanswered (RFC 4861 7.1.1)");
        }

        if (!info.Source.IsUnspecified && !info.Source.IsV6LinkLocal)
        {
            if (Vouch(port, _p.RecordIndex.Find(port.Vsid!.Vsid, info.Source), info.Source, wildcard: false, routed: false) < 0)
            {
                return DropReason.SpoofedSource;
            }
        }
        else
        {
            Step("source", $"{info.Source}: {(info.Source.IsUnspecified ? "unspecified (duplicate address detection)" : "link-local")}, the VM's own business, no record needed");
        }

        if (!AnswerFor(port, target, out var answered))
        {
            return DropReason.ArpUnresolved;
        }

        Step("nd", $"answered with a neighbor advertisement: {target} is at {answered}, back on {port.Name}");
        return Answer(port.Index, $"answered on port {port.Name} (neighbor advertisement: {target} is at {answered})");
    }

    /// <summary>A DHCP client message to the server (VmDhcp.cs): answered from the port's binding, or why not.</summary>
    private DropReason VmDhcp(PortInfo port, in PacketInfo info)
    {
        var binding = _p.Dhcp.Find(port.Index, out var missing);
        Step("dhcp", binding is null
            ? $"DHCP client message to {info.Destination}; the port has no DHCP binding ({DropReasons.Name(missing)})"
            : $"DHCP client message to {info.Destination}; the port's binding: client address {binding.ClientAddress}, server {binding.ServerAddress}");
        DropReason r = DhcpResponder.Respond(_buffer, in info, port.Mac, port.Index, _p.Dhcp, _p.Global.GatewayMac);
        if (r != DropReason.None)
        {
            return Fail(r, "dhcp", "not answered");
        }

        Step("dhcp", $"answered: a {_buffer.Length}-byte reply back on {port.Name}");
        return Answer(port.Index, $"answered on port {port.Name} (DHCP reply)");
    }

    /// <summary>A frame to the gateway MAC (Forwarder.VmRouted): DHCP renewal, gateway ping, or routed by the customer routes.</summary>
    private DropReason VmRouted(PortInfo port, ref PacketInfo info)
    {
        var vsid = port.Vsid!;
        if (DhcpResponder.IsToServer(in info, vsid))
        {
            return VmDhcp(port, in info);
        }

        int src = Vouch(port, _p.RecordIndex.Find(vsid.Vsid, info.Source), info.Source, wildcard: true);
        if (src < 0)
        {
            return DropReason.SpoofedSource;
        }

        if (vsid.IsGatewayAddress(info.Destination))
        {
            if (!Forwarder.IsEchoRequest(_buffer.Frame, in info))
            {
                return Fail(DropReason.NoLookupRecord, "echo", $"{info.Destination} is a gateway address; only echo requests to it are answered");
            }

            Step("echo", $"echo request to the gateway address {info.Destination}: answered from the gateway MAC, TTL 64");
            return Answer(port.Index, $"answered on port {port.Name} (echo reply from the gateway {info.Destination})");
        }

        int dst = Route(port, in info, out DropReason r);
        if (r != DropReason.None)
        {
            if (r == DropReason.TtlExpired)
            {
                IcmpError(port, in info, mtu: -1);
            }

            return r;
        }

        if (Denied(outbound: true, port.Index, info.Source, info.Destination, in info))
        {
            return Fail(DropReason.AclDeny, "acl", "denied by the sender's outbound rules");
        }

        return DeliverRouted(port, ref info, src, dst);
    }

    /// <summary>
    /// Customer-route resolution (Forwarder.Route): the routing domain's routes, longest prefix
    /// first; UseExternalRouter; the record of the destination (on-link) or of the next hop, a
    /// Dynamic binding, or the GatewayWildcard record for a next hop without one; then the TTL.
    /// </summary>
    private int Route(PortInfo port, in PacketInfo info, out DropReason reason)
    {
        reason = DropReason.None;
        var vsid = port.Vsid!;
        if (vsid.DomainIndex < 0)
        {
            reason = Fail(DropReason.NoRoute, "route", $"VSID {vsid.Vsid} has no customer route, so no routing domain");
            return -1;
        }

        var domain = _p.Domains[vsid.DomainIndex];
        if (!domain.TryRoute(info.Destination, out var best))
        {
            reason = Fail(DropReason.NoRoute, "route", $"no customer route of routing domain {domain.Id:B} ({domain.Routes.Length} routes) contains {info.Destination}");
            return -1;
        }

        Step("route", $"{info.Destination}: customer route {best.Prefix} of VSID {best.Vsid}, next hop {(best.IsOnLink ? "on-link" : best.NextHop.ToString())}, metric {best.Metric} (longest prefix, then lowest metric, of {domain.Routes.Length} in routing domain {domain.Id:B})", route: RouteOf(vsid.DomainIndex, best));
        bool routed = _p.TryRouteFrom(vsid.DomainIndex, port, info.Destination, out var route, out var choice);
        switch (choice)
        {
            case ExternalRouterChoice.NoRouter:
                reason = Fail(DropReason.NoRoute, "route", "useExternalRouter: another subnet's on-link route, and no route naming a router contains the destination");
                return -1;
            case ExternalRouterChoice.Router:
                Step("route", $"useExternalRouter: another subnet's destination goes to the router of route {route.Prefix} (VSID {route.Vsid}): {route.NextHop}, metric {route.Metric}", route: RouteOf(vsid.DomainIndex, route));
                break;
            case ExternalRouterChoice.SenderIsGateway:
                Step("route", $"useExternalRouter: {port.Name} is {(port.IsExternal ? "an external port" : "the routing domain's GatewayWildcard VM")}, whose traffic is routed directly, never back to a router");
                break;
            case ExternalRouterChoice.RouterIsSender:
                Step("route", $"useExternalRouter: the router would be {port.Name} itself; routed directly");
                break;
            case ExternalRouterChoice.RouterIsExternalPort:
                Step("route", "useExternalRouter: the router would be an external port, whose physical router cannot send tenant traffic back in; routed directly");
                break;
        }

        if (!routed)
        {
            reason = Fail(DropReason.NoRoute, "route", $"no customer route contains {info.Destination}");
            return -1;
        }

        var target = route.IsOnLink ? info.Destination : route.NextHop;
        string role = route.IsOnLink ? "destination" : "next hop";
        int index = _p.RecordIndex.Find(route.Vsid, target);
        if (index >= 0)
        {
            Step("destination", $"{role} {target}: {Describe(index)}", RecordOf(index, role));
        }
        else if ((index = FindLearned(route.Vsid, target)) >= 0)
        {
            Step("destination", $"{role} {target}: a Dynamic binding to {Describe(index)}", RecordOf(index, role, target));
        }
        else if ((index = _p.WildcardNextHop(vsid.DomainIndex, in route)) >= 0)
        {
            Step("destination", $"next hop {target} has no record; the routing domain's GatewayWildcard VM in VSID {route.Vsid} stands for it: {Describe(index)}", RecordOf(index, role));
        }

        if (index < 0)
        {
            reason = Fail(DropReason.NoLookupRecord, "destination", $"{role} {target}: no record in VSID {route.Vsid}");
            return -1;
        }

        if (Forwarder.IsNatNextHop(in route, in _p.Records[index], info.Destination))
        {
            reason = Fail(DropReason.NatNextHop, "route", $"next hop {target} is on another host behind IP rewrite (TranslationMethodNat): the rewritten packet could carry only {target}'s PA, and its destination {info.Destination} would be lost");
            return -1;
        }

        if (info.Ttl <= 1)
        {
            reason = Fail(DropReason.TtlExpired, "route", $"{(info.IpVersion == 4 ? "TTL" : "hop limit")} {info.Ttl}: a routed hop needs more than 1");
            return -1;
        }

        return index;
    }

    /// <summary>A routed packet with both records known (Forwarder.DeliverRouted): a local port, an external port, or another host.</summary>
    private DropReason DeliverRouted(PortInfo port, ref PacketInfo info, int src, int dst)
    {
        ref readonly RecordEntry d = ref _p.Records[dst];
        if (d.IsLocal)
        {
            if (d.LocalPortIndex < 0)
            {
                return Fail(DropReason.NoLocalPort, "deliver", $"PA {d.ProviderAddress} is this host's, but no port has VSID {d.Vsid} and MAC {d.MacAddress}");
            }

            if (Denied(outbound: false, d.LocalPortIndex, info.Source, info.Destination, in info))
            {
                return Fail(DropReason.AclDeny, "acl", $"denied by the inbound rules of {PortName(d.LocalPortIndex)}");
            }

            if (_p.HasExternalPort && _p.Ports[d.LocalPortIndex].IsExternal)
            {
                return RoutedToExternal(port, ref info, dst);
            }

            RoutingRewrite(ref info, d.MacAddress, Forwarder.RoutedSourceMac(_p, in _p.Records[src], info.Source));
            return Forward(d.LocalPortIndex, $"routed to port {PortName(d.LocalPortIndex)}");
        }

        return ToRemote(port, ref info, src, dst, routed: true);
    }

    /// <summary>The routing rewrite (Forwarder.RoutingRewrite), applied to the walk's copy: later decisions read the TTL.</summary>
    private void RoutingRewrite(ref PacketInfo info, MacAddress destinationMac, MacAddress sourceMac)
    {
        byte before = info.Ttl;
        Rewrite.AddressRewriter.DecrementTtl(_buffer.Frame, ref info);
        destinationMac.Write(_buffer.Frame);
        sourceMac.Write(_buffer.Frame[Ethernet.SourceOffset..]);
        string whose = sourceMac == _p.Global.GatewayMac ? string.Empty : " (the router's own MAC: it forwards another VM's CA, useExternalRouter)";
        Step("route", $"router hop: {(info.IpVersion == 4 ? "TTL" : "hop limit")} {before} → {info.Ttl}, inner MACs {sourceMac}{whose} → {destinationMac}");
    }

    /// <summary>Ethernet padding is not sent on.</summary>
    private string Padding(in PacketInfo info) =>
        _buffer.Length > info.IpFrameEnd ? $" (its {_buffer.Length - info.IpFrameEnd} bytes of Ethernet padding removed)" : string.Empty;

    /// <summary>A VM's broadcast / multicast in a VSID that floods (Flooding.cs VmFlood).</summary>
    private DropReason VmFlood(PortInfo port, ref PacketInfo info)
    {
        int src = Vouch(port, _p.RecordIndex.Find(port.Vsid!.Vsid, info.Source), info.Source, wildcard: true, routed: false);
        if (src < 0)
        {
            return DropReason.SpoofedSource;
        }

        if (Denied(outbound: true, port.Index, info.Source, info.Destination, in info))
        {
            return Fail(DropReason.AclDeny, "acl", "denied by the sender's outbound rules");
        }

        var group = port.Vsid.Flood!;
        int targets = group.LocalPorts.Length - 1 + group.RemotePas.Length;
        Step("flood", $"{targets} target(s): {group.LocalPorts.Length - 1} other vm port(s) here, {group.RemotePas.Length} remote PA(s) with an Encap record of VSID {port.Vsid.Vsid}");
        if (targets == 0)
        {
            return Fail(DropReason.NoFloodTarget, "flood", "nobody to flood to");
        }

        int sent = 0;
        foreach (int target in group.LocalPorts)
        {
            if (target != port.Index)
            {
                sent += CopyToPort(target, in info);
            }
        }

        if (group.RemotePas.Length != 0)
        {
            sent += CopyToRemotePas(port, in info, src, group.RemotePas);
        }

        return FinishFlood(sent);
    }

    /// <summary>A flood copy for a vm port here, judged by its inbound rules (Flooding.cs CopyToPort); 1 when it leaves.</summary>
    private int CopyToPort(int target, in PacketInfo info)
    {
        if (Denied(outbound: false, target, info.Source, info.Destination, in info))
        {
            Lose(DropReason.AclDeny, "flood", $"copy for {PortName(target)} denied by its inbound rules");
            return 0;
        }

        Step("flood", $"copy to port {PortName(target)}");
        _egress[target]++;
        return 1;
    }

    private DropReason FinishFlood(int sent)
    {
        if (sent != 0)
        {
            _forwarded = true;
            _summary ??= $"flooded: {sent} cop{(sent == 1 ? "y" : "ies")} sent or waiting";
        }

        return DropReason.None;
    }
}
