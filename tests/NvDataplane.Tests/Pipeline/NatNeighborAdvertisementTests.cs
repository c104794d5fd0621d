using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// Neighbor advertisements from a Nat record's PA (FORWARDING 1.12, 2.3): IP rewrite carries a
/// VM's own ICMPv6 from that PA with its hop limit 255, target and target link-layer address as
/// the VM wrote them, so such an advertisement teaches the provider neighbor cache only about
/// that PA itself (its host answering for it), and is otherwise the VM's packet, rewritten back
/// to CAs. hv1: Nat VM red1 (2001:db8:1::7, PA ::20) and Encap VM red3 (2001:db8:1::3, PA ::10);
/// remote Nat VM 2001:db8:1::8 (PA ::21) and Encap VM 2001:db8:1::30 (PA ::30); no static
/// neighbors, so hv1 asks by neighbor solicitation. Expected frames are written out here.
/// </summary>
public class NatNeighborAdvertisementTests
{
    private const string PnicMac = "02-00-00-00-01-0A", Red1Mac = "00-15-5D-00-00-01", Red2Mac = "00-15-5D-00-00-02";
    private const string Red3Mac = "00-15-5D-00-00-03", Red30Mac = "00-15-5D-00-00-30";
    private const string Hv2NatMac = "02-00-00-00-01-21", Hv3Mac = "02-00-00-00-01-30", ForgedMac = "DE-AD-BE-EF-00-01";
    private const string NatPa = "2001:db8:ffff::20", RemoteNatPa = "2001:db8:ffff::21", Hv3Pa = "2001:db8:ffff::30";
    private const long T0 = 1_700_000_000_000_000_000;

    private const string Config = """
        {
          "host": { "name": "hv1" },
          "ports": [
            { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A", "mtu": 1500 },
            { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001 },
            { "name": "red3", "role": "vm", "macAddress": "00-15-5D-00-00-03", "virtualSubnetId": 5001 }
          ],
          "providerAddresses": [
            { "address": "2001:db8:ffff::10", "prefixLength": 64, "port": "pnic0" },
            { "address": "2001:db8:ffff::20", "prefixLength": 64, "port": "pnic0" }
          ],
          "lookupRecords": [
            { "customerAddress": "2001:db8:1::7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "2001:db8:ffff::20", "rule": "TranslationMethodNat" },
            { "customerAddress": "2001:db8:1::8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "2001:db8:ffff::21", "rule": "TranslationMethodNat" },
            { "customerAddress": "2001:db8:1::3", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-03", "providerAddress": "2001:db8:ffff::10" },
            { "customerAddress": "2001:db8:1::30", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-30", "providerAddress": "2001:db8:ffff::30" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "2001:db8:1::/64", "nextHop": "::" }
          ]
        }
        """;

    private static ForwarderHarness Harness() => ForwarderHarness.FromJson(Config);

    private static byte[] Udp6(string src, string dst) => Ipv6Of(src, dst, 17, UdpOf(40000, 7000, new byte[16]));

    /// <summary>red3 → 2001:db8:1::30 (hv3, PA ::30): it waits while hv1 solicits ::30.</summary>
    private static byte[] Red3ToHv3() => Concat(Eth(Red30Mac, Red3Mac, 0x86DD), Udp6("2001:db8:1::3", "2001:db8:1::30"));

