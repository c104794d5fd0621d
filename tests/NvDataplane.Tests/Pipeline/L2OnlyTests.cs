using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// L2Only and Dynamic records (docs/FORWARDING.md section 7). hv1 (PA 192.168.1.10) runs red1
/// (10.1.1.7, static), l2vm (Red VSID 5001, an L2Only record: its addresses come from its own
/// DHCP server), l2blue (Blue VSID 6001, L2Only) and l2vm2 (VSID 5002 of Red's routing domain,
/// L2Only); hv2 (PA 192.168.1.11) runs red8 (10.1.1.8, static).
/// </summary>
public class L2OnlyTests
{
    private const string RedMac = "00-15-5D-00-00-01";
    private const string Red8Mac = "00-15-5D-00-00-02";
    private const string L2Mac = "00-15-5D-00-00-20";
    private const string L2BlueMac = "00-15-5D-00-01-20";
    private const string L2Vm2Mac = "00-15-5D-00-02-20";
    private const string BlueMac = "00-15-5D-00-01-01";
    private const string GatewayMac = "00-15-5D-FF-FF-FF";
    private const string Hv1Mac = "02-00-00-00-01-0A";
    private const string Hv2Mac = "02-00-00-00-01-0B";
    private const long Second = 1_000_000_000;

    private static string Config(bool hv2 = false, bool withL2Only = true)
    {
        string self = hv2 ? "192.168.1.11" : "192.168.1.10";
        string other = hv2 ? "192.168.1.10" : "192.168.1.11";
        string vmPorts = hv2
            ? $$"""{ "name": "red8", "role": "vm", "macAddress": "{{Red8Mac}}", "virtualSubnetId": 5001 }"""
            : $$"""
                { "name": "red1", "role": "vm", "macAddress": "{{RedMac}}", "virtualSubnetId": 5001 },
                { "name": "l2vm", "role": "vm", "macAddress": "{{L2Mac}}", "virtualSubnetId": 5001 },
                { "name": "blue1", "role": "vm", "macAddress": "{{BlueMac}}", "virtualSubnetId": 6001 },
                { "name": "l2blue", "role": "vm", "macAddress": "{{L2BlueMac}}", "virtualSubnetId": 6001 },
                { "name": "l2vm2", "role": "vm", "macAddress": "{{L2Vm2Mac}}", "virtualSubnetId": 5002 }
                """;
        string l2Records = withL2Only
            ? $$"""
                { "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "{{L2Mac}}", "providerAddress": "192.168.1.10", "type": "L2Only" },
                { "customerAddress": "0.0.0.0", "virtualSubnetId": 6001, "macAddress": "{{L2BlueMac}}", "providerAddress": "192.168.1.10", "type": "L2Only" },
                { "customerAddress": "0.0.0.0", "virtualSubnetId": 5002, "macAddress": "{{L2Vm2Mac}}", "providerAddress": "192.168.1.10", "type": "L2Only" },
                """
            : "";
        return $$"""
            {
              "host": { "name": "{{(hv2 ? "hv2" : "hv1")}}" },
              "ports": [
                { "name": "pnic0", "role": "provider", "macAddress": "{{(hv2 ? Hv2Mac : Hv1Mac)}}", "mtu": 1500 },
                {{vmPorts}}
              ],
              "providerAddresses": [ { "address": "{{self}}", "prefixLength": 24, "port": "pnic0" } ],
              "providerNeighbors": [ { "address": "{{other}}", "macAddress": "{{(hv2 ? Hv1Mac : Hv2Mac)}}" } ],
              "lookupRecords": [
                {{l2Records}}
                { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "{{RedMac}}", "providerAddress": "192.168.1.10" },
                { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "{{Red8Mac}}", "providerAddress": "192.168.1.11" },
                { "customerAddress": "10.1.1.7", "virtualSubnetId": 6001, "macAddress": "{{BlueMac}}", "providerAddress": "192.168.1.10" }
              ],
              "customerRoutes": [
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" },
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5002, "destinationPrefix": "10.1.2.0/24", "nextHop": "0.0.0.0" },
                { "routingDomainId": "{22222222-2222-3333-4444-000000000000}", "virtualSubnetId": 6001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }
              ]
            }
            """;
    }

    private static HostConfig Load(string json)
    {
        var loaded = ConfigLoader.Load(json);
        Assert.That(loaded.Problems, Is.Empty);
        return loaded.Config!;
    }

