using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Policy;
using NvDataplane.Rewrite;

namespace NvDataplane.Pipeline;

// Frames from the provider network: ARP/ND/ping for local PAs, NVGRE decapsulation with every
// check of SPEC section 4, and the NAT reverse path (docs/FORWARDING.md section 2).
public sealed partial class Forwarder
{
    private DropReason FromProvider(PortInfo port, PacketBuffer buffer)
    {
        Span<byte> frame = buffer.Frame;
        PacketInfo info = default;
        DropReason r = PacketParser.ParseEthernet(frame, ref info);
        if (r != DropReason.None)
        {
            return r;
        }

        if (info.VlanId >= 0 && !PortHasVlan(port, info.VlanId))
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
            return ProviderArp(port, buffer, in info);
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
            return info.Protocol == IpProtocol.Icmpv6 && IsNeighborSolicitation(frame, in info)
                ? ProviderNeighborSolicitation(port, buffer, in info)
                : DropReason.NotLocalPa;
        }

        if (info.Protocol == IpProtocol.Gre)
        {
            return Decapsulate(buffer, in info);
        }

        // A Nat record's PA belongs to its VM: echo to it is the VM's to answer, not the host's.
        if (IsEchoRequest(frame, in info) && p.NatIndex.Find(0, info.Destination) < 0)
        {
            LocalResponder.EchoReply(buffer, in info, port.Mac, p.Global.OuterTtl);
            return Answer(port.Index, buffer);
        }

        if (info.Protocol == IpProtocol.Icmpv6 && IsNeighborSolicitation(frame, in info))
        {
            return ProviderNeighborSolicitation(port, buffer, in info);
        }

        return NatReverse(buffer, ref info);
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

