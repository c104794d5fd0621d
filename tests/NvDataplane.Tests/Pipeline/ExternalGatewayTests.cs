using NvDataplane.Diagnostics;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// The dataplane as the NVGRE gateway: hv2 (PA 192.168.1.11) has an external port ext0
/// (172.16.0.1/24, next hop 172.16.0.254) in the gateway subnet 10.1.99.0/24 (VSID 5099) of the
/// Red routing domain, whose default route names the gateway CA 10.1.99.2. web1 (10.1.1.7) runs
/// on hv1, web2 (10.1.1.8) on hv2; Blue, another routing domain, has its own 10.1.1.7 on hv2 and
/// a 10.2.2.2 of its own. Over IPv6, ext0 also has 2001:db8:16::1/64 (next hop 2001:db8:16::fe),
/// the gateway CA is fd00:1:99::2, web1 fd00:1:1::7 and web2 fd00:1:1::8. Expected frames are
/// built here from the header layouts.
/// </summary>
public partial class ExternalGatewayTests
{
    private const string Web1Mac = "00-15-5D-00-00-01";
    private const string Web2Mac = "00-15-5D-00-00-02";
    private const string BlueMac = "00-15-5D-00-01-07";
    private const string ExtMac = "02-00-00-00-EE-01";
    private const string OnPremMac = "02-00-00-00-AA-10";
    private const string RouterMac = "02-00-00-00-AA-FE";
    private const string VirtualGatewayMac = "00-15-5D-FF-FF-FF";
    private const string Hv1Mac = "02-00-00-00-01-0A";
    private const string Hv2Mac = "02-00-00-00-01-0B";
    private const string Red = "{11111111-2222-3333-4444-000000000000}";
    private const string Blue = "{22222222-2222-3333-4444-000000000000}";

    private const string Ext6 = "\"address6\": \"2001:db8:16::1\", \"prefixLength6\": 64, \"nextHop6\": \"2001:db8:16::fe\"";

    private static string Config(string externalExtra = "", int mtu = 1500, string v6 = Ext6) => $$"""
        {
          "host": { "name": "hv2" },
          "ports": [
            { "name": "pnic0", "role": "provider", "macAddress": "{{Hv2Mac}}" },
            { "name": "web2", "role": "vm", "macAddress": "{{Web2Mac}}", "virtualSubnetId": 5001 },
            { "name": "blue7", "role": "vm", "macAddress": "{{BlueMac}}", "virtualSubnetId": 6001 },
            { "name": "ext0", "role": "external", "macAddress": "{{ExtMac}}", "mtu": {{mtu}}, "virtualSubnetId": 5099,
              "address": "172.16.0.1", "prefixLength": 24, "nextHop": "172.16.0.254"{{(v6.Length > 0 ? ", " + v6 : "")}} {{externalExtra}} }
          ],
          "providerAddresses": [ { "address": "192.168.1.11", "prefixLength": 24, "port": "pnic0" } ],
          "providerNeighbors": [ { "address": "192.168.1.10", "macAddress": "{{Hv1Mac}}" } ],
          "lookupRecords": [
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "{{Web1Mac}}", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "{{Web2Mac}}", "providerAddress": "192.168.1.11" },
            { "customerAddress": "10.1.99.2", "virtualSubnetId": 5099, "macAddress": "{{ExtMac}}", "providerAddress": "192.168.1.11" },
            { "customerAddress": "0.0.0.0", "virtualSubnetId": 5099, "macAddress": "{{ExtMac}}", "providerAddress": "192.168.1.11", "type": "GatewayWildcard" },
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 6001, "macAddress": "{{BlueMac}}", "providerAddress": "192.168.1.11" },
            { "customerAddress": "10.2.2.2", "virtualSubnetId": 6001, "macAddress": "00-15-5D-00-01-09", "providerAddress": "192.168.1.10" },
            { "customerAddress": "fd00:1:1::7", "virtualSubnetId": 5001, "macAddress": "{{Web1Mac}}", "providerAddress": "192.168.1.10" },
            { "customerAddress": "fd00:1:1::8", "virtualSubnetId": 5001, "macAddress": "{{Web2Mac}}", "providerAddress": "192.168.1.11" },
            { "customerAddress": "fd00:1:99::2", "virtualSubnetId": 5099, "macAddress": "{{ExtMac}}", "providerAddress": "192.168.1.11" },
            { "customerAddress": "::", "virtualSubnetId": 5099, "macAddress": "{{ExtMac}}", "providerAddress": "192.168.1.11", "type": "GatewayWildcard" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{{Red}}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" },
            { "routingDomainId": "{{Red}}", "virtualSubnetId": 5099, "destinationPrefix": "10.1.99.0/24", "nextHop": "0.0.0.0" },
            { "routingDomainId": "{{Red}}", "virtualSubnetId": 5099, "destinationPrefix": "0.0.0.0/0", "nextHop": "10.1.99.2" },
            { "routingDomainId": "{{Blue}}", "virtualSubnetId": 6001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" },
            { "routingDomainId": "{{Blue}}", "virtualSubnetId": 6001, "destinationPrefix": "10.2.2.0/24", "nextHop": "0.0.0.0" },
            { "routingDomainId": "{{Red}}", "virtualSubnetId": 5001, "destinationPrefix": "fd00:1:1::/64", "nextHop": "::" },
            { "routingDomainId": "{{Red}}", "virtualSubnetId": 5099, "destinationPrefix": "fd00:1:99::/64", "nextHop": "::" },
            { "routingDomainId": "{{Red}}", "virtualSubnetId": 5099, "destinationPrefix": "::/0", "nextHop": "fd00:1:99::2" }
          ]
        }
        """;

