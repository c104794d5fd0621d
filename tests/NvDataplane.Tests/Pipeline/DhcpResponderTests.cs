using System.Buffers.Binary;
using System.Text.Json.Nodes;
using NvDataplane.Diagnostics;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.DhcpFrames;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// DHCP from policy (docs/FORWARDING.md section 5) through the whole pipeline: client messages
/// written byte by byte here, every field and option of the replies checked against values
/// worked out by hand from the configuration below.
/// </summary>
public class DhcpResponderTests
{
    private const string RedMac = "00-15-5D-00-00-01";
    private const string BlueMac = "00-15-5D-00-01-01";
    private const string NoRecordMac = "00-15-5D-00-00-04";
    private const string OffLinkMac = "00-15-5D-00-00-05";
    private const string GatewayMac = "00-15-5D-FF-FF-FF";

    /// <summary>Red 5001 and Blue 6001 both have 10.1.1.7 here; red4 has no record, red5 a CA outside every on-link route.</summary>
    private static JsonObject Json(uint lease = 3600) => JsonNode.Parse($$"""
        {
          "host": { "name": "hv1" },
          "global": { "dhcpLeaseSeconds": {{lease}} },
          "ports": [
            { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A", "mtu": 1500 },
            { "name": "red1", "role": "vm", "macAddress": "{{RedMac}}", "virtualSubnetId": 5001 },
            { "name": "blue1", "role": "vm", "macAddress": "{{BlueMac}}", "virtualSubnetId": 6001 },
            { "name": "red4", "role": "vm", "macAddress": "{{NoRecordMac}}", "virtualSubnetId": 5001 },
            { "name": "red5", "role": "vm", "macAddress": "{{OffLinkMac}}", "virtualSubnetId": 5001 }
          ],
          "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
          "providerNeighbors": [ { "address": "192.168.1.11", "macAddress": "02-00-00-00-01-0B" } ],
          "lookupRecords": [
            { "customerAddress": "2001:db8:1::7", "virtualSubnetId": 5001, "macAddress": "{{RedMac}}", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "{{RedMac}}", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.70", "virtualSubnetId": 5001, "macAddress": "{{RedMac}}", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.11" },
            { "customerAddress": "10.9.9.5", "virtualSubnetId": 5001, "macAddress": "{{OffLinkMac}}", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 6001, "macAddress": "{{BlueMac}}", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.8", "virtualSubnetId": 6001, "macAddress": "00-15-5D-00-01-02", "providerAddress": "192.168.1.11" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.0.0.0/8", "nextHop": "0.0.0.0" },
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" },
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/30", "nextHop": "0.0.0.0" },
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "2001:db8:1::/64", "nextHop": "::" },
            { "routingDomainId": "{22222222-2222-3333-4444-000000000000}", "virtualSubnetId": 6001, "destinationPrefix": "10.1.0.0/16", "nextHop": "0.0.0.0" }
          ],
          "routingDomains": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "dnsServers": [ "10.1.1.53", "10.1.1.54" ], "domainName": "red.example" },
            { "routingDomainId": "{22222222-2222-3333-4444-000000000000}", "dnsServers": [ "10.1.2.53" ] }
          ]
        }
        """)!.AsObject();

    private static HostConfig Load(JsonObject json)
    {
        var result = ConfigLoader.Load(json.ToJsonString());
        Assert.That(result.Problems, Is.Empty);
        return result.Config!;
    }

    private static ForwarderHarness Harness(uint lease = 3600) => new(Load(Json(lease)));

    private static Reply Single(ForwarderHarness h, string port, byte[] frame)
    {
        var output = h.Send(port, frame);
        Assert.That(h.Forwarder.Counters.TotalDrops, Is.Zero, () => string.Join(", ", DropReasons.All.Where(r => h.Forwarder.Counters.Drop(r) > 0).Select(DropReasons.Name)));
        Assert.That(output, Has.Count.EqualTo(1), "one reply");
        Assert.That(output[0].Port, Is.EqualTo(h.Port(port)), "back on the port the request came in on");
        Assert.That(h.Forwarder.Counters.Answered, Is.EqualTo(1));
        return Read(output[0].Frame);
    }

