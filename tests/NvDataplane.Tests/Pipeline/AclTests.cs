using NvDataplane.Diagnostics;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// Per-tenant ACLs through the whole forwarder (docs/FORWARDING.md section 4): outbound rules
/// where a VM's frame is resolved, inbound rules where a frame is delivered to a VM (same host,
/// NVGRE decap, NAT reverse), first match by priority then file order, default allow, one hit
/// counter per rule, and never across VSIDs.
/// </summary>
public class AclTests
{
    private const string RedMac = "00-15-5D-00-00-01";
    private const string Red2Mac = "00-15-5D-00-00-02";
    private const string Red3Mac = "00-15-5D-00-00-03";
    private const string BlueMac = "00-15-5D-00-01-01";
    private const string Blue2Mac = "00-15-5D-00-01-02";
    private const string PnicMac = "02-00-00-00-01-0A";
    private const string Hv2Mac = "02-00-00-00-01-0B";
    private const string GatewayMac = "00-15-5D-FF-FF-FF";

    /// <summary>
    /// hv1: red1 (10.1.1.7, 2001:db8:1::7) and red3 (10.1.1.9) in VSID 5001, red2 (10.1.2.7) in
    /// 5002 of the same routing domain, blue1 (10.1.1.7 too) in 6001; the remote Red and Blue
    /// 10.1.1.8 (and Red 2001:db8:1::8) live on 192.168.1.11.
    /// </summary>
    private const string BaseConfig = """
        {
          "host": { "name": "hv1" },
          "ports": [
            { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A" },
            { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001 },
            { "name": "red3", "role": "vm", "macAddress": "00-15-5D-00-00-03", "virtualSubnetId": 5001 },
            { "name": "red2", "role": "vm", "macAddress": "00-15-5D-00-02-07", "virtualSubnetId": 5002 },
            { "name": "blue1", "role": "vm", "macAddress": "00-15-5D-00-01-01", "virtualSubnetId": 6001 }
          ],
          "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
          "providerNeighbors": [ { "address": "192.168.1.11", "macAddress": "02-00-00-00-01-0B" } ],
          "lookupRecords": [
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.11" },
            { "customerAddress": "10.1.1.9", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-03", "providerAddress": "192.168.1.10" },
            { "customerAddress": "2001:db8:1::7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10" },
            { "customerAddress": "2001:db8:1::8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.11" },
            { "customerAddress": "10.1.2.7", "virtualSubnetId": 5002, "macAddress": "00-15-5D-00-02-07", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 6001, "macAddress": "00-15-5D-00-01-01", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.8", "virtualSubnetId": 6001, "macAddress": "00-15-5D-00-01-02", "providerAddress": "192.168.1.11" }
          ],
          "customerRoutes": [
            { "routingDomainId": "11111111-2222-3333-4444-000000000000", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" },
            { "routingDomainId": "11111111-2222-3333-4444-000000000000", "virtualSubnetId": 5001, "destinationPrefix": "2001:db8:1::/64", "nextHop": "::" },
            { "routingDomainId": "11111111-2222-3333-4444-000000000000", "virtualSubnetId": 5002, "destinationPrefix": "10.1.2.0/24", "nextHop": "0.0.0.0" },
            { "routingDomainId": "22222222-2222-3333-4444-000000000000", "virtualSubnetId": 6001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }
          ],
          "acls": [ ACLS ]
        }
        """;

    private const string DenySsh = """{ "virtualSubnetId": 5001, "priority": 100, "direction": "outbound", "protocol": "tcp", "destinationPorts": 22, "action": "deny", "name": "no-ssh" }""";

    [Test]
    public void Outbound_deny_of_tcp_22_drops_ssh_while_ping_and_other_ports_are_encapsulated()
    {
        var h = Harness(DenySsh);

        Assert.That(h.Send("red1", RedTcp("10.1.1.8", 40000, 22)), Is.Empty, "TCP 22 leaves nowhere");
        Assert.That(Drops(h), Is.EqualTo(1));
        Assert.That(SentOn(h, "pnic0", h.Send("red1", RedIcmp("10.1.1.8"))), Is.EqualTo(5001u), "ping still goes out as NVGRE 5001");
        Assert.That(SentOn(h, "pnic0", h.Send("red1", RedTcp("10.1.1.8", 40000, 8022))), Is.EqualTo(5001u), "TCP 8022 still goes out");
        Assert.That(SentOn(h, "pnic0", h.Send("red1", RedTcp("10.1.1.8", 22, 40000))), Is.EqualTo(5001u), "source port 22 is not destination port 22");
        Assert.That(Drops(h), Is.EqualTo(1));
        Assert.That(Hits(h), Is.EqualTo(new Dictionary<string, long> { ["no-ssh"] = 1 }));
        Assert.That(h.Forwarder.Counters.Forwarded, Is.EqualTo(3));
    }

