using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Nvgre;
using NvDataplane.Policy;
using NvDataplane.Rewrite;

namespace NvDataplane.Pipeline;

// Frames from the provider network: ARP/ND/ping for local PAs, NVGRE decapsulation with every
// check of SPEC section 4, and the NAT reverse path (docs/FORWARDING.md section 2).
public sealed partial class Forwarder
{
    private enum ProviderPath : byte
    {
        Drop,
        Arp,
        NeighborSolicitation,
        Echo,
        Nat,
        Nvgre,

        /// <summary>NVGRE carrying a REDIRECT / UNREACHABLE to our own PA (Migration.cs).</summary>
        MigrationMessage,
    }

    /// <summary>What decapsulation needs from the outer headers once the inner frame is parsed.</summary>
    private struct DecapState
    {
        public IpAddr OuterSource;

        /// <summary>The local PA the frame was sent to, and where its outer IP header starts (relay, messages).</summary>
        public IpAddr OuterDestination;
        public int OuterL3Offset;
        public int InnerStart;
        public int InnerEnd;
        public uint Vsid;
        public int DomainIndex;

        /// <summary>Inner broadcast / multicast in a VSID that floods: every local vm port of it gets a copy (Flooding.cs).</summary>
        public bool Flood;

        /// <summary>An MS-NVGREE message for this host rather than a VM's frame.</summary>
        public MigrationMessageKind Message;
    }

    private DropReason FromProvider(PortInfo port, PacketBuffer buffer)
    {
        PacketInfo outer = default;
        PacketInfo inner = default;
        DecapState d = default;
        DropReason r = ProviderClassify(port, buffer.Frame, ref outer, ref inner, ref d, out ProviderPath path);
        if (path != ProviderPath.Nvgre)
        {
            return ProviderSlowPath(port, buffer, ref outer, in inner, in d, path, r);
        }

        int dst = _p.RecordIndex.Find(d.Vsid, inner.Destination, out ulong dstData);
        int src = _p.RecordIndex.Find(d.Vsid, inner.Source, out ulong srcData);
        return NvgreDeliver(buffer, in inner, in d, dst, dstData, src, srcData);
    }

    /// <summary>Parses a provider frame (and, for NVGRE, runs every header check and parses the inner frame).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DropReason ProviderClassify(PortInfo port, ReadOnlySpan<byte> frame, ref PacketInfo info, ref PacketInfo inner, ref DecapState d, out ProviderPath path)
    {
        path = ProviderPath.Drop;
        DropReason r = PacketParser.ParseEthernet(frame, ref info);
        if (r != DropReason.None)
        {
            return r;
        }

        if (info.VlanId >= 0 && (info.ServiceTag || !PortHasVlan(port, info.VlanId)))
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
            path = ProviderPath.Arp;
            return DropReason.None;
        }

        r = PacketParser.ParseIp(frame, ref info);
        if (r != DropReason.None)
        {
            return r;
        }

        var p = _p;
        int pa = p.LocalPaIndex.Find(0, info.Destination);
        if (pa < 0 || p.LocalPas[pa].PortIndex != port.Index)
        {
            if (info.Protocol == IpProtocol.Icmpv6 && IsNeighborSolicitation(frame, in info))
            {
                path = ProviderPath.NeighborSolicitation;
                return DropReason.None;
            }

            return DropReason.NotLocalPa;
        }

        if (!OnPaVlan(_p, pa, in info))
        {
            return DropReason.VlanTagged;
        }

        if (IsNvgreCandidate(p, pa, in info))
        {
            r = NvgreClassify(frame, in info, ref inner, ref d);
            path = r != DropReason.None ? ProviderPath.Drop : d.Message == MigrationMessageKind.None ? ProviderPath.Nvgre : ProviderPath.MigrationMessage;
            return r;
        }

        if (IsPaPing(p, frame, in info))
        {
            path = ProviderPath.Echo;
        }
        else if (info.Protocol == IpProtocol.Icmpv6 && IsNeighborSolicitation(frame, in info))
        {
            path = ProviderPath.NeighborSolicitation;
        }
        else
        {
            path = ProviderPath.Nat;
        }

