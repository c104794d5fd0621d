using NvDataplane.Headers;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using NvDataplane.Rewrite;

namespace NvDataplane.Diagnostics;

// Toward another host: NVGRE encapsulation or NAT rewrite, the MTU rule, the provider next hop
// and its neighbor resolution, and the remote copies of a flood (VmIngress.cs ToRemote, TooBig,
// Fragment; NeighborResolver.cs; Flooding.cs CopyToRemotePas; docs/FORWARDING.md 1.12, 1.13, 3).
internal sealed partial class TraceWalk
{
    private DropReason ToRemote(PortInfo port, ref PacketInfo info, int srcIndex, int dstIndex, bool routed)
    {
        ref readonly RecordEntry src = ref _p.Records[srcIndex];
        ref readonly RecordEntry dst = ref _p.Records[dstIndex];
        bool nat = dst.Rule == TranslationRule.Nat;
        if (nat && (src.Rule != TranslationRule.Nat || !src.IsLocal))
        {
            return Fail(DropReason.NatSourceNotUnique, "tunnel", $"the destination's record is NAT, but the sender's (PA {src.ProviderAddress}) is not a local NAT record: its PA would be shared");
        }

        if (nat && Forwarder.IsNeighborDiscovery(_buffer.Frame, in info))
        {
            return Fail(DropReason.NatNeighborDiscovery, "tunnel", $"ICMPv6 neighbor discovery (type {_buffer.Frame[info.L4Offset]}) is link-scope: IP rewrite would carry it to the provider network as ND between PAs");
        }

        if (src.TemplateRow < 0)
        {
            return Fail(DropReason.NoProviderRoute, "tunnel", $"the source record (PA {src.ProviderAddress}) is no local VM's: no tunnel leaves from it");
        }

        ref readonly EncapTemplate t = ref _p.Template(in src, dst.RemotePaIndex);
        if (t.Unusable is not (DropReason.None or DropReason.NeighborUnresolved))
        {
            return Fail(t.Unusable, "tunnel", Unusable(in src, dst.ProviderAddress));
        }

        int overhead = nat ? 0 : t.Overhead;
        var tunnel = TunnelOf(in src, dst.ProviderAddress, in t, nat ? null : dst.Vsid, in info);
        if (info.L3Length + overhead > t.Mtu)
        {
            Step("mtu", $"IP packet {info.L3Length} + overhead {overhead} = {info.L3Length + overhead} bytes > MTU {t.Mtu} of {PortName(t.ProviderPortIndex)}", tunnel: tunnel);
            return TooBig(port, ref info, in src, dstIndex, in t, routed, maxIp: t.Mtu - overhead);
        }

        Step("mtu", $"IP packet {info.L3Length} + overhead {overhead} = {info.L3Length + overhead} bytes ≤ MTU {t.Mtu} of {PortName(t.ProviderPortIndex)}");
        if (routed)
        {
            RoutingRewrite(ref info, dst.MacAddress, Forwarder.RoutedSourceMac(_p, in src, info.Source));
        }
        else
        {
            MarkGatewayTraffic(port, in src, in info);
        }

        Step("tunnel", TunnelText(tunnel, in info), tunnel: tunnel);
        string how = nat ? $"rewritten (NAT) to PA {dst.ProviderAddress}" : $"encapsulated to PA {dst.ProviderAddress}";
        return SendToProvider(in t, extra: false, $"{how} via port {PortName(t.ProviderPortIndex)}");
    }

    /// <summary>The gateway VM's mark on its outside traffic (Forwarder.MarksGatewayTraffic), with its step.</summary>
    private void MarkGatewayTraffic(PortInfo port, in RecordEntry src, in PacketInfo info)
    {
        if (Forwarder.MarksGatewayTraffic(_p, port, in src, info.Source))
        {
            _p.Global.GatewayMac.Write(_buffer.Frame[Ethernet.SourceOffset..]);
            Step("source", $"inner source MAC {_p.Global.GatewayMac}: the port is the GatewayWildcard VM and a router too (useExternalRouter), and {info.Source} is outside the network: the gateway MAC, not its own (the router's mark), as on its routed traffic");
        }
    }

