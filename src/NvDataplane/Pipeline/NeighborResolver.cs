using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Nvgre;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

// Next hops without a static entry are resolved by ARP (IPv4) and neighbor discovery (IPv6) on
// the port the frame leaves by: provider next hops (without a providerNeighbors entry) on the
// provider port, external next hops on the external port. Entries are per (port, VLAN, address)
// (NeighborKey), as the provider and external networks may reuse addresses, and a provider port's
// PAs may sit on different VLANs, each its own link: an answer teaches only the VLAN its request
// went out on (AnswerVlan, AnswerFate). Frames for an unresolved next hop wait
// in a small bounded queue (ParkCapacity) until the answer comes or ParkTimeoutNs passes; then
// they leave with the learned MAC, or are dropped as neighbor_unresolved. Learned entries are
// trusted for ReachableNs. Each port has its own places in the queue, so frames for one port's
// next hops never take those of another's (a tenant sending to many silent outside addresses
// cannot make frames to an unresolved provider next hop neighbor_unresolved). Times are frame
// timestamps, so replay stays deterministic.
public sealed partial class Forwarder
{
    /// <summary>Frames that may wait at once for the MACs of one port's next hops (all of that port's next hops together).</summary>
    public const int ParkCapacity = 64;

    public const long ParkTimeoutNs = 1_000_000_000;
    public const long RequestIntervalNs = 1_000_000_000;
    public const long ReachableNs = 300L * 1_000_000_000;

    /// <summary>Next hops asked for and not answered that may be remembered at once (a tenant sending to many outside addresses asks for each).</summary>
    public const int MaxPendingRequests = 1024;

    /// <summary>Learned next hops that may be held at once; entries past <see cref="ReachableNs"/> are swept first.</summary>
    public const int MaxNeighbors = 65_536;

    /// <summary>How long an answer to a request is taken: the park time and one more request interval.</summary>
    private const long AnswerWindowNs = ParkTimeoutNs + RequestIntervalNs;

    /// <summary>A full table is swept at most this often: one that stays full must not make every frame pay for a sweep.</summary>
    private const long SweepIntervalNs = 100_000_000;

    private long _requestSweepNs = long.MinValue, _neighborSweepNs = long.MinValue;

    /// <summary>
    /// Frames that may wait here with this forwarder's pool: <see cref="ParkCapacity"/> per port,
    /// and at most half the pool in all, so frames waiting for an answer never hold every buffer
    /// of a small pool (a replay's 64) and leave none for the frames after them.
    /// </summary>
    private bool MayPark(int port, int count = 1) =>
        _parked.Count + count <= _pool.Size / 2 && (port < _parkedOnPort.Length ? _parkedOnPort[port] : 0) + count <= ParkCapacity;

    /// <summary>
    /// Whether the <paramref name="count"/> fragments of one packet toward <paramref name="n"/>
    /// can all leave or wait: its MAC is known, or the queue has places for every one (a
    /// fragment that found none was lost uncounted, the packet counted as forwarded by its
    /// first). Otherwise the next hop is asked for all the same, and the packet is
    /// neighbor_unresolved whole.
    /// </summary>
    private DropReason RoomToWaitFor(in NeighborTarget n, int count, long nowNs)
    {
        if (IsLearned(n.Key, nowNs, out _) || MayPark(n.Port, count))
        {
            return DropReason.None;
        }

        RequestNeighbor(in n, nowNs);
        return DropReason.NeighborUnresolved;
    }

    private void Park(in Parked parked)
    {
        if (parked.Port >= _parkedOnPort.Length)
        {
            Array.Resize(ref _parkedOnPort, parked.Port + 1);
        }

        _parkedOnPort[parked.Port]++;
        _parked.Add(parked);
    }

    private Parked Unpark(int index)
    {
        var parked = _parked[index];
        _parked.RemoveAt(index);
        _parkedOnPort[parked.Port]--;
        return parked;
    }

