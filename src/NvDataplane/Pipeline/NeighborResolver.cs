using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

// Provider-side next hops without a static providerNeighbors entry are resolved by ARP (IPv4)
// and neighbor discovery (IPv6) on the provider port. Frames for an unresolved next hop wait in
// a small bounded queue (ParkCapacity) until the answer comes or ParkTimeoutNs passes; then they
// leave with the learned MAC, or are dropped as neighbor_unresolved. Learned entries are trusted
// for ReachableNs. Times are frame timestamps, so replay stays deterministic.
public sealed partial class Forwarder
{
    /// <summary>Frames that may wait for a next hop's MAC at once (all next hops together).</summary>
    public const int ParkCapacity = 64;

    public const long ParkTimeoutNs = 1_000_000_000;
    public const long RequestIntervalNs = 1_000_000_000;
    public const long ReachableNs = 300L * 1_000_000_000;

    private readonly Dictionary<IpAddr, (MacAddress Mac, long LearnedNs)> _neighbors = [];
    private readonly Dictionary<IpAddr, long> _requestedNs = [];
    private readonly List<Parked> _parked = new(ParkCapacity);

    /// <param name="Counted">The input's own frame: forwarded when it leaves, neighbor_unresolved when it expires.</param>
    /// <param name="FloodCopy">A copy of a flooded frame (Flooding.cs): not counted when it leaves, but counted when lost.</param>
    private readonly record struct Parked(PacketBuffer Buffer, IpAddr NextHop, int Port, long SinceNs, bool Counted, bool FloodCopy = false);

    /// <summary>Frames waiting for a next hop's MAC.</summary>
    public int ParkedCount => _parked.Count;

    /// <summary>The MAC learned for a provider next hop, if any (for tests and diagnostics).</summary>
    public bool TryGetNeighbor(IpAddr address, out MacAddress mac)
    {
        bool found = _neighbors.TryGetValue(address, out var entry);
        mac = entry.Mac;
        return found;
    }

    /// <summary>
    /// Sends a frame toward the provider: at once when the template's next hop is static or
    /// learned (writing the learned MAC in), else parked while ARP / ND asks for it. The first
    /// frame of an input counts as forwarded when it leaves; extra frames (fragments) do not.
    /// </summary>
    private DropReason SendToProvider(in EncapTemplate t, PacketBuffer buffer, bool extra = false)
    {
        if (t.Unusable == DropReason.None || TryLearned(t.NextHop, buffer.TimestampNs, buffer))
        {
            if (!extra)
            {
                return Forward(t.ProviderPortIndex, buffer);
            }

            QueueExtra(t.ProviderPortIndex, buffer);
            return DropReason.None;
        }

        RequestNeighbor(in t, buffer.TimestampNs);
        if (_parked.Count >= ParkCapacity)
        {
            if (extra)
            {
                _pool.Return(buffer);
                return DropReason.None;
            }

            return DropReason.NeighborUnresolved;
        }

        _parked.Add(new Parked(buffer, t.NextHop, t.ProviderPortIndex, buffer.TimestampNs, !extra));
        return DropReason.None;
    }

    private bool TryLearned(IpAddr nextHop, long nowNs, PacketBuffer buffer)
    {
        if (!_neighbors.TryGetValue(nextHop, out var entry) || nowNs - entry.LearnedNs > ReachableNs)
        {
            return false;
        }

        entry.Mac.Write(buffer.Data.AsSpan(buffer.Offset));
        return true;
    }

    /// <summary>Whether frames wait for, or a request was sent for, <paramref name="address"/>.</summary>
    private bool IsAwaited(IpAddr address) => _requestedNs.ContainsKey(address) || _neighbors.ContainsKey(address);

    /// <summary>Records a next hop's MAC (only one we asked for or already knew) and sends what waited for it.</summary>
    private void Learn(IpAddr address, MacAddress mac, long nowNs)
    {
        _neighbors[address] = (mac, nowNs);
        _requestedNs.Remove(address);
        for (int i = 0; i < _parked.Count; i++)
        {
            var parked = _parked[i];
            if (parked.NextHop != address)
            {
                continue;
            }

            _parked.RemoveAt(i--);
            mac.Write(parked.Buffer.Data.AsSpan(parked.Buffer.Offset));
            if (parked.FloodCopy)
            {
                QueueFloodCopy(parked.Port, parked.Buffer);
            }
            else if (!parked.Counted)
            {
                QueueExtra(parked.Port, parked.Buffer);
            }
            else if (Forward(parked.Port, parked.Buffer) != DropReason.None)
            {
                Counters.Drops[(int)DropReason.TxFull]++;
                _pool.Return(parked.Buffer);
            }
        }
    }

    /// <summary>Drops frames that waited longer than <see cref="ParkTimeoutNs"/> before <paramref name="nowNs"/> (long.MaxValue: all).</summary>
    public void ExpireParked(long nowNs)
    {
        for (int i = 0; i < _parked.Count; i++)
        {
            var parked = _parked[i];
            if (nowNs - parked.SinceNs < ParkTimeoutNs)
            {
                continue;
            }

            _parked.RemoveAt(i--);
            if (parked.Counted || parked.FloodCopy)
            {
                Counters.Drops[(int)DropReason.NeighborUnresolved]++;
            }

            _pool.Return(parked.Buffer);
        }
    }