    /// <summary>Why a tunnel template cannot be used (PolicySnapshot.BuildTemplate).</summary>
    private string Unusable(in RecordEntry src, IpAddr remote)
    {
        var local = _p.LocalPas[src.LocalPaIndex];
        if (local.Address.IsV4 != remote.IsV4)
        {
            return $"source PA {local.Address} and destination PA {remote} are of different families";
        }

        if (local.PortIndex < 0)
        {
            return $"source PA {local.Address} names no provider port";
        }

        return $"no provider route from PA {local.Address} toward {remote}: not inside {local.Prefix}, and no providerRoutes entry holds it";
    }

    /// <summary>The outer side toward <paramref name="remote"/>: addresses, key, next hop and its MAC, VLAN, MTU.</summary>
    private TraceTunnel TunnelOf(in RecordEntry src, IpAddr remote, in EncapTemplate t, uint? vsid, in PacketInfo info)
    {
        var local = _p.LocalPas[src.LocalPaIndex];
        string via;
        if (_p.ProviderRouteFrom(local, remote) is not { } route)
        {
            via = $"on-link in {local.Prefix}";
        }
        else
        {
            via = route.NextHop.IsUnspecified
                ? $"provider route {route.DestinationPrefix} on-link, metric {route.Metric}"
                : $"provider route {route.DestinationPrefix} via {route.NextHop}, metric {route.Metric}";
        }

        byte flowId = FlowHash.FlowId(FlowHash.Compute(in info));
        int overhead = vsid is null ? 0 : t.Overhead;
        return new TraceTunnel
        {
            Method = vsid is null ? "nat" : "encap",
            SourcePa = t.SourceAddress.ToString(),
            DestinationPa = remote.ToString(),
            GreKey = vsid is { } v ? Hex((v << 8) | flowId) : null,
            VirtualSubnetId = vsid,
            FlowId = vsid is null ? null : flowId,
            ProviderPort = PortName(t.ProviderPortIndex),
            NextHop = t.NextHop.ToString(),
            NextHopVia = via,
            NextHopMac = t.Unusable == DropReason.None ? MacAddress.Read(_p.TemplateBytes.AsSpan(t.ByteOffset)).ToString() : null,
            VlanId = t.VlanId,
            OuterTtl = vsid is null ? null : _p.Global.OuterTtl,
            Mtu = t.Mtu,
            Overhead = overhead,
            PacketSize = info.L3Length + overhead,
        };
    }

    private static string TunnelText(TraceTunnel t, in PacketInfo info)
    {
        string mac = t.NextHopMac is { } m ? $"MAC {m} (providerNeighbors)" : $"MAC unknown: resolved by {(t.NextHop.Contains(':') ? "neighbor discovery" : "ARP")}";
        string vlan = t.VlanId != 0 ? $", VLAN {t.VlanId}" : string.Empty;
        string hop = $"next hop {t.NextHop} ({t.NextHopVia}), {mac}; out of {t.ProviderPort}{vlan}";
        return t.Method == "nat"
            ? $"NAT: source {info.Source} → PA {t.SourcePa}, destination {info.Destination} → PA {t.DestinationPa}, checksums updated; {hop}"
            : $"NVGRE: outer {t.SourcePa} → {t.DestinationPa}, TTL {t.OuterTtl}{(t.SourcePa.Contains(':') ? string.Empty : ", DF")}, TOS {info.Tos}; GRE key {t.GreKey} (VSID {t.VirtualSubnetId}, FlowID {t.FlowId}); {hop}";
    }

