using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// ICMP errors to a Nat record's PA (FORWARDING 2.6), over IPv6 PAs and CAs (the IPv4 cases are
/// in the scapy-built <c>nat</c> scenario): a provider router's error about a packet the PA sent
/// reaches the VM with CAs in its quote, from the subnet's gateway; never another tenant's, and
/// the VM's port ACL still judges it. Expected checksums come from <see cref="ReferenceChecksum"/>
/// over the delivered bytes, not from the rewriter's arithmetic.
/// </summary>
public class NatIcmpErrorTests
{
    private const string Red1Mac = "00-15-5D-00-00-01", Blue1Mac = "00-15-5D-00-01-01", Red2Mac = "00-15-5D-00-00-02";
    private const string GatewayMac = "00-15-5D-FF-FF-FF", PnicMac = "02-00-00-00-01-0A", RouterMac = "02-00-00-00-01-01";
    private const string Router = "2001:db8:ffff::1";
    private const string RedPa = "2001:db8:ffff::20", Red2Pa = "2001:db8:ffff::21", BluePa = "2001:db8:ffff::30", Blue2Pa = "2001:db8:ffff::31", GreenPa = "2001:db8:ffff::40";
    private const string Ca1 = "2001:db8:1::7", Ca2 = "2001:db8:1::8";

    private const string Config = """
        {
          "host": { "name": "hv1" },
          "global": { "gatewayMac": "00-15-5D-FF-FF-FF" },
          "ports": [
            { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A", "mtu": 1500 },
            { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001 },
            { "name": "blue1", "role": "vm", "macAddress": "00-15-5D-00-01-01", "virtualSubnetId": 6001 },
            { "name": "green1", "role": "vm", "macAddress": "00-15-5D-00-02-01", "virtualSubnetId": 7001 }
          ],
          "providerAddresses": [
            { "address": "2001:db8:ffff::20", "prefixLength": 64, "port": "pnic0" },
            { "address": "2001:db8:ffff::30", "prefixLength": 64, "port": "pnic0" },
            { "address": "2001:db8:ffff::40", "prefixLength": 64, "port": "pnic0" }
          ],
          "providerNeighbors": [
            { "address": "2001:db8:ffff::21", "macAddress": "02-00-00-00-01-15" },
            { "address": "2001:db8:ffff::31", "macAddress": "02-00-00-00-01-16" }
          ],
          "lookupRecords": [
            { "customerAddress": "2001:db8:1::7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "2001:db8:ffff::20", "rule": "TranslationMethodNat" },
            { "customerAddress": "2001:db8:1::8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "2001:db8:ffff::21", "rule": "TranslationMethodNat" },
            { "customerAddress": "2001:db8:1::7", "virtualSubnetId": 6001, "macAddress": "00-15-5D-00-01-01", "providerAddress": "2001:db8:ffff::30", "rule": "TranslationMethodNat" },
            { "customerAddress": "2001:db8:1::8", "virtualSubnetId": 6001, "macAddress": "00-15-5D-00-01-02", "providerAddress": "2001:db8:ffff::31", "rule": "TranslationMethodNat" },
            { "customerAddress": "2001:db8:1::7", "virtualSubnetId": 7001, "macAddress": "00-15-5D-00-02-01", "providerAddress": "2001:db8:ffff::40", "rule": "TranslationMethodNat" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "2001:db8:1::/64", "nextHop": "::" },
            { "routingDomainId": "{11111111-2222-3333-4444-000000000001}", "virtualSubnetId": 6001, "destinationPrefix": "2001:db8:1::/64", "nextHop": "::" },
            { "routingDomainId": "{11111111-2222-3333-4444-000000000002}", "virtualSubnetId": 7001, "destinationPrefix": "2001:db8:7::/64", "nextHop": "::" }
          ],
          "acls": [
            { "virtualSubnetId": 6001, "priority": 10, "direction": "inbound", "protocol": "icmpv6", "action": "deny", "name": "blue-no-icmpv6-in" }
          ]
        }
        """;

