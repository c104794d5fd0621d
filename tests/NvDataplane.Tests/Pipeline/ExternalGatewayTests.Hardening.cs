using NvDataplane.Diagnostics;
using NvDataplane.Pipeline;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// The external port faces a network nobody vouches for: next-hop resolution learns only answers
/// to its own requests, from the link, and never a group MAC; what it remembers is bounded; no
/// ICMP error goes to a source that is no single host; link-local addresses stay on their link;
/// an outside packet cannot claim a tenant VM's address.
/// </summary>
public partial class ExternalGatewayTests
{
    private const long Second = 1_000_000_000;

    [Test]
    public void An_advertisement_from_off_the_link_resolves_nothing()
    {
        var h = Harness(Config());
        var asked = h.Send("pnic0", NvgreFromHv1(UdpIp6("fd00:1:1::7", OnPrem6, hopLimit: 63)));
        Assert.That(asked, Has.Count.EqualTo(1), "the solicitation");

        // RFC 4861 7.1.2: hop limit 64 means it was routed here; it must teach nothing.
        var forged = h.Send("ext0", Concat(Eth(ExtMac, "02-00-00-00-66-66", 0x86DD), NeighborAdvertisement(OnPrem6, Port6, OnPrem6, "02-00-00-00-66-66", 0x60, hopLimit: 64)));
        Assert.That(forged, Is.Empty);
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1), "still waiting");

        var released = h.Send("ext0", Concat(Eth(ExtMac, OnPremMac, 0x86DD), NeighborAdvertisement(OnPrem6, Port6, OnPrem6, OnPremMac, 0x60)));
        Assert.That(released.Single().Frame[..6], Is.EqualTo(Mac(OnPremMac)), "the genuine answer from the link");
    }

    [Test]
    public void Unsolicited_arp_replies_neither_move_a_resolved_next_hop_nor_teach_a_broadcast_mac()
    {
        var h = Harness(Config());
        byte[] first = OutThroughArp(h, NvgreFromHv1(UdpIp("10.1.1.7", "172.16.0.10", ttl: 63)), "172.16.0.10", OnPremMac);
        Assert.That(first[..6], Is.EqualTo(Mac(OnPremMac)));

        foreach (string mac in new[] { "02-00-00-00-66-66", "FF-FF-FF-FF-FF-FF" })
        {
            h.Send("ext0", ArpFrame(ExtMac, mac, 2, mac, "172.16.0.10", ExtMac, "172.16.0.1"));
            var next = h.Send("pnic0", NvgreFromHv1(UdpIp("10.1.1.7", "172.16.0.10", ttl: 63)));
            Assert.That(next.Single().Frame[..6], Is.EqualTo(Mac(OnPremMac)), $"an unasked-for reply for {mac} changed nothing");
        }

        // Asked for, but answered with a group MAC: never learned, the frame waits.
        var asked = h.Send("pnic0", NvgreFromHv1(UdpIp("10.1.1.7", "172.16.0.11", ttl: 63)));
        Assert.That(asked, Has.Count.EqualTo(1), "the ARP request");
        Assert.That(h.Send("ext0", ArpFrame(ExtMac, "FF-FF-FF-FF-FF-FF", 2, "FF-FF-FF-FF-FF-FF", "172.16.0.11", ExtMac, "172.16.0.1")), Is.Empty);
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1));
    }

    [Test]
    public void Requests_for_many_outside_addresses_are_bounded_and_forgotten_when_unanswered()
    {
        // Every address of the port's /64 is its own next hop: a tenant sending to many of them
        // used to leave a request entry behind for each, for ever.
        var h = Harness(Config());
        int Solicit(string destination, long atNs) => h.Send("pnic0", NvgreFromHv1(UdpIp6("fd00:1:1::7", destination, hopLimit: 63)), atNs)
            .Count(f => f.Frame[12] == 0x86 && f.Frame[13] == 0xDD && f.Frame[14 + 40] == 135);

        int solicited = 0;
        for (int i = 0; i < Forwarder.MaxPendingRequests + 200; i++)
        {
            solicited += Solicit($"2001:db8:16::{0x1000 + i:x}", 0);
        }

        Assert.That(solicited, Is.EqualTo(Forwarder.MaxPendingRequests), "one solicitation per address up to the bound, then none");
        Assert.That(Solicit("2001:db8:16::2000", Second / 2), Is.Zero, "still full within the answer window");
        Assert.That(Solicit("2001:db8:16::2001", 3 * Second), Is.EqualTo(1), "unanswered requests are forgotten after it");
    }

    [Test]
    public void Frames_waiting_for_outside_next_hops_do_not_take_the_places_of_frames_for_a_provider_next_hop()
    {
        // Blue's 10.2.2.2 lives behind a PA with no static neighbor entry: its frames wait for ARP
        // on the provider port, while Red fills the external port's places with frames to
        // silent outside addresses.
        var h = Harness(Config().Replace(
            "\"10.2.2.2\", \"virtualSubnetId\": 6001, \"macAddress\": \"00-15-5D-00-01-09\", \"providerAddress\": \"192.168.1.10\"",
            "\"10.2.2.2\", \"virtualSubnetId\": 6001, \"macAddress\": \"00-15-5D-00-01-09\", \"providerAddress\": \"192.168.1.12\""));
        for (int i = 0; i < Forwarder.ParkCapacity + 5; i++)
        {
            h.Send("pnic0", NvgreFromHv1(UdpIp("10.1.1.7", $"172.16.0.{10 + i}", ttl: 63)));
        }

        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(Forwarder.ParkCapacity), "the external port's places are full");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NeighborUnresolved), Is.EqualTo(5));

        var asked = h.Send("blue7", Concat(Eth(VirtualGatewayMac, BlueMac, 0x0800), UdpIp("10.1.1.7", "10.2.2.2")));
        Assert.That(asked.Single().Port, Is.EqualTo(h.Port("pnic0")), "ARP for the provider next hop");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NeighborUnresolved), Is.EqualTo(5), "Blue's frame waits in the provider port's places");

        var released = h.Send("pnic0", ArpFrame(Hv2Mac, "02-00-00-00-01-0C", 2, "02-00-00-00-01-0C", "192.168.1.12", Hv2Mac, "192.168.1.11"));
        Assert.That(released.Single().Port, Is.EqualTo(h.Port("pnic0")));
        Assert.That(GreVsid(released[0].Frame), Is.EqualTo(6001u), "Blue's frame left once its next hop answered");
        Assert.That(released[0].Frame[..6], Is.EqualTo(Mac("02-00-00-00-01-0C")));
    }

    [Test]
    public void Packets_from_a_source_that_is_no_single_host_get_no_icmp_error_and_are_not_routed_in()
    {
        var h = Harness(Config());
        foreach (string source in new[] { "255.255.255.255", "224.0.0.5", "0.0.0.0", "127.0.0.1", "240.0.0.1" })
        {
            Assert.That(h.Send("ext0", FromOnPrem(UdpIp(source, "10.1.1.7", ttl: 1))), Is.Empty, source);
        }

        Assert.That(h.Send("ext0", FromOnPrem(UdpIp6("ff02::1", "fd00:1:1::7", hopLimit: 1))), Is.Empty, "ff02::1");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(6), "martian sources are not routed in at all (RFC 1812 5.3.7)");
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp("224.0.0.5", "10.1.1.7"))), Is.Empty, "not even with TTL to spare");
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp("172.16.0.10", "10.1.1.7", ttl: 1))), Has.Count.EqualTo(1), "a host still gets its time exceeded");
    }

    [Test]
    public void Link_local_addresses_are_not_routed_through_the_port()
    {
        var h = Harness(Config());
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp6("fe80::10", "fd00:1:1::7"))), Is.Empty, "from outside's link-local source");
        Assert.That(h.Send("pnic0", NvgreFromHv1(UdpIp6("fd00:1:1::7", "fe80::99", hopLimit: 63))), Is.Empty, "to a link-local destination outside");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoRoute), Is.EqualTo(2));
    }

    [Test]
    public void An_outside_packet_claiming_a_tenant_address_is_spoofed()
    {
        var h = Harness(Config());
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp("10.1.1.7", "10.1.1.8"))), Is.Empty, "web1's address, from outside, to web2 here");
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp6("fd00:1:1::8", "fd00:1:1::7"))), Is.Empty, "web2's IPv6 address, toward web1 on hv1");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(2));
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp("10.1.1.7", "10.2.2.2"))), Is.Empty, "Blue's 10.2.2.2 is not routed from Red's gateway, whatever the source");
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp("172.16.0.10", "10.1.1.8"))), Has.Count.EqualTo(1), "an outside address still comes in");
    }

    [Test]
    public void An_outside_packet_claiming_an_address_of_the_virtual_network_or_of_the_port_is_spoofed()
    {
        // Only a record's CA was refused: a learned L2Only address, a gateway address (a forged
        // DHCP ACK from 10.1.1.1 reached web2 from the gateway MAC), a subnet's network or
        // broadcast address and the port's own addresses all came in.
        const string L2Mac = "00-15-5D-00-00-20";
        string web2Port = $$"""{ "name": "web2", "role": "vm", "macAddress": "{{Web2Mac}}", "virtualSubnetId": 5001 }""";
        var json = Config()
            .Replace(web2Port, web2Port + $$""", { "name": "l2web", "role": "vm", "macAddress": "{{L2Mac}}", "virtualSubnetId": 5001 }""", StringComparison.Ordinal)
            .Replace("\"lookupRecords\": [", $$"""
                "lookupRecords": [ { "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "{{L2Mac}}", "providerAddress": "192.168.1.11", "type": "L2Only" },
                """, StringComparison.Ordinal);
        var h = Harness(json);
        Assert.That(h.Send("l2web", Concat(Eth(Web2Mac, L2Mac, 0x0800), UdpIp("10.1.1.50", "10.1.1.8"))), Has.Count.EqualTo(1));
        Assert.That(h.Forwarder.Learned.Count, Is.EqualTo(1), "10.1.1.50 learned for l2web");

        var dhcpAck = Ipv4Of("10.1.1.1", "10.1.1.8", 17, UdpOf(67, 68, new byte[240]));
        byte[][] forged =
        [
            UdpIp("10.1.1.50", "10.1.1.8"), dhcpAck, UdpIp("10.1.1.0", "10.1.1.8"), UdpIp("10.1.1.255", "10.1.1.8"),
            UdpIp("10.1.99.255", "10.1.1.8"), UdpIp("172.16.0.1", "10.1.1.8"), UdpIp6("fd00:1:1::1", "fd00:1:1::8"),
            UdpIp6("2001:db8:16::1", "fd00:1:1::8"),
        ];
        foreach (var ip in forged)
        {
            Assert.That(h.Send("ext0", FromOnPrem(ip)), Is.Empty);
        }

        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(forged.Length));
        foreach (var ip in forged[1..])
        {
            var trace = PacketTracer.Trace(h.Forwarder.Policy, "ext0", FromOnPrem(ip));
            Assert.That((trace.Explained.DropReason, trace.Agrees), Is.EqualTo(("spoofed_source", true)), trace.ToString());
        }

        Assert.That(h.Send("ext0", FromOnPrem(UdpIp("10.1.99.2", "10.1.1.8"))), Has.Count.EqualTo(1), "the gateway CA (the port's own record) still comes in");
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp("172.16.0.10", "10.1.1.8"))), Has.Count.EqualTo(1), "and an outside address");
    }
}