    private readonly Dictionary<NeighborKey, (MacAddress Mac, long LearnedNs)> _neighbors = [];
    private readonly Dictionary<NeighborKey, long> _requestedNs = [];
    private readonly List<Parked> _parked = new(ParkCapacity);
    private int[] _parkedOnPort = new int[4];

    /// <summary>Set while a frame the dataplane made (an ICMP error routed into the tenant) goes its way: it waits as a frame that counts only its loss, and one that finds no place is neighbor_unresolved.</summary>
    private bool _sendingExtra;

    /// <param name="Counted">The input's own frame: forwarded when it leaves, neighbor_unresolved when it expires.</param>
    /// <param name="CountLoss">A frame made here that counts only when it is lost, not when it leaves: a copy of a flooded frame (Flooding.cs), an ICMP error routed into the tenant (ExternalPort.cs).</param>
    /// <param name="Message">An MS-NVGREE message (Migration.cs): counted sent when it leaves, messages_lost when it does not.</param>
    /// <param name="Answer">The input's own frame turned into the dataplane's answer (the external port's echo reply): answered when it leaves.</param>
    private readonly record struct Parked(PacketBuffer Buffer, NeighborKey NextHop, long SinceNs, bool Counted, bool CountLoss = false,
        MigrationMessageKind Message = MigrationMessageKind.None, bool Answer = false)
    {
        public int Port => NextHop.Port;
    }

    /// <summary>Where a frame leaves and whom it goes to: the port, the next hop, and what an ARP / ND request for it carries.</summary>
    private readonly record struct NeighborTarget(int Port, IpAddr NextHop, IpAddr SourceAddress, ushort VlanId)
    {
        public NeighborKey Key => new(Port, VlanId, NextHop);

        /// <summary>The next hop a provider tunnel template leaves by.</summary>
        public static NeighborTarget Of(in EncapTemplate t) => new(t.ProviderPortIndex, t.NextHop, t.SourceAddress, t.VlanId);
    }

    /// <summary>
    /// A next hop as the resolver holds it: the port, the VLAN its request goes out on (the VLAN
    /// of the PA it is reached through, 0 untagged) and its address. One address on two VLANs
    /// of a port is two next hops: each VLAN is its own link, asked and answered on its own.
    /// </summary>
    private readonly record struct NeighborKey(int Port, ushort VlanId, IpAddr Address);

    /// <summary>What an ARP / ND message from the network did to the resolver.</summary>
    private enum AnswerFate : byte
    {
        /// <summary>Learned from, or about no next hop awaited on this port: the frame goes its own way.</summary>
        Pass,

        /// <summary>An answer to our request, learned; the frame was only that, and is used up.</summary>
        Consumed,

        /// <summary>An answer about a next hop awaited on another VLAN of the port than the one it came on: it teaches nothing (vlan_tagged).</summary>
        OtherVlan,

        /// <summary>An answer to our request whose MAC can be no next hop's (zero, group, this port's own, the gateway MAC): it teaches nothing (bad_neighbor_answer).</summary>
        Refused,
    }

    /// <summary>Frames waiting for a next hop's MAC.</summary>
    public int ParkedCount => _parked.Count;

    /// <summary>The MAC learned for a next hop on any port, if any (for tests and diagnostics).</summary>
    public bool TryGetNeighbor(IpAddr address, out MacAddress mac)
    {
        foreach (var (key, entry) in _neighbors)
        {
            if (key.Address == address)
            {
                mac = entry.Mac;
                return true;
            }
        }

        mac = default;
        return false;
    }

    /// <summary>
    /// Sends a frame toward the provider: at once when the template's next hop is static or
    /// learned (writing the learned MAC in), else parked while ARP / ND asks for it. The first
    /// frame of an input counts as forwarded when it leaves; extra frames (fragments) do not.
    /// </summary>
    private DropReason SendToProvider(in EncapTemplate t, PacketBuffer buffer, bool extra = false) =>
        t.Unusable == DropReason.None
            ? Send(t.ProviderPortIndex, buffer, extra)
            : SendToNeighbor(NeighborTarget.Of(in t), buffer, extra);