    [Test]
    public void An_advertisement_a_nat_vm_sends_about_another_pa_teaches_the_neighbor_cache_nothing_and_reaches_its_peer_vm()
    {
        var h = Harness();
        Assert.That(h.Send("red3", Red3ToHv3(), T0).Single().Frame[54], Is.EqualTo(135), "hv1 solicits ::30; red3's frame waits");

        // The remote Nat VM's advertisement "::30 is at de:ad:be:ef:00:01", as its host rewrote it: CAs → PAs.
        byte[] forged = Concat(Eth(PnicMac, Hv2NatMac, 0x86DD), NeighborAdvertisementOf(RemoteNatPa, NatPa, Hv3Pa, ForgedMac));
        var output = h.Send("pnic0", forged, T0 + 1);

        Assert.That(h.Forwarder.TryGetNeighbor(IpAddr.Parse(Hv3Pa), out _), Is.False, "not learned");
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1), "red3's frame still waits for ::30's own answer");
        byte[] reversed = Concat(Eth(Red1Mac, Red2Mac, 0x86DD), NeighborAdvertisementOf("2001:db8:1::8", "2001:db8:1::7", Hv3Pa, ForgedMac));
        Assert.That(output.Select(o => (o.Port, Convert.ToHexString(o.Frame))), Is.EqualTo(new[] { (h.Port("red1"), Convert.ToHexString(reversed)) }),
            "NAT reverse: the peer's packet to red1, addresses back to CAs, body as sent");
        Assert.That((h.Forwarder.Counters.Forwarded, h.Forwarder.Counters.Answered, h.Forwarder.Counters.TotalDrops), Is.EqualTo((1L, 0L, 0L)), "counted as forwarded, not consumed");

        var released = h.Send("pnic0", Concat(Eth(PnicMac, Hv3Mac, 0x86DD), NeighborAdvertisementOf(Hv3Pa, "2001:db8:ffff::10", Hv3Pa, Hv3Mac)), T0 + 2);
        Assert.That(released.Select(o => Convert.ToHexString(o.Frame.AsSpan(0, 6))), Is.EqualTo(new[] { "020000000130" }), "hv3's own answer is learned and releases the frame");
        Assert.That(h.Forwarder.TryGetNeighbor(IpAddr.Parse(Hv3Pa), out var mac) && mac == MacAddress.Parse(Hv3Mac), Is.True);
    }

    [Test]
    public void A_hosts_advertisement_for_its_own_nat_pa_is_still_learned()
    {
        // Hosts answer neighbor discovery for their Nat PAs: red1 → 2001:db8:1::8 waits for ::21.
        var h = Harness();
        byte[] toPeer = Concat(Eth(Red2Mac, Red1Mac, 0x86DD), Udp6("2001:db8:1::7", "2001:db8:1::8"));
        Assert.That(h.Send("red1", toPeer, T0).Single().Frame[54], Is.EqualTo(135));

        var released = h.Send("pnic0", Concat(Eth(PnicMac, Hv2NatMac, 0x86DD), NeighborAdvertisementOf(RemoteNatPa, NatPa, RemoteNatPa, Hv2NatMac)), T0 + 1);

        Assert.That(h.Forwarder.TryGetNeighbor(IpAddr.Parse(RemoteNatPa), out var mac) && mac == MacAddress.Parse(Hv2NatMac), Is.True);
        Assert.That(released.Select(o => Convert.ToHexString(o.Frame.AsSpan(0, 6))), Is.EqualTo(new[] { "020000000121" }), "red1's rewritten packet leaves");
        Assert.That(h.Forwarder.Counters.Answered, Is.EqualTo(1), "the answer was consumed by the host");
    }

    [Test]
    public void The_trace_tells_the_vms_advertisement_the_same_story()
    {
        var policy = PolicySnapshot.Build(ConfigLoader.Load(Config).Config!);
        var trace = PacketTracer.Trace(policy, "pnic0", Concat(Eth(PnicMac, Hv2NatMac, 0x86DD), NeighborAdvertisementOf(RemoteNatPa, NatPa, Hv3Pa, ForgedMac)));
        Assert.That(trace.Agrees, Is.True, trace.ToString());
        Assert.That(trace.Actual.Fate, Is.EqualTo(TraceFate.Forwarded));
        Assert.That(trace.Steps.Select(s => s.Text), Has.Some.Contains("teaches the provider neighbor cache nothing"));
    }

    [Test]
    public void A_nat_vms_own_gre_packet_is_nat_reversed_to_its_peer_not_decapsulated()
    {
        // It was decapsulated as NVGRE: the remote VM chose the inner MACs and VSID, past its own host's checks.
        var h = Harness();
        byte[] innerFrame = Concat(Eth(Red1Mac, Red2Mac, 0x86DD), Udp6("2001:db8:1::8", "2001:db8:1::7"));
        byte[] gre = Concat([0x20, 0x00, 0x65, 0x58], [0x13, 0x89, 0x00, 0x00], innerFrame); // key 5001 << 8
        var output = h.Send("pnic0", Concat(Eth(PnicMac, Hv2NatMac, 0x86DD), Ipv6Of(RemoteNatPa, NatPa, 47, gre)), T0);

        byte[] reversed = Concat(Eth(Red1Mac, Red2Mac, 0x86DD), Ipv6Of("2001:db8:1::8", "2001:db8:1::7", 47, gre));
        Assert.That(output.Select(o => (o.Port, Convert.ToHexString(o.Frame))), Is.EqualTo(new[] { (h.Port("red1"), Convert.ToHexString(reversed)) }),
            "the peer VM's GRE packet to red1, addresses back to CAs, its GRE payload as sent");
        var trace = PacketTracer.Trace(PolicySnapshot.Build(ConfigLoader.Load(Config).Config!), "pnic0", Concat(Eth(PnicMac, Hv2NatMac, 0x86DD), Ipv6Of(RemoteNatPa, NatPa, 47, gre)));
        Assert.That(trace.Agrees, Is.True, trace.ToString());
        Assert.That(trace.Actual.Fate, Is.EqualTo(TraceFate.Forwarded), "the trace tells the same story");
    }
    [TestCase(133, TestName = "{m}(router solicitation)")]
    [TestCase(136, TestName = "{m}(neighbor advertisement)")]
    [TestCase(137, TestName = "{m}(redirect)")]
    public void A_nat_vms_neighbor_discovery_never_leaves_rewritten_onto_the_provider_network(int type)
    {
        // It left as ND between PAs with hop limit 255, which a provider host or router not
        // running nvdp could learn from (nvdp itself learns from a Nat PA only about that PA).
        var h = Harness();
        byte[] message = Concat([(byte)type, 0, 0, 0, 0x60, 0, 0, 0], Addr(Hv3Pa), [2, 1], Mac(ForgedMac), new byte[16]);
        byte[] nd = Concat(Eth(Red2Mac, Red1Mac, 0x86DD), Icmpv6Of("2001:db8:1::7", "2001:db8:1::8", message, hopLimit: 255));

        // A solicitation goes no further to a Nat CA; an advertisement or redirect to anyone (FloodingTests).
        var reason = type == 133 ? DropReason.NatNeighborDiscovery : DropReason.VmNeighborDiscovery;
        Assert.That(h.Send("red1", nd, T0), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(reason), Is.EqualTo(1));
        Assert.That(h.Forwarder.ParkedCount, Is.Zero, "nothing waits to leave");
        var trace = PacketTracer.Trace(PolicySnapshot.Build(ConfigLoader.Load(Config).Config!), "red1", nd);
        Assert.That(trace.Agrees, Is.True, trace.ToString());
        Assert.That(trace.Actual.DropReason, Is.EqualTo(DropReasons.Name(reason)));

        byte[] echo = Concat(Eth(Red2Mac, Red1Mac, 0x86DD), Icmpv6Of("2001:db8:1::7", "2001:db8:1::8", [128, 0, 0, 0, 0, 1, 0, 1], hopLimit: 64));
        _ = h.Send("red1", echo, T0 + 1);
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1), "an echo request is rewritten as ever: it waits for ::21's MAC");
        Assert.That(h.Forwarder.Counters.TotalDrops, Is.EqualTo(1));
    }
}