    /// <summary>The MTU rule (Forwarder.TooBig): IPv4 without DF is fragmented, anything else dropped with an ICMP error to the sender.</summary>
    private DropReason TooBig(PortInfo port, ref PacketInfo info, in RecordEntry src, int dstIndex, in EncapTemplate t, bool routed, int maxIp)
    {
        if (info.IpVersion == 4 && !info.DontFragment)
        {
            return Fragment(port, ref info, in src, dstIndex, in t, routed, maxIp);
        }

        IcmpError(port, in info, maxIp);
        return Fail(DropReason.MtuExceeded, "mtu", info.IpVersion == 4 ? "DF is set" : "IPv6 is never fragmented on the way");
    }

    /// <summary>IPv4 without DF, too big: fragmented before encapsulation or rewrite (Forwarder.Fragment), each fragment sent on.</summary>
    private DropReason Fragment(PortInfo port, ref PacketInfo info, in RecordEntry src, int dstIndex, in EncapTemplate t, bool routed, int maxIp)
    {
        int ihl = info.IpHeaderLength;
        int perFragment = Ipv4Fragmenter.PayloadPerFragment(maxIp, ihl);
        if (perFragment < 8)
        {
            return Fail(DropReason.MtuExceeded, "mtu", $"a fragment of at most {maxIp} bytes would carry no 8 bytes of payload");
        }

        int pieces = Fragments(in info, maxIp);
        if (RoomForFragments(pieces) is var noRoom and not DropReason.None)
        {
            return noRoom;
        }

        if (routed)
        {
            RoutingRewrite(ref info, _p.Records[dstIndex].MacAddress, Forwarder.RoutedSourceMac(_p, in src, info.Source));
        }
        else
        {
            MarkGatewayTraffic(port, in src, in info);
        }

        ref readonly RecordEntry dst = ref _p.Records[dstIndex];
        bool nat = dst.Rule == TranslationRule.Nat;
        Step("mtu", $"no DF: fragmented into {pieces} IPv4 fragments of at most {maxIp} bytes, each {(nat ? "rewritten" : "encapsulated")} on its own");
        var tunnel = TunnelOf(in src, dst.ProviderAddress, in t, nat ? null : dst.Vsid, in info);
        Step("tunnel", TunnelText(tunnel, in info), tunnel: tunnel);
        string how = nat ? $"rewritten (NAT) to PA {dst.ProviderAddress}" : $"encapsulated to PA {dst.ProviderAddress}";
        for (int i = 0; i < pieces; i++)
        {
            SendToProvider(in t, extra: i != 0, $"{how} in {pieces} fragments via port {PortName(t.ProviderPortIndex)}");
        }

        _rented--; // the input's own buffer goes back once the fragments are made
        return DropReason.None;
    }

    /// <summary>Forwarder.RoomForFragments: queue slots (else tx_full), then free buffers (else pool_exhausted), one per fragment.</summary>
    private DropReason RoomForFragments(int count) =>
        Forwarder.TxQueueCapacity < count ? Fail(DropReason.TxFull, "mtu", $"{count} fragments would not fit the transmit queue")
        : _poolSize - _rented < count ? Fail(DropReason.PoolExhausted, "mtu", $"{count} fragments would not find free buffers in the pool")
        : DropReason.None;

    /// <summary>How many fragments Ipv4Fragmenter makes of the walk's IPv4 packet for <paramref name="maxIp"/>.</summary>
    private int Fragments(in PacketInfo info, int maxIp) => Ipv4Fragmenter.Count(_buffer.Frame.Slice(info.L3Offset, info.L3Length), maxIp);

    /// <summary>
    /// Toward the provider (NeighborResolver.SendToProvider): at once with a static next-hop MAC;
    /// else the frame waits while ARP / ND asks (a fresh worker has learned no MAC).
    /// </summary>
    private DropReason SendToProvider(in EncapTemplate t, bool extra, string summary)
    {
        if (t.Unusable == DropReason.None)
        {
            if (extra)
            {
                Extra(t.ProviderPortIndex, string.Empty);
                return DropReason.None;
            }

            return Forward(t.ProviderPortIndex, summary);
        }

        return SendToNeighbor(t.ProviderPortIndex, t.VlanId, t.NextHop, t.SourceAddress, extra, summary);
    }