    [Test]
    public void Outbound_rules_judge_only_what_the_vm_sends()
    {
        var h = Harness(DenySsh);

        var decap = h.Send("pnic0", NvgreFrom(5001, RedMac, Red2Mac, Ipv4Of("10.1.1.8", "10.1.1.7", 6, TcpOf(40000, 22, []))));
        Assert.That(decap.Select(o => o.Port), Is.EqualTo(new[] { h.Port("red1") }), "an outbound rule leaves frames for the VM alone");
        Assert.That(Hits(h)["no-ssh"], Is.Zero);
    }

    [Test]
    public void Inbound_deny_drops_at_nvgre_decap_on_the_receiving_host()
    {
        var h = Harness("""{ "virtualSubnetId": 5001, "priority": 10, "direction": "inbound", "protocol": "tcp", "destinationPorts": "22", "action": "deny", "name": "in-ssh" }""");

        var ssh = NvgreFrom(5001, RedMac, Red2Mac, Ipv4Of("10.1.1.8", "10.1.1.7", 6, TcpOf(40000, 22, [])));
        Assert.That(h.Send("pnic0", ssh), Is.Empty);
        Assert.That(Drops(h), Is.EqualTo(1));
        var udp = NvgreFrom(5001, RedMac, Red2Mac, Ipv4Of("10.1.1.8", "10.1.1.7", 17, UdpOf(40000, 22, new byte[4])));
        Assert.That(h.Send("pnic0", udp).Select(o => o.Port), Is.EqualTo(new[] { h.Port("red1") }), "UDP 22 is delivered");
        Assert.That(SentOn(h, "pnic0", h.Send("red1", RedTcp("10.1.1.8", 40000, 22))), Is.EqualTo(5001u), "an inbound rule lets the VM send TCP 22");
        Assert.That(Hits(h)["in-ssh"], Is.EqualTo(1));
    }

    [Test]
    public void Inbound_deny_drops_same_host_delivery_by_the_receivers_rules()
    {
        var h = Harness("""{ "virtualSubnetId": 5001, "priority": 10, "direction": "inbound", "destinationPrefix": "10.1.1.9/32", "action": "deny", "name": "protect-red3" }""");

        Assert.That(h.Send("red1", Frame(Red3Mac, RedMac, Ipv4Of("10.1.1.7", "10.1.1.9", 1, IcmpEcho(8, 1, 1, new byte[8])))), Is.Empty, "red1 → red3 refused by red3's inbound rule");
        var back = h.Send("red3", Frame(RedMac, Red3Mac, Ipv4Of("10.1.1.9", "10.1.1.7", 1, IcmpEcho(0, 1, 1, new byte[8]))));
        Assert.That(back.Select(o => o.Port), Is.EqualTo(new[] { h.Port("red1") }), "red3 → red1 delivered (the rule protects 10.1.1.9 only)");
        Assert.That(Drops(h), Is.EqualTo(1));
        Assert.That(Hits(h)["protect-red3"], Is.EqualTo(1));
    }

    [Test]
    public void Routed_frames_meet_the_senders_outbound_and_the_receivers_inbound_rules()
    {
        var h = Harness(
            """{ "virtualSubnetId": 5002, "priority": 1, "direction": "inbound", "protocol": "udp", "action": "deny", "name": "5002-no-udp" }""",
            """{ "virtualSubnetId": 5001, "priority": 1, "direction": "outbound", "protocol": "tcp", "destinationPrefix": "10.1.2.0/24", "action": "deny", "name": "5001-no-tcp-to-5002" }""",
            """{ "virtualSubnetId": 5001, "priority": 2, "direction": "inbound", "action": "deny", "name": "5001-in-all" }""");

        Assert.That(h.Send("red1", Frame(GatewayMac, RedMac, Ipv4Of("10.1.1.7", "10.1.2.7", 17, UdpOf(1, 2, new byte[4])))), Is.Empty, "red2's inbound rule (VSID 5002)");
        Assert.That(h.Send("red1", Frame(GatewayMac, RedMac, Ipv4Of("10.1.1.7", "10.1.2.7", 6, TcpOf(1, 2, [])))), Is.Empty, "red1's outbound rule (VSID 5001)");
        var icmp = h.Send("red1", Frame(GatewayMac, RedMac, Ipv4Of("10.1.1.7", "10.1.2.7", 1, IcmpEcho(8, 1, 1, new byte[8]))));
        Assert.That(icmp.Select(o => o.Port), Is.EqualTo(new[] { h.Port("red2") }), "ICMP routed to red2; 5001's inbound rule is not red2's");
        Assert.That(Hits(h), Is.EqualTo(new Dictionary<string, long> { ["5002-no-udp"] = 1, ["5001-no-tcp-to-5002"] = 1, ["5001-in-all"] = 0 }));
    }

