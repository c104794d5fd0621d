using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// Provider next hops resolved on a port whose PAs sit on different VLANs (Red's PA on VLAN 10,
/// Blue's on VLAN 20; no static neighbors): each VLAN is its own link, so an ARP reply or
/// neighbor advertisement is learned only when it comes by the VLAN its request went out on
/// (FORWARDING 1.12). One on another VLAN, or untagged where the port's PAs sit on several
/// VLANs, teaches nothing and is vlan_tagged; the parked frame waits for the answer on its own
/// VLAN. Expected frames are written out here from the 802.1Q, ARP and ND layouts.
/// </summary>
public class PaVlanNeighborTests
{
    private const string PnicMac = "02-00-00-00-01-0A", Red1Mac = "00-15-5D-00-00-01", Red2Mac = "00-15-5D-00-00-02";
    private const string Hv2Mac = "02-00-00-00-01-0B", BlueStationMac = "66-66-66-66-66-66";
    private const long T0 = 1_700_000_000_000_000_000, Ms = 1_000_000;

    /// <summary>hv1: red1 (10.1.1.7, PA {red}) sends to 10.1.1.8 at PA {red}'s .11 neighbor; Blue's PA on the same port, on VLAN 20 (omitted when <paramref name="blue"/> is false).</summary>
    private static string Config(bool v6, bool blue = true)
    {
        string redPa = v6 ? "2001:db8:a::10" : "192.168.1.10", redPeer = v6 ? "2001:db8:a::11" : "192.168.1.11";
        string bluePa = v6 ? "2001:db8:b::10" : "192.168.2.10", bluePeer = v6 ? "2001:db8:b::11" : "192.168.2.11";
        int length = v6 ? 64 : 24;
        string bluePas = blue ? $$""", { "address": "{{bluePa}}", "prefixLength": {{length}}, "vlanId": 20, "port": "pnic0" }""" : string.Empty;
        string blueRecords = blue
            ? $$"""
                ,
                { "customerAddress": "10.1.1.7", "virtualSubnetId": 6001, "macAddress": "00-15-5D-00-01-01", "providerAddress": "{{bluePa}}" },
                { "customerAddress": "10.1.1.8", "virtualSubnetId": 6001, "macAddress": "00-15-5D-00-01-02", "providerAddress": "{{bluePeer}}" }
            """
            : string.Empty;
        string blueRoute = blue ? """, { "routingDomainId": "{11111111-2222-3333-4444-000000000001}", "virtualSubnetId": 6001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }""" : string.Empty;
        string bluePort = blue ? """, { "name": "blue1", "role": "vm", "macAddress": "00-15-5D-00-01-01", "virtualSubnetId": 6001 }""" : string.Empty;
        return $$"""
            {
              "host": { "name": "hv1" },
              "ports": [
                { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A" },
                { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001 }{{bluePort}}
              ],
              "providerAddresses": [
                { "address": "{{redPa}}", "prefixLength": {{length}}, "vlanId": 10, "port": "pnic0" }{{bluePas}}
              ],
              "lookupRecords": [
                { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "{{redPa}}" },
                { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "{{redPeer}}" }{{blueRecords}}
              ],
              "customerRoutes": [
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }{{blueRoute}}
              ]
            }
            """;
    }

    private static byte[] RedToRed2() => Concat(Eth(Red2Mac, Red1Mac, 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 17, UdpOf(1, 2, "red secret"u8.ToArray())));

    /// <summary>An Ethernet frame from <paramref name="src"/> to the port, 802.1Q-tagged with <paramref name="vlan"/> (untagged when negative).</summary>
    private static byte[] OnVlan(int vlan, string src, ushort type, byte[] payload) =>
        vlan < 0 ? Concat(Eth(PnicMac, src, type), payload) : Concat(Mac(PnicMac), Mac(src), [0x81, 0x00, (byte)(vlan >> 8), (byte)vlan, (byte)(type >> 8), (byte)type], payload);