    private static void AssertDropped(ForwarderHarness h, string port, byte[] frame, DropReason reason)
    {
        var output = h.Send(port, frame);
        Assert.That(output, Is.Empty, "no answer");
        Assert.That(h.Forwarder.Counters.Drop(reason), Is.EqualTo(1), DropReasons.Name(reason));
        Assert.That(h.Forwarder.Counters.TotalDrops, Is.EqualTo(1), "one drop, under that reason only");
        Assert.That(h.Forwarder.Pool.Available, Is.EqualTo(h.Forwarder.Pool.Size), "buffer back in the pool");
    }

    /// <summary>A client message from 10.1.1.7 unicast to the server (gateway) address and MAC, as a client with a lease sends it.</summary>
    private static byte[] FromRed1ToTheGateway(uint xid, byte type) =>
        Frame(RedMac, Message(RedMac, xid, ciaddr: "10.1.1.7", options: Usual(Type(type))), dstMac: GatewayMac, src: "10.1.1.7", dst: "10.1.1.1");

    /// <summary>The fields every reply from red1's server has.</summary>
    private static void AssertCommon(Reply r, uint xid, ushort flags)
    {
        Assert.That(r.EthSrc, Is.EqualTo("00155DFFFFFF"), "from the gateway MAC");
        Assert.That(r.IpSrc, Is.EqualTo("10.1.1.1"), "from the gateway address");
        Assert.That((r.Ttl, r.Tos, r.IpId, r.IpFlags), Is.EqualTo((64, 0, (ushort)0, (ushort)0)));
        Assert.That(r.IpChecksumOk, Is.True, "IPv4 header checksum");
        Assert.That((r.SrcPort, r.DstPort), Is.EqualTo(((ushort)67, (ushort)68)));
        Assert.That(r.UdpChecksumOk, Is.True, "UDP checksum (not zero, and right)");
        Assert.That((r.Op, r.Htype, r.Hlen, r.Hops), Is.EqualTo(((byte)2, (byte)1, (byte)6, (byte)0)));
        Assert.That((r.Xid, r.Secs, r.Flags), Is.EqualTo((xid, (ushort)0, flags)));
        Assert.That((r.Siaddr, r.Giaddr), Is.EqualTo(("0.0.0.0", "0.0.0.0")));
        Assert.That(r.Chaddr, Is.EqualTo(Concat(Mac(RedMac), new byte[10])), "chaddr echoed");
        Assert.That(r.SnameFileZero, Is.True, "sname and file empty");
        Assert.That(r.Cookie, Is.EqualTo(0x6382_5363u));
        Assert.That(r.ZeroAfterEnd, Is.True, "zero padding after the end option");
        Assert.That(r.MessageLength, Is.GreaterThanOrEqualTo(300), "at least the BOOTP minimum");
    }

    /// <summary>Red's lease options, worked out by hand: /30 is too small to hold .7, /24 is the longest that does.</summary>
    private static void AssertRedLeaseOptions(Reply r, byte type)
    {
        Assert.That(r.Codes, Is.EqualTo(new byte[] { 53, 54, 51, 58, 59, 1, 3, 6, 15, 26 }), "options, in this order");
        Assert.That(r.Get(53), Is.EqualTo(new[] { type }));
        Assert.That(r.Get(54), Is.EqualTo(Addr("10.1.1.1")), "server id = gateway address");
        Assert.That(Be32(r.Get(51)!), Is.EqualTo(3600u), "lease");
        Assert.That(Be32(r.Get(58)!), Is.EqualTo(1800u), "T1 = lease / 2");
        Assert.That(Be32(r.Get(59)!), Is.EqualTo(3150u), "T2 = lease × 7 / 8");
        Assert.That(r.Get(1), Is.EqualTo(Addr("255.255.255.0")), "mask of 10.1.1.0/24");
        Assert.That(r.Get(3), Is.EqualTo(Addr("10.1.1.1")), "router");
        Assert.That(r.Get(6), Is.EqualTo(Concat(Addr("10.1.1.53"), Addr("10.1.1.54"))), "Red's DNS servers, in order");
        Assert.That(r.Get(15), Is.EqualTo("red.example"u8.ToArray()), "Red's domain name");
        Assert.That(r.Get(26), Is.EqualTo(new byte[] { 0x05, 0xB2 }), "MTU 1458 = 1500 − 42");
        Assert.That(r.MessageLength, Is.EqualTo(240 + 3 + (6 * 6) + 10 + 13 + 4 + 1), "the options and the end, no padding beyond 300");
    }