    /// <summary>A frame whose next hop is resolved dynamically (NeighborResolver.SendToNeighbor): it waits, in at most 64 places per port.</summary>
    private DropReason SendToNeighbor(int port, ushort vlan, IpAddr nextHop, IpAddr sourceAddress, bool extra, string summary)
    {
        RequestNeighbor(port, vlan, nextHop, sourceAddress);
        if (_parked >= Forwarder.ParkCapacity)
        {
            return extra ? DropReason.None : Fail(DropReason.NeighborUnresolved, "neighbor", $"{Forwarder.ParkCapacity} frames already wait for this port's next hops");
        }

        _parked++;
        if (!extra)
        {
            Step("neighbor", $"waits (at most {Forwarder.ParkTimeoutNs / 1_000_000_000} s) for the MAC of {nextHop}; a worker that has learned it sends at once");
            _summary ??= $"waiting for the MAC of next hop {nextHop} on port {PortName(port)}, then {summary}";
        }

        return DropReason.None;
    }

    /// <summary>
    /// An ARP request (IPv4) or neighbor solicitation (IPv6) for the next hop, once per next hop
    /// and VLAN (NeighborResolver.RequestNeighbor): only an answer on that VLAN is learned.
    /// </summary>
    private void RequestNeighbor(int port, ushort vlan, IpAddr nextHop, IpAddr sourceAddress)
    {
        if (_rented >= _poolSize || !_requested.Add((port, vlan, nextHop)))
        {
            return;
        }

        string what = nextHop.IsV4 ? "ARP request" : "neighbor solicitation";
        string on = vlan == 0 ? "untagged: only an untagged answer is learned" : $"on VLAN {vlan}: only an answer that comes by VLAN {vlan} is learned";
        Step("neighbor", $"{what} for {nextHop} from {sourceAddress} on {PortName(port)}, {on}");
        Extra(port, $"{what} for {nextHop} sent on port {PortName(port)}");
    }

    /// <summary>
    /// The ICMP error about the frame (Forwarder.AnswerWithIcmpError): packet too big with the
    /// next-hop <paramref name="mtu"/>, or time exceeded when it is negative, from the gateway
    /// address of the sender's subnet, back on its port; from an external port, out of it.
    /// </summary>
    private void IcmpError(PortInfo port, in PacketInfo info, int mtu)
    {
        string kind = IcmpKind(in info, mtu);
        if (port.IsExternal)
        {
            ExternalIcmpError(port, in info, kind);
            return;
        }

        if (!port.Vsid!.TryGetGatewayFor(info.Source, out var gateway))
        {
            Step("icmp", $"no {kind}: no on-link route of VSID {port.Vsid.Vsid} holds the sender {info.Source}, so no gateway address can send it");
            return;
        }

        if (!LocalResponder.MayAnswerWithError(_buffer.Frame, in info))
        {
            Step("icmp", $"no {kind}: never about an ICMP error or a later IPv4 fragment");
            return;
        }

        if (_rented >= _poolSize)
        {
            return;
        }

        Step("icmp", $"{kind} from the gateway {gateway} to {info.Source}, back on {port.Name}");
        Extra(port.Index, $"{kind} sent back on port {port.Name}");
    }

    private static string IcmpKind(in PacketInfo info, int mtu) => mtu < 0
        ? info.IpVersion == 4 ? "ICMP time exceeded" : "ICMPv6 hop limit exceeded"
        : info.IpVersion == 4 ? $"ICMP fragmentation needed (next-hop MTU {mtu})"
        : mtu < LocalResponder.Ipv6MinimumMtu ? $"ICMPv6 packet too big (MTU {LocalResponder.Ipv6MinimumMtu}, IPv6's minimum: the path carries only {mtu})"
        : $"ICMPv6 packet too big (MTU {mtu})";