    [Test]
    public void Lowest_priority_first_ties_in_file_order_first_match_wins_and_no_match_allows()
    {
        var h = Harness(
            """{ "virtualSubnetId": 5001, "priority": 200, "direction": "outbound", "protocol": "tcp", "action": "deny", "name": "A-deny-tcp" }""",
            """{ "virtualSubnetId": 5001, "priority": 100, "direction": "outbound", "protocol": "tcp", "destinationPorts": 22, "action": "allow", "name": "B-allow-22" }""",
            """{ "virtualSubnetId": 5001, "priority": 100, "direction": "outbound", "protocol": "tcp", "destinationPorts": "20-30", "action": "deny", "name": "C-deny-20-30" }""");

        Assert.That(h.Send("red1", RedTcp("10.1.1.8", 40000, 22)), Has.Count.EqualTo(1), "B: same priority as C but earlier in the file");
        Assert.That(h.Send("red1", RedTcp("10.1.1.8", 40000, 25)), Is.Empty, "C: before A by priority");
        Assert.That(h.Send("red1", RedTcp("10.1.1.8", 40000, 80)), Is.Empty, "A");
        Assert.That(h.Send("red1", RedUdp("10.1.1.8", 40000, 53)), Has.Count.EqualTo(1), "no rule matches UDP: allowed");
        Assert.That(Hits(h), Is.EqualTo(new Dictionary<string, long> { ["A-deny-tcp"] = 1, ["B-allow-22"] = 1, ["C-deny-20-30"] = 1 }));
        Assert.That(Drops(h), Is.EqualTo(2));
    }

    [TestCase(999, 53, false)]
    [TestCase(1000, 53, true)]
    [TestCase(1500, 53, true)]
    [TestCase(2000, 53, true)]
    [TestCase(2001, 53, false)]
    [TestCase(1500, 52, false)]
    [TestCase(1500, 54, false)]
    public void Port_ranges_include_both_ends(int sourcePort, int destinationPort, bool denied)
    {
        var h = Harness("""{ "virtualSubnetId": 5001, "priority": 1, "direction": "outbound", "protocol": "udp", "sourcePorts": "1000-2000", "destinationPorts": "53", "action": "deny" }""");

        var output = h.Send("red1", RedUdp("10.1.1.8", (ushort)sourcePort, (ushort)destinationPort));

        Assert.That(output, denied ? Is.Empty : Has.Count.EqualTo(1));
        Assert.That(Hits(h)["5001/1"], Is.EqualTo(denied ? 1 : 0), "an unnamed rule is shown as VSID/priority");
    }