    private static ForwarderHarness Harness(string json)
    {
        var loaded = ConfigLoader.Load(json);
        Assert.That(loaded.Problems, Is.Empty);
        return new ForwarderHarness(loaded.Config!);
    }

    private static byte[] UdpIp(string src, string dst, byte ttl = 64, int size = 16, ushort flags = 0x4000) =>
        Ipv4Of(src, dst, 17, UdpOf(40000, 53, new byte[size]), ttl: ttl, flagsFragment: flags);

    /// <summary>What hv1's distributed router sends the gateway for an outside destination.</summary>
    private static byte[] NvgreFromHv1(byte[] innerIp, uint vsid = 5099, string innerDstMac = ExtMac) =>
        Concat(Eth(Hv2Mac, Hv1Mac, 0x0800), Ipv4Of("192.168.1.10", "192.168.1.11", 47, NvgreOf(vsid, 0x11, Concat(Eth(innerDstMac, VirtualGatewayMac, EtherTypeOf(innerIp)), innerIp))));

    private static ushort EtherTypeOf(byte[] ip) => ip[0] >> 4 == 6 ? (ushort)0x86DD : (ushort)0x0800;

    private static byte[] ArpFrame(string dst, string src, ushort op, string sha, string spa, string tha, string tpa) =>
        Concat(Eth(dst, src, 0x0806), ArpOf(op, sha, spa, tha, tpa));

    private static byte[] FromOnPrem(byte[] ip, string src = OnPremMac) => Concat(Eth(ExtMac, src, EtherTypeOf(ip)), ip);