    /// <summary>Queues a frame whose destination MAC is in place: forwarded, or an extra frame of an input.</summary>
    private DropReason Send(int port, PacketBuffer buffer, bool extra)
    {
        if (!extra)
        {
            return Forward(port, buffer);
        }

        QueueExtra(port, buffer);
        return DropReason.None;
    }

    /// <summary>
    /// Sends a frame whose next hop is resolved dynamically: with the learned MAC, or parked while
    /// ARP / ND asks. No place to wait: neighbor_unresolved, for the input's own frame and for a
    /// frame made here (<see cref="_sendingExtra"/>), whose maker counts it.
    /// </summary>
    private DropReason SendToNeighbor(in NeighborTarget n, PacketBuffer buffer, bool extra)
    {
        if (TryLearned(n.Key, buffer.TimestampNs, buffer))
        {
            return Send(n.Port, buffer, extra || _sendingExtra);
        }

        RequestNeighbor(in n, buffer.TimestampNs);
        if (!MayPark(n.Port))
        {
            if (extra)
            {
                _pool.Return(buffer); // a later fragment: RoomToWaitFor found places for all of its packet's
                return DropReason.None;
            }

            return DropReason.NeighborUnresolved;
        }

        bool counted = !extra && !_sendingExtra;
        Park(new Parked(buffer, n.Key, buffer.TimestampNs, counted, CountLoss: !extra && _sendingExtra, Answer: counted && _answering));
        return DropReason.None;
    }

    /// <summary>
    /// Sends a frame the caller counts itself (a flood copy, a message) toward the provider:
    /// queued when the next hop's MAC is known (<paramref name="queued"/>), else parked, as a flood
    /// copy (<paramref name="countLoss"/>) or a <paramref name="message"/>, while ARP / ND asks — behind the frames already waiting for
    /// that next hop, so frames leave in the order they were sent. Returns why it could do
    /// neither (tx_full, neighbor_unresolved), the buffer then still the caller's.
    /// </summary>
    private DropReason QueueOrPark(in EncapTemplate t, PacketBuffer frame, bool countLoss, MigrationMessageKind message, out bool queued)
    {
        var target = NeighborTarget.Of(in t);
        queued = t.Unusable == DropReason.None || TryLearned(target.Key, frame.TimestampNs, frame);
        if (queued)
        {
            return Enqueue(t.ProviderPortIndex, frame) ? DropReason.None : DropReason.TxFull;
        }

        // Frames wait in at most half the pool (MayPark): one broadcast to many unresolved hosts
        // must not hold every buffer of a small pool (a replay's 64) while it waits.
        RequestNeighbor(in target, frame.TimestampNs);
        if (!MayPark(t.ProviderPortIndex))
        {
            return DropReason.NeighborUnresolved;
        }

        Park(new Parked(frame, target.Key, frame.TimestampNs, Counted: false, CountLoss: countLoss, Message: message));
        return DropReason.None;
    }

    private bool TryLearned(NeighborKey nextHop, long nowNs, PacketBuffer buffer)
    {
        if (!IsLearned(nextHop, nowNs, out var mac))
        {
            return false;
        }

        mac.Write(buffer.Data.AsSpan(buffer.Offset));
        return true;
    }

    /// <summary>The MAC learned for <paramref name="nextHop"/>, when it was learned within <see cref="ReachableNs"/>.</summary>
    private bool IsLearned(NeighborKey nextHop, long nowNs, out MacAddress mac)
    {
        bool fresh = _neighbors.TryGetValue(nextHop, out var entry) && nowNs - entry.LearnedNs <= ReachableNs;
        mac = entry.Mac;
        return fresh;
    }