    [Test]
    public void Ipv6_rules_match_ipv6_packets_and_never_ipv4()
    {
        var h = Harness(
            """{ "virtualSubnetId": 5001, "priority": 1, "direction": "outbound", "protocol": "tcp", "destinationPrefix": "2001:db8:1::8/128", "destinationPorts": 22, "action": "deny", "name": "v6-ssh" }""",
            """{ "virtualSubnetId": 5001, "priority": 2, "direction": "outbound", "protocol": "icmpv6", "sourcePrefix": "::/0", "action": "deny", "name": "v6-icmp" }""",
            """{ "virtualSubnetId": 5001, "priority": 3, "direction": "outbound", "sourcePrefix": "::/0", "action": "deny", "name": "v6-all" }""");

        Assert.That(h.Send("red1", Frame(Red2Mac, RedMac, Ipv6Of("2001:db8:1::7", "2001:db8:1::8", 6, TcpOf(40000, 22, [])), 0x86DD)), Is.Empty);
        Assert.That(h.Send("red1", Frame(Red2Mac, RedMac, Ipv6Of("2001:db8:1::7", "2001:db8:1::8", 58, IcmpEcho(128, 1, 1, new byte[8], v4Checksum: false)), 0x86DD)), Is.Empty);
        Assert.That(h.Send("red1", Frame(Red2Mac, RedMac, Ipv6Of("2001:db8:1::7", "2001:db8:1::8", 17, UdpOf(1, 2, new byte[4])), 0x86DD)), Is.Empty);
        Assert.That(h.Send("red1", RedTcp("10.1.1.8", 40000, 22)), Has.Count.EqualTo(1), "::/0 does not cover IPv4");
        Assert.That(h.Send("red1", RedIcmp("10.1.1.8")), Has.Count.EqualTo(1));
        Assert.That(Hits(h), Is.EqualTo(new Dictionary<string, long> { ["v6-ssh"] = 1, ["v6-icmp"] = 1, ["v6-all"] = 1 }));
    }

    [Test]
    public void Ipv4_prefixes_never_match_ipv6_packets()
    {
        var h = Harness("""{ "virtualSubnetId": 5001, "priority": 1, "direction": "outbound", "destinationPrefix": "0.0.0.0/0", "action": "deny", "name": "v4-all" }""");

        Assert.That(h.Send("red1", Frame(Red2Mac, RedMac, Ipv6Of("2001:db8:1::7", "2001:db8:1::8", 17, UdpOf(1, 2, new byte[4])), 0x86DD)), Has.Count.EqualTo(1));
        Assert.That(h.Send("red1", RedUdp("10.1.1.8", 1, 2)), Is.Empty);
        Assert.That(Hits(h)["v4-all"], Is.EqualTo(1));
    }

    [Test]
    public void Rules_of_one_vsid_never_touch_another_vsid_with_the_same_addresses()
    {
        var h = Harness(
            """{ "virtualSubnetId": 5001, "priority": 1, "direction": "both", "action": "deny", "name": "red-closed" }""");

        Assert.That(h.Send("red1", RedUdp("10.1.1.8", 1, 2)), Is.Empty, "Red is closed both ways");
        Assert.That(h.Send("pnic0", NvgreFrom(5001, RedMac, Red2Mac, Ipv4Of("10.1.1.8", "10.1.1.7", 17, UdpOf(1, 2, new byte[4])))), Is.Empty);
        var blueOut = h.Send("blue1", Frame(Blue2Mac, BlueMac, Ipv4Of("10.1.1.7", "10.1.1.8", 17, UdpOf(1, 2, new byte[4]))));
        Assert.That(SentOn(h, "pnic0", blueOut), Is.EqualTo(6001u), "Blue 10.1.1.7 → 10.1.1.8 passes");
        var blueIn = h.Send("pnic0", NvgreFrom(6001, BlueMac, Blue2Mac, Ipv4Of("10.1.1.8", "10.1.1.7", 17, UdpOf(1, 2, new byte[4]))));
        Assert.That(blueIn.Select(o => o.Port), Is.EqualTo(new[] { h.Port("blue1") }), "NVGRE 6001 to the same CA is delivered to Blue");
        Assert.That(Hits(h)["red-closed"], Is.EqualTo(2), "Blue's frames were never judged by Red's rule");
    }

    [Test]
    public void Arp_neighbor_discovery_and_gateway_ping_are_answered_whatever_the_rules()
    {
        var h = Harness("""{ "virtualSubnetId": 5001, "priority": 1, "direction": "both", "action": "deny", "name": "red-closed" }""");

        var arp = h.Send("red1", Concat(Eth("FF-FF-FF-FF-FF-FF", RedMac, 0x0806), ArpOf(1, RedMac, "10.1.1.7", "00-00-00-00-00-00", "10.1.1.8")));
        Assert.That(arp.Select(o => o.Port), Is.EqualTo(new[] { h.Port("red1") }), "ARP answered");
        var ping = h.Send("red1", Frame(GatewayMac, RedMac, Ipv4Of("10.1.1.7", "10.1.1.1", 1, IcmpEcho(8, 1, 1, new byte[8]))));
        Assert.That(ping.Select(o => o.Port), Is.EqualTo(new[] { h.Port("red1") }), "gateway ping answered");
        Assert.That(h.Forwarder.Counters.Answered, Is.EqualTo(2));
        Assert.That(Hits(h)["red-closed"], Is.Zero);
    }