    [Test]
    public void Discover_gets_an_offer_of_the_ports_own_ca_unicast_to_it_with_every_option()
    {
        var h = Harness();
        var r = Single(h, "red1", Discover(RedMac, flags: 0, xid: 0xCAFE_0001));

        AssertCommon(r, 0xCAFE_0001, 0);
        Assert.That(r.EthDst, Is.EqualTo("00155D000001"), "to chaddr");
        Assert.That(r.IpDst, Is.EqualTo("10.1.1.7"), "to yiaddr (broadcast flag clear)");
        Assert.That((r.Ciaddr, r.Yiaddr), Is.EqualTo(("0.0.0.0", "10.1.1.7")), "the first IPv4 record with the port's MAC, not 10.1.1.70");
        AssertRedLeaseOptions(r, 2);
    }

    [Test]
    public void Discover_with_the_broadcast_flag_gets_a_broadcast_offer()
    {
        var h = Harness();
        var r = Single(h, "red1", Discover(RedMac, flags: 0x8000, xid: 7));

        AssertCommon(r, 7, 0x8000);
        Assert.That((r.EthDst, r.IpDst), Is.EqualTo(("FFFFFFFFFFFF", "255.255.255.255")));
        Assert.That(r.Yiaddr, Is.EqualTo("10.1.1.7"));
        AssertRedLeaseOptions(r, 2);
    }

    [Test]
    public void Request_for_the_offered_address_from_this_server_gets_an_ack()
    {
        var h = Harness();
        var request = Frame(RedMac, Message(RedMac, 0x42, options: Usual(Type(3), Address(54, "10.1.1.1"), Address(50, "10.1.1.7"))));
        var r = Single(h, "red1", request);

        AssertCommon(r, 0x42, 0);
        Assert.That((r.EthDst, r.IpDst, r.Ciaddr, r.Yiaddr), Is.EqualTo(("00155D000001", "10.1.1.7", "0.0.0.0", "10.1.1.7")));
        AssertRedLeaseOptions(r, 5);
    }

    [TestCase("10.1.1.99", null, TestName = "Request_for_another_address_gets_a_broadcast_nak")]
    [TestCase("10.1.1.7", "10.1.1.254", TestName = "Request_naming_another_server_gets_a_broadcast_nak")]
    [TestCase(null, null, TestName = "Request_without_any_address_gets_a_broadcast_nak")]
    public void Refused_request_gets_a_nak(string? requested, string? server)
    {
        var h = Harness();
        var options = new List<byte[]> { Type(3) };
        if (requested is not null)
        {
            options.Add(Address(50, requested));
        }

        if (server is not null)
        {
            options.Add(Address(54, server));
        }

        var r = Single(h, "red1", Frame(RedMac, Message(RedMac, 0x43, options: Usual([.. options]))));

        AssertCommon(r, 0x43, 0);
        Assert.That((r.EthDst, r.IpDst), Is.EqualTo(("FFFFFFFFFFFF", "255.255.255.255")), "a NAK is always broadcast");
        Assert.That((r.Ciaddr, r.Yiaddr), Is.EqualTo(("0.0.0.0", "0.0.0.0")));
        Assert.That(r.Codes, Is.EqualTo(new byte[] { 53, 54 }), "type and server id only");
        Assert.That(r.MessageLength, Is.EqualTo(300), "padded to the BOOTP minimum");
        Assert.That(r.Get(53), Is.EqualTo(new byte[] { 6 }));
        Assert.That(r.Get(54), Is.EqualTo(Addr("10.1.1.1")));
    }

    [Test]
    public void Renewal_sent_to_the_gateway_address_gets_an_ack_unicast_to_ciaddr()
    {
        var h = Harness();
        var r = Single(h, "red1", FromRed1ToTheGateway(0x44, 3));

        AssertCommon(r, 0x44, 0);
        Assert.That((r.EthDst, r.IpDst, r.Ciaddr, r.Yiaddr), Is.EqualTo(("00155D000001", "10.1.1.7", "10.1.1.7", "10.1.1.7")));
        AssertRedLeaseOptions(r, 5);
    }

    [Test]
    public void Rebinding_from_an_address_the_policy_no_longer_gives_gets_a_nak()
    {
        var h = Harness();
        var rebind = Frame(RedMac, Message(RedMac, 0x45, ciaddr: "10.1.1.33", options: Usual(Type(3))), src: "10.1.1.33");
        var r = Single(h, "red1", rebind);

        Assert.That(r.Get(53), Is.EqualTo(new byte[] { 6 }));
        Assert.That(r.IpDst, Is.EqualTo("255.255.255.255"));
    }

