using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// Provider next hops without a static neighbor: the dataplane asks by ARP (IPv4) or neighbor
/// solicitation (IPv6), parks the frames, and sends them with the learned MAC when the answer
/// comes; unanswered, they are dropped as neighbor_unresolved. Expected bytes are written out
/// from the ARP / ND layouts here, not by the code under test.
/// </summary>
public class NeighborResolutionTests
{
    private static readonly MacAddress VmMac = MacAddress.Parse("00-15-5D-00-00-01");
    private static readonly MacAddress NicMac = MacAddress.Parse("02-00-00-00-01-0A");
    private static readonly MacAddress PeerMac = MacAddress.Parse("02-00-00-00-01-0B");

    private static HostConfig Config(bool v6)
    {
        var pa = IpAddr.Parse(v6 ? "2001:db8:ffff::10" : "192.168.1.10");
        var remote = IpAddr.Parse(v6 ? "2001:db8:ffff::11" : "192.168.1.11");
        return new HostConfig(
            "hv1",
            GlobalSettings.Default,
            [new PortConfig("pnic0", PortRole.Provider, null, NicMac, 1500, null, null), new PortConfig("red1", PortRole.Vm, null, VmMac, 1500, 5001, null)],
            [new ProviderAddressConfig(pa, v6 ? 64 : 24, 0, "pnic0")],
            [],
            [], // no static neighbors
            [
                new LookupRecordConfig(IpAddr.Parse("10.1.1.7"), 5001, VmMac, pa, TranslationRule.Encap, RecordType.Static),
                new LookupRecordConfig(IpAddr.Parse("10.1.1.8"), 5001, MacAddress.Parse("00-15-5D-00-00-02"), remote, TranslationRule.Encap, RecordType.Static),
            ],
            [new CustomerRouteConfig(Guid.NewGuid(), 5001, IpPrefix.Parse("10.1.1.0/24"), IpAddr.Any4, 255)]);
    }

    private static byte[] VmFrame(ushort sourcePort = 40000) =>
        SyntheticTraffic.BuildUdpFrame(VmMac, MacAddress.Parse("00-15-5D-00-00-02"), IpAddr.Parse("10.1.1.7"), IpAddr.Parse("10.1.1.8"), 64) is var f
            ? Patch(f, sourcePort) : f;