        return DropReason.None;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason ProviderSlowPath(PortInfo port, PacketBuffer buffer, ref PacketInfo info, in PacketInfo inner, in DecapState d, ProviderPath path, DropReason reason)
    {
        switch (path)
        {
            case ProviderPath.MigrationMessage:
                return ReceiveMessage(buffer, in inner, in d);
            case ProviderPath.Arp:
                return ProviderArp(port, buffer, in info);
            case ProviderPath.NeighborSolicitation:
                return ProviderNeighborSolicitation(port, buffer, in info);
            case ProviderPath.Echo:
                LocalResponder.EchoReply(buffer, in info, port.Mac, _p.Global.OuterTtl);
                return Answer(port.Index, buffer);
            case ProviderPath.Nat:
                return info.Protocol == IpProtocol.Icmpv6 && !IsNatVmAdvertisement(_p, buffer.Frame, in info)
                    && EndOfAnswer(LearnFromAdvertisement(port, buffer.Frame, in info, buffer.TimestampNs), buffer) is { } end
                    ? end
                    : NatReverse(buffer, ref info);
            default:
                return reason;
        }
    }

    /// <summary>
    /// A neighbor advertisement from a Nat record's PA about any address but that PA
    /// (FORWARDING 1.12): a VM's own packet, which IP rewrite carried with its hop limit 255, its
    /// target and its target link-layer address as the VM wrote them. It teaches the provider
    /// neighbor cache nothing (it takes the NAT reverse path to the VM it is for); a host's
    /// answer for its own Nat PA (target = source) still does.
    /// </summary>
    internal static bool IsNatVmAdvertisement(PolicySnapshot p, ReadOnlySpan<byte> frame, in PacketInfo info) =>
        info.Protocol == IpProtocol.Icmpv6 && !info.IsFragment && info.L4Length >= Icmp.NeighborMessageSize
        && frame[info.L4Offset] == Icmp.V6NeighborAdvertisement && p.NatIndex.Find(0, info.Source) >= 0
        && IpAddr.ReadV6(frame[(info.L4Offset + Icmp.NdTargetOffset)..]) != info.Source;

    /// <summary>
    /// GRE to one of our PAs (<paramref name="localPa"/>) that is no Nat record's (FORWARDING 2.3): a Nat PA is its VM's alone
    /// (validation refuses a record sharing it), so GRE to it is the VM's own GRE, which IP
    /// rewrite carries like any protocol, and goes to NAT reverse; decapsulating it would let the
    /// sending VM pick the inner MACs and VSID past its own host's checks.
    /// </summary>
    internal static bool IsNvgreCandidate(PolicySnapshot p, int localPa, in PacketInfo info) =>
        info.Protocol == IpProtocol.Gre && !p.LocalPas[localPa].IsNat;

    /// <summary>A frame the host itself used up (a neighbor's answer to our ARP / ND): counted with the answered ones.</summary>
    private DropReason Consumed(PacketBuffer buffer)
    {
        Counters.Answered++;
        _pool.Return(buffer);
        return DropReason.None;
    }

    /// <summary>True when one of the port's PAs is configured with VLAN <paramref name="vlan"/>.</summary>
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

    /// <summary>
    /// True when the frame is untagged or tagged with local PA <paramref name="pa"/>'s own VLAN: a
    /// port's PAs may sit on different VLANs, and a frame on one VLAN speaks only for its PAs.
    /// </summary>
    internal static bool OnPaVlan(PolicySnapshot p, int pa, in PacketInfo info) => info.VlanId < 0 || p.LocalPas[pa].VlanId == info.VlanId;