    [Test]
    public void Later_fragments_show_no_ports_so_only_rules_without_port_conditions_judge_them()
    {
        var h = Harness(
            """{ "virtualSubnetId": 5001, "priority": 1, "direction": "outbound", "protocol": "udp", "destinationPorts": 53, "action": "deny", "name": "dns" }""",
            """{ "virtualSubnetId": 5001, "priority": 2, "direction": "outbound", "protocol": "udp", "destinationPrefix": "10.1.1.8/32", "action": "allow", "name": "udp-to-8" }""");

        byte[] first = Frame(Red2Mac, RedMac, Ipv4Of("10.1.1.7", "10.1.1.8", 17, UdpOf(40000, 53, new byte[16]), flagsFragment: 0x2000, id: 7));
        byte[] later = Frame(Red2Mac, RedMac, Ipv4Of("10.1.1.7", "10.1.1.8", 17, new byte[16], flagsFragment: 0x0003, id: 7));
        Assert.That(h.Send("red1", first), Is.Empty, "the first fragment carries the ports");
        Assert.That(h.Send("red1", later), Has.Count.EqualTo(1), "a later fragment skips the port rule and meets the next");
        Assert.That(Hits(h), Is.EqualTo(new Dictionary<string, long> { ["dns"] = 1, ["udp-to-8"] = 1 }));
    }

    [Test]
    public void A_tiny_first_fragment_is_judged_on_the_ports_it_carries_not_on_zeros()
    {
        // RFC 1858's tiny fragment: the first fragment holds only 8 bytes of TCP (the ports and
        // the sequence number), less than a whole header. Its ports are there, so the port rule
        // must see them; read as 0 → 0 the frame slipped past it.
        var h = Harness(
            """{ "virtualSubnetId": 5001, "priority": 1, "direction": "outbound", "protocol": "tcp", "destinationPorts": 22, "action": "deny", "name": "ssh" }""");

        byte[] tcp = TcpOf(40000, 22, new byte[8]);
        byte[] first = Frame(Red2Mac, RedMac, Ipv4Of("10.1.1.7", "10.1.1.8", 6, tcp[..8], flagsFragment: 0x2000, id: 9));
        Assert.That(h.Send("red1", first), Is.Empty, "denied on its destination port");
        Assert.That(Hits(h), Is.EqualTo(new Dictionary<string, long> { ["ssh"] = 1 }));
        Assert.That(h.Forwarder.Counters.Drops[(int)DropReason.AclDeny], Is.EqualTo(1));

        byte[] other = Frame(Red2Mac, RedMac, Ipv4Of("10.1.1.7", "10.1.1.8", 6, TcpOf(40000, 80, new byte[8])[..8], flagsFragment: 0x2000, id: 10));
        Assert.That(h.Send("red1", other), Has.Count.EqualTo(1), "another port passes");
    }

    [Test]
    public void Nat_reverse_is_judged_on_the_customer_addresses_by_the_receivers_inbound_rules()
    {
        var config = Load("""
            {
              "ports": [
                { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A" },
                { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001 }
              ],
              "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" }, { "address": "192.168.1.20", "prefixLength": 24, "port": "pnic0" } ],
              "providerNeighbors": [ { "address": "192.168.1.21", "macAddress": "02-00-00-00-01-0B" } ],
              "lookupRecords": [
                { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.20", "rule": "Nat" },
                { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.21", "rule": "Nat" }
              ],
              "customerRoutes": [ { "routingDomainId": "11111111-2222-3333-4444-000000000000", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" } ],
              "acls": [
                { "virtualSubnetId": 5001, "priority": 1, "direction": "inbound", "protocol": "tcp", "sourcePrefix": "10.1.1.8/32", "destinationPrefix": "10.1.1.7/32", "destinationPorts": 22, "action": "deny", "name": "nat-ssh" }
              ]
            }
            """);
        var h = new ForwarderHarness(config);

        byte[] Rewritten(byte protocol, byte[] l4) => Concat(Eth(PnicMac, Hv2Mac, 0x0800), Ipv4Of("192.168.1.21", "192.168.1.20", protocol, l4));
        Assert.That(h.Send("pnic0", Rewritten(6, TcpOf(40000, 22, []))), Is.Empty, "TCP 22 between the CAs refused before the rewrite");
        Assert.That(h.Send("pnic0", Rewritten(6, TcpOf(40000, 80, []))).Select(o => o.Port), Is.EqualTo(new[] { h.Port("red1") }));
        Assert.That(Drops(h), Is.EqualTo(1));
        Assert.That(Hits(h)["nat-ssh"], Is.EqualTo(1));
    }