    /// <summary>red1's frame parks; the one frame out is the request, tagged VLAN 10 (Red's PA).</summary>
    private static ForwarderHarness ParkRedFrame(bool v6, bool blue = true)
    {
        var h = ForwarderHarness.FromJson(Config(v6, blue));
        var request = h.Send("red1", RedToRed2(), T0).Single();
        Assert.That(request.Port, Is.EqualTo(h.Port("pnic0")));
        Assert.That(Convert.ToHexString(request.Frame.AsSpan(0, 18)), Is.EqualTo(
            (v6 ? "3333FF000011" : "FFFFFFFFFFFF") + "02000000010A" + "8100" + "000A" + (v6 ? "86DD" : "0806")), "asked on VLAN 10");
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1));
        return h;
    }

    /// <summary>The parked Red frame left: tagged VLAN 10, to <paramref name="nextHopMac"/>, NVGRE from Red's PA.</summary>
    private static void AssertReleased(ForwarderHarness h, List<(int Port, byte[] Frame)> output, string nextHopMac, bool v6)
    {
        var frame = output.Single();
        Assert.That(frame.Port, Is.EqualTo(h.Port("pnic0")));
        Assert.That(Convert.ToHexString(frame.Frame.AsSpan(0, 18)), Is.EqualTo(nextHopMac.Replace("-", "", StringComparison.Ordinal) + "02000000010A" + "8100" + "000A" + (v6 ? "86DD" : "0800")));
        Assert.That(frame.Frame[v6 ? 18 + 6 : 18 + 9], Is.EqualTo(IpProtocol.Gre));
        Assert.That(h.Forwarder.ParkedCount, Is.Zero);
        Assert.That(h.Forwarder.Counters.Forwarded, Is.EqualTo(1));
    }

    private static PolicySnapshot Policy(bool v6) => PolicySnapshot.Build(ConfigLoader.Load(Config(v6)).Config!);

    [TestCase(20, TestName = "An ARP reply on another PA's VLAN teaches nothing and the right VLAN's releases the frame")]
    [TestCase(-1, TestName = "An untagged ARP reply to a VLAN 10 request teaches nothing where the port's PAs sit on two VLANs")]
    public void An_arp_reply_is_learned_only_on_the_vlan_it_was_asked_on(int vlan)
    {
        var h = ParkRedFrame(v6: false);
        byte[] wrong = OnVlan(vlan, BlueStationMac, 0x0806, ArpOf(2, BlueStationMac, "192.168.1.11", PnicMac, "192.168.2.10"));
        Assert.That(h.Send("pnic0", wrong, T0 + (10 * Ms)), Is.Empty, "nothing released");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.VlanTagged), Is.EqualTo(1));
        Assert.That(h.Forwarder.Counters.Answered, Is.Zero, "not consumed as an answer");
        Assert.That(h.Forwarder.TryGetNeighbor(IpAddr.Parse("192.168.1.11"), out _), Is.False, "not learned");
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1), "the Red frame still waits");

        byte[] right = OnVlan(10, Hv2Mac, 0x0806, ArpOf(2, Hv2Mac, "192.168.1.11", PnicMac, "192.168.1.10"));
        AssertReleased(h, h.Send("pnic0", right, T0 + (20 * Ms)), Hv2Mac, v6: false);
        Assert.That(h.Forwarder.TryGetNeighbor(IpAddr.Parse("192.168.1.11"), out var mac) && mac == MacAddress.Parse(Hv2Mac), Is.True);

        // A fresh worker awaits nothing: the trace tells the rule and agrees with the forwarder.
        var trace = PacketTracer.Trace(Policy(v6: false), "pnic0", wrong);
        Assert.That(trace.Agrees, Is.True);
        Assert.That(trace.Steps.Any(s => s.Text.Contains(vlan < 0 ? "asked for untagged" : "asked for on VLAN 20", StringComparison.Ordinal)), Is.True, "the trace names the VLAN the answer counts for");
    }

    [TestCase(20, TestName = "A neighbor advertisement on another PA's VLAN teaches nothing and the right VLAN's releases the frame")]
    [TestCase(-1, TestName = "An untagged neighbor advertisement to a VLAN 10 solicitation teaches nothing where the port's PAs sit on two VLANs")]
    public void A_neighbor_advertisement_is_learned_only_on_the_vlan_it_was_solicited_on(int vlan)
    {
        var h = ParkRedFrame(v6: true);

        // To Blue's PA (on VLAN 20, so it passes that PA's VLAN check), about Red's next hop.
        byte[] wrong = OnVlan(vlan, BlueStationMac, 0x86DD, NeighborAdvertisementOf("2001:db8:b::99", "2001:db8:b::10", "2001:db8:a::11", BlueStationMac));
        Assert.That(h.Send("pnic0", wrong, T0 + (10 * Ms)), Is.Empty, "nothing released");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.VlanTagged), Is.EqualTo(1));
        Assert.That(h.Forwarder.TryGetNeighbor(IpAddr.Parse("2001:db8:a::11"), out _), Is.False, "not learned");
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1), "the Red frame still waits");

        byte[] right = OnVlan(10, Hv2Mac, 0x86DD, NeighborAdvertisementOf("2001:db8:a::11", "2001:db8:a::10", "2001:db8:a::11", Hv2Mac));
        AssertReleased(h, h.Send("pnic0", right, T0 + (20 * Ms)), Hv2Mac, v6: true);
        Assert.That(h.Forwarder.Counters.Answered, Is.EqualTo(1), "the right answer is consumed");

        var trace = PacketTracer.Trace(Policy(v6: true), "pnic0", wrong);
        Assert.That(trace.Agrees, Is.True);
        Assert.That(trace.Steps.Any(s => s.Text.Contains("neighbor advertisement for 2001:db8:a::11", StringComparison.Ordinal)), Is.True, "the trace says what a running worker does with it");
    }

    [Test]
    public void An_arp_request_from_a_next_hop_awaited_on_another_vlan_is_answered_but_teaches_nothing()
    {
        // 192.168.1.11 is asked for on VLAN 10; a station on VLAN 20 using that address asks for
        // Blue's PA: a host of VLAN 20, answered there, and no answer for Red's next hop.
        var h = ParkRedFrame(v6: false);
        byte[] request = OnVlan(20, BlueStationMac, 0x0806, ArpOf(1, BlueStationMac, "192.168.1.11", "00-00-00-00-00-00", "192.168.2.10"));
        var answer = h.Send("pnic0", request, T0 + (10 * Ms)).Single();
        Assert.That(Convert.ToHexString(answer.Frame.AsSpan(0, 26)), Is.EqualTo("666666666666" + "02000000010A" + "8100" + "0014" + "0806" + "0001080006040002"), "answered on VLAN 20");
        Assert.That(h.Forwarder.TryGetNeighbor(IpAddr.Parse("192.168.1.11"), out _), Is.False, "not learned");
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1), "the Red frame still waits");
    }

    [TestCase(false, TestName = "An untagged ARP reply is learned where every PA of the port is on the request's VLAN (a NIC took the tag off)")]
    [TestCase(true, TestName = "An untagged neighbor advertisement is learned where every PA of the port is on the solicitation's VLAN (a NIC took the tag off)")]
    public void An_untagged_answer_counts_for_the_only_vlan_of_the_port(bool v6)
    {
        var h = ParkRedFrame(v6, blue: false);
        byte[] answer = v6
            ? OnVlan(-1, Hv2Mac, 0x86DD, NeighborAdvertisementOf("2001:db8:a::11", "2001:db8:a::10", "2001:db8:a::11", Hv2Mac))
            : OnVlan(-1, Hv2Mac, 0x0806, ArpOf(2, Hv2Mac, "192.168.1.11", PnicMac, "192.168.1.10"));
        AssertReleased(h, h.Send("pnic0", answer, T0 + (10 * Ms)), Hv2Mac, v6);
        Assert.That(h.Forwarder.Counters.TotalDrops, Is.Zero);
    }
}