    /// <summary>Every NVGRE header check of SPEC section 4 up to the parsed inner frame (no table lookups but the VSID's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DropReason NvgreClassify(ReadOnlySpan<byte> frame, in PacketInfo outer, ref PacketInfo info, ref DecapState d)
    {
        if (outer.IsFragment)
        {
            return DropReason.OuterFragment;
        }

        if (outer.RoutingPending)
        {
            return DropReason.MalformedHeader; // our PA is a waypoint: RFC 8200 4.4 leaves GRE to the last segment
        }

        int gre = outer.L4Offset;
        int end = outer.IpFrameEnd;
        if (!GreReader.TryCreate(frame[gre..end], out var header))
        {
            return DropReason.Truncated;
        }

        if (header.Protocol != Ethernet.TypeTransparentBridging)
        {
            return DropReason.NotNvgre;
        }

        if (header.FlagsVersion != Gre.NvgreFlagsVersion)
        {
            return DropReason.BadGreHeader;
        }

        if (!header.HasKeyBytes)
        {
            return DropReason.Truncated;
        }

        uint vsid = header.Vsid;
        if (Gre.IsReservedVsid(vsid))
        {
            return DropReason.ReservedVsid;
        }

        var vsidInfo = _cachedVsidInfo;
        if (vsidInfo is null || _cachedVsid != vsid)
        {
            if (!_p.Vsids.TryGetValue(vsid, out vsidInfo))
            {
                return DropReason.UnknownVsid;
            }

            _cachedVsid = vsid;
            _cachedVsidInfo = vsidInfo;
        }

        // A VSID without a port here carries only MS-NVGREE messages (below).
        bool portless = !vsidInfo.HasLocalPort;
        int innerStart = gre + Gre.NvgreSize;
        ReadOnlySpan<byte> inner = frame[innerStart..end];
        DropReason r = PacketParser.ParseEthernet(inner, ref info);
        if (r != DropReason.None)
        {
            return portless ? DropReason.UnknownVsid : r;
        }

        if (info.VlanId >= 0)
        {
            return portless ? DropReason.UnknownVsid : DropReason.InnerVlanTagged;
        }

        r = PacketParser.ParseIp(inner, ref info);
        if (r != DropReason.None)
        {
            return portless ? DropReason.UnknownVsid : r;
        }

        // ICMP from the sending PA to our PA inside NVGRE: MS-NVGREE REDIRECT / UNREACHABLE, unless a VM sent it.
        var message = MigrationMessage.ClassifyInner(inner, in info, outer.Source, outer.Destination);
        if (message != MigrationMessageKind.None && IsTenantFrame(_p, vsid, vsidInfo.DomainIndex, info.Source, MacAddress.Read(inner[Ethernet.SourceOffset..]), out _))
        {
            message = MigrationMessageKind.None;
        }

        // In a VSID without a port here, only a message for this host: about its traffic routed
        // into that VSID from another of its routing domain (PolicySnapshot.MayCarryMessages).
        if (portless && (message == MigrationMessageKind.None || !_p.MayCarryMessages(vsidInfo)))
        {
            return DropReason.UnknownVsid;
        }

        d.Flood = Ethernet.ReadDestination(inner).IsMulticast || IsFloodDestination(info.Destination);
        if (d.Flood && vsidInfo.Flood is null)
        {
            return DropReason.FloodingDisabled;
        }

        d.OuterSource = outer.Source;
        d.OuterDestination = outer.Destination;
        d.OuterL3Offset = outer.L3Offset;
        d.InnerStart = innerStart;
        d.InnerEnd = end;
        d.Vsid = vsid;
        d.DomainIndex = vsidInfo.DomainIndex;

        d.Message = message;
        if (d.Message == MigrationMessageKind.None && IsNeighborAnnouncement(inner, in info))
        {
            return DropReason.VmNeighborDiscovery; // a remote VM's (its host should have dropped it), never a host's message
        }

        return DropReason.None;
    }

    /// <summary>
    /// Destination and anti-spoofing checks of a parsed NVGRE frame, from the two lookups' slot
    /// payloads, then delivery of the inner frame as carried.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DropReason NvgreDeliver(PacketBuffer buffer, in PacketInfo info, in DecapState d, int dstIndex, ulong dstData, int srcIndex, ulong srcData)
    {
        var p = _p;
        int port;
        if (d.Flood)
        {
            port = -1; // every local vm port of the VSID, once the source is vouched for (below)
        }
        else if (dstIndex >= 0)
        {
            port = ForwardingData.Index(dstData);
            if (!ForwardingData.IsLocal(dstData))
            {
                return NoVmHere(buffer, in info, in d, srcIndex, srcData, DropReason.NoLocalPort); // moved away, or never here
            }

            if (port < 0)
            {
                return DropReason.NoLocalPort;
            }
        }
        else
        {
            int learned = FindLearned(d.Vsid, info.Destination, buffer.TimestampNs);
            port = learned >= 0 ? p.Records[learned].LocalPortIndex
                : p.RoutedOrWildcardPort(d.DomainIndex, d.Vsid, info.Destination, Ethernet.ReadDestination(buffer.Frame[d.InnerStart..]), out _);
            if (port < 0)
            {
                return NoVmHere(buffer, in info, in d, srcIndex, srcData, learned >= 0 ? DropReason.NoLocalPort : DropReason.NoLookupRecord);
            }
        }

        // Anti-spoofing: the outer source PA must be the PA of the inner source CA.
        if (!SourceVouched(buffer, in info, in d, srcIndex, srcData))
        {
            return DropReason.PaMismatch;
        }

        if (d.Flood)
        {
            return DecapFlood(buffer, in info, in d);
        }

        if (InboundDenied(port, in info))
        {
            return DropReason.AclDeny;
        }

        buffer.Offset += d.InnerStart;
        buffer.Length = d.InnerEnd - d.InnerStart;
        if (p.HasExternalPort && p.Ports[port].IsExternal)
        {
            return DecapToExternal(port, buffer, in info, dstIndex);
        }

        return Forward(port, buffer);
    }

