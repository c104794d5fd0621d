using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// The distributed router's "time exceeded": a routed packet whose TTL / hop limit runs out is
/// dropped as <c>ttl_expired</c> and answered, like a router does, from the gateway address of the
/// sender's subnet (the hop traceroute shows) — but never about an ICMP error or a later IPv4
/// fragment. The IPv4 case is also in the scapy-built "routing" scenario.
/// </summary>
public class IcmpErrorTests
{
    private const string RedMac = "00-15-5D-00-00-01";
    private const string GatewayMac = "00-15-5D-FF-FF-FF";

    private static ForwarderHarness Harness()
    {
        var loaded = ConfigLoader.LoadFile(Path.Combine(TestPaths.Captures, "ipv6-ca", "config.json"));
        Assert.That(loaded.Problems, Is.Empty);
        return new ForwarderHarness(loaded.Config!);
    }

    [Test]
    public void An_ipv6_packet_routed_with_hop_limit_1_gets_hop_limit_exceeded_from_the_ipv6_gateway()
    {
        byte[] packet = Ipv6Of("2001:db8:1::7", "2001:db8:1::8", 17, UdpOf(40000, 33434, new byte[12]), hopLimit: 1);
        byte[] f = ExpireOne(0x86DD, packet);
        Assert.That(f[..6], Is.EqualTo(Mac(RedMac)), "to the sender");
        Assert.That(f[6..12], Is.EqualTo(Mac(GatewayMac)), "from the gateway MAC");
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)), Is.EqualTo(0x86DD));
        byte[] ip = f[14..];
        Assert.That(ip[6], Is.EqualTo(58), "ICMPv6");
        Assert.That(ip[7], Is.EqualTo(64), "hop limit of our own packet");
        Assert.That(ip[8..24], Is.EqualTo(Addr("2001:db8:1::1")), "from the subnet's gateway address");
        Assert.That(ip[24..40], Is.EqualTo(Addr("2001:db8:1::7")), "to the sender");
        byte[] icmp = ip[40..];
        Assert.That((icmp[0], icmp[1]), Is.EqualTo(((byte)3, (byte)0)), "time exceeded, hop limit exceeded in transit");
        Assert.That(icmp[4..8], Is.EqualTo(new byte[4]), "unused");
        Assert.That(icmp[8..], Is.EqualTo(packet), "the whole offending packet quoted (it is under 1280 bytes)");
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(ip.AsSpan(4)), Is.EqualTo(icmp.Length));
        Assert.That(ReferenceChecksum(icmp, Icmpv6PseudoHeaderSum(ip[8..24], ip[24..40], icmp.Length)), Is.Zero, "ICMPv6 checksum");
    }

    [Test]
    public void An_ipv4_packet_routed_with_ttl_1_gets_time_exceeded_from_the_gateway()
    {
        byte[] packet = Ipv4Of("10.1.1.7", "10.1.1.8", 17, UdpOf(40000, 33434, new byte[12]), ttl: 1);
        byte[] ip = ExpireOne(0x0800, packet)[14..];
        Assert.That(ip[9], Is.EqualTo(1), "ICMP");
        Assert.That(ip[12..16], Is.EqualTo(Addr("10.1.1.1")));
        Assert.That(ip[16..20], Is.EqualTo(Addr("10.1.1.7")));
        Assert.That(ReferenceChecksum(ip.AsSpan(0, 20)), Is.Zero, "IPv4 header checksum");
        byte[] icmp = ip[20..];
        Assert.That((icmp[0], icmp[1]), Is.EqualTo(((byte)11, (byte)0)));
        Assert.That(icmp[8..], Is.EqualTo(packet));
        Assert.That(ReferenceChecksum(icmp), Is.Zero, "ICMP checksum");
    }

    [TestCase(3, TestName = "destination unreachable")]
    [TestCase(11, TestName = "time exceeded")]
    [TestCase(5, TestName = "redirect")]
    public void An_icmpv4_error_whose_ttl_runs_out_is_dropped_without_an_error_about_it(int type)
    {
        var h = Harness();
        byte[] error = new byte[8 + 28];
        error[0] = (byte)type;
        BinaryPrimitives.WriteUInt16BigEndian(error.AsSpan(2), ReferenceChecksum(error));
        var output = h.Send("red1", Concat(Eth(GatewayMac, RedMac, 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 1, error, ttl: 1)));

        Assert.That(h.Forwarder.Counters.Drop(DropReason.TtlExpired), Is.EqualTo(1));
        Assert.That(output, Is.Empty);
    }

    [Test]
    public void An_icmpv6_error_or_a_later_ipv4_fragment_whose_ttl_runs_out_gets_no_error_but_an_echo_does()
    {
        var h = Harness();
        byte[] unreachable6 = new byte[8 + 48]; // type 1: destination unreachable (checksum irrelevant here)
        unreachable6[0] = 1;
        Assert.That(h.Send("red1", Concat(Eth(GatewayMac, RedMac, 0x86DD), Ipv6Of("2001:db8:1::7", "2001:db8:1::8", 58, unreachable6, hopLimit: 1))), Is.Empty);

        byte[] later = Ipv4Of("10.1.1.7", "10.1.1.8", 17, new byte[16], ttl: 1, flagsFragment: 0x0002); // offset 16 bytes, MF clear
        Assert.That(h.Send("red1", Concat(Eth(GatewayMac, RedMac, 0x0800), later)), Is.Empty);

        byte[] echo6 = IcmpEcho(128, 7, 1, new byte[8], v4Checksum: false);
        Assert.That(h.Send("red1", Concat(Eth(GatewayMac, RedMac, 0x86DD), Ipv6Of("2001:db8:1::7", "2001:db8:1::8", 58, echo6, hopLimit: 1))), Has.Count.EqualTo(1), "an echo request is informational: answered");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.TtlExpired), Is.EqualTo(3));
    }

    [TestCase("224.0.0.5", false)]
    [TestCase("255.255.255.255", false)]
    [TestCase("0.0.0.0", false)]
    [TestCase("127.0.0.1", false)]
    [TestCase("240.0.0.1", false)]
    [TestCase("ff02::1", false)]
    [TestCase("::", false)]
    [TestCase("::1", false)]
    [TestCase("10.1.1.7", true)]
    [TestCase("2001:db8:1::7", true)]
    public void An_icmp_error_goes_only_to_a_single_hosts_address(string source, bool answered)
    {
        // RFC 1812 4.3.2.7 / RFC 4443 2.4: never to a group, "nobody" or loopback (a forged
        // source would make the dataplane a reflector).
        bool v4 = !source.Contains(':', StringComparison.Ordinal);
        byte[] packet = v4 ? Ipv4Of(source, "10.1.1.8", 17, UdpOf(1, 2, new byte[8]), ttl: 1) : Ipv6Of(source, "2001:db8:1::8", 17, UdpOf(1, 2, new byte[8]), hopLimit: 1);
        byte[] frame = Concat(Eth(GatewayMac, RedMac, v4 ? (ushort)0x0800 : (ushort)0x86DD), packet);
        NvDataplane.Headers.PacketInfo info = default;
        Assert.That(NvDataplane.Headers.PacketParser.ParseEthernet(frame, ref info), Is.EqualTo(DropReason.None));
        Assert.That(NvDataplane.Headers.PacketParser.ParseIp(frame, ref info), Is.EqualTo(DropReason.None));
        Assert.That(NvDataplane.Pipeline.LocalResponder.MayAnswerWithError(frame, in info), Is.EqualTo(answered));
    }

    /// <summary>Routes one expiring packet from red1; returns the one frame that comes back to red1.</summary>
    private static byte[] ExpireOne(ushort etherType, byte[] packet)
    {
        var h = Harness();
        var output = h.Send("red1", Concat(Eth(GatewayMac, RedMac, etherType), packet));
        Assert.That(h.Forwarder.Counters.Drop(DropReason.TtlExpired), Is.EqualTo(1));
        Assert.That(output, Has.Count.EqualTo(1));
        Assert.That(output[0].Port, Is.EqualTo(h.Port("red1")));
        return output[0].Frame;
    }
}