    /// <summary>
    /// Whether a request for <paramref name="nextHop"/> went out on its port and VLAN within
    /// <see cref="AnswerWindowNs"/>: only an answer to our own request is learned, so an
    /// unsolicited reply can neither add a next hop nor move a known one elsewhere (a known one is
    /// asked again once it is past <see cref="ReachableNs"/>).
    /// </summary>
    private bool IsAwaited(NeighborKey nextHop, long nowNs) =>
        _requestedNs.TryGetValue(nextHop, out long sentNs) && nowNs - sentNs <= AnswerWindowNs && nowNs >= sentNs;

    /// <summary>Whether <paramref name="nextHop"/>'s address is awaited on the same port on the VLAN of another of its PAs.</summary>
    private bool IsAwaitedOnOtherVlan(PortInfo port, NeighborKey nextHop, long nowNs)
    {
        foreach (int i in port.LocalPaIndices)
        {
            ushort vlan = _p.LocalPas[i].VlanId;
            if (vlan != nextHop.VlanId && IsAwaited(nextHop with { VlanId = vlan }, nowNs))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The VLAN an ARP / ND message on <paramref name="port"/> came by, as next hops are keyed:
    /// its 802.1Q tag, or, untagged, the VLAN that every PA of the port sits on when they share
    /// one, else 0. An untagged frame to a PA with a vlanId is accepted because a NIC may have
    /// taken the tag off (OnPaVlan, as the README says); on a port whose PAs share one VLAN it can
    /// only have come over that VLAN, so its answer counts for it. Where the PAs sit on several
    /// VLANs (0 among them or not), a stripped tag would leave no trace of which link the answer
    /// crossed, so an untagged answer counts only for a request that went out untagged: taking
    /// it for any VLAN would let a station on one VLAN teach next hops of another. An external
    /// port has no PA and takes only frames of its own VLAN (untagged when it has none), so the
    /// rule gives its VLAN there too.
    /// </summary>
    internal static ushort AnswerVlan(PolicySnapshot p, PortInfo port, in PacketInfo info)
    {
        if (info.VlanId >= 0)
        {
            return (ushort)info.VlanId;
        }

        int shared = -1;
        foreach (int i in port.LocalPaIndices)
        {
            ushort vlan = p.LocalPas[i].VlanId;
            if (shared >= 0 && shared != vlan)
            {
                return 0;
            }

            shared = vlan;
        }

        return (ushort)Math.Max(shared, 0);
    }

    /// <summary>Records a next hop's MAC (only one we asked for) and sends what waited for it.</summary>
    /// <returns>False when <paramref name="mac"/> can be no next hop's (nothing learned).</returns>
    private bool Learn(NeighborKey nextHop, MacAddress mac, long nowNs)
    {
        if (mac.IsMulticast || mac.IsZero || mac == _p.Ports[nextHop.Port].Mac || mac == _gatewayMac)
        {
            // No next hop is a group or nobody (a frame to it would go to every station, or
            // none), nor this port itself or the gateway MAC: frames would leave with their own
            // source MAC as destination, and that next hop would be black-holed for 5 minutes.
            return false;
        }

        if (!_neighbors.ContainsKey(nextHop) && _neighbors.Count >= MaxNeighbors && SweepNeighbors(nowNs) == 0)
        {
            return true; // a full table: asked again later
        }

        _neighbors[nextHop] = (mac, nowNs);
        _requestedNs.Remove(nextHop);
        for (int i = 0; i < _parked.Count; i++)
        {
            if (_parked[i].NextHop != nextHop)
            {
                continue;
            }

            var parked = Unpark(i--);
            mac.Write(parked.Buffer.Data.AsSpan(parked.Buffer.Offset));
            if (parked.Message != MigrationMessageKind.None)
            {
                QueueMessage(parked.Port, parked.Buffer, parked.Message);
            }
            else if (parked.CountLoss)
            {
                QueueCountingLoss(parked.Port, parked.Buffer);
            }
            else if (!parked.Counted)
            {
                QueueExtra(parked.Port, parked.Buffer);
            }
            else if ((parked.Answer ? Answer(parked.Port, parked.Buffer) : Forward(parked.Port, parked.Buffer)) != DropReason.None)
            {
                Counters.Drops[(int)DropReason.TxFull]++;
                _pool.Return(parked.Buffer);
            }
        }

        return true;
    }

    /// <summary>A parked frame that counts only its loss (a flood copy, a routed-in ICMP error) whose next hop answered: queued, or tx_full.</summary>
    private void QueueCountingLoss(int port, PacketBuffer frame)
    {
        if (!Enqueue(port, frame))
        {
            Counters.Drops[(int)DropReason.TxFull]++;
            _pool.Return(frame);
        }
    }

    /// <summary>
    /// Drops every waiting frame under <paramref name="reason"/>: a new policy version is in
    /// use, and they were encapsulated, routed and judged (ACLs, flood targets) under the old
    /// one. Sent when the answer came, a frame to a record since removed, moved to another PA or
    /// denied left all the same, after the API had said the change was in effect.
    /// </summary>
    private void DropParked(DropReason reason)
    {
        while (_parked.Count > 0)
        {
            Lose(Unpark(_parked.Count - 1), reason);
        }
    }

    /// <summary>
    /// A waiting frame that will not leave, back to the pool: a message is messages_lost, the
    /// input's own frame or a frame made here that counts its loss (a flood copy, a routed-in
    /// ICMP error) a drop under <paramref name="reason"/>, other extra frames were never counted.
    /// </summary>
    private void Lose(in Parked parked, DropReason reason)
    {
        if (parked.Message != MigrationMessageKind.None)
        {
            Counters.Migration.MessagesLost++;
        }
        else if (parked.Counted || parked.CountLoss)
        {
            Counters.Drops[(int)reason]++;
        }

        _pool.Return(parked.Buffer);
    }

    /// <summary>Drops frames that waited <see cref="ParkTimeoutNs"/> or longer before <paramref name="nowNs"/>.</summary>
    public void ExpireParked(long nowNs)
    {
        for (int i = 0; i < _parked.Count; i++)
        {
            if (nowNs - _parked[i].SinceNs < ParkTimeoutNs)
            {
                continue;
            }

            Lose(Unpark(i--), DropReason.NeighborUnresolved);
        }
    }

    /// <summary>An ARP request (IPv4) or neighbor solicitation (IPv6) for the next hop, at most once per interval.</summary>
    private void RequestNeighbor(in NeighborTarget t, long nowNs)
    {
        bool asked = _requestedNs.TryGetValue(t.Key, out long last);
        if (asked && nowNs - last < RequestIntervalNs && nowNs >= last)
        {
            return;
        }

        if (!asked && _requestedNs.Count >= MaxPendingRequests && SweepRequests(nowNs) == 0)
        {
            return; // the frame waits unanswered and ends as neighbor_unresolved
        }

        var request = _pool.Rent();
        if (request is null)
        {
            return;
        }

        _requestedNs[t.Key] = nowNs;
        request.TimestampNs = nowNs;
        var portMac = _p.Ports[t.Port].Mac;
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

        QueueExtra(t.Port, request);
    }

    /// <summary>Forgets requests whose answer window has passed; returns how many.</summary>
    private int SweepRequests(long nowNs)
    {
        if (!SweepClock.Due(ref _requestSweepNs, nowNs, SweepIntervalNs))
        {
            return 0;
        }

        int removed = 0;
        foreach (var (key, sentNs) in _requestedNs)
        {
            if (nowNs - sentNs > AnswerWindowNs || nowNs < sentNs)
            {
                _requestedNs.Remove(key); // removing is allowed while enumerating a Dictionary
                removed++;
            }
        }

        return removed;
    }

    /// <summary>Forgets learned next hops past <see cref="ReachableNs"/>; returns how many.</summary>
    private int SweepNeighbors(long nowNs)
    {
        if (!SweepClock.Due(ref _neighborSweepNs, nowNs, SweepIntervalNs))
        {
            return 0;
        }

        int removed = 0;
        foreach (var (key, entry) in _neighbors)
        {
            if (nowNs - entry.LearnedNs > ReachableNs || nowNs < entry.LearnedNs)
            {
                _neighbors.Remove(key);
                removed++;
            }
        }

        return removed;
    }

    /// <summary>Broadcast (ARP) or the solicited-node multicast MAC (ND), our MAC, the VLAN tag; returns the L3 offset.</summary>
    private static int WriteRequestEthernet(Span<byte> f, in NeighborTarget t, MacAddress portMac)
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
    /// An ARP reply or request from a next hop we asked for, on the VLAN we asked on: learn it
    /// (consumed when the frame was only that, a reply). A reply from a next hop asked for on
    /// another VLAN of the port teaches nothing; a request goes on to be answered or not.
    /// </summary>
    private AnswerFate LearnFromArp(PortInfo port, in PacketInfo info, ReadOnlySpan<byte> arp, long nowNs)
    {
        var sender = new NeighborKey(port.Index, AnswerVlan(_p, port, in info), IpAddr.ReadV4(arp[Arp.SenderIpOffset..]));
        bool reply = Arp.ReadOperation(arp) == Arp.OpReply;
        if (!IsAwaited(sender, nowNs))
        {
            return reply && IsAwaitedOnOtherVlan(port, sender, nowNs) ? AnswerFate.OtherVlan : AnswerFate.Pass;
        }

        bool learned = Learn(sender, MacAddress.Read(arp[Arp.SenderMacOffset..]), nowNs);
        return !reply ? AnswerFate.Pass : learned ? AnswerFate.Consumed : AnswerFate.Refused;
    }

    /// <summary>A neighbor advertisement for a next hop we asked for, on the VLAN we asked on: learn its target link-layer address.</summary>
    private AnswerFate LearnFromAdvertisement(PortInfo port, ReadOnlySpan<byte> frame, in PacketInfo info, long nowNs)
    {
        if (info.IsFragment || info.L4Length < Icmp.NeighborMessageSize || frame[info.L4Offset] != Icmp.V6NeighborAdvertisement
            || info.Ttl != 255 || frame[info.L4Offset + Icmp.CodeOffset] != 0 || !Icmpv6ChecksumValid(frame, in info))
        {
            return AnswerFate.Pass; // RFC 4861 7.1.2: an advertisement from off the link (hop limit not 255) or corrupted teaches nothing
        }

        var target = new NeighborKey(port.Index, AnswerVlan(_p, port, in info), IpAddr.ReadV6(frame[(info.L4Offset + Icmp.NdTargetOffset)..]));
        if (!IsAwaited(target, nowNs))
        {
            return IsAwaitedOnOtherVlan(port, target, nowNs) ? AnswerFate.OtherVlan : AnswerFate.Pass;
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
                return Learn(target, MacAddress.Read(options[2..]), nowNs) ? AnswerFate.Consumed : AnswerFate.Refused;
            }

            options = options[length..];
        }

        return AnswerFate.Pass;
    }

    /// <summary>Where an ARP / ND message ends after <paramref name="fate"/>: used up, vlan_tagged, or null when it goes its own way.</summary>
    private DropReason? EndOfAnswer(AnswerFate fate, PacketBuffer buffer) => fate switch
    {
        AnswerFate.Consumed => Consumed(buffer),
        AnswerFate.OtherVlan => DropReason.VlanTagged,
        AnswerFate.Refused => DropReason.BadNeighborAnswer,
        _ => null,
    };
}