    /// <summary>The inner source CA in another VSID of the routing domain, the inner source MAC's L2Only record (section 7), a binding of the domain, or the domain's GatewayWildcard record (for an address outside the virtual network, DomainAddresses.cs).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int FindSourceElsewhere(in DecapState d, IpAddr source, PacketBuffer buffer)
    {
        int srcIndex = FindInDomain(d.Vsid, d.DomainIndex, source);
        if (srcIndex < 0)
        {
            var innerSourceMac = MacAddress.Read(buffer.Frame[(d.InnerStart + Ethernet.SourceOffset)..]);
            srcIndex = LearnFromNvgre(in d, source, innerSourceMac, buffer.TimestampNs);
        }

        if (srcIndex < 0 && d.DomainIndex >= 0)
        {
            srcIndex = UnrecordedNvgreSource(_p, d.Vsid, d.DomainIndex, source, _learned, buffer.TimestampNs, out _);
        }

        return srcIndex;
    }

    private DropReason NatReverse(PacketBuffer buffer, ref PacketInfo info)
    {
        var p = _p;
        int local = p.NatIndex.Find(0, info.Destination);
        if (local < 0)
        {
            return DropReason.NotNvgre;
        }

        int remote = p.NatIndex.Find(0, info.Source);
        if (info.Protocol is IpProtocol.Icmp or IpProtocol.Icmpv6 && IcmpErrorQuote.IsError(buffer.Frame, in info))
        {
            DropReason r = NatIcmpError(buffer, ref info, local, remote, out bool aboutOurs);
            if (aboutOurs || remote < 0)
            {
                return r;
            }
        }

        if (remote < 0)
        {
            return DropReason.NoLookupRecord;
        }

        ref readonly RecordEntry l = ref p.Records[local];
        ref readonly RecordEntry rr = ref p.Records[remote];
        if (!OneRoutingDomain(in l, in rr))
        {
            return DropReason.Isolation;
        }

        if (l.LocalPortIndex < 0)
        {
            return DropReason.NoLocalPort;
        }

        if (InboundDenied(l.LocalPortIndex, rr.CustomerAddress, l.CustomerAddress, in info))
        {
            return DropReason.AclDeny;
        }

        AddressRewriter.Rewrite(buffer.Frame, ref info, rr.CustomerAddress, l.CustomerAddress);
        return NatDeliver(buffer, in info, in l, rr.MacAddress);
    }

    /// <summary>True when two records' VSIDs may exchange packets: the same VSID, or VSIDs of one routing domain.</summary>
    internal static bool OneRoutingDomain(in RecordEntry a, in RecordEntry b) =>
        a.Vsid == b.Vsid || (a.DomainIndex >= 0 && a.DomainIndex == b.DomainIndex);