    private static ForwarderHarness Harness() => ForwarderHarness.FromJson(Config);

    /// <summary>A UDP packet from <paramref name="src"/> to <paramref name="dst"/> with its checksum over those addresses.</summary>
    private static byte[] Udp6(string src, string dst, int payload)
    {
        byte[] udp = UdpOf(40002, 33434, Enumerable.Range(0, payload).Select(i => (byte)(i * 3)).ToArray());
        byte[] pseudo = Concat(Addr(src), Addr(dst), [0, 0, (byte)(udp.Length >> 8), (byte)udp.Length, 0, 0, 0, 17]);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(6), ReferenceChecksum(udp, (ushort)~ReferenceChecksum(pseudo)));
        return Ipv6Of(src, dst, 17, udp, hopLimit: 63);
    }

    /// <summary>An ICMPv6 error (type, code, the 32-bit word) quoting <paramref name="quote"/>, from <paramref name="src"/>, inside a provider frame.</summary>
    private static byte[] ErrorFrame(string src, string dst, byte type, byte code, uint word, byte[] quote, string srcMac = RouterMac)
    {
        byte[] message = Concat([type, code, 0, 0, (byte)(word >> 24), (byte)(word >> 16), (byte)(word >> 8), (byte)word], quote);
        return Concat(Eth(PnicMac, srcMac, 0x86DD), Icmpv6Of(src, dst, message, hopLimit: 61));
    }

    [Test]
    public void A_routers_packet_too_big_about_a_rewritten_packet_reaches_the_vm_with_cas_in_its_quote()
    {
        var h = Harness();
        byte[] sent = Udp6(RedPa, Red2Pa, 1300); // as red1's packet left, rewritten to PAs
        var output = h.Send(h.Port("pnic0"), ErrorFrame(Router, RedPa, 2, 0, 1400, sent[..(1280 - 48)]));

        Assert.That(output, Has.Count.EqualTo(1));
        Assert.That(output[0].Port, Is.EqualTo(h.Port("red1")));
        byte[] f = output[0].Frame;
        Assert.That(f[..6], Is.EqualTo(Mac(Red1Mac)), "to red1's MAC");
        Assert.That(f[6..12], Is.EqualTo(Mac(GatewayMac)), "from the gateway MAC");
        byte[] ip = f[14..];
        Assert.That(ip.Length, Is.EqualTo(1280), "nothing cut or added");
        Assert.That(ip[7], Is.EqualTo(61), "hop limit as it arrived");
        Assert.That(ip[8..24], Is.EqualTo(Addr("2001:db8:1::1")), "from the subnet's gateway address, no provider address");
        Assert.That(ip[24..40], Is.EqualTo(Addr(Ca1)), "to red1's CA");
        byte[] icmp = ip[40..];
        Assert.That((icmp[0], icmp[1]), Is.EqualTo(((byte)2, (byte)0)), "packet too big");
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(icmp.AsSpan(4)), Is.EqualTo(1400), "the router's MTU: IP rewrite adds no header");
        Assert.That(ReferenceChecksum(icmp, Icmpv6PseudoHeaderSum(ip[8..24], ip[24..40], icmp.Length)), Is.Zero, "ICMPv6 checksum");

        byte[] quote = icmp[8..];
        byte[] asRed1SentIt = Udp6(Ca1, Ca2, 1300);
        Assert.That(quote, Is.EqualTo(asRed1SentIt[..quote.Length]), "the quote is red1's own packet: CAs and its UDP checksum over them");
    }

    /// <summary>
    /// <see cref="Udp6"/> behind <paramref name="extensions"/> (each's next header set here): the
    /// UDP checksum over <paramref name="src"/> and <paramref name="checksumDst"/> (the final
    /// destination, which a routing header with segments left carries instead of <paramref name="dst"/>).
    /// </summary>
    private static byte[] Udp6Behind(string src, string dst, string checksumDst, params byte[][] extensions)
    {
        byte[] udp = UdpOf(40002, 33434, Enumerable.Range(0, 600).Select(i => (byte)(i * 3)).ToArray());
        byte[] pseudo = Concat(Addr(src), Addr(checksumDst), [0, 0, (byte)(udp.Length >> 8), (byte)udp.Length, 0, 0, 0, 17]);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(6), ReferenceChecksum(udp, (ushort)~ReferenceChecksum(pseudo)));
        for (int i = 0; i < extensions.Length; i++)
        {
            extensions[i][0] = i + 1 < extensions.Length ? extensions[i + 1][^1] : (byte)17;
        }

        // The last byte of each extension given is its own protocol number (taken off here).
        return Ipv6Of(src, dst, extensions[0][^1], Concat([.. extensions.Select(e => e[..^1]), udp]), hopLimit: 63);
    }

    // Destination options (PadN to 8 bytes), a first fragment (offset 0, more fragments), a routing header type 0 with one address and segments left.
    private static byte[] DestinationOptions => [0, 0, 1, 4, 0, 0, 0, 0, 60];
    private static byte[] FirstFragment => [0, 0, 0, 1, 0x12, 0x34, 0x56, 0x78, 44];
    private static byte[] RoutingTo(string final, byte segmentsLeft) => [.. Concat([0, 2, 0, segmentsLeft, 0, 0, 0, 0], Addr(final)), 43];

    [TestCase("destination options, first fragment")]
    [TestCase("routing header with segments left")]
    public void A_quoted_packet_behind_ipv6_extension_headers_comes_back_to_the_vm_as_it_sent_it(string chain)
    {
        // Behind any extension header the quote's transport checksum was left as the rewrite
        // made it (over the PAs); red1's stack does not check it, but a capture shows it wrong.
        const string Final = "2001:db8:1::99";
        byte[] red1Sent = chain.StartsWith("routing", StringComparison.Ordinal)
            ? Udp6Behind(Ca1, Ca2, Final, RoutingTo(Final, 1))
            : Udp6Behind(Ca1, Ca2, Ca2, DestinationOptions, FirstFragment);
        var h = Harness();
        var left = h.Send(h.Port("red1"), Concat(Eth(Red2Mac, Red1Mac, 0x86DD), red1Sent));
        Assert.That(left, Has.Count.EqualTo(1));
        Assert.That(left[0].Port, Is.EqualTo(h.Port("pnic0")));
        byte[] sent = left[0].Frame[14..];
        Assert.That(sent[8..40], Is.EqualTo(Concat(Addr(RedPa), Addr(Red2Pa))), "rewritten to the PAs");

        var output = h.Send(h.Port("pnic0"), ErrorFrame(Router, RedPa, 2, 0, 1400, sent));

        Assert.That(output, Has.Count.EqualTo(1));
        byte[] quote = output[0].Frame[(14 + 40 + 8)..];
        Assert.That(quote, Is.EqualTo(red1Sent), "red1's own packet, its UDP checksum included");
    }

    [Test]
    public void An_error_from_the_nat_peer_about_our_packet_comes_from_the_peers_ca()
    {
        var h = Harness();
        byte[] sent = Udp6(RedPa, Red2Pa, 20);
        var output = h.Send(h.Port("pnic0"), ErrorFrame(Red2Pa, RedPa, 1, 4, 0, sent, srcMac: "02-00-00-00-01-15"));

        Assert.That(output, Has.Count.EqualTo(1));
        byte[] f = output[0].Frame;
        Assert.That(f[6..12], Is.EqualTo(Mac(Red2Mac)), "from the peer record's MAC");
        Assert.That(f[(14 + 8)..(14 + 24)], Is.EqualTo(Addr(Ca2)), "from the peer's CA");
        Assert.That(f[(14 + 48)..], Is.EqualTo(Udp6(Ca1, Ca2, 20)), "quote rewritten back");
        Assert.That(ReferenceChecksum(f.AsSpan(14 + 40), Icmpv6PseudoHeaderSum(Addr(Ca2), Addr(Ca1), f.Length - 54)), Is.Zero);
    }

    [Test]
    public void A_vms_own_error_between_nat_pas_keeps_its_quote()
    {
        // red2's kernel answered red1's packet (which it received with CAs) and quoted CAs.
        var h = Harness();
        byte[] quoted = Udp6(Ca1, Ca2, 20);
        var output = h.Send(h.Port("pnic0"), ErrorFrame(Red2Pa, RedPa, 1, 4, 0, quoted, srcMac: "02-00-00-00-01-15"));

        Assert.That(output, Has.Count.EqualTo(1));
        byte[] f = output[0].Frame;
        Assert.That(f[(14 + 8)..(14 + 40)], Is.EqualTo(Concat(Addr(Ca2), Addr(Ca1))), "outer addresses rewritten as any NAT packet");
        Assert.That(f[(14 + 48)..], Is.EqualTo(quoted), "quote untouched");
        Assert.That(ReferenceChecksum(f.AsSpan(14 + 40), Icmpv6PseudoHeaderSum(Addr(Ca2), Addr(Ca1), f.Length - 54)), Is.Zero);
    }

    [Test]
    public void An_error_quoting_another_tenants_nat_pa_is_never_delivered()
    {
        var h = Harness();

        // To Blue's PA, about a packet from Blue's PA to Red's peer: a forged quote across tenants.
        var toBlue = h.Send(h.Port("pnic0"), ErrorFrame(Router, BluePa, 2, 0, 1400, Udp6(BluePa, Red2Pa, 20)));

        // To Red's PA, about a packet from Red's PA to Blue's peer.
        var toRed = h.Send(h.Port("pnic0"), ErrorFrame(Router, RedPa, 2, 0, 1400, Udp6(RedPa, Blue2Pa, 20)));

        Assert.That(toBlue, Is.Empty);
        Assert.That(toRed, Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.Isolation), Is.EqualTo(2));
    }

    [Test]
    public void The_vms_inbound_acl_judges_the_relayed_error()
    {
        var h = Harness();
        var output = h.Send(h.Port("pnic0"), ErrorFrame(Router, BluePa, 2, 0, 1400, Udp6(BluePa, Blue2Pa, 20)));
        Assert.That(output, Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.AclDeny), Is.EqualTo(1), "blue-no-icmpv6-in");
    }

    [Test]
    public void Errors_that_cannot_be_rewritten_are_counted_by_name()
    {
        var h = Harness();
        int pnic = h.Port("pnic0");
        Assert.That(h.Send(pnic, ErrorFrame(Router, RedPa, 2, 0, 1400, Udp6(RedPa, Red2Pa, 20)[..39])), Is.Empty, "quote shorter than an IPv6 header");
        Assert.That(h.Send(pnic, ErrorFrame(Router, RedPa, 2, 0, 1400, Udp6(RedPa, "2001:db8:ffff::99", 20))), Is.Empty, "quoted destination no Nat PA");
        Assert.That(h.Send(pnic, ErrorFrame(Router, RedPa, 2, 0, 1400, Udp6(BluePa, Red2Pa, 20))), Is.Empty, "about a packet from another PA");

        byte[] v4Quote = Ipv4Of("192.168.1.20", "192.168.1.21", 17, UdpOf(1, 2, new byte[4]));
        Assert.That(h.Send(pnic, ErrorFrame(Router, RedPa, 2, 0, 1400, v4Quote)), Is.Empty, "an IPv4 quote in an ICMPv6 error");

        // Green's CA 2001:db8:1::7 is outside its VSID's only prefix: no gateway address to send from.
        Assert.That(h.Send(pnic, ErrorFrame(Router, GreenPa, 2, 0, 1400, Udp6(GreenPa, GreenPa, 20))), Is.Empty, "quoted destination = green's own PA");

        var c = h.Forwarder.Counters;
        Assert.That(c.Drop(DropReason.Truncated), Is.EqualTo(1));
        Assert.That(c.Drop(DropReason.NoLookupRecord), Is.EqualTo(2));
        Assert.That(c.Drop(DropReason.MalformedHeader), Is.EqualTo(1));
        Assert.That(c.Drop(DropReason.NoRoute), Is.EqualTo(1));
    }
}
