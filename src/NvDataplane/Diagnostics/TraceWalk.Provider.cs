using NvDataplane.Headers;
using NvDataplane.Nvgre;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using NvDataplane.Rewrite;

namespace NvDataplane.Diagnostics;

// Frames from the provider network (ProviderIngress.cs; docs/FORWARDING.md section 2).
internal sealed partial class TraceWalk
{
    private DropReason FromProvider(PortInfo port)
    {
        ReadOnlySpan<byte> frame = _buffer.Frame;
        PacketInfo info = default;
        DropReason r = Parse(ref info, ip: false);
        if (r != DropReason.None)
        {
            return r;
        }

        if (info.VlanId >= 0 && (info.ServiceTag || !PortHasVlan(port, info.VlanId)))
        {
            return Fail(DropReason.VlanTagged, "parse", info.ServiceTag ? ServiceTagRefused : $"no PA of {port.Name} is on VLAN {info.VlanId}");
        }

        if (!ForHostAsIp(port, ref info, i => ProviderArp(port, in i), out r))
        {
            return r;
        }

        int pa = _p.LocalPaIndex.Find(0, info.Destination);
        if (pa < 0 || _p.LocalPas[pa].PortIndex != port.Index)
        {
            if (info.Protocol == IpProtocol.Icmpv6 && Forwarder.IsNeighborSolicitation(frame, in info))
            {
                return ProviderNeighborSolicitation(port, in info);
            }

            return Fail(DropReason.NotLocalPa, "classify", $"{info.Destination} is no PA of this host on {port.Name}");
        }

        if (!Forwarder.OnPaVlan(_p, pa, in info))
        {
            return Fail(DropReason.VlanTagged, "classify", $"tagged VLAN {info.VlanId}, but local PA {info.Destination} is on {VlanName(pa)}");
        }

        Step("classify", $"to local PA {info.Destination} ({_p.LocalPas[pa].Prefix}{(_p.LocalPas[pa].VlanId != 0 ? $", VLAN {_p.LocalPas[pa].VlanId}" : string.Empty)})");
        if (Forwarder.IsNvgreCandidate(_p, pa, in info))
        {
            return Nvgre(in info);
        }

        if (Forwarder.IsPaPing(_p, frame, in info))
        {
            Step("echo", $"PA ping: echo request to {info.Destination} answered from the port's MAC, TTL {_p.Global.OuterTtl}");
            return Answer(port.Index, $"answered on port {port.Name} (PA echo reply)");
        }

        if (info.Protocol == IpProtocol.Icmpv6 && Forwarder.IsNeighborSolicitation(frame, in info))
        {
            return ProviderNeighborSolicitation(port, in info);
        }

        if (Forwarder.IsNatVmAdvertisement(_p, frame, in info))
        {
            var target = IpAddr.ReadV6(frame[(info.L4Offset + Icmp.NdTargetOffset)..]);
            Step("nd", $"neighbor advertisement for {target} from NAT PA {info.Source}: a VM's own packet its host rewrote, which teaches the provider neighbor cache nothing");
        }
        else if (IsAdvertisement(in info))
        {
            var target = IpAddr.ReadV6(frame[(info.L4Offset + Icmp.NdTargetOffset)..]);
            Step("nd", $"neighbor advertisement for {target}; {NoAnswerAwaited(port, in info)}");
        }

        return NatReverse(in info);
    }

    /// <summary>An unfragmented neighbor advertisement, whole enough for its target (what Forwarder.LearnFromAdvertisement reads first).</summary>
    private bool IsAdvertisement(in PacketInfo info) =>
        info.Protocol == IpProtocol.Icmpv6 && !info.IsFragment && info.L4Length >= Icmp.NeighborMessageSize
        && _buffer.Frame[info.L4Offset] == Icmp.V6NeighborAdvertisement;