    /// <summary>
    /// An ICMP error to Nat record <paramref name="local"/>'s PA (FORWARDING 2.6).
    /// <paramref name="aboutOurs"/> is set when it quotes a packet sent from that PA — one this
    /// host rewrote, so the quote is rewritten back to CAs and the error, from the remote Nat
    /// record's CA or else from the gateway address of the VM's subnet, goes to the VM. Any other
    /// quote is a VM's own error between two Nat PAs (its quote carries CAs already).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason NatIcmpError(PacketBuffer buffer, ref PacketInfo info, int local, int remote, out bool aboutOurs)
    {
        aboutOurs = false;
        var p = _p;
        DropReason r = IcmpErrorQuote.TryRead(buffer.Frame, in info, out IpAddr quotedSource, out IpAddr quotedDestination);
        if (r != DropReason.None)
        {
            return r;
        }

        if (quotedSource != info.Destination)
        {
            return DropReason.NoLookupRecord;
        }

        aboutOurs = true;
        int quoted = p.NatIndex.Find(0, quotedDestination);
        if (quoted < 0)
        {
            return DropReason.NoLookupRecord;
        }

        ref readonly RecordEntry l = ref p.Records[local];
        ref readonly RecordEntry q = ref p.Records[quoted];
        if (!OneRoutingDomain(in l, in q) || (remote >= 0 && !OneRoutingDomain(in l, in p.Records[remote])))
        {
            return DropReason.Isolation;
        }

        if (!TryGetErrorSource(p, in l, remote, out IpAddr source, out MacAddress sourceMac))
        {
            return DropReason.NoRoute;
        }

        if (l.LocalPortIndex < 0)
        {
            return DropReason.NoLocalPort;
        }

        if (InboundDenied(l.LocalPortIndex, source, l.CustomerAddress, in info))
        {
            return DropReason.AclDeny;
        }

        IcmpErrorQuote.Rewrite(buffer.Frame, ref info, source, l.CustomerAddress, l.CustomerAddress, q.CustomerAddress);
        return NatDeliver(buffer, in info, in l, sourceMac);
    }

    /// <summary>
    /// Who a relayed ICMP error to local Nat record <paramref name="l"/> comes from: the Nat record
    /// of its sender (<paramref name="remote"/>), else the gateway of <paramref name="l"/>'s
    /// subnet with the gateway MAC; false when there is neither.
    /// </summary>
    internal static bool TryGetErrorSource(PolicySnapshot p, in RecordEntry l, int remote, out IpAddr source, out MacAddress mac)
    {
        if (remote >= 0)
        {
            source = p.Records[remote].CustomerAddress;
            mac = p.Records[remote].MacAddress;
            return true;
        }

        mac = p.Global.GatewayMac;
        source = default;
        return p.Vsids.TryGetValue(l.Vsid, out var vsid) && vsid.TryGetGatewayFor(l.CustomerAddress, out source);
    }

    /// <summary>Puts a plain 14-byte Ethernet header (any VLAN tag removed) in front of the rewritten IP packet and delivers it to <paramref name="l"/>'s port.</summary>
    private DropReason NatDeliver(PacketBuffer buffer, in PacketInfo info, in RecordEntry l, MacAddress sourceMac)
    {
        int start = buffer.Offset + info.L3Offset - Ethernet.HeaderSize;
        Span<byte> eth = buffer.Data.AsSpan(start, Ethernet.HeaderSize);
        l.MacAddress.Write(eth);
        sourceMac.Write(eth[Ethernet.SourceOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(eth[Ethernet.TypeOffset..], info.IpVersion == 4 ? Ethernet.TypeIpv4 : Ethernet.TypeIpv6);
        buffer.Offset = start;
        buffer.Length = Ethernet.HeaderSize + info.L3Length;
        return Forward(l.LocalPortIndex, buffer);
    }

    private DropReason ProviderArp(PortInfo port, PacketBuffer buffer, in PacketInfo info)
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

        int pa = _p.LocalPaIndex.Find(0, IpAddr.ReadV4(arp[Arp.TargetIpOffset..]));
        if (Arp.ReadOperation(arp) != Arp.OpRequest || pa < 0 || _p.LocalPas[pa].PortIndex != port.Index)
        {
            return DropReason.NotLocalPa;
        }

        if (!OnPaVlan(_p, pa, in info))
        {
            return DropReason.VlanTagged;
        }

        LocalResponder.ArpReply(buffer, in info, port.Mac);
        return Answer(port.Index, buffer);
    }

    private DropReason ProviderNeighborSolicitation(PortInfo port, PacketBuffer buffer, in PacketInfo info)
    {
        if (!IsValidSolicitation(buffer.Frame, in info))
        {
            return DropReason.MalformedHeader;
        }

        var target = IpAddr.ReadV6(buffer.Frame[(info.L4Offset + Icmp.NdTargetOffset)..]);
        int pa = _p.LocalPaIndex.Find(0, target);
        if (pa < 0 || _p.LocalPas[pa].PortIndex != port.Index)
        {
            return DropReason.NotLocalPa;
        }

        if (!OnPaVlan(_p, pa, in info))
        {
            return DropReason.VlanTagged;
        }

        LocalResponder.NeighborAdvertisement(buffer, in info, target, port.Mac, router: false);
        return Answer(port.Index, buffer);
    }
}