    [Test]
    public void Traffic_for_outside_addresses_delivered_to_a_gateway_vm_meets_its_inbound_rules()
    {
        var config = Load("""
            {
              "ports": [
                { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A" },
                { "name": "bgw", "role": "vm", "macAddress": "00-15-5D-00-03-FE", "virtualSubnetId": 6002 }
              ],
              "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
              "providerNeighbors": [ { "address": "192.168.1.11", "macAddress": "02-00-00-00-01-0B" } ],
              "lookupRecords": [
                { "customerAddress": "10.2.1.8", "virtualSubnetId": 6001, "macAddress": "00-15-5D-00-01-02", "providerAddress": "192.168.1.11" },
                { "customerAddress": "10.2.2.254", "virtualSubnetId": 6002, "macAddress": "00-15-5D-00-03-FE", "providerAddress": "192.168.1.10" },
                { "customerAddress": "0.0.0.0", "virtualSubnetId": 6002, "macAddress": "00-15-5D-00-03-FE", "providerAddress": "192.168.1.10", "type": "GatewayWildcard" }
              ],
              "customerRoutes": [
                { "routingDomainId": "22222222-2222-3333-4444-000000000000", "virtualSubnetId": 6001, "destinationPrefix": "10.2.1.0/24", "nextHop": "0.0.0.0" },
                { "routingDomainId": "22222222-2222-3333-4444-000000000000", "virtualSubnetId": 6002, "destinationPrefix": "10.2.2.0/24", "nextHop": "0.0.0.0" },
                { "routingDomainId": "22222222-2222-3333-4444-000000000000", "virtualSubnetId": 6002, "destinationPrefix": "0.0.0.0/0", "nextHop": "10.2.2.254" }
              ],
              "acls": [
                { "virtualSubnetId": 6002, "priority": 1, "direction": "inbound", "protocol": "tcp", "destinationPorts": 443, "action": "deny", "name": "gw-no-443" }
              ]
            }
            """);
        var h = new ForwarderHarness(config);

        byte[] ToOutside(ushort port) =>
            NvgreFrom(6002, "00-15-5D-00-03-FE", GatewayMac, Ipv4Of("10.2.1.8", "1.1.1.1", 6, TcpOf(40000, port, []), ttl: 63));
        Assert.That(h.Send("pnic0", ToOutside(443)), Is.Empty, "1.1.1.1 has no record: the wildcard's VM would get it, its inbound rule refuses");
        Assert.That(h.Send("pnic0", ToOutside(80)).Select(o => o.Port), Is.EqualTo(new[] { h.Port("bgw") }));
        Assert.That(Drops(h), Is.EqualTo(1));
        Assert.That(Hits(h)["gw-no-443"], Is.EqualTo(1));
    }

    [Test]
    public void The_batch_path_applies_the_same_rules()
    {
        var h = Harness(DenySsh);
        var fwd = h.Forwarder;
        var frames = new[] { RedTcp("10.1.1.8", 40000, 22), RedIcmp("10.1.1.8"), RedTcp("10.1.1.8", 40001, 22), RedTcp("10.1.1.8", 40000, 8022) };
        var batch = frames.Select(f =>
        {
            var b = fwd.Pool.Rent()!;
            b.TrySet(f);
            return b;
        }).ToArray();

        fwd.ProcessBatch(h.Port("red1"), batch);

        Assert.That(fwd.PendingTransmit(h.Port("pnic0")).Length, Is.EqualTo(2));
        Assert.That(Drops(h), Is.EqualTo(2));
        Assert.That(Hits(h)["no-ssh"], Is.EqualTo(2));
        fwd.CompleteTransmit(h.Port("pnic0"));
    }