    /// <summary>An ARP request (IPv4) or neighbor solicitation (IPv6) for the template's next hop, at most once per interval.</summary>
    private void RequestNeighbor(in EncapTemplate t, long nowNs)
    {
        if (_requestedNs.TryGetValue(t.NextHop, out long last) && nowNs - last < RequestIntervalNs && nowNs >= last)
        {
            return;
        }

        var request = _pool.Rent();
        if (request is null)
        {
            return;
        }

        _requestedNs[t.NextHop] = nowNs;
        request.TimestampNs = nowNs;
        var portMac = _p.Ports[t.ProviderPortIndex].Mac;
        Span<byte> f = request.Data.AsSpan(request.Offset);
        int l3 = WriteRequestEthernet(f, t, portMac);
        if (t.NextHop.IsV4)
        {
            Span<byte> arp = f[l3..];
            BinaryPrimitives.WriteUInt16BigEndian(arp, 1);
            BinaryPrimitives.WriteUInt16BigEndian(arp[Arp.ProtocolTypeOffset..], Ethernet.TypeIpv4);
            arp[Arp.HardwareLengthOffset] = 6;
            arp[Arp.ProtocolLengthOffset] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(arp[Arp.OperationOffset..], Arp.OpRequest);
            portMac.Write(arp[Arp.SenderMacOffset..]);
            t.SourceAddress.Write(arp[Arp.SenderIpOffset..]);
            arp.Slice(Arp.TargetMacOffset, 6).Clear();
            t.NextHop.Write(arp[Arp.TargetIpOffset..]);
            request.Length = l3 + Arp.Size;
        }
        else
        {
            Span<byte> ip = f[l3..];
            var solicited = SolicitedNode(t.NextHop);
            const int payload = Icmp.NeighborMessageSize + 8;
            BinaryPrimitives.WriteUInt32BigEndian(ip, 0x6000_0000);
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv6.PayloadLengthOffset..], payload);
            ip[Ipv6.NextHeaderOffset] = IpProtocol.Icmpv6;
            ip[Ipv6.HopLimitOffset] = 255;
            t.SourceAddress.Write(ip[Ipv6.SourceOffset..]);
            solicited.Write(ip[Ipv6.DestinationOffset..]);
            Span<byte> icmp = ip.Slice(Ipv6.HeaderSize, payload);
            icmp.Clear();
            icmp[Icmp.TypeOffset] = Icmp.V6NeighborSolicitation;
            t.NextHop.Write(icmp[Icmp.NdTargetOffset..]);
            icmp[Icmp.NdOptionsOffset] = 1; // source link-layer address
            icmp[Icmp.NdOptionsOffset + 1] = 1;
            portMac.Write(icmp[(Icmp.NdOptionsOffset + 2)..]);
            ulong pseudo = Checksum.PseudoHeaderSum(t.SourceAddress, solicited, IpProtocol.Icmpv6, payload);
            BinaryPrimitives.WriteUInt16BigEndian(icmp[Icmp.ChecksumOffset..], Checksum.Compute(icmp, pseudo));
            request.Length = l3 + Ipv6.HeaderSize + payload;
        }

        QueueExtra(t.ProviderPortIndex, request);
    }

    /// <summary>Broadcast (ARP) or the solicited-node multicast MAC (ND), our MAC, the PA's VLAN tag; returns the L3 offset.</summary>
    private static int WriteRequestEthernet(Span<byte> f, in EncapTemplate t, MacAddress portMac)
    {
        var destination = t.NextHop.IsV4 ? MacAddress.Broadcast : new MacAddress(0x3333_FF00_0000UL | (t.NextHop.Lo & 0xFF_FFFF));
        destination.Write(f);
        portMac.Write(f[Ethernet.SourceOffset..]);
        int type = Ethernet.TypeOffset;
        if (t.VlanId != 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(f[type..], Ethernet.TypeVlan);
            BinaryPrimitives.WriteUInt16BigEndian(f[(type + 2)..], t.VlanId);
            type += Ethernet.VlanTagSize;
        }

        BinaryPrimitives.WriteUInt16BigEndian(f[type..], t.NextHop.IsV4 ? Ethernet.TypeArp : Ethernet.TypeIpv6);
        return type + 2;
    }

    /// <summary>ff02::1:ffXX:XXXX for the low 24 bits of <paramref name="address"/>.</summary>
    private static IpAddr SolicitedNode(IpAddr address) => new(0xFF02_0000_0000_0000UL, 0x0000_0001_FF00_0000UL | (address.Lo & 0xFF_FFFF));

    /// <summary>
    /// An ARP reply or request from a next hop we asked for (or know): learn it. True when the
    /// frame was only that (a reply), and is consumed here.
    /// </summary>
    private bool LearnFromArp(ReadOnlySpan<byte> arp, long nowNs)
    {
        var sender = IpAddr.ReadV4(arp[Arp.SenderIpOffset..]);
        if (!IsAwaited(sender))
        {
            return false;
        }

        Learn(sender, MacAddress.Read(arp[Arp.SenderMacOffset..]), nowNs);
        return Arp.ReadOperation(arp) == Arp.OpReply;
    }

    /// <summary>A neighbor advertisement for a next hop we asked for: learn its target link-layer address.</summary>
    private bool LearnFromAdvertisement(ReadOnlySpan<byte> frame, in PacketInfo info, long nowNs)
    {
        if (info.IsFragment || info.L4Length < Icmp.NeighborMessageSize || frame[info.L4Offset] != Icmp.V6NeighborAdvertisement)
        {
            return false;
        }

        var target = IpAddr.ReadV6(frame[(info.L4Offset + Icmp.NdTargetOffset)..]);
        if (!IsAwaited(target))
        {
            return false;
        }

        ReadOnlySpan<byte> options = frame[(info.L4Offset + Icmp.NdOptionsOffset)..info.IpFrameEnd];
        while (options.Length >= 8 && options[1] != 0)
        {
            int length = options[1] * 8;
            if (length > options.Length)
            {
                break;
            }

            if (options[0] == 2)
            {
                Learn(target, MacAddress.Read(options[2..]), nowNs);
                return true;
            }

            options = options[length..];
        }

        return false;
    }
}