    [Test]
    public void Inform_gets_an_ack_with_the_parameters_and_no_lease()
    {
        var h = Harness();
        var r = Single(h, "red1", FromRed1ToTheGateway(0x46, 8));

        AssertCommon(r, 0x46, 0);
        Assert.That((r.EthDst, r.IpDst, r.Ciaddr, r.Yiaddr), Is.EqualTo(("00155D000001", "10.1.1.7", "10.1.1.7", "0.0.0.0")));
        Assert.That(r.Codes, Is.EqualTo(new byte[] { 53, 54, 1, 3, 6, 15, 26 }), "no lease time, T1 or T2");
        Assert.That(r.Get(53), Is.EqualTo(new byte[] { 5 }));
    }

    [Test]
    public void Inform_from_an_address_that_is_not_the_ports_is_a_spoofed_source()
    {
        var inform = Frame(RedMac, Message(RedMac, 0x47, ciaddr: "10.1.1.8", options: Usual(Type(8))), src: "10.1.1.8");
        AssertDropped(Harness(), "red1", inform, DropReason.SpoofedSource);
    }

    [TestCase(7, DropReason.DhcpRelease)]
    [TestCase(4, DropReason.DhcpDecline)]
    public void Release_and_decline_are_taken_in_without_an_answer(byte type, DropReason reason)
    {
        var message = Frame(RedMac, Message(RedMac, 0x48, ciaddr: type == 7 ? "10.1.1.7" : "0.0.0.0", options: Usual(Type(type), Address(54, "10.1.1.1"))), src: type == 7 ? "10.1.1.7" : "0.0.0.0");
        AssertDropped(Harness(), "red1", message, reason);
    }

    [Test]
    public void Client_hardware_address_other_than_the_ports_mac_is_a_spoofed_source()
    {
        // Ethernet source is red1's own MAC (it passes the port check); chaddr is Blue-1's.
        var discover = Frame(RedMac, Message(BlueMac, options: Usual(Type(1))));
        AssertDropped(Harness(), "red1", discover, DropReason.SpoofedSource);
    }

    [Test]
    public void Port_without_a_record_for_its_mac_gets_no_answer()
    {
        AssertDropped(Harness(), "red4", Discover(NoRecordMac), DropReason.NoLookupRecord);
    }

    [Test]
    public void Port_whose_ca_is_in_no_on_link_route_gets_no_answer()
    {
        // 10.9.9.5 is inside 10.0.0.0/8, which is on-link: take that route away.
        var json = Json();
        json["customerRoutes"]!.AsArray().RemoveAt(0);
        AssertDropped(new ForwarderHarness(Load(json)), "red5", Discover(OffLinkMac), DropReason.NoRoute);
    }

    [Test]
    public void The_longest_on_link_prefix_holding_the_ca_gives_mask_and_router()
    {
        // red5's 10.9.9.5 is only in 10.0.0.0/8: gateway 10.0.0.1, mask 255.0.0.0.
        var h = Harness();
        var output = h.Send("red5", Discover(OffLinkMac));
        var r = Read(output.Single().Frame);
        Assert.That((r.IpSrc, r.Yiaddr), Is.EqualTo(("10.0.0.1", "10.9.9.5")));
        Assert.That(r.Get(54), Is.EqualTo(Addr("10.0.0.1")));
        Assert.That(r.Get(1), Is.EqualTo(Addr("255.0.0.0")));
        Assert.That(r.Get(3), Is.EqualTo(Addr("10.0.0.1")));
    }