    private static byte[] Patch(byte[] f, ushort sourcePort)
    {
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(34), sourcePort);
        return f;
    }

    private static byte[] ArpReply() => Convert.FromHexString(
        "02000000010A" + "02000000010B" + "0806" + "0001" + "0800" + "06" + "04" + "0002"
        + "02000000010B" + "C0A8010B" + "02000000010A" + "C0A8010A");

    [Test]
    public void An_unresolved_next_hop_is_asked_for_and_the_parked_frame_leaves_with_the_answer()
    {
        var h = new ForwarderHarness(Config(v6: false));
        var first = h.Send("red1", VmFrame());
        Assert.That(first, Has.Count.EqualTo(1));
        Assert.That(Convert.ToHexString(first[0].Frame), Is.EqualTo(
            "FFFFFFFFFFFF" + "02000000010A" + "0806" + "0001" + "0800" + "06" + "04" + "0001"
            + "02000000010A" + "C0A8010A" + "000000000000" + "C0A8010B"), "who-has 192.168.1.11 tell 192.168.1.10");
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1));

        var released = h.Send("pnic0", ArpReply());
        Assert.That(released, Has.Count.EqualTo(1), "the parked frame leaves");
        Assert.That(released[0].Port, Is.EqualTo(h.Port("pnic0")));
        Assert.That(MacAddress.Read(released[0].Frame), Is.EqualTo(PeerMac), "with the learned next-hop MAC");
        Assert.That(released[0].Frame[23], Is.EqualTo(IpProtocol.Gre));
        Assert.That(h.Forwarder.TryGetNeighbor(IpAddr.Parse("192.168.1.11"), out var learned) && learned == PeerMac, Is.True);
        Assert.That(h.Forwarder.Counters.Forwarded, Is.EqualTo(1));
        Assert.That(h.Forwarder.Counters.Answered, Is.EqualTo(1), "the ARP reply was consumed by the host");
        Assert.That(h.Forwarder.Counters.TotalDrops, Is.Zero);

        var next = h.Send("red1", VmFrame(40001));
        Assert.That(next, Has.Count.EqualTo(1), "now sent at once, no new request");
        Assert.That(MacAddress.Read(next[0].Frame), Is.EqualTo(PeerMac));
    }

    [Test]
    public void A_frame_waiting_for_its_next_hop_when_the_policy_changes_is_dropped_as_policy_changed()
    {
        // It was sent when the answer came, encapsulated toward the record the new policy had
        // removed, after the API had said the removal was in effect.
        var config = Config(v6: false);
        var store = new PolicyStore(PolicySnapshot.Build(config));
        var h = new ForwarderHarness(store);
        Assert.That(h.Send("red1", VmFrame()), Has.Count.EqualTo(1), "the ARP request");
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1));

        store.Replace(config with { LookupRecords = [config.LookupRecords[0]] }); // 10.1.1.8 removed

        Assert.That(h.Send("pnic0", ArpReply()), Is.Empty, "the answer releases nothing");
        Assert.That(h.Forwarder.ParkedCount, Is.Zero);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.PolicyChanged), Is.EqualTo(1));
        Assert.That(h.Forwarder.Counters.Forwarded, Is.Zero);
        Assert.That(h.Forwarder.TryGetNeighbor(IpAddr.Parse("192.168.1.11"), out var learned) && learned == PeerMac, Is.True, "the answer is learned all the same");
        Assert.That(h.Send("red1", VmFrame(40001)), Is.Empty, "the new policy decides the next frame");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.Isolation) + h.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.EqualTo(1));
        Assert.That(h.Forwarder.Pool.Available, Is.EqualTo(h.Forwarder.Pool.Size), "the parked buffer went back to the pool");

        store.Replace(config); // 10.1.1.8 back, its next hop known: frames leave at once
        var sent = h.Send("red1", VmFrame(40002));
        Assert.That(sent.Select(o => MacAddress.Read(o.Frame)), Is.EqualTo(new[] { PeerMac }));
    }

    [Test]
    public void Replay_drops_a_frame_unanswered_for_a_second_as_the_daemon_does()
    {
        // Replay timed parked frames out only at the end of the captures: an answer 1.5 s late
        // still released a frame the daemon would have dropped as neighbor_unresolved.
        using var temp = new TempDir();
        string vm = Path.Combine(temp.Path, "red1.pcap");
        string wire = Path.Combine(temp.Path, "pnic0.pcap");
        const long T0 = 1_700_000_000_000_000_000;
        using (var w = PcapWriter.Create(vm))
        {
            w.Write(T0, VmFrame());
            w.Write(T0 + 1_600_000_000, VmFrame(40001));
        }

        using (var w = PcapWriter.Create(wire))
        {
            w.Write(T0 + 1_500_000_000, ArpReply()); // within the request's 2 s answer window: learned
        }

        var summary = ReplayRunner.RunAsync(Config(v6: false), [new ReplayInput("red1", vm), new ReplayInput("pnic0", wire)], Path.Combine(temp.Path, "out")).GetAwaiter().GetResult();

        Assert.That(summary.Drops.GetValueOrDefault("neighbor_unresolved"), Is.EqualTo(1), "the first frame, at 1 s");
        Assert.That(summary.Ports["pnic0"].Tx, Is.EqualTo(2), "the request, and the second frame sent at once with the MAC learned");
        Assert.That(summary.Drops.Values.Sum(), Is.EqualTo(1));
    }

    [Test]
    public void An_ipv6_next_hop_is_solicited_on_its_solicited_node_address()
    {
        var h = new ForwarderHarness(Config(v6: true));
        var output = h.Send("red1", VmFrame());
        Assert.That(output, Has.Count.EqualTo(1));
        byte[] ns = output[0].Frame;
        Assert.That(Convert.ToHexString(ns.AsSpan(0, 14)), Is.EqualTo("3333FF000011" + "02000000010A" + "86DD"));
        Assert.That(ns[14 + 6], Is.EqualTo(58));
        Assert.That(ns[14 + 7], Is.EqualTo(255));
        Assert.That(IpAddr.ReadV6(ns.AsSpan(14 + 24)), Is.EqualTo(IpAddr.Parse("ff02::1:ff00:11")));
        Assert.That(ns[54], Is.EqualTo(135), "neighbor solicitation");
        Assert.That(IpAddr.ReadV6(ns.AsSpan(54 + 8)), Is.EqualTo(IpAddr.Parse("2001:db8:ffff::11")), "target");
        Assert.That(Convert.ToHexString(ns.AsSpan(54 + 24, 8)), Is.EqualTo("0101" + "02000000010A"), "source link-layer option");
        ulong pseudo = Checksum.PseudoHeaderSum(IpAddr.ReadV6(ns.AsSpan(22)), IpAddr.ReadV6(ns.AsSpan(38)), 58, 32);
        Assert.That(Checksum.Compute(ns.AsSpan(54, 32), pseudo), Is.Zero, "valid ICMPv6 checksum");
    }

    [Test]
    public void Unanswered_frames_are_dropped_as_neighbor_unresolved_and_the_wait_is_bounded()
    {
        var h = new ForwarderHarness(Config(v6: false), buffers: 512);
        int requests = 0;
        for (int i = 0; i < Forwarder.ParkCapacity + 10; i++)
        {
            requests += h.Send("red1", VmFrame((ushort)(40000 + i))).Count;
        }

        Assert.That(requests, Is.EqualTo(1), "one request per interval, not one per frame");
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(Forwarder.ParkCapacity));
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NeighborUnresolved), Is.EqualTo(10), "the queue overflowed");
        h.Forwarder.ExpireParked(long.MaxValue);
        Assert.That(h.Forwarder.ParkedCount, Is.Zero);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NeighborUnresolved), Is.EqualTo(Forwarder.ParkCapacity + 10), "the wait ended unanswered");
        Assert.That(h.Forwarder.Counters.Forwarded, Is.Zero);
    }

    [Test]
    public void Frames_waiting_for_a_next_hop_never_hold_more_than_half_of_a_replays_pool()
    {
        // nvdp replay's pool is 64 buffers: 65 frames to a silent next hop used to take all of
        // them and stop the replay with an exception at the 65th.
        var h = new ForwarderHarness(Config(v6: false), buffers: 64);
        for (int i = 0; i < 65; i++)
        {
            Assert.DoesNotThrow(() => h.Send("red1", VmFrame((ushort)(40000 + i))), "frame {0}", i);
        }

        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(32));
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NeighborUnresolved), Is.EqualTo(33));
        h.Forwarder.ExpireParked(long.MaxValue);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NeighborUnresolved), Is.EqualTo(65), "every frame counted");
        Assert.That(h.Forwarder.Pool.Available, Is.EqualTo(h.Forwarder.Pool.Size));
    }

    [Test]
    public void A_frame_cut_into_fragments_while_the_wait_queue_is_full_is_counted_and_its_buffers_come_back()
    {
        var config = Config(v6: false);
        config = config with { Ports = [config.Ports[0] with { Mtu = 1000 }, config.Ports[1]] };
        var h = new ForwarderHarness(config, buffers: 512);
        for (int i = 0; i < Forwarder.ParkCapacity; i++)
        {
            h.Send("red1", VmFrame((ushort)(40000 + i)));
        }

        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(Forwarder.ParkCapacity));
        byte[] big = SyntheticTraffic.BuildUdpFrame(VmMac, MacAddress.Parse("00-15-5D-00-00-02"), IpAddr.Parse("10.1.1.7"), IpAddr.Parse("10.1.1.8"), 1400);
        big[14 + 6] = 0; // DF clear: cut into fragments for the 1,000-byte provider MTU
        BinaryPrimitives.WriteUInt16BigEndian(big.AsSpan(14 + 10), 0);
        BinaryPrimitives.WriteUInt16BigEndian(big.AsSpan(14 + 10), Checksum.ComputeIpv4Header20(big.AsSpan(14, 20)));
        Assert.That(h.Send("red1", big), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NeighborUnresolved), Is.EqualTo(1), "the frame is counted, not lost silently");
        h.Forwarder.ExpireParked(long.MaxValue);
        Assert.That(h.Forwarder.Pool.Available, Is.EqualTo(h.Forwarder.Pool.Size), "every fragment's buffer came back");
    }

    [TestCase("02000000010A", TestName = "{m}(the port's own MAC)")]
    [TestCase("00155DFFFFFF", TestName = "{m}(the gateway MAC)")]
    [TestCase("000000000000", TestName = "{m}(zero)")]
    [TestCase("FFFFFFFFFFFF", TestName = "{m}(broadcast)")]
    public void An_answer_whose_mac_can_be_no_next_hops_teaches_nothing_and_is_bad_neighbor_answer(string mac)
    {
        // The port's own and the gateway MAC were learned (frames left with destination = source,
        // the next hop black-holed for 5 minutes); zero and group MACs were refused but the answer
        // was counted as answered, not dropped.
        var h = new ForwarderHarness(Config(v6: false));
        h.Send("red1", VmFrame());
        byte[] reply = ArpReply();
        Convert.FromHexString(mac).CopyTo(reply, 22); // the sender hardware address

        Assert.That(h.Send("pnic0", reply), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.BadNeighborAnswer), Is.EqualTo(1));
        Assert.That(h.Forwarder.Counters.Answered, Is.Zero);
        Assert.That(h.Forwarder.TryGetNeighbor(IpAddr.Parse("192.168.1.11"), out _), Is.False);
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1), "the frame still waits for a real answer");

        Assert.That(h.Send("pnic0", ArpReply()).Select(o => MacAddress.Read(o.Frame)), Is.EqualTo(new[] { PeerMac }), "which releases it");
    }

    [Test]
    public void A_neighbor_advertisement_naming_the_ports_own_mac_teaches_nothing()
    {
        var h = new ForwarderHarness(Config(v6: true));
        h.Send("red1", VmFrame());
        byte[] na = Concat(Eth("02-00-00-00-01-0A", "02-00-00-00-01-0B", 0x86DD),
            NeighborAdvertisementOf("2001:db8:ffff::11", "2001:db8:ffff::10", "2001:db8:ffff::11", "02-00-00-00-01-0A"));

        Assert.That(h.Send("pnic0", na), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.BadNeighborAnswer), Is.EqualTo(1));
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1));
    }

    [Test]
    public void A_packet_whose_fragments_cannot_all_wait_for_the_next_hop_is_neighbor_unresolved_whole()
    {
        // Its first fragment took the last place in the queue and the others were lost
        // uncounted; the answer then sent the first alone, counted as a forwarded packet.
        var config = Config(v6: false);
        config = config with { Ports = [config.Ports[0] with { Mtu = 1000 }, config.Ports[1]] };
        var h = new ForwarderHarness(config, buffers: 512);
        for (int i = 0; i < Forwarder.ParkCapacity - 1; i++)
        {
            h.Send("red1", VmFrame((ushort)(40000 + i)));
        }

        byte[] big = SyntheticTraffic.BuildUdpFrame(VmMac, MacAddress.Parse("00-15-5D-00-00-02"), IpAddr.Parse("10.1.1.7"), IpAddr.Parse("10.1.1.8"), 1400);
        big[14 + 6] = 0; // DF clear: two fragments for the 1,000-byte provider MTU, one place left
        BinaryPrimitives.WriteUInt16BigEndian(big.AsSpan(14 + 10), 0);
        BinaryPrimitives.WriteUInt16BigEndian(big.AsSpan(14 + 10), Checksum.ComputeIpv4Header20(big.AsSpan(14, 20)));
        Assert.That(h.Send("red1", big), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NeighborUnresolved), Is.EqualTo(1));
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(Forwarder.ParkCapacity - 1), "no fragment of it waits");

        var released = h.Send("pnic0", ArpReply());
        Assert.That(released, Has.Count.EqualTo(Forwarder.ParkCapacity - 1));
        Assert.That(h.Forwarder.Counters.Forwarded, Is.EqualTo(Forwarder.ParkCapacity - 1));
        Assert.That(h.Forwarder.Counters.TotalRx, Is.EqualTo(h.Forwarder.Counters.Forwarded + h.Forwarder.Counters.Answered + h.Forwarder.Counters.TotalDrops), "every frame accounted once");
        Assert.That(h.Forwarder.Pool.Available, Is.EqualTo(h.Forwarder.Pool.Size));
    }

    [Test]
    public void An_arp_reply_nobody_asked_for_teaches_nothing()
    {
        var h = new ForwarderHarness(Config(v6: false));
        var output = h.Send("pnic0", ArpReply());
        Assert.That(output, Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NotLocalPa), Is.EqualTo(1), "as before: not for a local PA");
        Assert.That(h.Forwarder.TryGetNeighbor(IpAddr.Parse("192.168.1.11"), out _), Is.False, "no cache poisoning");
    }
}