    /// <summary>Why a frame with an 802.1ad tag is refused wherever a VLAN tag may be taken.</summary>
    internal const string ServiceTagRefused = "an 802.1ad service tag (0x88A8); VLANs here are 802.1Q (0x8100)";

    private string VlanName(int pa) => _p.LocalPas[pa].VlanId == 0 ? "no VLAN" : $"VLAN {_p.LocalPas[pa].VlanId}";

    /// <summary>True when one of the port's PAs is on VLAN <paramref name="vlan"/> (Forwarder.PortHasVlan).</summary>
    private bool PortHasVlan(PortInfo port, int vlan)
    {
        foreach (int i in port.LocalPaIndices)
        {
            if (_p.LocalPas[i].VlanId == vlan)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>NVGRE to a local PA: every header check, then the inner destination and the anti-spoofing rule (NvgreClassify, NvgreDeliver).</summary>
    private DropReason Nvgre(in PacketInfo outer)
    {
        ReadOnlySpan<byte> frame = _buffer.Frame;
        if (outer.IsFragment)
        {
            return Fail(DropReason.OuterFragment, "nvgre", "the outer packet is a fragment");
        }

        if (outer.RoutingPending)
        {
            return Fail(DropReason.MalformedHeader, "nvgre", "the outer IPv6 routing header has segments left: this PA is a waypoint, and only the last segment may take the GRE payload (RFC 8200 4.4)");
        }

        int gre = outer.L4Offset;
        int end = outer.IpFrameEnd;
        if (!GreReader.TryCreate(frame[gre..end], out var header))
        {
            return Fail(DropReason.Truncated, "nvgre", "fewer than 4 bytes of GRE header");
        }

        if (header.Protocol != Ethernet.TypeTransparentBridging)
        {
            return Fail(DropReason.NotNvgre, "nvgre", $"GRE protocol 0x{header.Protocol:x4}, not 0x6558 (Transparent Ethernet Bridging)");
        }

        if (header.FlagsVersion != Gre.NvgreFlagsVersion)
        {
            return Fail(DropReason.BadGreHeader, "nvgre", $"GRE flags / version 0x{header.FlagsVersion:x4}, not 0x2000 (key present, nothing else)");
        }

        if (!header.HasKeyBytes)
        {
            return Fail(DropReason.Truncated, "nvgre", "the GRE key is cut short");
        }

        uint vsid = header.Vsid;
        Outer = Outer! with { GreKey = Hex(header.Key), VirtualSubnetId = vsid, FlowId = header.FlowId };
        Step("nvgre", $"GRE key {Hex(header.Key)}: VSID {vsid}, FlowID {header.FlowId}; from PA {outer.Source}");
        if (Gre.IsReservedVsid(vsid))
        {
            return Fail(DropReason.ReservedVsid, "nvgre", $"VSID {vsid} is reserved (0..4095, 0xFFFFFF)");
        }

        if (!_p.Vsids.TryGetValue(vsid, out var vsidInfo))
        {
            return Fail(DropReason.UnknownVsid, "nvgre", $"VSID {vsid} is not in the policy");
        }

        // A VSID without a port here carries only MS-NVGREE messages (Forwarder.NvgreClassify).
        bool portless = !vsidInfo.HasLocalPort;
        string noPort = $"VSID {vsid} has no port on this host";
        int innerStart = gre + Gre.NvgreSize;
        ReadOnlySpan<byte> innerFrame = frame[innerStart..end];
        PacketInfo info = default;
        DropReason r = PacketParser.ParseEthernet(innerFrame, ref info);
        if (r != DropReason.None)
        {
            return portless ? Fail(DropReason.UnknownVsid, "nvgre", noPort) : Fail(r, "nvgre", "inner frame: " + ParseProblem(r, in info, innerFrame.Length));
        }

        Inner = HeadersOf(innerFrame, in info, ip: false);
        if (info.VlanId >= 0)
        {
            return portless ? Fail(DropReason.UnknownVsid, "nvgre", noPort) : Fail(DropReason.InnerVlanTagged, "nvgre", $"the inner frame carries VLAN tag {info.VlanId}");
        }

        r = PacketParser.ParseIp(innerFrame, ref info);
        if (r != DropReason.None)
        {
            return portless ? Fail(DropReason.UnknownVsid, "nvgre", noPort) : Fail(r, "nvgre", "inner frame: " + ParseProblem(r, in info, innerFrame.Length));
        }

        var innerSrcMac = Ethernet.ReadSource(innerFrame);
        var message = MigrationMessage.ClassifyInner(innerFrame, in info, outer.Source, outer.Destination);
        int sender = -1;
        bool tenant = message != MigrationMessageKind.None && Forwarder.IsTenantFrame(_p, vsid, vsidInfo.DomainIndex, info.Source, innerSrcMac, out sender);
        if (portless && !_p.MayCarryMessages(vsidInfo))
        {
            return Fail(DropReason.UnknownVsid, "nvgre", noPort + ", nor in its routing domain (if any): no traffic of this host's goes there");
        }

        if (portless && (message == MigrationMessageKind.None || tenant))
        {
            return Fail(DropReason.UnknownVsid, "nvgre", noPort + ", and this is no MS-NVGREE message, the only NVGRE such a VSID carries here");
        }

        Inner = HeadersOf(innerFrame, in info, ip: true);
        var innerDstMac = Ethernet.ReadDestination(innerFrame);
        Step("parse", $"inner: Ethernet {innerSrcMac} → {innerDstMac}, {Describe(in info)}");

        // Before the message check, as the forwarder (NvgreClassify).
        bool flood = innerDstMac.IsMulticast || Forwarder.IsFloodDestination(info.Destination);
        if (flood && vsidInfo.Flood is null)
        {
            return Fail(DropReason.FloodingDisabled, "nvgre", $"inner broadcast / multicast, and VSID {vsid} does not flood");
        }

        if (message != MigrationMessageKind.None)
        {
            if (!tenant)
            {
                return ConsumeMessage(message, outer.Source);
            }

            Step("migration", $"ICMP from PA {outer.Source} to PA {outer.Destination} shaped like an MS-NVGREE {(message == MigrationMessageKind.Redirect ? "REDIRECT" : "UNREACHABLE")}, but its source MAC {innerSrcMac} is {(sender >= 0 ? $"that of {Describe(sender)}" : "the gateway MAC (routed)")}: a VM's own packet between CAs equal to PAs, forwarded as tenant traffic");
        }

        if (Forwarder.IsNeighborAnnouncement(innerFrame, in info))
        {
            return Fail(DropReason.VmNeighborDiscovery, "nvgre", $"inner ICMPv6 type {innerFrame[info.L4Offset]} (router / neighbor advertisement, redirect) from a remote VM: neighbor discovery is answered by each host, never carried between them");
        }

        return NvgreDeliver(ref info, in outer, vsidInfo, innerStart, end, flood);
    }

    private DropReason NvgreDeliver(ref PacketInfo info, in PacketInfo outer, VsidInfo vsidInfo, int innerStart, int end, bool flood)
    {
        IpAddr outerSource = outer.Source;
        uint vsid = vsidInfo.Vsid;
        int dst = _p.RecordIndex.Find(vsid, info.Destination);
        int src = _p.RecordIndex.Find(vsid, info.Source);
        int port;
        if (flood)
        {
            port = -1;
            Step("destination", $"inner broadcast / multicast: every vm port of VSID {vsid} here gets a copy");
        }
        else if (dst >= 0)
        {
            ref readonly RecordEntry d = ref _p.Records[dst];
            if (!d.IsLocal)
            {
                return NoVmHere(ref info, in outer, vsidInfo, src, innerStart, DropReason.NoLocalPort, $"{info.Destination}: {Describe(dst)}, not a VM on this host");
            }

            port = d.LocalPortIndex;
            if (port < 0)
            {
                return Fail(DropReason.NoLocalPort, "destination", $"{info.Destination}: {Describe(dst)}, not a VM on this host");
            }

            Step("destination", $"{info.Destination}: {Describe(dst)}", RecordOf(dst, "destination"));
        }
        else
        {
            int learned = FindLearned(vsid, info.Destination);
            int hop = -1;
            port = learned >= 0 ? _p.Records[learned].LocalPortIndex
                : _p.RoutedOrWildcardPort(vsidInfo.DomainIndex, vsidInfo.Vsid, info.Destination, Ethernet.ReadDestination(_buffer.Frame[innerStart..]), out hop);
            if (port < 0)
            {
                return learned >= 0
                    ? NoVmHere(ref info, in outer, vsidInfo, src, innerStart, DropReason.NoLocalPort, $"{info.Destination}: a Dynamic binding to {Describe(learned)}, not a VM on this host")
                    : NoVmHere(ref info, in outer, vsidInfo, src, innerStart, DropReason.NoLookupRecord, $"{info.Destination}: no record in VSID {vsid}, no customer route to a VM here with the inner destination MAC, and this host runs no GatewayWildcard VM of it");
            }

            Step("destination", learned >= 0
                ? $"{info.Destination}: a Dynamic binding to {Describe(learned)}"
                : hop >= 0
                    ? $"{info.Destination}: no record in VSID {vsid}; a customer route makes {Describe(hop)} the next hop, on port {PortName(port)}, and the inner frame is addressed to its MAC"
                    : $"{info.Destination}: no record in VSID {vsid}; the routing domain's GatewayWildcard VM on port {PortName(port)} takes it");
        }

        if (!SourceMatchesOuter(ref info, vsidInfo, src, outerSource, innerStart, flood))
        {
            return DropReason.PaMismatch;
        }

        if (flood)
        {
            return DecapFlood(vsidInfo, in info);
        }

        if (Denied(outbound: false, port, info.Source, info.Destination, in info))
        {
            return Fail(DropReason.AclDeny, "acl", $"denied by the inbound rules of {PortName(port)}");
        }

        _buffer.Offset += innerStart;
        _buffer.Length = end - innerStart;
        if (_p.HasExternalPort && _p.Ports[port].IsExternal)
        {
            return DecapToExternal(port, ref info, dst);
        }

        Step("deliver", $"decapsulated: the inner frame ({_buffer.Length} bytes) to port {PortName(port)} as carried");
        return Forward(port, $"decapsulated to port {PortName(port)}");
    }

    /// <summary>
    /// The anti-spoofing rule: the outer source PA must be the PA of the inner source CA's record
    /// (in the VSID, another VSID of the routing domain, the inner source MAC's L2Only record, or
    /// the domain's GatewayWildcard record).
    /// </summary>
    private bool SourceMatchesOuter(ref PacketInfo info, VsidInfo vsidInfo, int src, IpAddr outerSource, int innerStart, bool flood = false)
    {
        uint vsid = vsidInfo.Vsid;
        if (src >= 0 && !_p.Records[src].IsLocal)
        {
            var pa = _p.Records[src].ProviderAddress;
            if (pa != outerSource)
            {
                if (RoutedFrom(in info, vsidInfo, src, outerSource, innerStart, flood))
                {
                    return true;
                }

                Fail(DropReason.PaMismatch, "source", $"inner source {info.Source}: {Describe(src)}, but the outer source is {outerSource}");
                return false;
            }

            Step("source", $"inner source {info.Source}: {Describe(src)}; outer source {outerSource} is its PA", RecordOf(src, "source"));
            return true;
        }

        if (Forwarder.IsOwnPa(_p, outerSource))
        {
            Fail(DropReason.PaMismatch, "source", $"outer source {outerSource} is this host's own PA: the provider network never carries a frame from this host to itself");
            return false;
        }

        string how = "its";
        bool learned = false;
        var owned = DomainAddress.Outside;
        if (src < 0)
        {
            src = _p.FindRecordInDomain(vsid, vsidInfo.DomainIndex, info.Source);
            how = "another VSID's";
            if (src < 0)
            {
                var innerSourceMac = MacAddress.Read(_buffer.Frame[(innerStart + Ethernet.SourceOffset)..]);
                src = LearnFromNvgre(vsidInfo, info.Source, innerSourceMac, outerSource);
                how = $"the inner source MAC {innerSourceMac}'s L2Only";
                learned = src >= 0 && _p.Records[src].ProviderAddress == outerSource;
            }

            if (src < 0 && vsidInfo.DomainIndex >= 0)
            {
                src = Forwarder.UnrecordedNvgreSource(_p, vsid, vsidInfo.DomainIndex, info.Source, _learned, _buffer.TimestampNs, out owned);
                how = owned.Kind == DomainAddressKind.Binding ? "its Dynamic binding's L2Only" : "the routing domain's GatewayWildcard";
            }
        }

        if (src < 0)
        {
            Fail(DropReason.PaMismatch, "source", owned.Kind is DomainAddressKind.Gateway or DomainAddressKind.SubnetEdge
                ? $"inner source {info.Source} is {Describe(owned)}: no VM sends from it, and the GatewayWildcard record stands for addresses outside the virtual network only"
                : $"inner source {info.Source}: no record vouches for it in VSID {vsid} or its routing domain");
            return false;
        }

        if (_p.Records[src].ProviderAddress != outerSource)
        {
            if (RoutedFrom(in info, vsidInfo, src, outerSource, innerStart, flood))
            {
                return true;
            }

            Fail(DropReason.PaMismatch, "source", $"inner source {info.Source}: {how} {Describe(src)}, but the outer source is {outerSource}");
            return false;
        }

        string note = learned ? $"; (VSID {vsid}, {info.Source}) is learned as a Dynamic binding" : string.Empty;
        Step("source", $"inner source {info.Source}: {how} {Describe(src)}; outer source {outerSource} is its PA{note}", RecordOf(src, "source", learned ? info.Source : null));
        return true;
    }

    /// <summary>
    /// Whether the outer source is the PA of a useExternalRouter router of the routing domain on
    /// another host, the inner source MAC is the router's, the frame is neither flooded nor
    /// neighbor discovery and record
    /// <paramref name="src"/> is a VM's, with its step (Forwarder.RoutedFrom; the trace has no
    /// REDIRECT overrides to follow).
    /// </summary>
    private bool RoutedFrom(in PacketInfo info, VsidInfo vsidInfo, int src, IpAddr outerSource, int innerStart, bool flood)
    {
        if (!Forwarder.MayBeRouted(_p, _buffer.Frame[innerStart..], in info, vsidInfo.DomainIndex, src, flood))
        {
            return false;
        }

        var innerSourceMac = MacAddress.Read(_buffer.Frame[(innerStart + Ethernet.SourceOffset)..]);
        int router = _p.RemoteRouterAt(vsidInfo.DomainIndex, outerSource, _p.Records[src].CustomerAddress.IsV4, innerSourceMac);
        if (router < 0)
        {
            return false;
        }

        Step("source", $"inner source {info.Source}: {Describe(src)}; outer source {outerSource} is the PA of a router the routing domain's customer routes name, which forwards between its subnets with the senders' CAs (useExternalRouter): {Describe(router)}", RecordOf(src, "source"));
        return true;
    }

    /// <summary>The L2Only record of the inner source MAC, learned when its PA is the outer source (DynamicRecords.cs LearnFromNvgre).</summary>
    private int LearnFromNvgre(VsidInfo vsid, IpAddr source, MacAddress sourceMac, IpAddr outerSource)
    {
        int r = L2OnlyRecord(vsid.Vsid, sourceMac, source.IsV4);
        if (r < 0 || !Forwarder.IsLearnable(_p, vsid, source))
        {
            return -1;
        }

        if (_p.Records[r].ProviderAddress == outerSource)
        {
            Learn(vsid.Vsid, source, r);
        }

        return r;
    }

    /// <summary>Decapsulated broadcast / multicast: a copy for each vm port of the VSID here (Flooding.cs DecapFlood).</summary>
    private DropReason DecapFlood(VsidInfo vsid, in PacketInfo info)
    {
        var group = vsid.Flood!;
        if (group.LocalPorts.Length == 0)
        {
            return Fail(DropReason.NoFloodTarget, "flood", $"VSID {vsid.Vsid} has no vm port here");
        }

        int sent = 0;
        foreach (int target in group.LocalPorts)
        {
            sent += CopyToPort(target, in info);
        }

        return FinishFlood(sent);
    }

    /// <summary>Plain IP between two NAT-rule PAs: rewritten back to CAs (Forwarder.NatReverse).</summary>
    private DropReason NatReverse(in PacketInfo info)
    {
        int local = _p.NatIndex.Find(0, info.Destination);
        if (local < 0)
        {
            return Fail(DropReason.NotNvgre, "nat", $"not GRE, and {info.Destination} is no NAT record's PA");
        }

        Step("nat", $"destination PA {info.Destination} is the NAT {Describe(local)}", RecordOf(local, "destination"));
        int remote = _p.NatIndex.Find(0, info.Source);
        if (info.Protocol is IpProtocol.Icmp or IpProtocol.Icmpv6 && IcmpErrorQuote.IsError(_buffer.Frame, in info))
        {
            DropReason r = NatIcmpError(in info, local, remote, out bool aboutOurs);
            if (aboutOurs || remote < 0)
            {
                return r;
            }

            Step("nat", "an ICMP error quoting no packet from this PA: a VM's own, passed on as it is");
        }

        if (remote < 0)
        {
            return Fail(DropReason.NoLookupRecord, "nat", $"source {info.Source} is no NAT record's PA");
        }

        Step("nat", $"source PA {info.Source} is the NAT {Describe(remote)}", RecordOf(remote, "source"));
        ref readonly RecordEntry l = ref _p.Records[local];
        ref readonly RecordEntry rr = ref _p.Records[remote];
        if (!Forwarder.OneRoutingDomain(in l, in rr))
        {
            return Fail(DropReason.Isolation, "nat", $"VSIDs {rr.Vsid} and {l.Vsid} are not in one routing domain");
        }

        if (l.LocalPortIndex < 0)
        {
            return Fail(DropReason.NoLocalPort, "nat", $"no port has VSID {l.Vsid} and MAC {l.MacAddress}");
        }

        if (Denied(outbound: false, l.LocalPortIndex, rr.CustomerAddress, l.CustomerAddress, in info))
        {
            return Fail(DropReason.AclDeny, "acl", $"denied by the inbound rules of {PortName(l.LocalPortIndex)}");
        }

        Step("nat", $"rewritten back: source {info.Source} → CA {rr.CustomerAddress}, destination {info.Destination} → CA {l.CustomerAddress}, MACs {rr.MacAddress} → {l.MacAddress}, checksums updated");
        return Forward(l.LocalPortIndex, $"NAT reversed to port {PortName(l.LocalPortIndex)}");
    }

    /// <summary>An ICMP error to a Nat record's PA (Forwarder.NatIcmpError, FORWARDING 2.6).</summary>
    private DropReason NatIcmpError(in PacketInfo info, int local, int remote, out bool aboutOurs)
    {
        aboutOurs = false;
        DropReason r = IcmpErrorQuote.TryRead(_buffer.Frame, in info, out IpAddr quotedSource, out IpAddr quotedDestination);
        if (r != DropReason.None)
        {
            return Fail(r, "nat", r == DropReason.Truncated ? "ICMP error quoting less than a whole IP header" : $"ICMP error quoting no IPv{info.IpVersion} header");
        }

        if (quotedSource != info.Destination)
        {
            return Fail(DropReason.NoLookupRecord, "nat", $"ICMP error from {info.Source}, no NAT record's PA, about a packet from {quotedSource}, not from this PA");
        }

        aboutOurs = true;
        Step("nat", $"ICMP error from {info.Source} about a packet this PA sent to {quotedDestination}");
        int quoted = _p.NatIndex.Find(0, quotedDestination);
        if (quoted < 0)
        {
            return Fail(DropReason.NoLookupRecord, "nat", $"quoted destination {quotedDestination} is no NAT record's PA");
        }

        ref readonly RecordEntry l = ref _p.Records[local];
        ref readonly RecordEntry q = ref _p.Records[quoted];
        if (!Forwarder.OneRoutingDomain(in l, in q) || (remote >= 0 && !Forwarder.OneRoutingDomain(in l, in _p.Records[remote])))
        {
            return Fail(DropReason.Isolation, "nat", $"the quoted destination's VSID {q.Vsid} or the sender's is not in VSID {l.Vsid}'s routing domain");
        }

        if (!Forwarder.TryGetErrorSource(_p, in l, remote, out IpAddr source, out MacAddress sourceMac))
        {
            return Fail(DropReason.NoRoute, "nat", $"no gateway address of VSID {l.Vsid} holds {l.CustomerAddress} to send the error from");
        }

        if (l.LocalPortIndex < 0)
        {
            return Fail(DropReason.NoLocalPort, "nat", $"no port has VSID {l.Vsid} and MAC {l.MacAddress}");
        }

        if (Denied(outbound: false, l.LocalPortIndex, source, l.CustomerAddress, in info))
        {
            return Fail(DropReason.AclDeny, "acl", $"denied by the inbound rules of {PortName(l.LocalPortIndex)}");
        }

        Step("nat", $"rewritten back: error from {source} to CA {l.CustomerAddress}, quoted packet {l.CustomerAddress} → {q.CustomerAddress}, MACs {sourceMac} → {l.MacAddress}, checksums computed anew");
        return Forward(l.LocalPortIndex, $"ICMP error relayed to port {PortName(l.LocalPortIndex)}");
    }

    private DropReason ProviderArp(PortInfo port, in PacketInfo info)
    {
        DropReason r = ParseArp(in info, learnsOn: port, out ArpMessage arp);
        if (r != DropReason.None)
        {
            return r;
        }

        var target = arp.Target;
        int pa = _p.LocalPaIndex.Find(0, target);
        if (arp.Operation != Arp.OpRequest || pa < 0 || _p.LocalPas[pa].PortIndex != port.Index)
        {
            return Fail(DropReason.NotLocalPa, "arp", arp.Operation != Arp.OpRequest ? "not a request" : $"{target} is no PA of this host on {port.Name}");
        }

        if (!Forwarder.OnPaVlan(_p, pa, in info))
        {
            return Fail(DropReason.VlanTagged, "arp", $"tagged VLAN {info.VlanId}, but local PA {target} is on {VlanName(pa)}");
        }

        Step("arp", $"answered: local PA {target} is at {port.Mac}");
        return Answer(port.Index, $"answered on port {port.Name} (ARP reply for PA {target})");
    }

    private DropReason ProviderNeighborSolicitation(PortInfo port, in PacketInfo info)
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

        int pa = _p.LocalPaIndex.Find(0, target);
        if (pa < 0 || _p.LocalPas[pa].PortIndex != port.Index)
        {
            return Fail(DropReason.NotLocalPa, "nd", $"{target} is no PA of this host on {port.Name}");
        }

        if (!Forwarder.OnPaVlan(_p, pa, in info))
        {
            return Fail(DropReason.VlanTagged, "nd", $"tagged VLAN {info.VlanId}, but local PA {target} is on {VlanName(pa)}");
        }

        Step("nd", $"answered: local PA {target} is at {port.Mac}");
        return Answer(port.Index, $"answered on port {port.Name} (neighbor advertisement for PA {target})");
    }
}