    [Test]
    public void Two_vsids_with_the_same_ca_each_get_their_own_server_and_settings()
    {
        var h = Harness();
        var red = Read(h.Send("red1", Discover(RedMac, xid: 1)).Single().Frame);
        var blue = Read(h.Send("blue1", Discover(BlueMac, xid: 2)).Single().Frame);

        Assert.That((red.Yiaddr, blue.Yiaddr), Is.EqualTo(("10.1.1.7", "10.1.1.7")), "the same CA in both tenants");
        Assert.That(blue.EthDst, Is.EqualTo("00155D000101"));
        Assert.That(blue.Chaddr[..6], Is.EqualTo(Mac(BlueMac)));
        Assert.That(blue.Codes, Is.EqualTo(new byte[] { 53, 54, 51, 58, 59, 1, 3, 6, 26 }), "Blue has no domain name");
        Assert.That(blue.Get(54), Is.EqualTo(Addr("10.1.0.1")), "Blue's subnet is 10.1.0.0/16");
        Assert.That(blue.Get(1), Is.EqualTo(Addr("255.255.0.0")));
        Assert.That(blue.Get(6), Is.EqualTo(Addr("10.1.2.53")), "Blue's DNS, never Red's");
        Assert.That(red.Get(6), Is.EqualTo(Concat(Addr("10.1.1.53"), Addr("10.1.1.54"))));

        // Blue-1's request replayed on red1 (with red1's Ethernet source) is refused, not answered with Blue's lease.
        var foreign = Frame(RedMac, Message(BlueMac, options: Usual(Type(3), Address(50, "10.1.1.7"))));
        Assert.That(h.Send("red1", foreign), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(1));
    }