    /// <summary>Sends <paramref name="frame"/> on pnic0; only the gateway's <paramref name="request"/> for the next hop leaves, and <paramref name="answer"/> releases the frame.</summary>
    private static byte[] OutThroughResolution(ForwarderHarness h, byte[] frame, byte[] request, byte[] answer)
    {
        var asked = h.Send("pnic0", frame);
        Assert.That(asked, Has.Count.EqualTo(1), "only the ARP request / neighbor solicitation leaves at first");
        Assert.That(asked[0].Port, Is.EqualTo(h.Port("ext0")));
        Assert.That(asked[0].Frame, Is.EqualTo(request));
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1));

        var released = h.Send("ext0", answer);
        Assert.That(released, Has.Count.EqualTo(1), "the answer releases the parked frame");
        Assert.That(released[0].Port, Is.EqualTo(h.Port("ext0")));
        return released[0].Frame;
    }

    /// <summary>Sends <paramref name="frame"/> on pnic0; the gateway asks who has <paramref name="nextHop"/>, and the answer releases the frame.</summary>
    private static byte[] OutThroughArp(ForwarderHarness h, byte[] frame, string nextHop, string nextHopMac) =>
        OutThroughResolution(
            h,
            frame,
            ArpFrame("FF-FF-FF-FF-FF-FF", ExtMac, 1, ExtMac, "172.16.0.1", "00-00-00-00-00-00", nextHop),
            ArpFrame(ExtMac, nextHopMac, 2, nextHopMac, nextHop, ExtMac, "172.16.0.1"));

    [Test]
    public void Nvgre_for_an_onprem_address_is_decapsulated_and_routed_out_after_arp_for_the_host()
    {
        var h = Harness(Config());
        byte[] sent = OutThroughArp(h, NvgreFromHv1(UdpIp("10.1.1.7", "172.16.0.10", ttl: 63)), "172.16.0.10", OnPremMac);
        Assert.That(sent, Is.EqualTo(Concat(Eth(OnPremMac, ExtMac, 0x0800), UdpIp("10.1.1.7", "172.16.0.10", ttl: 62))));

        // Learned: the next packet leaves at once.
        var again = h.Send("pnic0", NvgreFromHv1(UdpIp("10.1.1.7", "172.16.0.10", ttl: 63)));
        Assert.That(again.Single().Frame, Is.EqualTo(sent));
    }

    [Test]
    public void A_destination_beyond_the_external_prefix_goes_to_the_next_hop_with_the_vlan_tag()
    {
        var h = Harness(Config(externalExtra: ", \"vlanId\": 42"));
        var asked = h.Send("pnic0", NvgreFromHv1(UdpIp("10.1.1.7", "8.8.8.8", ttl: 63)));
        byte[] tag = [0x81, 0x00, 0x00, 42];
        byte[] arp = ArpOf(1, ExtMac, "172.16.0.1", "00-00-00-00-00-00", "172.16.0.254");
        Assert.That(asked.Single().Frame, Is.EqualTo(Concat(Mac("FF-FF-FF-FF-FF-FF"), Mac(ExtMac), tag, [0x08, 0x06], arp)));

        byte[] reply = ArpOf(2, RouterMac, "172.16.0.254", ExtMac, "172.16.0.1");
        var released = h.Send("ext0", Concat(Mac(ExtMac), Mac(RouterMac), tag, [0x08, 0x06], reply));
        Assert.That(released.Single().Frame, Is.EqualTo(Concat(Mac(RouterMac), Mac(ExtMac), tag, [0x08, 0x00], UdpIp("10.1.1.7", "8.8.8.8", ttl: 62))));

        // Untagged frames are not of this network, nor are frames whose tag is 802.1ad's.
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp("172.16.0.10", "10.1.1.7"))), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.VlanTagged), Is.EqualTo(1));
        byte[] serviceTagged = Concat(Mac(ExtMac), Mac(OnPremMac), [0x88, 0xA8, 0x00, 42, 0x08, 0x00], UdpIp("172.16.0.10", "10.1.1.7"));
        Assert.That(h.Send("ext0", serviceTagged), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.VlanTagged), Is.EqualTo(2));
        Assert.That(h.Send("ext0", Concat(Mac(ExtMac), Mac(OnPremMac), tag, [0x08, 0x00], UdpIp("172.16.0.10", "10.1.1.7"))), Has.Count.EqualTo(1), "the same with an 802.1Q tag");
    }

    [Test]
    public void A_local_vm_routed_to_the_gateway_leaves_by_the_external_port_after_two_router_hops()
    {
        var h = Harness(Config());
        var asked = h.Send("web2", Concat(Eth(VirtualGatewayMac, Web2Mac, 0x0800), UdpIp("10.1.1.8", "172.16.0.10")));
        Assert.That(asked.Single().Port, Is.EqualTo(h.Port("ext0")));
        var released = h.Send("ext0", ArpFrame(ExtMac, OnPremMac, 2, OnPremMac, "172.16.0.10", ExtMac, "172.16.0.1"));
        Assert.That(released.Single().Frame, Is.EqualTo(Concat(Eth(OnPremMac, ExtMac, 0x0800), UdpIp("10.1.1.8", "172.16.0.10", ttl: 62))));
    }

    [Test]
    public void An_onprem_packet_is_routed_into_the_tenant_encapsulated_to_the_vm_pa_or_delivered_locally()
    {
        var h = Harness(Config());
        var remote = h.Send("ext0", FromOnPrem(UdpIp("172.16.0.10", "10.1.1.7")));
        Assert.That(remote.Single().Port, Is.EqualTo(h.Port("pnic0")));
        byte[] frame = remote[0].Frame;
        Assert.That(GreVsid(frame), Is.EqualTo(5001u), "the destination's VSID");
        Assert.That(frame[..12], Is.EqualTo(Concat(Mac(Hv1Mac), Mac(Hv2Mac))));
        Assert.That(frame[(14 + 12)..(14 + 20)], Is.EqualTo(Concat(Addr("192.168.1.11"), Addr("192.168.1.10"))), "from the gateway host's PA to web1's");
        Assert.That(frame[(14 + 20 + 8)..], Is.EqualTo(Concat(Eth(Web1Mac, VirtualGatewayMac, 0x0800), UdpIp("172.16.0.10", "10.1.1.7", ttl: 63))));

        var local = h.Send("ext0", FromOnPrem(UdpIp("172.16.0.10", "10.1.1.8")));
        Assert.That(local.Single().Port, Is.EqualTo(h.Port("web2")));
        Assert.That(local[0].Frame, Is.EqualTo(Concat(Eth(Web2Mac, VirtualGatewayMac, 0x0800), UdpIp("172.16.0.10", "10.1.1.8", ttl: 63))));
    }

    [Test]
    public void Arp_and_echo_for_the_port_address_are_answered_and_other_arp_is_not_for_the_host()
    {
        var h = Harness(Config());
        var reply = h.Send("ext0", ArpFrame("FF-FF-FF-FF-FF-FF", OnPremMac, 1, OnPremMac, "172.16.0.10", "00-00-00-00-00-00", "172.16.0.1"));
        Assert.That(reply.Single().Frame, Is.EqualTo(ArpFrame(OnPremMac, ExtMac, 2, ExtMac, "172.16.0.1", OnPremMac, "172.16.0.10")));

        Assert.That(h.Send("ext0", ArpFrame("FF-FF-FF-FF-FF-FF", OnPremMac, 1, OnPremMac, "172.16.0.10", "00-00-00-00-00-00", "172.16.0.20")), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NotForHost), Is.EqualTo(1));

        var echo = h.Send("ext0", FromOnPrem(Ipv4Of("172.16.0.10", "172.16.0.1", 1, IcmpEcho(8, 7, 1, [1, 2, 3]))));
        Assert.That(echo.Single().Frame, Is.EqualTo(Concat(Eth(OnPremMac, ExtMac, 0x0800), Ipv4Of("172.16.0.1", "172.16.0.10", 1, IcmpEcho(0, 7, 1, [1, 2, 3])))));
        Assert.That(h.Forwarder.Counters.Answered, Is.EqualTo(2));
    }

    [Test]
    public void An_unanswered_next_hop_drops_the_parked_frame_as_neighbor_unresolved()
    {
        var h = Harness(Config());
        Assert.That(h.Send("pnic0", NvgreFromHv1(UdpIp("10.1.1.7", "172.16.0.10", ttl: 63))), Has.Count.EqualTo(1));
        h.Forwarder.ExpireParked(Forwarder.ParkTimeoutNs);
        Assert.That(h.Forwarder.ParkedCount, Is.Zero);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NeighborUnresolved), Is.EqualTo(1));
    }

    [Test]
    public void An_expiring_ttl_on_the_way_in_gets_time_exceeded_from_the_port_address()
    {
        var h = Harness(Config());
        byte[] ip = UdpIp("172.16.0.10", "10.1.1.7", ttl: 1);
        var output = h.Send("ext0", FromOnPrem(ip));
        Assert.That(h.Forwarder.Counters.Drop(DropReason.TtlExpired), Is.EqualTo(1));
        byte[] icmp = Concat([11, 0, 0, 0, 0, 0, 0, 0], ip);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), ReferenceChecksum(icmp));
        Assert.That(output.Single().Frame, Is.EqualTo(Concat(Eth(OnPremMac, ExtMac, 0x0800), Ipv4Of("172.16.0.1", "172.16.0.10", 1, icmp, flagsFragment: 0))));
    }

    [Test]
    public void An_expiring_ttl_on_the_way_out_gets_time_exceeded_back_into_the_tenant()
    {
        var h = Harness(Config());
        byte[] ip = UdpIp("10.1.1.7", "172.16.0.10", ttl: 1);
        var output = h.Send("pnic0", NvgreFromHv1(ip));
        Assert.That(h.Forwarder.Counters.Drop(DropReason.TtlExpired), Is.EqualTo(1));
        Assert.That(output.Single().Port, Is.EqualTo(h.Port("pnic0")), "routed to web1's host");
        byte[] icmp = Concat([11, 0, 0, 0, 0, 0, 0, 0], ip);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), ReferenceChecksum(icmp));
        Assert.That(output[0].Frame[(14 + 20 + 8)..], Is.EqualTo(Concat(Eth(Web1Mac, VirtualGatewayMac, 0x0800), Ipv4Of("172.16.0.1", "10.1.1.7", 1, icmp, ttl: 63, flagsFragment: 0))));
        Assert.That(h.Forwarder.Counters.Forwarded, Is.Zero, "the input is counted once, as dropped");
    }

    [Test]
    public void A_time_exceeded_routed_in_that_finds_no_place_to_wait_for_its_next_hop_is_neighbor_unresolved()
    {
        // Without hv1's static neighbor entry, frames to web1 wait on pnic0 while ARP asks. Packets
        // from outside fill the port's places; the time exceeded about web1's packet then finds
        // none, and is counted as the packet from outside that found none is.
        var h = Harness(Config().Replace($$"""{ "address": "192.168.1.10", "macAddress": "{{Hv1Mac}}" }""", "", StringComparison.Ordinal));
        for (int i = 0; i <= Forwarder.ParkCapacity; i++)
        {
            h.Send("ext0", FromOnPrem(UdpIp("172.16.0.10", "10.1.1.7")));
        }

        var c = h.Forwarder.Counters;
        Assert.That((h.Forwarder.ParkedCount, c.Drop(DropReason.NeighborUnresolved)), Is.EqualTo((Forwarder.ParkCapacity, 1L)), "pnic0's places are full");

        Assert.That(h.Send("pnic0", NvgreFromHv1(UdpIp("10.1.1.7", "172.16.0.10", ttl: 1))), Is.Empty);
        Assert.That((c.Drop(DropReason.TtlExpired), c.Drop(DropReason.NeighborUnresolved), c.Forwarded), Is.EqualTo((1L, 2L, 0L)), "the packet, and the time exceeded about it");
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(Forwarder.ParkCapacity));
    }

    [Test]
    public void A_time_exceeded_routed_in_that_waits_for_its_next_hop_counts_only_when_no_answer_comes()
    {
        // Without hv1's static neighbor entry, the time exceeded for web1 waits on pnic0 while ARP
        // asks: unanswered, it is lost as neighbor_unresolved, as a waiting flood copy is; answered,
        // it leaves counted as nothing (the packet it is about is counted, ttl_expired).
        var h = Harness(Config().Replace($$"""{ "address": "192.168.1.10", "macAddress": "{{Hv1Mac}}" }""", "", StringComparison.Ordinal));
        byte[] expiring = NvgreFromHv1(UdpIp("10.1.1.7", "172.16.0.10", ttl: 1));
        Assert.That(h.Send("pnic0", expiring).Single().Frame[12..14], Is.EqualTo(new byte[] { 0x08, 0x06 }), "ARP for hv1; the time exceeded waits");
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1));
        h.Forwarder.ExpireParked(Forwarder.ParkTimeoutNs);
        var c = h.Forwarder.Counters;
        Assert.That((h.Forwarder.ParkedCount, c.Drop(DropReason.TtlExpired), c.Drop(DropReason.NeighborUnresolved)), Is.EqualTo((0, 1L, 1L)));

        Assert.That(h.Send("pnic0", expiring, 2 * Second), Has.Count.EqualTo(1), "ARP for hv1 again");
        var released = h.Send("pnic0", ArpFrame(Hv2Mac, Hv1Mac, 2, Hv1Mac, "192.168.1.10", Hv2Mac, "192.168.1.11"), 2 * Second);
        Assert.That(released.Single().Port, Is.EqualTo(h.Port("pnic0")), "the time exceeded leaves for web1's host");
        Assert.That((c.Drop(DropReason.TtlExpired), c.Drop(DropReason.NeighborUnresolved), c.Forwarded, c.Answered), Is.EqualTo((2L, 1L, 0L, 1L)), "the ARP reply is answered; the error counts nothing");
    }

    [Test]
    public void Over_the_external_mtu_a_df_packet_is_refused_and_one_without_df_is_fragmented()
    {
        var h = Harness(Config(mtu: 576));
        Assert.That(h.Send("pnic0", NvgreFromHv1(UdpIp("10.1.1.7", "172.16.0.10", ttl: 63, size: 1000))).Single().Port, Is.EqualTo(h.Port("pnic0")), "fragmentation needed, back to web1");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.MtuExceeded), Is.EqualTo(1));

        var asked = h.Send("pnic0", NvgreFromHv1(UdpIp("10.1.1.7", "172.16.0.10", ttl: 63, size: 1000, flags: 0)));
        Assert.That(asked, Has.Count.EqualTo(1), "the ARP request; the fragments wait");
        var released = h.Send("ext0", ArpFrame(ExtMac, OnPremMac, 2, OnPremMac, "172.16.0.10", ExtMac, "172.16.0.1"));
        Assert.That(released, Has.Count.EqualTo(2));
        Assert.That(released.Select(f => f.Frame.Length - 14), Is.All.LessThanOrEqualTo(576));
        Assert.That(released.Sum(f => f.Frame.Length - 14 - 20), Is.EqualTo(8 + 1000));
    }

    [Test]
    public void A_packet_from_outside_too_big_for_the_tunnel_gets_fragmentation_needed_from_the_port_address()
    {
        var h = Harness(Config());
        byte[] ip = UdpIp("172.16.0.10", "10.1.1.7", size: 1500 - 28);
        var output = h.Send("ext0", FromOnPrem(ip));
        Assert.That(h.Forwarder.Counters.Drop(DropReason.MtuExceeded), Is.EqualTo(1));
        byte[] icmp = Concat([3, 4, 0, 0, 0, 0, 0x05, 0xB2], ip[..(576 - 28)]);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), ReferenceChecksum(icmp));
        Assert.That(output.Single().Frame, Is.EqualTo(Concat(Eth(OnPremMac, ExtMac, 0x0800), Ipv4Of("172.16.0.1", "172.16.0.10", 1, icmp, flagsFragment: 0))));
    }

    [Test]
    public void Nothing_from_outside_reaches_another_routing_domain_or_loops_back_out()
    {
        var h = Harness(Config());
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp("172.16.0.10", "10.2.2.2"))), Is.Empty, "Blue's address: routed by Red's default route, back to the gateway");
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp("172.16.0.10", "8.8.8.8"))), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoRoute), Is.EqualTo(2));

        var toRed = h.Send("ext0", FromOnPrem(UdpIp("172.16.0.10", "10.1.1.7")));
        Assert.That(GreVsid(toRed.Single().Frame), Is.EqualTo(5001u), "10.1.1.7 is Red's web1, never Blue's VM of the same address");

        // Blue has no route out at all.
        Assert.That(h.Send("blue7", Concat(Eth(VirtualGatewayMac, BlueMac, 0x0800), UdpIp("10.1.1.7", "172.16.0.10"))), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoRoute), Is.EqualTo(3));
    }

    [Test]
    public void Nvgre_for_the_gateway_ca_itself_is_not_sent_out()
    {
        var h = Harness(Config());
        Assert.That(h.Send("pnic0", NvgreFromHv1(UdpIp("10.1.1.7", "10.1.99.2", ttl: 63))), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.EqualTo(1));
    }

    private const string Port6 = "2001:db8:16::1";
    private const string OnPrem6 = "2001:db8:16::10";
    private const string Router6 = "2001:db8:16::fe";

    private static byte[] UdpIp6(string src, string dst, byte hopLimit = 64, int size = 16) =>
        Ipv6Of(src, dst, 17, UdpOf(40000, 53, new byte[size]), hopLimit);

    /// <summary>An ICMPv6 neighbor solicitation (RFC 4861 4.3) with the source link-layer address option.</summary>
    private static byte[] NeighborSolicitation(string src, string dst, string target, string srcMac, byte hopLimit = 255) =>
        Icmpv6Of(src, dst, Concat([135, 0, 0, 0, 0, 0, 0, 0], Addr(target), [1, 1], Mac(srcMac)), hopLimit);

    /// <summary>An ICMPv6 neighbor advertisement (RFC 4861 4.4), flags in the first byte (R 0x80, S 0x40, O 0x20), with the target link-layer address option.</summary>
    private static byte[] NeighborAdvertisement(string src, string dst, string target, string targetMac, byte flags, byte hopLimit = 255) =>
        Icmpv6Of(src, dst, Concat([136, 0, 0, 0, flags, 0, 0, 0], Addr(target), [2, 1], Mac(targetMac)), hopLimit);

    /// <summary>Sends <paramref name="frame"/> on pnic0; the gateway solicits <paramref name="nextHop"/> (a ::XX address), and the advertisement releases the frame.</summary>
    private static byte[] OutThroughNd(ForwarderHarness h, byte[] frame, string nextHop, string nextHopMac, string solicitedMac)
    {
        string solicited = "ff02::1:ff00:" + nextHop[(nextHop.LastIndexOf(':') + 1)..];
        return OutThroughResolution(
            h,
            frame,
            Concat(Eth(solicitedMac, ExtMac, 0x86DD), NeighborSolicitation(Port6, solicited, nextHop, ExtMac)),
            Concat(Eth(ExtMac, nextHopMac, 0x86DD), NeighborAdvertisement(nextHop, Port6, nextHop, nextHopMac, 0x60)));
    }

    [Test]
    public void Ipv6_nvgre_for_an_onprem_address_is_routed_out_after_neighbor_discovery()
    {
        var h = Harness(Config());
        byte[] sent = OutThroughNd(h, NvgreFromHv1(UdpIp6("fd00:1:1::7", OnPrem6, hopLimit: 63)), OnPrem6, OnPremMac, "33-33-FF-00-00-10");
        Assert.That(sent, Is.EqualTo(Concat(Eth(OnPremMac, ExtMac, 0x86DD), UdpIp6("fd00:1:1::7", OnPrem6, hopLimit: 62))));
        Assert.That(h.Forwarder.Counters.Answered, Is.EqualTo(1), "the advertisement was consumed");

        var again = h.Send("pnic0", NvgreFromHv1(UdpIp6("fd00:1:1::7", OnPrem6, hopLimit: 63)));
        Assert.That(again.Single().Frame, Is.EqualTo(sent), "learned: no new solicitation");
    }

    [Test]
    public void Ipv6_beyond_the_external_prefix_goes_to_next_hop6_with_the_vlan_tag()
    {
        var h = Harness(Config(externalExtra: ", \"vlanId\": 42"));
        byte[] tag = [0x81, 0x00, 0x00, 42];
        var asked = h.Send("web2", Concat(Eth(VirtualGatewayMac, Web2Mac, 0x86DD), UdpIp6("fd00:1:1::8", "2001:db8:99::5")));
        Assert.That(asked.Single().Frame, Is.EqualTo(Concat(Mac("33-33-FF-00-00-FE"), Mac(ExtMac), tag, [0x86, 0xDD], NeighborSolicitation(Port6, "ff02::1:ff00:fe", Router6, ExtMac))));

        var released = h.Send("ext0", Concat(Mac(ExtMac), Mac(RouterMac), tag, [0x86, 0xDD], NeighborAdvertisement(Router6, Port6, Router6, RouterMac, 0xE0)));
        Assert.That(released.Single().Frame, Is.EqualTo(Concat(Mac(RouterMac), Mac(ExtMac), tag, [0x86, 0xDD], UdpIp6("fd00:1:1::8", "2001:db8:99::5", hopLimit: 62))), "two router hops");
    }

    [Test]
    public void Neighbor_solicitation_and_echo_for_the_port_ipv6_address_are_answered()
    {
        var h = Harness(Config());
        var na = h.Send("ext0", Concat(Eth("33-33-FF-00-00-01", OnPremMac, 0x86DD), NeighborSolicitation(OnPrem6, "ff02::1:ff00:1", Port6, OnPremMac)));
        Assert.That(na.Single().Frame, Is.EqualTo(Concat(Eth(OnPremMac, ExtMac, 0x86DD), NeighborAdvertisement(Port6, OnPrem6, Port6, ExtMac, 0xE0))), "router, solicited, override");

        Assert.That(h.Send("ext0", Concat(Eth("33-33-FF-00-00-20", OnPremMac, 0x86DD), NeighborSolicitation(OnPrem6, "ff02::1:ff00:20", "2001:db8:16::20", OnPremMac))), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NotForHost), Is.EqualTo(1));
        Assert.That(h.Send("ext0", Concat(Eth("33-33-FF-00-00-01", OnPremMac, 0x86DD), NeighborSolicitation(OnPrem6, "ff02::1:ff00:1", Port6, OnPremMac, hopLimit: 64))), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.MalformedHeader), Is.EqualTo(1), "RFC 4861 7.1.1: hop limit 255 only");

        var echo = h.Send("ext0", FromOnPrem(Icmpv6Of(OnPrem6, Port6, IcmpEcho(128, 7, 1, [1, 2, 3], v4Checksum: false), hopLimit: 50)));
        Assert.That(echo.Single().Frame, Is.EqualTo(Concat(Eth(OnPremMac, ExtMac, 0x86DD), Icmpv6Of(Port6, OnPrem6, IcmpEcho(129, 7, 1, [1, 2, 3], v4Checksum: false)))));
        Assert.That(h.Forwarder.Counters.Answered, Is.EqualTo(2));
    }

    [Test]
    public void An_onprem_ipv6_packet_is_routed_into_the_tenant_by_the_ipv6_customer_routes()
    {
        var h = Harness(Config());
        var remote = h.Send("ext0", FromOnPrem(UdpIp6(OnPrem6, "fd00:1:1::7")));
        Assert.That(remote.Single().Port, Is.EqualTo(h.Port("pnic0")));
        byte[] frame = remote[0].Frame;
        Assert.That(GreVsid(frame), Is.EqualTo(5001u));
        Assert.That(frame[(14 + 12)..(14 + 20)], Is.EqualTo(Concat(Addr("192.168.1.11"), Addr("192.168.1.10"))), "vouched for by the :: GatewayWildcard record's PA");
        Assert.That(frame[(14 + 20 + 8)..], Is.EqualTo(Concat(Eth(Web1Mac, VirtualGatewayMac, 0x86DD), UdpIp6(OnPrem6, "fd00:1:1::7", hopLimit: 63))));

        var local = h.Send("ext0", FromOnPrem(UdpIp6(OnPrem6, "fd00:1:1::8")));
        Assert.That(local.Single().Frame, Is.EqualTo(Concat(Eth(Web2Mac, VirtualGatewayMac, 0x86DD), UdpIp6(OnPrem6, "fd00:1:1::8", hopLimit: 63))));

        Assert.That(h.Send("ext0", FromOnPrem(UdpIp6(OnPrem6, "2001:db8:99::5"))), Is.Empty, "the default route leads back out");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoRoute), Is.EqualTo(1));
    }

    [Test]
    public void An_expiring_hop_limit_gets_time_exceeded_from_the_port_ipv6_address_either_way()
    {
        var h = Harness(Config());
        byte[] inbound = UdpIp6(OnPrem6, "fd00:1:1::7", hopLimit: 1);
        var back = h.Send("ext0", FromOnPrem(inbound));
        Assert.That(back.Single().Frame, Is.EqualTo(Concat(Eth(OnPremMac, ExtMac, 0x86DD), Icmpv6Of(Port6, OnPrem6, Concat([3, 0, 0, 0, 0, 0, 0, 0], inbound)))));

        byte[] outbound = UdpIp6("fd00:1:1::7", OnPrem6, hopLimit: 1);
        var into = h.Send("pnic0", NvgreFromHv1(outbound));
        Assert.That(into.Single().Port, Is.EqualTo(h.Port("pnic0")), "routed to web1's host");
        Assert.That(into[0].Frame[(14 + 20 + 8)..], Is.EqualTo(Concat(Eth(Web1Mac, VirtualGatewayMac, 0x86DD), Icmpv6Of(Port6, "fd00:1:1::7", Concat([3, 0, 0, 0, 0, 0, 0, 0], outbound), hopLimit: 63))));
        Assert.That(h.Forwarder.Counters.Drop(DropReason.TtlExpired), Is.EqualTo(2));
    }

    [Test]
    public void Ipv6_over_the_external_mtu_gets_packet_too_big_from_the_port_ipv6_address()
    {
        var h = Harness(Config(mtu: 1280));
        byte[] ip = UdpIp6("fd00:1:1::7", OnPrem6, hopLimit: 63, size: 1300);
        var into = h.Send("pnic0", NvgreFromHv1(ip));
        Assert.That(h.Forwarder.Counters.Drop(DropReason.MtuExceeded), Is.EqualTo(1));
        Assert.That(into.Single().Frame[(14 + 20 + 8)..], Is.EqualTo(Concat(Eth(Web1Mac, VirtualGatewayMac, 0x86DD), Icmpv6Of(Port6, "fd00:1:1::7", Concat([2, 0, 0, 0, 0, 0, 0x05, 0x00], ip[..(1280 - 48)]), hopLimit: 63))));
    }

    [Test]
    public void A_port_without_an_ipv6_address_routes_no_ipv6_either_way()
    {
        var h = Harness(Config(v6: ""));
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp6(OnPrem6, "fd00:1:1::7"))), Is.Empty);
        Assert.That(h.Send("pnic0", NvgreFromHv1(UdpIp6("fd00:1:1::7", OnPrem6, hopLimit: 63))), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoRoute), Is.EqualTo(2));
    }

    [Test]
    public void An_ipv6_only_port_gives_its_address_in_address_and_knows_no_ipv4()
    {
        string v6Only = Config(v6: "").Replace("\"address\": \"172.16.0.1\", \"prefixLength\": 24, \"nextHop\": \"172.16.0.254\"", $"\"address\": \"{Port6}\", \"prefixLength\": 64", StringComparison.Ordinal);
        var h = Harness(v6Only);
        var na = h.Send("ext0", Concat(Eth("33-33-FF-00-00-01", OnPremMac, 0x86DD), NeighborSolicitation(OnPrem6, "ff02::1:ff00:1", Port6, OnPremMac)));
        Assert.That(na.Single().Frame, Is.EqualTo(Concat(Eth(OnPremMac, ExtMac, 0x86DD), NeighborAdvertisement(Port6, OnPrem6, Port6, ExtMac, 0xE0))));
        Assert.That(h.Send("ext0", ArpFrame("FF-FF-FF-FF-FF-FF", OnPremMac, 1, OnPremMac, "172.16.0.10", "00-00-00-00-00-00", "172.16.0.1")), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NotForHost), Is.EqualTo(1));
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp("172.16.0.10", "10.1.1.7"))), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoRoute), Is.EqualTo(1));

        string both = v6Only.Replace("\"prefixLength\": 64", $"\"prefixLength\": 64, {Ext6}", StringComparison.Ordinal);
        var problems = ConfigLoader.Load(both).Problems.Select(p => p.ToString()).ToList();
        Assert.That(problems, Has.Some.StartsWith("$.ports[3].address6: address 2001:db8:16::1 is already IPv6"), string.Join("\n", problems));
    }

    [TestCase("\"nextHop\": \"172.17.0.1\"", "$.ports[0].nextHop: 172.17.0.1 is not on the port's network")]
    [TestCase("\"nextHop\": \"fe80::1\"", "$.ports[0].nextHop: fe80::1 is not of the family")]
    [TestCase("\"vlanId\": 4095", "$.ports[0].vlanId: 4095 is out of range")]
    [TestCase("\"virtualSubnetId\": 7000", "$.ports[0].virtualSubnetId: 7000 belongs to no routing domain")]
    [TestCase("\"macAddress\": \"02-00-00-00-EE-02\"", "$.ports[0].virtualSubnetId: 5099 has no IPv4 GatewayWildcard lookup record")]
    [TestCase("\"address6\": \"172.16.0.9\", \"prefixLength6\": 24", "$.ports[0].address6: 172.16.0.9 is not an IPv6 address")]
    [TestCase("\"address6\": \"2001:db8:16::1\", \"prefixLength6\": 64, \"nextHop6\": \"2001:db8:17::1\"", "$.ports[0].nextHop6: 2001:db8:17::1 is not on the port's network")]
    [TestCase("\"nextHop6\": \"2001:db8:16::fe\"", "$.ports[0].address6: ")]
    [TestCase("\"address6\": \"2001:db8:16::1\", \"prefixLength6\": 64", "$.ports[0].virtualSubnetId: 5099 has no IPv6 GatewayWildcard lookup record")]
    public void External_port_validation_names_the_offending_value(string replace, string expected)
    {
        string key = replace[..replace.IndexOf(':', StringComparison.Ordinal)];
        var fields = new Dictionary<string, string>
        {
            ["\"macAddress\""] = $"\"{ExtMac}\"", ["\"virtualSubnetId\""] = "5099", ["\"nextHop\""] = "\"172.16.0.254\"", ["\"vlanId\""] = "0",
        };
        fields[key] = replace[(key.Length + 2)..];
        string port = "{ \"name\": \"ext0\", \"role\": \"external\", \"address\": \"172.16.0.1\", \"prefixLength\": 24, "
            + string.Join(", ", fields.Select(f => $"{f.Key}: {f.Value}")) + " }";
        string json = $$"""
            {
              "ports": [ {{port}} ],
              "lookupRecords": [ { "customerAddress": "0.0.0.0", "virtualSubnetId": 5099, "macAddress": "{{ExtMac}}", "providerAddress": "192.168.1.11", "type": "GatewayWildcard" } ],
              "customerRoutes": [ { "routingDomainId": "{{Red}}", "virtualSubnetId": 5099, "destinationPrefix": "0.0.0.0/0", "nextHop": "10.1.99.2" } ]
            }
            """;
        var problems = ConfigLoader.Load(json).Problems.Select(p => p.ToString()).ToList();
        Assert.That(problems, Has.Some.StartsWith(expected), string.Join("\n", problems));
    }

    [Test]
    public void Only_external_ports_take_external_fields_and_provider_addresses_stay_on_provider_ports()
    {
        string json = """
            {
              "ports": [
                { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001, "address": "10.1.1.7" },
                { "name": "ext0", "role": "external", "macAddress": "02-00-00-00-EE-01", "virtualSubnetId": 5001, "address": "172.16.0.1", "prefixLength": 24, "vmName": "x" }
              ],
              "providerAddresses": [ { "address": "192.168.1.11", "prefixLength": 24, "port": "ext0" } ]
            }
            """;
        var problems = ConfigLoader.Load(json).Problems.Select(p => p.ToString()).ToList();
        Assert.That(problems, Has.Some.StartsWith("$.ports[0].address: only an external port has address"), string.Join("\n", problems));
        Assert.That(problems, Has.Some.StartsWith("$.ports[1].vmName: an external port belongs to no VM"));
        Assert.That(problems, Has.Some.StartsWith("$.providerAddresses[0].port: \"ext0\" is an external port"));
    }
}