    private static ForwarderHarness Harness(bool hv2 = false) => new(Load(Config(hv2)));

    private static byte[] Udp(string dstMac, string srcMac, string src, string dst, byte ttl = 64) =>
        Concat(Eth(dstMac, srcMac, 0x0800), Ipv4Of(src, dst, 17, UdpOf(40000, 53, new byte[16]), ttl: ttl));

    private static byte[] NvgreFrom(string outerSrc, uint vsid, byte[] inner) =>
        Concat(Eth(Hv2Mac, Hv1Mac, 0x0800), Ipv4Of(outerSrc, "192.168.1.11", 47, NvgreOf(vsid, 0x11, inner)));

    private static void AssertNvgre(List<(int Port, byte[] Frame)> output, ForwarderHarness h, string outerSrc, string outerDst, uint vsid, byte[] inner)
    {
        Assert.That(output, Has.Count.EqualTo(1));
        Assert.That(output[0].Port, Is.EqualTo(h.Port("pnic0")));
        var f = output[0].Frame;
        Assert.That(f[(14 + 12)..(14 + 16)], Is.EqualTo(Addr(outerSrc)), "outer source PA");
        Assert.That(f[(14 + 16)..(14 + 20)], Is.EqualTo(Addr(outerDst)), "outer destination PA");
        Assert.That(GreVsid(f), Is.EqualTo(vsid));
        Assert.That(f[(14 + 20 + 8)..], Is.EqualTo(inner), "inner frame as sent");
    }

    private static void AssertDelivered(List<(int Port, byte[] Frame)> output, ForwarderHarness h, string port, byte[] frame)
    {
        Assert.That(output, Has.Count.EqualTo(1));
        Assert.That(output[0].Port, Is.EqualTo(h.Port(port)));
        Assert.That(output[0].Frame, Is.EqualTo(frame));
    }

    [Test]
    public void A_vm_with_an_l2only_record_sends_from_an_unrecorded_ca_which_is_learned_as_dynamic()
    {
        var h = Harness();
        var frame = Udp(Red8Mac, L2Mac, "10.1.1.50", "10.1.1.8");
        AssertNvgre(h.Send("l2vm", frame), h, "192.168.1.10", "192.168.1.11", 5001, frame);

        var learned = h.Forwarder.Learned;
        Assert.That(learned.Count, Is.EqualTo(1));
        var expected = new LearnedBinding(5001, IpAddr.Parse("10.1.1.50"), MacAddress.Parse(L2Mac), IpAddr.Parse("192.168.1.10"));
        Assert.That(learned.TakeNew(), Is.EqualTo(new[] { expected }), "reported once, as a Dynamic record");
        Assert.That(learned.Snapshot(h.Forwarder.Policy), Is.EqualTo(new[] { expected }));

        h.Send("l2vm", frame);
        Assert.That(learned.TakeNew(), Is.Empty, "seen again: refreshed, not reported again");
        Assert.That(learned.Learned, Is.EqualTo(1));
    }

    [Test]
    public void A_vm_without_an_l2only_record_sending_from_an_unrecorded_ca_is_still_spoofed()
    {
        var h = Harness();
        Assert.That(h.Send("red1", Udp(Red8Mac, RedMac, "10.1.1.50", "10.1.1.8")), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(1));
        Assert.That(h.Forwarder.Learned.Count, Is.Zero);

        var without = new ForwarderHarness(Load(Config(withL2Only: false)));
        Assert.That(without.Send("l2vm", Udp(Red8Mac, L2Mac, "10.1.1.50", "10.1.1.8")), Is.Empty);
        Assert.That(without.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(1));
    }

    [Test]
    public void Traffic_toward_a_learned_ca_flows_on_the_vms_host_and_arp_is_answered_with_the_l2only_mac()
    {
        var h = Harness();
        var toLearned = Udp(L2Mac, RedMac, "10.1.1.7", "10.1.1.50");
        Assert.That(h.Send("red1", toLearned), Is.Empty, "nothing learned yet");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.EqualTo(1));
        var arp = Concat(Eth("FF-FF-FF-FF-FF-FF", RedMac, 0x0806), ArpOf(1, RedMac, "10.1.1.7", "00-00-00-00-00-00", "10.1.1.50"));
        Assert.That(h.Send("red1", arp), Is.Empty);

        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.50", "10.1.1.7"));
        AssertDelivered(h.Send("red1", toLearned), h, "l2vm", toLearned);