    private DropReason Decapsulate(PacketBuffer buffer, in PacketInfo outer)
    {
        if (outer.IsFragment)
        {
            return DropReason.OuterFragment;
        }

        ReadOnlySpan<byte> frame = buffer.Frame;
        int gre = outer.L4Offset;
        int end = outer.IpFrameEnd;
        if (end - gre < Gre.BaseSize)
        {
            return DropReason.Truncated;
        }

        if (BinaryPrimitives.ReadUInt16BigEndian(frame[(gre + Gre.ProtocolOffset)..]) != Ethernet.TypeTransparentBridging)
        {
            return DropReason.NotNvgre;
        }

        if (BinaryPrimitives.ReadUInt16BigEndian(frame[gre..]) != Gre.NvgreFlagsVersion)
        {
            return DropReason.BadGreHeader;
        }

        if (end - gre < Gre.NvgreSize)
        {
            return DropReason.Truncated;
        }

        uint vsid = BinaryPrimitives.ReadUInt32BigEndian(frame[(gre + Gre.KeyOffset)..]) >> 8;
        if (Gre.IsReservedVsid(vsid))
        {
            return DropReason.ReservedVsid;
        }

        var p = _p;
        if (!p.Vsids.TryGetValue(vsid, out var vsidInfo) || !vsidInfo.HasLocalPort)
        {
            return DropReason.UnknownVsid;
        }

        int innerStart = gre + Gre.NvgreSize;
        ReadOnlySpan<byte> inner = frame[innerStart..end];
        PacketInfo info = default;
        DropReason r = PacketParser.ParseEthernet(inner, ref info);
        if (r != DropReason.None)
        {
            return r;
        }

        if (info.VlanId >= 0)
        {
            return DropReason.InnerVlanTagged;
        }

        r = PacketParser.ParseIp(inner, ref info);
        if (r != DropReason.None)
        {
            return r;
        }

        if (Ethernet.ReadDestination(inner).IsMulticast || IsFloodDestination(info.Destination))
        {
            return DropReason.FloodingDisabled;
        }

        int dstIndex = p.RecordIndex.Find(vsid, info.Destination);
        if (dstIndex < 0)
        {
            return DropReason.NoLookupRecord;
        }

        ref readonly RecordEntry dst = ref p.Records[dstIndex];
        if (dst.LocalPortIndex < 0)
        {
            return DropReason.NoLocalPort;
        }

        // Anti-spoofing: the outer source PA must be the PA of the inner source CA.
        int srcIndex = FindInDomain(vsid, vsidInfo.DomainIndex, info.Source);
        if (srcIndex < 0 && vsidInfo.DomainIndex >= 0)
        {
            var domain = p.Domains[vsidInfo.DomainIndex];
            srcIndex = info.Source.IsV4 ? domain.WildcardV4 : domain.WildcardV6;
        }

        if (srcIndex < 0 || p.Records[srcIndex].ProviderAddress != outer.Source)
        {
            return DropReason.PaMismatch;
        }

        buffer.Offset += innerStart;
        buffer.Length = end - innerStart;
        return Forward(dst.LocalPortIndex, buffer);
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
        if (remote < 0)
        {
            return DropReason.NoLookupRecord;
        }

        ref readonly RecordEntry l = ref p.Records[local];
        ref readonly RecordEntry rr = ref p.Records[remote];
        if (l.Vsid != rr.Vsid && (l.DomainIndex < 0 || l.DomainIndex != rr.DomainIndex))
        {
            return DropReason.Isolation;
        }

        if (l.LocalPortIndex < 0)
        {
            return DropReason.NoLocalPort;
        }

        Span<byte> frame = buffer.Frame;
        AddressRewriter.Rewrite(frame, ref info, rr.CustomerAddress, l.CustomerAddress);

        // A plain 14-byte Ethernet header in front of the IP packet (any VLAN tag removed).
        int start = buffer.Offset + info.L3Offset - Ethernet.HeaderSize;
        Span<byte> eth = buffer.Data.AsSpan(start, Ethernet.HeaderSize);
        l.MacAddress.Write(eth);
        rr.MacAddress.Write(eth[Ethernet.SourceOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(eth[Ethernet.TypeOffset..], info.IpVersion == 4 ? Ethernet.TypeIpv4 : Ethernet.TypeIpv6);
        buffer.Offset = start;
        buffer.Length = Ethernet.HeaderSize + info.L3Length;
        return Forward(l.LocalPortIndex, buffer);
    }

    private DropReason ProviderArp(PortInfo port, PacketBuffer buffer, in PacketInfo info)
    {
        ReadOnlySpan<byte> frame = buffer.Frame;
        if (frame.Length - info.L3Offset < Arp.Size)
        {
            return DropReason.Truncated;
        }

        ReadOnlySpan<byte> arp = frame[info.L3Offset..];
        if (!Arp.IsEthernetIpv4(arp))
        {
            return DropReason.MalformedHeader;
        }

        int pa = _p.LocalPaIndex.Find(0, IpAddr.ReadV4(arp[Arp.TargetIpOffset..]));
        if (Arp.ReadOperation(arp) != Arp.OpRequest || pa < 0 || _p.LocalPas[pa].PortIndex != port.Index)
        {
            return DropReason.NotLocalPa;
        }

        LocalResponder.ArpReply(buffer, in info, port.Mac);
        return Answer(port.Index, buffer);
    }

    private DropReason ProviderNeighborSolicitation(PortInfo port, PacketBuffer buffer, in PacketInfo info)
    {
        if (info.Ttl != 255)
        {
            return DropReason.MalformedHeader;
        }

        var target = IpAddr.ReadV6(buffer.Frame[(info.L4Offset + Icmp.NdTargetOffset)..]);
        int pa = _p.LocalPaIndex.Find(0, target);
        if (pa < 0 || _p.LocalPas[pa].PortIndex != port.Index)
        {
            return DropReason.NotLocalPa;
        }

        LocalResponder.NeighborAdvertisement(buffer, in info, target, port.Mac, router: false);
        return Answer(port.Index, buffer);
    }
}