    [Test]
    public void An_infinite_lease_has_no_renewal_or_rebinding_time()
    {
        var r = Read(Harness(uint.MaxValue).Send("red1", Discover(RedMac)).Single().Frame);
        Assert.That(r.Codes, Is.EqualTo(new byte[] { 53, 54, 51, 1, 3, 6, 15, 26 }));
        Assert.That(r.Get(51), Is.EqualTo(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }));
    }

    [Test]
    public void Default_lease_is_a_day()
    {
        var json = Json();
        json["global"]!.AsObject().Remove("dhcpLeaseSeconds");
        var r = Read(new ForwarderHarness(Load(json)).Send("red1", Discover(RedMac)).Single().Frame);
        Assert.That((Be32(r.Get(51)!), Be32(r.Get(58)!), Be32(r.Get(59)!)), Is.EqualTo((86400u, 43200u, 75600u)));
    }

    [TestCase("TranslationMethodNat", "192.168.1.20", 1500, TestName = "Mtu_option_for_a_nat_record_is_the_provider_mtu")]
    [TestCase("TranslationMethodEncap", "2001:db8:ffff::10", 1438, TestName = "Mtu_option_for_an_ipv6_pa_is_the_provider_mtu_less_62")]
    public void Mtu_option_follows_what_the_dataplane_enforces(string rule, string pa, int mtu)
    {
        var json = Json();
        json["providerAddresses"]!.AsArray().Add(new JsonObject { ["address"] = pa, ["prefixLength"] = pa.Contains(':', StringComparison.Ordinal) ? 64 : 24, ["port"] = "pnic0" });
        var red = json["lookupRecords"]![1]!.AsObject();
        red["providerAddress"] = pa;
        red["rule"] = rule;
        var r = Read(new ForwarderHarness(Load(json)).Send("red1", Discover(RedMac)).Single().Frame);
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(r.Get(26)), Is.EqualTo(mtu));
    }

    [Test]
    public void Without_routing_domain_settings_there_is_no_dns_option()
    {
        var json = Json();
        json.Remove("routingDomains");
        var r = Read(new ForwarderHarness(Load(json)).Send("red1", Discover(RedMac)).Single().Frame);
        Assert.That(r.Codes, Is.EqualTo(new byte[] { 53, 54, 51, 58, 59, 1, 3, 26 }));
    }

    [Test]
    public void The_largest_reply_carries_63_dns_servers_and_a_253_character_domain_name()
    {
        var json = Json();
        var red = json["routingDomains"]![0]!.AsObject();
        red["dnsServers"] = new JsonArray([.. Enumerable.Range(1, 63).Select(i => (JsonNode?)JsonValue.Create($"10.1.3.{i}"))]);
        string label = new('a', 63);
        red["domainName"] = string.Join('.', label, label, label, new string('b', 61));
        var output = new ForwarderHarness(Load(json)).Send("red1", Discover(RedMac));

        Assert.That(output.Single().Frame, Has.Length.EqualTo(14 + 20 + 8 + 240 + 3 + (6 * 6) + 2 + 252 + 2 + 253 + 4 + 1));
        var r = Read(output[0].Frame);
        Assert.That(r.Get(6), Has.Length.EqualTo(252));
        Assert.That(r.Get(6)![^4..], Is.EqualTo(Addr("10.1.3.63")));
        Assert.That(r.Get(15), Has.Length.EqualTo(253));
        Assert.That(r.UdpChecksumOk, Is.True);
    }

    [Test]
    public void Pads_unknown_options_a_missing_end_and_ip_options_are_fine()
    {
        var h = Harness();
        var message = Message(RedMac, 0x49, options:
        [
            [0, 0, 0], Type(1), Option(224, 1, 2, 3), Option(43, []), Option(52, 3), Option(81, 0, 0, 0, 0x76, 0x6D),
        ]);
        var r = Single(h, "red1", Frame(RedMac, message, ipOptions: Hex("94040000")));
        AssertCommon(r, 0x49, 0);
        AssertRedLeaseOptions(r, 2);
    }

    public static IEnumerable<TestCaseData> Malformed()
    {
        TestCaseData C(string name, byte[] frame) => new TestCaseData(frame).SetName("Malformed_dhcp_is_counted_not_answered_" + name);
        byte[] good = Message(RedMac, options: Usual(Type(1)));

        yield return C("fixed_part_cut_short", Frame(RedMac, good[..200]));
        yield return C("no_magic_cookie", Frame(RedMac, Message(RedMac, cookie: 0x6382_5364, options: Usual(Type(1)))));
        yield return C("bootreply_from_a_vm", Frame(RedMac, Message(RedMac, op: 2, options: Usual(Type(1)))));
        yield return C("hardware_type_not_ethernet", Frame(RedMac, Message(RedMac, htype: 6, options: Usual(Type(1)))));
        yield return C("hardware_length_16", Frame(RedMac, Message(RedMac, hlen: 16, options: Usual(Type(1)))));
        yield return C("option_past_the_end", Frame(RedMac, Message(RedMac, options: [Type(1), [12, 40, 0x76, 0x6D]])));
        yield return C("option_length_byte_missing", Frame(RedMac, Message(RedMac, options: [Type(1), [12]])));
        yield return C("type_of_length_2", Frame(RedMac, Message(RedMac, options: [Option(53, 1, 1), End])));
        yield return C("type_given_twice", Frame(RedMac, Message(RedMac, options: [Type(1), Type(3), End])));
        yield return C("type_zero", Frame(RedMac, Message(RedMac, options: [Type(0), End])));
        yield return C("plain_bootp_without_type", Frame(RedMac, Message(RedMac, options: [Option(12, 0x76, 0x6D), End])));
        yield return C("requested_address_of_3_bytes", Frame(RedMac, Message(RedMac, options: [Type(3), Option(50, 10, 1, 1), End])));
        yield return C("server_id_given_twice", Frame(RedMac, Message(RedMac, options: [Type(3), Address(54, "10.1.1.1"), Address(54, "10.1.1.1"), End])));
        yield return C("offer_sent_by_a_vm", Frame(RedMac, Message(RedMac, options: Usual(Type(2)))));
        yield return C("ack_sent_by_a_vm", Frame(RedMac, Message(RedMac, options: Usual(Type(5)))));
        yield return C("unknown_type_42", Frame(RedMac, Message(RedMac, options: Usual(Type(42)))));
        yield return C("relayed", Frame(RedMac, Message(RedMac, giaddr: "10.1.1.99", options: Usual(Type(1)))));
        var longUdp = Frame(RedMac, good);
        BinaryPrimitives.WriteUInt16BigEndian(longUdp.AsSpan(14 + 20 + 4), (ushort)(good.Length + 9));
        yield return C("udp_length_past_the_ip_packet", longUdp);
        var shortUdp = Frame(RedMac, good);
        BinaryPrimitives.WriteUInt16BigEndian(shortUdp.AsSpan(14 + 20 + 4), 7);
        yield return C("udp_length_under_8", shortUdp);
        var cutUdp = Frame(RedMac, good);
        BinaryPrimitives.WriteUInt16BigEndian(cutUdp.AsSpan(14 + 20 + 4), 8 + 239);
        yield return C("udp_length_cutting_the_cookie", cutUdp);
    }

    [TestCaseSource(nameof(Malformed))]
    public void Malformed_dhcp_is_counted_not_answered(byte[] frame)
    {
        AssertDropped(Harness(), "red1", frame, DropReason.DhcpMalformed);
    }

    [Test]
    public void Client_port_traffic_that_is_not_to_the_server_stays_outside_dhcp()
    {
        var h = Harness();
        byte[] message = Message(RedMac, options: Usual(Type(1)));
        Assert.That(h.Send("red1", Frame(RedMac, message, dstMac: "01-00-5E-00-00-01", dst: "224.0.0.1")), Is.Empty, "68 → 67 to a multicast group");
        Assert.That(h.Send("red1", Frame(RedMac, message, sport: 67, dport: 68)), Is.Empty, "a server's ports, from a VM");
        Assert.That(h.Send("red1", Frame(RedMac, message, sport: 68, dport: 68)), Is.Empty, "client port to client port");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.FloodingDisabled), Is.EqualTo(3));
        Assert.That(h.Send("red1", Frame(RedMac, message, dstMac: GatewayMac, src: "10.1.1.7", dst: "10.1.1.8")), Has.Count.EqualTo(1), "68 → 67 to another VM is plain traffic: routed to it");
        Assert.That(h.Forwarder.Counters.Answered, Is.Zero);
    }

    [Test]
    public void Thousands_of_mutated_client_messages_never_throw_and_are_answered_only_with_the_ports_own_lease()
    {
        var h = Harness();
        var f = h.Forwarder;
        var c = f.Counters;
        var rng = new Random(20240621);
        var seeds = new (string Port, string Mac, byte[] Frame)[]
        {
            ("red1", RedMac, Discover(RedMac)),
            ("red1", RedMac, Frame(RedMac, Message(RedMac, 5, options: Usual(Type(3), Address(54, "10.1.1.1"), Address(50, "10.1.1.7"))))),
            ("red1", RedMac, FromRed1ToTheGateway(6, 8)),
            ("blue1", BlueMac, Discover(BlueMac, flags: 0x8000)),
            ("blue1", BlueMac, Frame(BlueMac, Message(BlueMac, 8, options: Usual(Type(3), Address(50, "10.1.1.7"))))),
        };
        int answered = 0;
        var reasons = new HashSet<DropReason>();
        for (int n = 0; n < 5000; n++)
        {
            var (port, _, seed) = seeds[rng.Next(seeds.Length)];
            byte[] frame = (byte[])seed.Clone();
            int start = 14 + 20 + 8; // mutate the DHCP message, now and then the UDP header too
            for (int k = rng.Next(1, 6); k > 0; k--)
            {
                frame[rng.Next(rng.Next(4) == 0 ? 14 + 20 : start, frame.Length)] = (byte)rng.Next(256);
            }

            if (rng.Next(4) == 0)
            {
                frame = frame[..rng.Next(14 + 20 + 8, frame.Length)];
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), (ushort)(frame.Length - 14));
                FixIpv4Checksum(frame.AsSpan(14, 20));
                if (rng.Next(2) == 0)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14 + 20 + 4), (ushort)(frame.Length - 14 - 20));
                }
            }

            long before = c.Answered + c.TotalDrops;
            List<(int Port, byte[] Frame)> output = [];
            Assert.DoesNotThrow(() => output = h.Send(port, frame), Convert.ToHexString(frame));
            Assert.That(c.Answered + c.TotalDrops - before, Is.EqualTo(1), "exactly one outcome");
            Assert.That(f.Pool.Available, Is.EqualTo(f.Pool.Size), "no buffer kept");
            if (output.Count == 0)
            {
                continue;
            }

            answered++;
            Assert.That(output, Has.Count.EqualTo(1));
            Assert.That(output[0].Port, Is.EqualTo(h.Port(port)), "answered on the sending port only");
            var r = Read(output[0].Frame);
            Assert.That(r.UdpChecksumOk && r.IpChecksumOk, Is.True);
            Assert.That(r.Chaddr[..6], Is.EqualTo(Mac(port == "red1" ? RedMac : BlueMac)), "only the port's own client is answered");
            Assert.That(r.Yiaddr, Is.AnyOf("0.0.0.0", "10.1.1.7"));
            Assert.That(r.Get(6), Is.Null.Or.EqualTo(port == "red1" ? Concat(Addr("10.1.1.53"), Addr("10.1.1.54")) : Addr("10.1.2.53")), "the tenant's own DNS");
        }

        foreach (var reason in DropReasons.All.Where(r => c.Drop(r) > 0))
        {
            reasons.Add(reason);
        }

        TestContext.Out.WriteLine($"answered {answered}; " + string.Join(", ", reasons.Select(r => $"{DropReasons.Name(r)} {c.Drop(r)}")));
        Assert.That(answered, Is.GreaterThan(500), "many mutations are still answerable");
        Assert.That(reasons, Does.Contain(DropReason.DhcpMalformed));
    }
}