        var reply = h.Send("red1", arp);
        Assert.That(reply, Has.Count.EqualTo(1));
        Assert.That(reply[0].Frame[22..28], Is.EqualTo(Mac(L2Mac)), "ARP sha = the L2Only record's MAC");
        Assert.That(reply[0].Frame[28..32], Is.EqualTo(Addr("10.1.1.50")));
    }

    [Test]
    public void The_l2only_vm_may_arp_from_its_learned_address_and_is_learned_by_it()
    {
        var h = Harness();
        var arp = Concat(Eth("FF-FF-FF-FF-FF-FF", L2Mac, 0x0806), ArpOf(1, L2Mac, "10.1.1.50", "00-00-00-00-00-00", "10.1.1.7"));
        var reply = h.Send("l2vm", arp);
        Assert.That(reply, Has.Count.EqualTo(1));
        Assert.That(reply[0].Frame[22..28], Is.EqualTo(Mac(RedMac)));
        Assert.That(h.Forwarder.Learned.Count, Is.EqualTo(1));
    }

    [Test]
    public void Nvgre_from_the_l2only_records_pa_is_accepted_learned_and_answered_on_the_remote_host()
    {
        var h = Harness(hv2: true);
        var inner = Udp(Red8Mac, L2Mac, "10.1.1.50", "10.1.1.8");
        AssertDelivered(h.Send("pnic0", NvgreFrom("192.168.1.10", 5001, inner)), h, "red8", inner);
        Assert.That(h.Forwarder.Learned.TakeNew(), Is.EqualTo(new[]
        {
            new LearnedBinding(5001, IpAddr.Parse("10.1.1.50"), MacAddress.Parse(L2Mac), IpAddr.Parse("192.168.1.10")),
        }));

        var back = Udp(L2Mac, Red8Mac, "10.1.1.8", "10.1.1.50");
        AssertNvgre(h.Send("red8", back), h, "192.168.1.11", "192.168.1.10", 5001, back);
    }

    [Test]
    public void Nvgre_for_a_ca_bound_to_a_remote_l2only_vm_gets_its_sender_an_unreachable()
    {
        // FORWARDING 8.3: an UNREACHABLE for every NVGRE frame whose destination is remote — a
        // Dynamic binding stands in for the record, so its remote VM counts too.
        var h = Harness(hv2: true);
        h.Send("pnic0", NvgreFrom("192.168.1.10", 5001, Udp(Red8Mac, L2Mac, "10.1.1.50", "10.1.1.8")));
        Assert.That(h.Forwarder.Learned.Count, Is.EqualTo(1));

        var output = h.Send("pnic0", NvgreFrom("192.168.1.10", 5001, Udp(L2Mac, RedMac, "10.1.1.7", "10.1.1.50")));
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoLocalPort), Is.EqualTo(1));
        Assert.That(h.Forwarder.Counters.Migration.UnreachablesSent, Is.EqualTo(1));
        Assert.That(output.Single().Port, Is.EqualTo(h.Port("pnic0")), "the UNREACHABLE to Red-1's PA");
    }

    [Test]
    public void Nvgre_from_another_pa_is_pa_mismatch_and_learns_nothing()
    {
        var h = Harness(hv2: true);
        var inner = Udp(Red8Mac, L2Mac, "10.1.1.50", "10.1.1.8");
        Assert.That(h.Send("pnic0", NvgreFrom("192.168.1.12", 5001, inner)), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(1));
        Assert.That(h.Forwarder.Learned.Count, Is.Zero);

        // An inner source MAC without an L2Only record: pa_mismatch as before.
        Assert.That(h.Send("pnic0", NvgreFrom("192.168.1.10", 5001, Udp(Red8Mac, "00-15-5D-00-00-77", "10.1.1.51", "10.1.1.8"))), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(2));
    }

    [Test]
    public void The_same_ca_learned_in_two_vsids_stays_in_each()
    {
        var h = Harness();
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.50", "10.1.1.7"));
        var toBlueCa = Udp(L2BlueMac, BlueMac, "10.1.1.7", "10.1.1.50");
        Assert.That(h.Send("blue1", toBlueCa), Is.Empty, "Red's binding is not Blue's");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.EqualTo(1));

        h.Send("l2blue", Udp(BlueMac, L2BlueMac, "10.1.1.50", "10.1.1.7"));
        Assert.That(h.Forwarder.Learned.Count, Is.EqualTo(2));
        AssertDelivered(h.Send("blue1", toBlueCa), h, "l2blue", toBlueCa);
        var toRedCa = Udp(L2Mac, RedMac, "10.1.1.7", "10.1.1.50");
        AssertDelivered(h.Send("red1", toRedCa), h, "l2vm", toRedCa);
    }

    [Test]
    public void A_ca_with_a_static_record_is_never_learned()
    {
        var h = Harness();
        Assert.That(h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.8", "10.1.1.7")), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(1));
        Assert.That(h.Forwarder.Learned.Count, Is.Zero);
        var toStatic = Udp(Red8Mac, RedMac, "10.1.1.7", "10.1.1.8");
        AssertNvgre(h.Send("red1", toStatic), h, "192.168.1.10", "192.168.1.11", 5001, toStatic);

        // Neither from NVGRE: the inner source's static record decides (its PA is not the sender's).
        var hv2 = Harness(hv2: true);
        Assert.That(hv2.Send("pnic0", NvgreFrom("192.168.1.10", 5001, Udp(Red8Mac, L2Mac, "10.1.1.8", "10.1.1.8"))), Is.Empty);
        Assert.That(hv2.Forwarder.Learned.Count, Is.Zero);
    }

    [Test]
    public void A_ca_with_a_record_in_another_vsid_of_the_domain_is_never_learned()
    {
        // l2vm (VSID 5001) sent from 10.1.2.7, Red-2's static record in VSID 5002 of its routing
        // domain: it was learned in 5001, Red-1's ARP for 10.1.2.7 was answered with l2vm's MAC,
        // and its routed frames left as from Red-2, which a host whose PA is Red-2's accepted.
        string red2 = """{ "customerAddress": "10.1.2.7", "virtualSubnetId": 5002, "macAddress": "00-15-5D-00-02-07", "providerAddress": "192.168.1.10" },""";
        var json = Config().Replace("\"lookupRecords\": [", "\"lookupRecords\": [" + red2, StringComparison.Ordinal);
        var h = new ForwarderHarness(Load(json));
        var unicast = Udp(Red8Mac, L2Mac, "10.1.2.7", "10.1.1.8");
        var routed = Udp(GatewayMac, L2Mac, "10.1.2.7", "10.1.1.7");
        var arpFrom = Concat(Eth("FF-FF-FF-FF-FF-FF", L2Mac, 0x0806), ArpOf(1, L2Mac, "10.1.2.7", "00-00-00-00-00-00", "10.1.1.7"));
        Assert.That(h.Send("l2vm", unicast), Is.Empty);
        Assert.That(h.Send("l2vm", routed), Is.Empty);
        Assert.That(h.Send("l2vm", arpFrom), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(3));
        Assert.That(h.Forwarder.Learned.Count, Is.Zero);

        var arpFor = Concat(Eth("FF-FF-FF-FF-FF-FF", RedMac, 0x0806), ArpOf(1, RedMac, "10.1.1.7", "00-00-00-00-00-00", "10.1.2.7"));
        Assert.That(h.Send("red1", arpFor), Is.Empty, "no binding answers for Red-2's address");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.ArpUnresolved), Is.EqualTo(1));

        foreach (var frame in new[] { unicast, routed, arpFrom })
        {
            var trace = PacketTracer.Trace(h.Forwarder.Policy, "l2vm", frame);
            Assert.That((trace.Explained.DropReason, trace.Agrees), Is.EqualTo(("spoofed_source", true)), trace.ToString());
        }

        Assert.That(h.Send("l2vm", Udp(Red8Mac, L2Mac, "10.1.2.50", "10.1.1.8")), Has.Count.EqualTo(1), "an address of 10.1.2.0/24 nobody has is still learned");
    }

    [Test]
    public void A_gateway_or_subnet_edge_address_of_another_vsid_of_the_domain_is_never_learned()
    {
        var h = Harness();
        foreach (string address in new[] { "10.1.2.1", "10.1.2.0", "10.1.2.255" })
        {
            Assert.That(h.Send("l2vm", Udp(RedMac, L2Mac, address, "10.1.1.7")), Is.Empty, address);
        }

        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(3));
        Assert.That(h.Forwarder.Learned.Count, Is.Zero);
    }

    [Test]
    public void Routed_traffic_reaches_and_comes_from_a_learned_ca_in_another_vsid_of_the_domain()
    {
        var h = Harness();
        var fromL2 = Udp(GatewayMac, L2Vm2Mac, "10.1.2.50", "10.1.1.7");
        var delivered = h.Send("l2vm2", fromL2);
        Assert.That(delivered, Has.Count.EqualTo(1));
        Assert.That(delivered[0].Port, Is.EqualTo(h.Port("red1")));

        var toL2 = h.Send("red1", Udp(GatewayMac, RedMac, "10.1.1.7", "10.1.2.50"));
        Assert.That(toL2, Has.Count.EqualTo(1));
        Assert.That(toL2[0].Port, Is.EqualTo(h.Port("l2vm2")));
        Assert.That(toL2[0].Frame[..6], Is.EqualTo(Mac(L2Vm2Mac)), "inner destination MAC = the L2Only record's");
        Assert.That(toL2[0].Frame[6..12], Is.EqualTo(Mac(GatewayMac)));
        Assert.That(toL2[0].Frame[14 + 8], Is.EqualTo(63), "TTL decremented");
    }

    [Test]
    public void Nvgre_routed_from_a_learned_ca_is_vouched_for_by_its_binding_on_a_host_that_learned_it()
    {
        // Routed, the inner source MAC is the gateway MAC: no L2Only record of it vouches, and the
        // GatewayWildcard record no longer stands for an address of the virtual network. The
        // binding does (its L2Only record's PA must be the outer source); a host that has not
        // learned the CA has nothing to go by.
        var h = Harness(hv2: true);
        var routed = Udp(Red8Mac, GatewayMac, "10.1.1.50", "10.1.1.8", ttl: 63);
        Assert.That(h.Send("pnic0", NvgreFrom("192.168.1.10", 5001, routed)), Is.Empty, "nothing learned yet");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(1));

        h.Send("pnic0", NvgreFrom("192.168.1.10", 5001, Udp(Red8Mac, L2Mac, "10.1.1.50", "10.1.1.8")));
        Assert.That(h.Forwarder.Learned.Count, Is.EqualTo(1));
        AssertDelivered(h.Send("pnic0", NvgreFrom("192.168.1.10", 5001, routed)), h, "red8", routed);
        Assert.That(h.Send("pnic0", NvgreFrom("192.168.1.12", 5001, routed)), Is.Empty, "from another PA");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(2));
    }

    [Test]
    public void An_ipv6_address_is_learned_from_its_own_l2only_record_and_answers_neighbor_solicitations()
    {
        string v6 = $$"""{ "customerAddress": "::", "virtualSubnetId": 5001, "macAddress": "{{L2Mac}}", "providerAddress": "192.168.1.10", "type": "L2Only" },""";
        var h = new ForwarderHarness(Load(Config().Replace("\"lookupRecords\": [", "\"lookupRecords\": [" + v6, StringComparison.Ordinal)));
        var udp6 = Concat(Eth(Red8Mac, L2Mac, 0x86DD), Ipv6Of("2001:db8:1::50", "2001:db8:1::8", 17, UdpOf(1, 2, new byte[8])));
        Assert.That(h.Send("l2vm", udp6), Is.Empty, "no record for the destination");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.EqualTo(1), "but the source passed");
        Assert.That(h.Forwarder.Learned.Snapshot(h.Forwarder.Policy).Select(b => b.CustomerAddress.ToString()), Is.EqualTo(new[] { "2001:db8:1::50" }));

        var ns = new byte[32];
        ns[0] = 135;
        Addr("2001:db8:1::50").CopyTo(ns, 8);
        byte[] solicitation = Concat(Eth("33-33-FF-00-00-50", RedMac, 0x86DD), Icmpv6Of("::", "ff02::1:ff00:50", ns, hopLimit: 255));
        byte[] corrupted = (byte[])solicitation.Clone();
        corrupted[14 + 40 + 2] ^= 0x01;
        Assert.That(h.Send("red1", corrupted), Is.Empty, "RFC 4861 7.1.1: a solicitation with a bad checksum is not answered");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.MalformedHeader), Is.EqualTo(1), "but counted");
        var reply = h.Send("red1", solicitation);
        Assert.That(reply, Has.Count.EqualTo(1));
        Assert.That(reply[0].Frame[6..12], Is.EqualTo(Mac(L2Mac)), "advertised with the L2Only record's MAC");

        var linkLocal = Concat(Eth(Red8Mac, L2Mac, 0x86DD), Ipv6Of("fe80::50", "2001:db8:1::8", 17, UdpOf(1, 2, new byte[8])));
        Assert.That(h.Send("l2vm", linkLocal), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(1), "link-local addresses are not learned");

        var fromV4Only = Concat(Eth(Red8Mac, L2BlueMac, 0x86DD), Ipv6Of("2001:db8:1::51", "2001:db8:1::8", 17, UdpOf(1, 2, new byte[8])));
        Assert.That(h.Send("l2blue", fromV4Only), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(2), "an IPv4 L2Only record vouches for IPv4 only");
    }

    [Test]
    public void A_learned_address_moves_with_its_traffic_to_another_l2only_vm_of_the_vsid()
    {
        string second = $$"""{ "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-21", "providerAddress": "192.168.1.11", "type": "L2Only" },""";
        var h = new ForwarderHarness(Load(Config().Replace("\"lookupRecords\": [", "\"lookupRecords\": [" + second, StringComparison.Ordinal)));
        var toMoving = Udp(L2Mac, RedMac, "10.1.1.7", "10.1.1.50");
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.50", "10.1.1.7"));
        AssertDelivered(h.Send("red1", toMoving), h, "l2vm", toMoving);

        var failover = Udp(RedMac, "00-15-5D-00-00-21", "10.1.1.50", "10.1.1.7");
        h.Send("pnic0", Concat(Eth(Hv1Mac, Hv2Mac, 0x0800), Ipv4Of("192.168.1.11", "192.168.1.10", 47, NvgreOf(5001, 0x11, failover))));
        AssertNvgre(h.Send("red1", toMoving), h, "192.168.1.10", "192.168.1.11", 5001, toMoving);
        Assert.That(h.Forwarder.Learned.Learned, Is.EqualTo(2), "the move is reported as a new learn");
    }

    [TestCase("10.1.1.255")]
    [TestCase("10.1.1.0")]
    public void A_subnets_broadcast_or_network_address_is_never_learned(string edge)
    {
        // Learned, 10.1.1.255 drew Red-1's unicast to it to the L2Only VM.
        var h = Harness();
        Assert.That(h.Send("l2vm", Udp(RedMac, L2Mac, edge, "10.1.1.7")), Is.Empty);
        Assert.That(h.Forwarder.Learned.Count, Is.Zero);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(1));
        Assert.That(h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.254", "10.1.1.7")), Has.Count.EqualTo(1), "the subnet's last host address is learnable");
    }

    [Test]
    public void A_flooded_broadcast_from_an_l2only_vm_is_vouched_for_and_learned()
    {
        var json = Config().Replace("\"customerRoutes\": [", "\"virtualSubnets\": [ { \"virtualSubnetId\": 5001, \"flooding\": true } ],\n  \"customerRoutes\": [", StringComparison.Ordinal);
        var h = new ForwarderHarness(Load(json));
        var output = h.Send("l2vm", Udp("FF-FF-FF-FF-FF-FF", L2Mac, "10.1.1.50", "10.1.1.255"));
        Assert.That(output.Select(o => o.Port), Does.Contain(h.Port("red1")).And.Contain(h.Port("pnic0")));
        Assert.That(h.Forwarder.Learned.Count, Is.EqualTo(1));
        Assert.That(h.Send("red1", Udp("FF-FF-FF-FF-FF-FF", RedMac, "10.1.1.51", "10.1.1.255")), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(1), "no L2Only record, no learning");
    }

    [Test]
    public void Beyond_the_cap_nothing_new_is_learned_and_the_refusal_is_counted()
    {
        var h = Harness();
        h.Forwarder.Learned.Capacity = 2;
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.50", "10.1.1.7"));
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.51", "10.1.1.7"));
        Assert.That(h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.52", "10.1.1.7")), Has.Count.EqualTo(1), "still forwarded");
        Assert.That(h.Forwarder.Learned.Count, Is.EqualTo(2));
        Assert.That(h.Forwarder.Learned.Refused, Is.EqualTo(1));
        Assert.That(h.Send("red1", Udp(L2Mac, RedMac, "10.1.1.7", "10.1.1.52")), Is.Empty);
        Assert.That(h.Send("red1", Udp(L2Mac, RedMac, "10.1.1.7", "10.1.1.51")), Has.Count.EqualTo(1));
    }

    [Test]
    public void One_vsid_filling_its_share_leaves_room_for_the_others()
    {
        // One tenant's VM sending from thousands of addresses filled the table every tenant
        // learns in; each VSID now has its share (VsidCapacity, an eighth of the table).
        var h = Harness();
        h.Forwarder.Learned.VsidCapacity = 2;
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.50", "10.1.1.7"));
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.51", "10.1.1.7"));
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.52", "10.1.1.7"));
        Assert.That(h.Forwarder.Learned.Refused, Is.EqualTo(1), "the third in VSID 5001");
        Assert.That(h.Send("l2vm2", Udp(GatewayMac, L2Vm2Mac, "10.1.2.50", "10.1.1.7")), Has.Count.EqualTo(1));
        Assert.That(h.Forwarder.Learned.Snapshot(h.Forwarder.Policy).Select(b => b.CustomerAddress.ToString()).Order(),
            Is.EqualTo(new[] { "10.1.1.50", "10.1.1.51", "10.1.2.50" }), "the other VSID still learns");
        Assert.That(h.Forwarder.Learned.Refused, Is.EqualTo(1));
    }

    [Test]
    public void A_full_table_makes_room_by_dropping_aged_bindings()
    {
        var h = Harness();
        h.Forwarder.Learned.Capacity = 1;
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.50", "10.1.1.7"), timestampNs: 0);
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.51", "10.1.1.7"), timestampNs: 301 * Second);
        Assert.That(h.Forwarder.Learned.Snapshot(h.Forwarder.Policy).Select(b => b.CustomerAddress.ToString()), Is.EqualTo(new[] { "10.1.1.51" }));
        Assert.That(h.Forwarder.Learned.Refused, Is.Zero);
    }

    [Test]
    public void A_binding_ages_out_300_s_after_its_ca_was_last_seen()
    {
        var h = Harness();
        var toLearned = Udp(L2Mac, RedMac, "10.1.1.7", "10.1.1.50");
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.50", "10.1.1.7"), timestampNs: 10 * Second);
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.50", "10.1.1.7"), timestampNs: 200 * Second);
        Assert.That(h.Send("red1", toLearned, timestampNs: 500 * Second), Has.Count.EqualTo(1), "refreshed at 200 s");
        Assert.That(h.Send("red1", toLearned, timestampNs: 501 * Second), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.EqualTo(1));
        Assert.That(h.Forwarder.Learned.Expired, Is.EqualTo(1));
        Assert.That(h.Forwarder.Learned.Count, Is.Zero);
    }

    [Test]
    public void Bindings_aged_out_by_a_lookup_free_their_vsids_share()
    {
        // A lookup that found a binding aged out removed it but kept it in the VSID's count: once
        // the count reached the share, the VSID never learned again, even after a reload.
        var h = Harness();
        h.Forwarder.Learned.VsidCapacity = 2;
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.50", "10.1.1.7"), timestampNs: 0);
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.51", "10.1.1.7"), timestampNs: 0);
        Assert.That(h.Send("red1", Udp(L2Mac, RedMac, "10.1.1.7", "10.1.1.50"), timestampNs: 400 * Second), Is.Empty, "aged out");
        Assert.That(h.Send("red1", Udp(L2Mac, RedMac, "10.1.1.7", "10.1.1.51"), timestampNs: 400 * Second), Is.Empty, "aged out");
        Assert.That(h.Forwarder.Learned.Count, Is.Zero);

        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.60", "10.1.1.7"), timestampNs: 401 * Second);
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.61", "10.1.1.7"), timestampNs: 401 * Second);
        Assert.That(h.Forwarder.Learned.Refused, Is.Zero, "the VSID's share is free again");
        Assert.That(h.Send("red1", Udp(L2Mac, RedMac, "10.1.1.7", "10.1.1.61"), timestampNs: 402 * Second), Has.Count.EqualTo(1));
    }

    [Test]
    public void A_policy_reload_clears_what_was_learned()
    {
        var store = new PolicyStore(PolicySnapshot.Build(Load(Config())));
        var h = new ForwarderHarness(store);
        var toLearned = Udp(L2Mac, RedMac, "10.1.1.7", "10.1.1.50");
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.50", "10.1.1.7"));
        Assert.That(h.Send("red1", toLearned), Has.Count.EqualTo(1));

        store.Replace(Load(Config()));
        Assert.That(h.Send("red1", toLearned), Is.Empty, "forgotten with the old version");
        h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.50", "10.1.1.7"));
        Assert.That(h.Send("red1", toLearned), Has.Count.EqualTo(1), "re-learned on the next frame");

        store.Replace(Load(Config(withL2Only: false)));
        Assert.That(h.Send("l2vm", Udp(RedMac, L2Mac, "10.1.1.50", "10.1.1.7")), Is.Empty, "the L2Only record is gone");
        Assert.That(h.Send("red1", toLearned), Is.Empty);
        Assert.That(h.Forwarder.Learned.Count, Is.Zero);
    }

    [Test]
    public void Steady_traffic_from_and_to_a_learned_ca_allocates_nothing()
    {
        var h = Harness();
        var f = h.Forwarder;
        var from = Udp(RedMac, L2Mac, "10.1.1.50", "10.1.1.7");
        var to = Udp(L2Mac, RedMac, "10.1.1.7", "10.1.1.50");
        int l2 = h.Port("l2vm");
        int red = h.Port("red1");
        void Round()
        {
            for (int i = 0; i < 64; i++)
            {
                var a = f.Pool.Rent()!;
                a.TrySet(from);
                f.Process(l2, a);
                var b = f.Pool.Rent()!;
                b.TrySet(to);
                f.Process(red, b);
                for (int p = 0; p < f.PortCount; p++)
                {
                    f.CompleteTransmit(p);
                }
            }
        }

        f.BeginBatch();
        Round(); // the first learn allocates the table
        var windows = new List<long>();
        do
        {
            // The runtime may bill a one-off of its own (a method moving up a compilation tier)
            // to this thread: that dirties one window, an allocation of the forwarder's every one.
            long before = GC.GetAllocatedBytesForCurrentThread();
            Round();
            windows.Add(GC.GetAllocatedBytesForCurrentThread() - before);
        }
        while (windows[^1] > 0 && windows.Count < 3);

        Assert.That(windows[^1], Is.Zero, "bytes allocated in every window: " + string.Join(", ", windows));
        Assert.That(f.Counters.Forwarded, Is.EqualTo(128 * (windows.Count + 1)));
    }

    [TestCase("10.1.1.9", "Encap", "customerAddress")]
    [TestCase("0.0.0.0", "Nat", "rule")]
    public void The_loader_wants_a_wildcard_ca_and_encap_on_l2only_records(string ca, string rule, string field)
    {
        var json = Config().Replace(
            $$"""{ "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "{{L2Mac}}", "providerAddress": "192.168.1.10", "type": "L2Only" }""",
            $$"""{ "customerAddress": "{{ca}}", "virtualSubnetId": 5001, "macAddress": "{{L2Mac}}", "providerAddress": "192.168.1.10", "type": "L2Only", "rule": "{{rule}}" }""",
            StringComparison.Ordinal);
        var problems = ConfigLoader.Load(json).Problems.Select(p => p.ToString()).ToList();
        Assert.That(problems, Has.Some.Contains(field).And.Some.Contains(ca == "0.0.0.0" ? "cannot use TranslationMethodNat" : "is not a wildcard"));
    }

    [Test]
    public void The_loader_takes_one_l2only_record_per_vm_and_family_and_many_per_vsid()
    {
        string second = $$"""{ "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-21", "providerAddress": "192.168.1.10", "type": "L2Only" },""";
        string duplicate = $$"""{ "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "{{L2Mac}}", "providerAddress": "192.168.1.10", "type": "L2Only" },""";
        string ipv6 = $$"""{ "customerAddress": "::", "virtualSubnetId": 5001, "macAddress": "{{L2Mac}}", "providerAddress": "192.168.1.10", "type": "L2Only" },""";
        string With(string extra) => Config().Replace("\"lookupRecords\": [", "\"lookupRecords\": [" + extra, StringComparison.Ordinal);
        Assert.That(ConfigLoader.Load(With(second + ipv6)).Problems, Is.Empty);
        var problems = ConfigLoader.Load(With(duplicate)).Problems;
        Assert.That(problems, Has.Count.EqualTo(1));
        Assert.That(problems[0].ToString(), Does.Contain("already has an L2Only record"));
    }
}