    [Test]
    public void Hit_counts_survive_a_reload_that_keeps_the_rule()
    {
        var config = Load(BaseConfig.Replace("ACLS", DenySsh, StringComparison.Ordinal));
        var store = new PolicyStore(PolicySnapshot.Build(config));
        var h = new ForwarderHarness(store);
        h.Send("red1", RedTcp("10.1.1.8", 40000, 22));

        store.Replace(config with { Acls = [.. config.Acls, config.Acls[0] with { Name = "extra", Priority = 200 }] });
        h.Send("red1", RedTcp("10.1.1.8", 40000, 22));
        store.Replace(config with { Acls = [] });
        h.Send("red1", RedTcp("10.1.1.8", 40000, 22));

        Assert.That(h.Forwarder.AclCounters.Read(), Is.EquivalentTo(new Dictionary<string, long> { ["no-ssh"] = 2, ["extra"] = 0 }));
        Assert.That(Drops(h), Is.EqualTo(2), "the last frame passed: the rules are gone");
    }

    [Test]
    public void Labels_are_unique_even_for_unnamed_rules_of_equal_priority()
    {
        var config = Load(BaseConfig.Replace("ACLS", """
            { "virtualSubnetId": 5001, "priority": 5, "direction": "outbound", "action": "allow" },
            { "virtualSubnetId": 5001, "priority": 5, "direction": "outbound", "action": "deny" },
            { "virtualSubnetId": 6001, "priority": 5, "direction": "outbound", "action": "deny", "name": "5001/5" }
            """, StringComparison.Ordinal));

        Assert.That(PolicySnapshot.Build(config).Acls.Labels, Is.EqualTo(new[] { "5001/5", "5001/5#1", "5001/5#2" }));
    }

    [Test]
    public void A_vsid_without_rules_has_no_rule_set_on_its_ports()
    {
        var policy = PolicySnapshot.Build(Load(BaseConfig.Replace("ACLS", DenySsh, StringComparison.Ordinal)));

        Assert.That(policy.Acls.OutboundByPort[policy.FindPort("red1")]!.Count, Is.EqualTo(1));
        Assert.That(policy.Acls.InboundByPort[policy.FindPort("red1")], Is.Null, "no inbound rules for 5001");
        Assert.That(policy.Acls.OutboundByPort[policy.FindPort("blue1")], Is.Null);
        Assert.That(policy.Acls.OutboundByPort[policy.FindPort("pnic0")], Is.Null);
    }

    private static HostConfig Load(string json)
    {
        var result = ConfigLoader.Load(json);
        Assert.That(result.Problems, Is.Empty, () => string.Join(Environment.NewLine, result.Problems));
        return result.Config!;
    }

    private static ForwarderHarness Harness(params string[] rules) =>
        new(Load(BaseConfig.Replace("ACLS", string.Join(", ", rules), StringComparison.Ordinal)));

    private static long Drops(ForwarderHarness h) => h.Forwarder.Counters.Drop(DropReason.AclDeny);

    private static Dictionary<string, long> Hits(ForwarderHarness h) => h.Forwarder.AclCounters.Read().ToDictionary();

    /// <summary>The VSID of the one NVGRE frame emitted, which must leave on <paramref name="port"/>.</summary>
    private static uint? SentOn(ForwarderHarness h, string port, List<(int Port, byte[] Frame)> output)
    {
        Assert.That(output.Select(o => o.Port), Is.EqualTo(new[] { h.Port(port) }));
        return GreVsid(output[0].Frame);
    }

    private static byte[] Frame(string dst, string src, byte[] ip, ushort type = 0x0800) => Concat(Eth(dst, src, type), ip);

    private static byte[] RedTcp(string dst, ushort sport, ushort dport) => Frame(Red2Mac, RedMac, Ipv4Of("10.1.1.7", dst, 6, TcpOf(sport, dport, [])));

    private static byte[] RedUdp(string dst, ushort sport, ushort dport) => Frame(Red2Mac, RedMac, Ipv4Of("10.1.1.7", dst, 17, UdpOf(sport, dport, new byte[4])));

    private static byte[] RedIcmp(string dst) => Frame(Red2Mac, RedMac, Ipv4Of("10.1.1.7", dst, 1, IcmpEcho(8, 1, 1, new byte[16])));

    /// <summary>NVGRE from 192.168.1.11 to our PA, the inner frame addressed to <paramref name="innerDst"/> from <paramref name="innerSrc"/>.</summary>
    private static byte[] NvgreFrom(uint vsid, string innerDst, string innerSrc, byte[] innerIp) =>
        Concat(Eth(PnicMac, Hv2Mac, 0x0800), Ipv4Of("192.168.1.11", "192.168.1.10", 47, NvgreOf(vsid, 3, Frame(innerDst, innerSrc, innerIp))));}