    /// <summary>One NVGRE copy of a flood per remote PA (Flooding.cs CopyToRemotePas); returns the copies that left or wait.</summary>
    private int CopyToRemotePas(PortInfo port, in PacketInfo info, int srcIndex, int[] remotePas)
    {
        ref readonly RecordEntry src = ref _p.Records[srcIndex];
        uint vsid = port.Vsid!.Vsid;
        bool icmpSent = false;
        int sent = 0;
        foreach (int remote in remotePas)
        {
            var pa = _p.RemotePas[remote];
            if (src.TemplateRow < 0)
            {
                Lose(DropReason.NoProviderRoute, "flood", $"copy for PA {pa}: the source record (PA {src.ProviderAddress}) is no local VM's");
                continue;
            }

            ref readonly EncapTemplate t = ref _p.Template(in src, remote);
            if (t.Unusable is not (DropReason.None or DropReason.NeighborUnresolved))
            {
                Lose(t.Unusable, "flood", $"copy for PA {pa}: {Unusable(in src, pa)}");
                continue;
            }

            var tunnel = TunnelOf(in src, pa, in t, vsid, in info);
            if (info.L3Length + t.Overhead > t.Mtu)
            {
                sent += CopyTooBig(port, in info, pa, in t, ref icmpSent);
                continue;
            }

            Step("flood", $"copy for PA {pa}: {TunnelText(tunnel, in info)}", tunnel: tunnel);
            DropReason r = SendCopy(in t);
            if (r == DropReason.None)
            {
                sent++;
            }
            else
            {
                Lose(r, "flood", $"copy for PA {pa}");
            }
        }

        return sent;
    }

    /// <summary>The MTU rule for one remote copy of a flood (Flooding.cs CopyTooBig); 1 when its fragments left.</summary>
    private int CopyTooBig(PortInfo port, in PacketInfo info, IpAddr pa, in EncapTemplate t, ref bool icmpSent)
    {
        int maxIp = t.Mtu - t.Overhead;
        if (info.IpVersion != 4 || info.DontFragment)
        {
            if (!icmpSent)
            {
                IcmpError(port, in info, maxIp);
                icmpSent = true;
            }

            Lose(DropReason.MtuExceeded, "flood", $"copy for PA {pa}: {info.L3Length + t.Overhead} bytes > MTU {t.Mtu}");
            return 0;
        }

        int perFragment = Ipv4Fragmenter.PayloadPerFragment(maxIp, info.IpHeaderLength);
        if (perFragment < 8)
        {
            Lose(DropReason.MtuExceeded, "flood", $"copy for PA {pa}: no fragment of {maxIp} bytes carries 8 bytes of payload");
            return 0;
        }

        int pieces = Fragments(in info, maxIp);
        Step("flood", $"copy for PA {pa}: no DF, fragmented into {pieces} fragments of at most {maxIp} bytes");
        DropReason first = DropReason.None;
        for (int i = 0; i < pieces; i++)
        {
            DropReason r = SendCopy(in t);
            first = i == 0 ? r : first;
        }

        if (first == DropReason.None)
        {
            return 1;
        }

        Lose(first, "flood", $"copy for PA {pa}");
        return 0;
    }

    /// <summary>A flood copy toward its PA (Flooding.cs SendCopyToProvider): queued, or waiting in at most half the pool.</summary>
    private DropReason SendCopy(in EncapTemplate t)
    {
        _rented++;
        if (t.Unusable == DropReason.None)
        {
            _egress[t.ProviderPortIndex]++;
            return DropReason.None;
        }

        RequestNeighbor(t.ProviderPortIndex, t.VlanId, t.NextHop, t.SourceAddress);
        if (_parked >= Math.Min(Forwarder.ParkCapacity, _poolSize / 2))
        {
            return DropReason.NeighborUnresolved;
        }

        _parked++;
        return DropReason.None;
    }
}
