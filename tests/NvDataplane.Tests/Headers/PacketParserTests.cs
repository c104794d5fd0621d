using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using NvDataplane.Tests.Pipeline;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Headers;

/// <summary>
/// <see cref="PacketParser"/> against hand-built frames: the right offsets and fields for valid
/// frames, Truncated for every prefix of every frame, and the documented reason
/// (docs/FORWARDING.md 1.3 / 1.4) for each corrupted variant.
/// </summary>
public class PacketParserTests
{
    private const string DstMac = "02-00-00-00-00-02";
    private const string SrcMac = "02-00-00-00-00-01";

    /// <summary>
    /// Ethernet + the IPv4 header of the Wikipedia "IPv4 header checksum" example (checksum 0xB861
    /// computed by someone else) + UDP 53 → 5353 filling the 115-byte total length.
    /// </summary>
    private static byte[] Ipv4UdpFromHex()
    {
        byte[] eth = Hex("020000000002 020000000001 0800");
        byte[] ip = Hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
        byte[] udp = new byte[0x73 - 20];
        BinaryPrimitives.WriteUInt16BigEndian(udp, 53);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), 5353);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        return Concat(eth, ip, udp);
    }

    /// <summary>802.1Q (PCP 3, VID 100) + IPv4 with a router-alert option (IHL 6) + TCP 40000 → 443.</summary>
    private static byte[] VlanIpv4OptionsTcp()
    {
        byte[] eth = Concat(Mac(DstMac), Mac(SrcMac), Hex("8100 6064 0800"));
        return Concat(eth, Ipv4Of("10.0.0.1", "10.0.0.2", 6, TcpOf(40000, 443, [1, 2, 3]), ttl: 5, tos: 0x10, options: Hex("94040000")));
    }

    private static byte[] Ipv4Icmp() =>
        Concat(Eth(DstMac, SrcMac, 0x0800), Ipv4Of("10.0.0.1", "10.0.0.2", 1, IcmpEcho(8, 7, 1, [9, 9, 9, 9])));

    private static byte[] Ipv4Gre() =>
        Concat(Eth(DstMac, SrcMac, 0x0800), Ipv4Of("192.168.1.11", "192.168.1.10", 47, NvgreOf(5001, 0x2A, Eth(DstMac, SrcMac, 0x0800))));

    /// <summary>
    /// IPv6 with hop-by-hop (8) → destination options (8) → fragment (8, offset 0, M=0) → transport.
    /// </summary>
    private static byte[] Ipv6Chain(byte transport)
    {
        byte[] l4 = transport switch
        {
            6 => TcpOf(1111, 2222, [0xAA]),
            17 => UdpOf(1111, 2222, [0xAA, 0xBB]),
            _ => IcmpEcho(128, 1, 1, [0xCC], v4Checksum: false),
        };
        byte[] hbh = Hex("3C00 0104 00000000");       // next 60, len 0, PadN(4)
        byte[] dest = Hex("2C00 0104 00000000");      // next 44, len 0, PadN(4)
        byte[] frag = Concat([transport, 0x00], Hex("0000 12345678")); // offset 0, M=0, id
        return Concat(Eth(DstMac, SrcMac, 0x86DD), Ipv6Of("2001:db8::1", "2001:db8::2", 0, Concat(hbh, dest, frag, l4), hopLimit: 9, trafficClass: 0xB8));
    }

    /// <summary>IPv6 with hop-by-hop → destination options → UDP: no fragment header.</summary>
    private static byte[] Ipv6ChainNoFragment()
    {
        byte[] hbh = Hex("3C00 0104 00000000");
        byte[] dest = Hex("1100 0104 00000000");     // next 17
        return Concat(Eth(DstMac, SrcMac, 0x86DD), Ipv6Of("2001:db8::1", "2001:db8::2", 0, Concat(hbh, dest, UdpOf(7, 8, [1, 2, 3, 4]))));
    }

    private static DropReason Parse(ReadOnlySpan<byte> frame, out PacketInfo info)
    {
        info = default;
        DropReason r = PacketParser.ParseEthernet(frame, ref info);
        return r != DropReason.None ? r : PacketParser.ParseIp(frame, ref info);
    }

    public static IEnumerable<TestCaseData> ValidFrames()
    {
        yield return new TestCaseData(Ipv4UdpFromHex()).SetArgDisplayNames("ipv4-udp");
        yield return new TestCaseData(VlanIpv4OptionsTcp()).SetArgDisplayNames("vlan-ipv4-options-tcp");
        yield return new TestCaseData(Ipv4Icmp()).SetArgDisplayNames("ipv4-icmp");
        yield return new TestCaseData(Ipv4Gre()).SetArgDisplayNames("ipv4-gre");
        yield return new TestCaseData(Ipv6Chain(6)).SetArgDisplayNames("ipv6-chain-tcp");
        yield return new TestCaseData(Ipv6Chain(17)).SetArgDisplayNames("ipv6-chain-udp");
        yield return new TestCaseData(Ipv6Chain(58)).SetArgDisplayNames("ipv6-chain-icmpv6");
        yield return new TestCaseData(Ipv6ChainNoFragment()).SetArgDisplayNames("ipv6-chain-nofrag-udp");
    }

    [Test]
    public void Ipv4_udp_parses_to_the_rfc_offsets()
    {
        var f = Ipv4UdpFromHex();
        Assert.That(Parse(f, out var i), Is.EqualTo(DropReason.None));
        Assert.Multiple(() =>
        {
            Assert.That(i.EtherType, Is.EqualTo(0x0800));
            Assert.That(i.VlanId, Is.EqualTo(-1));
            Assert.That(i.L3Offset, Is.EqualTo(14));
            Assert.That(i.L3Length, Is.EqualTo(0x73));
            Assert.That(i.IpVersion, Is.EqualTo(4));
            Assert.That(i.IpHeaderLength, Is.EqualTo(20));
            Assert.That(i.Protocol, Is.EqualTo(17));
            Assert.That(i.Tos, Is.EqualTo(0));
            Assert.That(i.Ttl, Is.EqualTo(0x40));
            Assert.That(i.DontFragment, Is.True);
            Assert.That(i.IsFragment, Is.False);
            Assert.That(i.IsLaterFragment, Is.False);
            Assert.That(i.Ipv6FragmentHeaderOffset, Is.EqualTo(-1));
            Assert.That(i.Source, Is.EqualTo(IpAddr.Parse("192.168.0.1")));
            Assert.That(i.Destination, Is.EqualTo(IpAddr.Parse("192.168.0.199")));
            Assert.That(i.L4Offset, Is.EqualTo(34));
            Assert.That(i.SourcePort, Is.EqualTo(53));
            Assert.That(i.DestinationPort, Is.EqualTo(5353));
            Assert.That(i.L4Length, Is.EqualTo(0x73 - 20));
            Assert.That(i.IpFrameEnd, Is.EqualTo(14 + 0x73));
        });
    }

    [Test]
    public void Ethernet_padding_is_not_part_of_the_ip_packet()
    {
        var f = Concat(Ipv4Icmp(), new byte[17]);
        Assert.That(Parse(f, out var i), Is.EqualTo(DropReason.None));
        Assert.That(i.L3Length, Is.EqualTo(20 + 12));
        Assert.That(i.IpFrameEnd, Is.EqualTo(f.Length - 17));
    }

    [Test]
    public void Vlan_tag_and_ipv4_options_shift_the_offsets()
    {
        var f = VlanIpv4OptionsTcp();
        Assert.That(Parse(f, out var i), Is.EqualTo(DropReason.None));
        Assert.Multiple(() =>
        {
            Assert.That(i.VlanId, Is.EqualTo(100));
            Assert.That(i.EtherType, Is.EqualTo(0x0800));
            Assert.That(i.L3Offset, Is.EqualTo(18));
            Assert.That(i.IpHeaderLength, Is.EqualTo(24));
            Assert.That(i.L3Length, Is.EqualTo(24 + 23));
            Assert.That(i.L4Offset, Is.EqualTo(42));
            Assert.That(i.Protocol, Is.EqualTo(6));
            Assert.That(i.Tos, Is.EqualTo(0x10));
            Assert.That(i.Ttl, Is.EqualTo(5));
            Assert.That(i.SourcePort, Is.EqualTo(40000));
            Assert.That(i.DestinationPort, Is.EqualTo(443));
        });
    }

    [Test]
    public void Icmp_and_gre_have_no_ports()
    {
        Assert.That(Parse(Ipv4Icmp(), out var icmp), Is.EqualTo(DropReason.None));
        Assert.That((icmp.Protocol, icmp.SourcePort, icmp.DestinationPort, icmp.L4Offset), Is.EqualTo((1, 0, 0, 34)));
        Assert.That(Parse(Ipv4Gre(), out var gre), Is.EqualTo(DropReason.None));
        Assert.That((gre.Protocol, gre.SourcePort, gre.DestinationPort, gre.L4Offset), Is.EqualTo((47, 0, 0, 34)));
    }

    [TestCase((byte)6, (ushort)1111, (ushort)2222)]
    [TestCase((byte)17, (ushort)1111, (ushort)2222)]
    [TestCase((byte)58, (ushort)0, (ushort)0)]
    public void Ipv6_extension_chain_is_walked_to_the_transport(byte transport, ushort sport, ushort dport)
    {
        var f = Ipv6Chain(transport);
        Assert.That(Parse(f, out var i), Is.EqualTo(DropReason.None));
        Assert.Multiple(() =>
        {
            Assert.That(i.EtherType, Is.EqualTo(0x86DD));
            Assert.That(i.IpVersion, Is.EqualTo(6));
            Assert.That(i.L3Offset, Is.EqualTo(14));
            Assert.That(i.L3Length, Is.EqualTo(f.Length - 14));
            Assert.That(i.IpHeaderLength, Is.EqualTo(40 + 24));
            Assert.That(i.L4Offset, Is.EqualTo(14 + 64));
            Assert.That(i.Protocol, Is.EqualTo(transport));
            Assert.That(i.Tos, Is.EqualTo(0xB8));
            Assert.That(i.Ttl, Is.EqualTo(9));
            Assert.That(i.IsFragment, Is.True);
            Assert.That(i.IsLaterFragment, Is.False);
            Assert.That(i.Ipv6FragmentHeaderOffset, Is.EqualTo(14 + 40 + 16));
            Assert.That(i.Source, Is.EqualTo(IpAddr.Parse("2001:db8::1")));
            Assert.That(i.Destination, Is.EqualTo(IpAddr.Parse("2001:db8::2")));
            Assert.That(i.SourcePort, Is.EqualTo(sport));
            Assert.That(i.DestinationPort, Is.EqualTo(dport));
        });
    }

    [TestCase((byte)0, false)]
    [TestCase((byte)2, true)]
    public void An_ipv6_routing_header_with_segments_left_marks_the_destination_a_waypoint(byte segmentsLeft, bool pending)
    {
        byte[] routing = [17, 0, 4, segmentsLeft, 0, 0, 0, 0]; // next UDP, 8 bytes, segment routing, segments left
        byte[] f = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x86DD), Ipv6Of("2001:db8::1", "2001:db8::2", 43, Concat(routing, UdpOf(7, 8, new byte[4]))));
        Assert.That(Parse(f, out var i), Is.EqualTo(DropReason.None));
        Assert.That((i.RoutingPending, i.Protocol, i.SourcePort), Is.EqualTo((pending, (byte)17, (ushort)7)));
    }

    [Test]
    public void An_ipv6_later_fragment_is_payload_after_its_fragment_header()
    {
        // The fragment header names the first header of the fragmentable part (destination
        // options here); a later fragment carries the middle of it, not headers to walk.
        byte[] later = Concat([60, 0, 0, 8 << 3, 0, 0, 0, 9], new byte[16]); // offset 8 bytes, last fragment
        later[8] = 0xFF; // would be a next header, and a length running past the packet, if it were one
        later[9] = 0xFF;
        byte[] f = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x86DD), Ipv6Of("2001:db8::1", "2001:db8::2", 44, later));
        Assert.That(Parse(f, out var i), Is.EqualTo(DropReason.None));
        Assert.That((i.IsLaterFragment, i.Protocol, i.L4Offset, i.SourcePort), Is.EqualTo((true, (byte)60, 14 + 48, (ushort)0)));
    }

    [TestCase(true)]
    [TestCase(false)]
    public void An_ipv6_packet_with_an_ipv4_mapped_address_is_malformed(bool mappedSource)
    {
        byte[] mapped = Concat(new byte[10], [0xFF, 0xFF, 10, 1, 1, 7]); // ::ffff:10.1.1.7, written out: TestFrames.Addr would read it as IPv4
        byte[] f = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x86DD), Ipv6Of("2001:db8::1", "2001:db8::2", 17, UdpOf(7, 8, new byte[4])));
        mapped.CopyTo(f, 14 + (mappedSource ? 8 : 24));
        Assert.That(Parse(f, out _), Is.EqualTo(DropReason.MalformedHeader), "RFC 4291 2.5.5.2: read as IPv4 it would match IPv4 records and rules");
    }

    [TestCase((byte)6, 0, true)]
    [TestCase((byte)6, 8, true)]
    [TestCase((byte)6, 20, false)]
    [TestCase((byte)17, 8, false)]
    public void An_ipv6_first_fragment_must_hold_its_whole_transport_header(byte protocol, int transportBytes, bool refused)
    {
        byte[] first = Concat([protocol, 0, 0, 1, 0, 0, 0, 9], new byte[transportBytes]); // offset 0, more fragments
        byte[] f = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x86DD), Ipv6Of("2001:db8::1", "2001:db8::2", 44, first));
        Assert.That(Parse(f, out _), Is.EqualTo(refused ? DropReason.MalformedHeader : DropReason.None), "RFC 7112");
    }

    [Test]
    public void An_ipv6_hop_by_hop_header_anywhere_but_first_is_malformed()
    {
        byte[] destinationOptions = [0, 0, 1, 4, 0, 0, 0, 0]; // next: hop-by-hop (0), PadN
        byte[] hopByHop = [17, 0, 1, 4, 0, 0, 0, 0];
        byte[] f = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x86DD), Ipv6Of("2001:db8::1", "2001:db8::2", 60, Concat(destinationOptions, hopByHop, UdpOf(7, 8, new byte[4]))));
        Assert.That(Parse(f, out _), Is.EqualTo(DropReason.MalformedHeader), "RFC 8200 4.3");
        byte[] first = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x86DD), Ipv6Of("2001:db8::1", "2001:db8::2", 0, Concat(hopByHop, UdpOf(7, 8, new byte[4]))));
        Assert.That(Parse(first, out _), Is.EqualTo(DropReason.None), "right after the IPv6 header it is fine");
    }

    [Test]
    public void Ipv6_chain_without_fragment_header_is_not_a_fragment()
    {
        Assert.That(Parse(Ipv6ChainNoFragment(), out var i), Is.EqualTo(DropReason.None));
        Assert.That((i.IsFragment, i.Ipv6FragmentHeaderOffset, i.IpHeaderLength, i.Protocol, i.SourcePort, i.DestinationPort),
            Is.EqualTo((false, -1, 56, (byte)17, (ushort)7, (ushort)8)));
    }

    [Test]
    public void Ipv6_authentication_header_length_is_in_4_byte_units()
    {
        // AH: next 17, payload len 4 → (4 + 2) × 4 = 24 bytes.
        byte[] ah = Concat(Hex("1104 0000 00000001 00000002"), new byte[12]);
        var f = Concat(Eth(DstMac, SrcMac, 0x86DD), Ipv6Of("2001:db8::1", "2001:db8::2", 51, Concat(ah, UdpOf(5, 6, []))));
        Assert.That(Parse(f, out var i), Is.EqualTo(DropReason.None));
        Assert.That((i.IpHeaderLength, i.Protocol, i.SourcePort), Is.EqualTo((64, (byte)17, (ushort)5)));
    }

    [Test]
    public void Ipv6_later_fragment_has_no_transport_header()
    {
        byte[] frag = Hex("1100 0B91 12345678"); // next 17, offset 369 × 8, M=1
        var f = Concat(Eth(DstMac, SrcMac, 0x86DD), Ipv6Of("2001:db8::1", "2001:db8::2", 44, Concat(frag, [1, 2, 3])));
        Assert.That(Parse(f, out var i), Is.EqualTo(DropReason.None));
        Assert.That((i.IsFragment, i.IsLaterFragment, i.SourcePort, i.Ipv6FragmentHeaderOffset), Is.EqualTo((true, true, (ushort)0, 54)));
    }

    [Test]
    public void Ipv4_fragments_are_flagged_and_later_ones_carry_no_ports()
    {
        var later = Concat(Eth(DstMac, SrcMac, 0x0800), Ipv4Of("10.0.0.1", "10.0.0.2", 17, [1, 2, 3], flagsFragment: 185));
        Assert.That(Parse(later, out var l), Is.EqualTo(DropReason.None));
        Assert.That((l.IsFragment, l.IsLaterFragment, l.DontFragment, l.SourcePort), Is.EqualTo((true, true, false, (ushort)0)));

        // A first fragment may carry less than a whole transport header.
        var first = Concat(Eth(DstMac, SrcMac, 0x0800), Ipv4Of("10.0.0.1", "10.0.0.2", 6, [1, 2, 3, 4], flagsFragment: 0x2000));
        Assert.That(Parse(first, out var fi), Is.EqualTo(DropReason.None));
        Assert.That((fi.IsFragment, fi.IsLaterFragment), Is.EqualTo((true, false)));
    }

    [TestCase(8100, 1400, true, TestName = "{m}(offset 64,800 + 1,416 bytes)")]
    [TestCase(8189, 8, true, TestName = "{m}(offset 65,512 + 24 bytes: ends at 65,536)")]
    [TestCase(8189, 7, false, TestName = "{m}(offset 65,512 + 23 bytes: ends at 65,535)")]
    [TestCase(8000, 1000, false, TestName = "{m}(offset 64,000 + 1,016 bytes)")]
    public void An_ipv4_fragment_ending_past_65535_bytes_is_malformed(int offset, int extra, bool refused)
    {
        // Cut again for a small MTU, its second piece's offset ran into the flag bits: 0x2019,
        // an MF fragment at byte 200, overlapping the start of the datagram.
        int payload = 16 + extra;
        var frame = Concat(Eth(DstMac, SrcMac, 0x0800), Ipv4Of("10.0.0.1", "10.0.0.2", 17, new byte[payload], flagsFragment: (ushort)offset));
        bool past = offset * 8 + payload > 65535;
        Assert.That(past, Is.EqualTo(refused), "the case says what RFC 791 says");
        Assert.That(Parse(frame, out _), Is.EqualTo(refused ? DropReason.MalformedHeader : DropReason.None));
    }

    [Test]
    public void Arp_is_recognised_by_ethertype_and_is_not_ip()
    {
        var f = Concat(Eth("FF-FF-FF-FF-FF-FF", SrcMac, 0x0806), ArpOf(1, SrcMac, "10.0.0.1", "00-00-00-00-00-00", "10.0.0.2"));
        PacketInfo i = default;
        Assert.That(PacketParser.ParseEthernet(f, ref i), Is.EqualTo(DropReason.None));
        Assert.That((i.EtherType, i.L3Offset, i.VlanId), Is.EqualTo(((ushort)0x0806, 14, -1)));
        Assert.That(Arp.IsEthernetIpv4(f.AsSpan(14)), Is.True);
        Assert.That(Arp.ReadOperation(f.AsSpan(14)), Is.EqualTo(Arp.OpRequest));
        Assert.That(PacketParser.ParseIp(f, ref i), Is.EqualTo(DropReason.UnsupportedEthertype));
    }

    [TestCaseSource(nameof(ValidFrames))]
    public void Every_prefix_of_a_valid_frame_is_truncated(byte[] frame)
    {
        Assert.That(Parse(frame, out _), Is.EqualTo(DropReason.None), "the whole frame is valid");
        for (int n = 0; n < frame.Length; n++)
        {
            DropReason r = DropReason.None;
            Assert.DoesNotThrow(() => r = Parse(frame.AsSpan(0, n), out _), $"prefix {n}");
            Assert.That(r, Is.EqualTo(DropReason.Truncated), $"prefix of {n} bytes");
        }
    }

    /// <summary>
    /// The IP packet cut to k bytes with its length fields telling the truth (IPv4 total length and
    /// checksum, IPv6 payload length): a cut inside the IPv4 header or the IPv6 extension chain, or
    /// inside the transport header of an unfragmented packet, is Truncated.
    /// </summary>
    [TestCaseSource(nameof(ValidFrames))]
    public void Every_consistent_cut_of_a_required_header_is_truncated(byte[] frame)
    {
        Assert.That(Parse(frame, out var whole), Is.EqualTo(DropReason.None));
        int l3 = whole.L3Offset;
        int l4 = whole.L4Offset - l3;
        int needed = whole.Protocol switch { 6 => 20, 17 => 8, 1 or 58 or 47 => 4, _ => 0 };
        for (int k = 0; k < whole.L3Length; k++)
        {
            var cut = frame.AsSpan(0, l3 + k).ToArray();
            if (whole.IpVersion == 4 && k >= 20)
            {
                BinaryPrimitives.WriteUInt16BigEndian(cut.AsSpan(l3 + 2), (ushort)k);
                FixIpv4Checksum(cut.AsSpan(l3));
            }
            else if (whole.IpVersion == 6 && k >= 40)
            {
                BinaryPrimitives.WriteUInt16BigEndian(cut.AsSpan(l3 + 4), (ushort)(k - 40));
            }

            DropReason r = Parse(cut, out _);
            DropReason expected =
                k < l4 ? (whole.IpVersion == 4 && k >= 20 ? DropReason.MalformedHeader : DropReason.Truncated) // IPv4: total length < IHL
                : k < l4 + needed && !whole.IsFragment ? DropReason.Truncated
                : k < l4 + needed && whole.IpVersion == 6 ? DropReason.MalformedHeader // RFC 7112: an IPv6 first fragment holds it all
                : DropReason.None;
            Assert.That(r, Is.EqualTo(expected), $"IP packet cut to {k} bytes (transport at {l4}, needs {needed})");
        }
    }

    [Test]
    public void Ipv6_first_fragment_cut_inside_the_transport_header_is_malformed()
    {
        // RFC 7112: an IPv6 first fragment carries the whole header chain through the
        // upper-layer header; one that stops inside it could hide its ports from ACLs.
        var f = Ipv6Chain(6);
        foreach (int transportBytes in new[] { 3, 10 })
        {
            var cut = f.AsSpan(0, 14 + 64 + transportBytes).ToArray();
            BinaryPrimitives.WriteUInt16BigEndian(cut.AsSpan(18), (ushort)(24 + transportBytes));
            Assert.That(Parse(cut, out _), Is.EqualTo(DropReason.MalformedHeader), $"{transportBytes} TCP bytes");
        }
    }

    [TestCase(0x55, "version 5")]
    [TestCase(0x65, "version 6 under EtherType 0x0800")]
    [TestCase(0x44, "IHL 4")]
    [TestCase(0x40, "IHL 0")]
    public void Ipv4_bad_version_or_ihl_is_malformed(int versionIhl, string what)
    {
        var f = Ipv4UdpFromHex();
        f[14] = (byte)versionIhl;
        FixIpv4Checksum(f.AsSpan(14));
        Assert.That(Parse(f, out _), Is.EqualTo(DropReason.MalformedHeader), what);
    }

    [TestCase(0, 0)]
    [TestCase(0, 19)]
    [TestCase(4, 23)]
    [TestCase(40, 59)]
    public void Ipv4_total_length_below_ihl_is_malformed(int optionBytes, int totalLength)
    {
        var f = Concat(Eth(DstMac, SrcMac, 0x0800), Ipv4Of("10.0.0.1", "10.0.0.2", 17, UdpOf(1, 2, new byte[8]), options: new byte[optionBytes]));
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), (ushort)totalLength);
        FixIpv4Checksum(f.AsSpan(14));
        Assert.That(Parse(f, out _), Is.EqualTo(DropReason.MalformedHeader));
    }

    [TestCase(10)]
    [TestCase(11)]
    [TestCase(0)]
    [TestCase(19)]
    public void Ipv4_bad_header_checksum_is_malformed(int byteToFlip)
    {
        var f = Ipv4UdpFromHex();
        f[14 + byteToFlip] ^= 0x01;
        Assert.That(Parse(f, out _), Is.EqualTo(DropReason.MalformedHeader));
    }

    [Test]
    public void Ipv4_bad_checksum_in_the_options_is_malformed()
    {
        var f = VlanIpv4OptionsTcp();
        f[18 + 22] ^= 0x80; // inside the option, covered by the header checksum
        Assert.That(Parse(f, out _), Is.EqualTo(DropReason.MalformedHeader));
    }

    [Test]
    public void Ipv4_total_length_beyond_the_frame_is_truncated()
    {
        var f = Ipv4UdpFromHex();
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), 0x74);
        FixIpv4Checksum(f.AsSpan(14));
        Assert.That(Parse(f, out _), Is.EqualTo(DropReason.Truncated));
    }

    [TestCase(0x40)]
    [TestCase(0x00)]
    [TestCase(0xF0)]
    public void Ipv6_bad_version_is_malformed(int firstByte)
    {
        var f = Ipv6Chain(17);
        f[14] = (byte)firstByte;
        Assert.That(Parse(f, out _), Is.EqualTo(DropReason.MalformedHeader));
    }

    [Test]
    public void Ipv6_payload_length_beyond_the_frame_is_truncated()
    {
        var f = Ipv6Chain(17);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(18), (ushort)(f.Length - 14 - 40 + 1));
        Assert.That(Parse(f, out _), Is.EqualTo(DropReason.Truncated));
    }

    [TestCase(1, "hop-by-hop claims 16 bytes")]
    [TestCase(255, "hop-by-hop claims 2048 bytes")]
    public void Ipv6_hop_by_hop_running_past_the_packet_is_truncated(int hdrExtLen, string what)
    {
        var f = Ipv6ChainNoFragment();
        f[14 + 40 + 1] = (byte)hdrExtLen;
        // Keep the packet short of the claimed chain: only the two 8-byte headers + 4 bytes.
        var cut = f.AsSpan(0, 14 + 40 + 16 + 4).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(cut.AsSpan(18), 20);
        Assert.That(Parse(cut, out _), Is.EqualTo(DropReason.Truncated), what);
    }

    [Test]
    public void Ipv6_destination_options_running_past_the_packet_is_truncated()
    {
        var f = Ipv6Chain(17);
        f[14 + 40 + 8 + 1] = 5; // destination options now claims 48 bytes; the packet holds 40 after it
        Assert.That(Parse(f, out _), Is.EqualTo(DropReason.Truncated));
    }

    [Test]
    public void Ipv6_chain_naming_a_missing_extension_header_is_truncated()
    {
        // Hop-by-hop says "destination options follow", but the payload ends with it.
        var f = Concat(Eth(DstMac, SrcMac, 0x86DD), Ipv6Of("2001:db8::1", "2001:db8::2", 0, Hex("3C00 0104 00000000")));
        Assert.That(Parse(f, out _), Is.EqualTo(DropReason.Truncated));
        // ... or with only 4 of its 8 bytes.
        var g = Concat(Eth(DstMac, SrcMac, 0x86DD), Ipv6Of("2001:db8::1", "2001:db8::2", 0, Hex("3C00 0104 00000000 11000000")));
        Assert.That(Parse(g, out _), Is.EqualTo(DropReason.Truncated));
    }

    [Test]
    public void Ipv6_fragment_header_running_past_the_packet_is_truncated()
    {
        var f = Concat(Eth(DstMac, SrcMac, 0x86DD), Ipv6Of("2001:db8::1", "2001:db8::2", 44, Hex("1100 0000 1234")));
        Assert.That(Parse(f, out _), Is.EqualTo(DropReason.Truncated));
    }

    [Test]
    public void Unknown_ethertype_is_unsupported()
    {
        var f = Concat(Eth(DstMac, SrcMac, 0x88B5), new byte[46]);
        Assert.That(Parse(f, out _), Is.EqualTo(DropReason.UnsupportedEthertype));
    }

    [Test]
    public void Random_bytes_never_throw()
    {
        var rng = new Random(1071);
        var buf = new byte[160];
        for (int i = 0; i < 200_000; i++)
        {
            rng.NextBytes(buf);
            int n = rng.Next(buf.Length + 1);
            // Bias toward the interesting EtherTypes and IP versions.
            if (n >= 15)
            {
                ushort type = (rng.Next(4)) switch { 0 => 0x0800, 1 => 0x86DD, 2 => 0x8100, _ => BinaryPrimitives.ReadUInt16BigEndian(buf.AsSpan(12)) };
                BinaryPrimitives.WriteUInt16BigEndian(buf.AsSpan(12), type);
                buf[14] = (byte)((type == 0x86DD ? 0x60 : 0x40) | (buf[14] & 0x0F));
            }

            var info = default(PacketInfo);
            var span = buf.AsSpan(0, n);
            DropReason r = PacketParser.ParseEthernet(span, ref info);
            if (r == DropReason.None)
            {
                r = PacketParser.ParseIp(span, ref info);
            }

            if (r == DropReason.None)
            {
                Assert.That(info.L4Offset, Is.LessThanOrEqualTo(info.IpFrameEnd), "transport offset inside the packet");
                Assert.That(info.IpFrameEnd, Is.LessThanOrEqualTo(n), "IP packet inside the frame");
            }
        }
    }

    /// <summary>ARP is checked where it is used (docs/FORWARDING.md 1.2, 2.2): every cut ARP request is Truncated on both port kinds.</summary>
    [TestCase("red1")]
    [TestCase("pnic0")]
    public void Every_prefix_of_an_arp_request_is_a_truncated_drop(string port)
    {
        var config = ConfigLoader.LoadFile(Path.Combine(TestPaths.Captures, "overlapping-tenants", "config.json")).Config!;
        var h = new ForwarderHarness(config);
        string src = port == "red1" ? "00-15-5D-00-00-01" : "02-00-00-00-01-0B";
        string dst = port == "red1" ? "FF-FF-FF-FF-FF-FF" : "02-00-00-00-01-0A";
        string target = port == "red1" ? "10.1.1.8" : "192.168.1.10";
        string spa = port == "red1" ? "10.1.1.7" : "192.168.1.11";
        var f = Concat(Eth(dst, src, 0x0806), ArpOf(1, src, spa, "00-00-00-00-00-00", target));
        Assert.That(h.Send(port, f), Has.Count.EqualTo(1), "the whole request is answered");
        for (int n = 0; n < f.Length; n++)
        {
            long before = h.Forwarder.Counters.Drop(DropReason.Truncated);
            Assert.That(h.Send(port, f.AsSpan(0, n)), Is.Empty, $"prefix {n}");
            Assert.That(h.Forwarder.Counters.Drop(DropReason.Truncated), Is.EqualTo(before + 1), $"prefix {n}");
        }

        var bad = (byte[])f.Clone();
        bad[14 + 4] = 8; // hlen 8
        h.Send(port, bad);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.MalformedHeader), Is.EqualTo(1), "hlen not 6");
    }
}

/// <summary>Each header type's size and offsets, against the RFC diagrams.</summary>
public class HeaderSizeTests
{
    public static IEnumerable<TestCaseData> Sizes()
    {
        yield return new TestCaseData(Ethernet.HeaderSize, 14).SetArgDisplayNames("Ethernet.HeaderSize");
        yield return new TestCaseData(Ethernet.VlanTagSize, 4).SetArgDisplayNames("Ethernet.VlanTagSize");
        yield return new TestCaseData(Ethernet.TypeOffset, 12).SetArgDisplayNames("Ethernet.TypeOffset");
        yield return new TestCaseData(MacAddress.Size, 6).SetArgDisplayNames("MacAddress.Size");
        yield return new TestCaseData(Arp.Size, 28).SetArgDisplayNames("Arp.Size");
        yield return new TestCaseData(Arp.TargetIpOffset + 4, Arp.Size).SetArgDisplayNames("Arp.TargetIpOffset ends the body");
        yield return new TestCaseData(Ipv4.MinHeaderSize, 20).SetArgDisplayNames("Ipv4.MinHeaderSize");
        yield return new TestCaseData(Ipv4.ChecksumOffset, 10).SetArgDisplayNames("Ipv4.ChecksumOffset");
        yield return new TestCaseData(Ipv4.DestinationOffset + 4, Ipv4.MinHeaderSize).SetArgDisplayNames("Ipv4.DestinationOffset ends the header");
        yield return new TestCaseData(Ipv6.HeaderSize, 40).SetArgDisplayNames("Ipv6.HeaderSize");
        yield return new TestCaseData(Ipv6.DestinationOffset + 16, Ipv6.HeaderSize).SetArgDisplayNames("Ipv6.DestinationOffset ends the header");
        yield return new TestCaseData(Ipv6.FragmentHeaderSize, 8).SetArgDisplayNames("Ipv6.FragmentHeaderSize");
        yield return new TestCaseData(Tcp.MinHeaderSize, 20).SetArgDisplayNames("Tcp.MinHeaderSize");
        yield return new TestCaseData(Tcp.ChecksumOffset, 16).SetArgDisplayNames("Tcp.ChecksumOffset");
        yield return new TestCaseData(Udp.HeaderSize, 8).SetArgDisplayNames("Udp.HeaderSize");
        yield return new TestCaseData(Udp.ChecksumOffset, 6).SetArgDisplayNames("Udp.ChecksumOffset");
        yield return new TestCaseData(Icmp.HeaderSize, 8).SetArgDisplayNames("Icmp.HeaderSize");
        yield return new TestCaseData(Icmp.NeighborMessageSize, 24).SetArgDisplayNames("Icmp.NeighborMessageSize");
        yield return new TestCaseData(Gre.BaseSize, 4).SetArgDisplayNames("Gre.BaseSize");
        yield return new TestCaseData(Gre.NvgreSize, 8).SetArgDisplayNames("Gre.NvgreSize");
        yield return new TestCaseData(Gre.KeyOffset + 4, Gre.NvgreSize).SetArgDisplayNames("Gre.KeyOffset ends the header");
        yield return new TestCaseData(PacketBuffer.Headroom >= 14 + 4 + 40 + 8, true).SetArgDisplayNames("Headroom fits Ethernet+VLAN+IPv6+GRE");
    }

    [TestCaseSource(nameof(Sizes))]
    public void Size_matches_the_rfc(object actual, object expected) => Assert.That(actual, Is.EqualTo(expected));
}

/// <summary>RFC 1071 and RFC 1624 against <see cref="Checksum"/>.</summary>
public class ChecksumTests
{
    [Test]
    public void Rfc1071_example_sums_to_ddf2()
    {
        // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7, one's-complement sum 0xDDF2.
        byte[] data = Hex("0001 f203 f4f5 f6f7");
        Assert.That(Checksum.Fold(Checksum.Sum(data)), Is.EqualTo(0xDDF2));
        Assert.That(Checksum.Compute(data), Is.EqualTo(0x220D));
    }

    [Test]
    public void Known_ipv4_header_checksum_is_b861_and_verifies_to_zero()
    {
        byte[] header = Hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
        Assert.That(Checksum.Compute(header), Is.EqualTo(0));
        header[10] = 0;
        header[11] = 0;
        Assert.That(Checksum.Compute(header), Is.EqualTo(0xB861));
    }

    [Test]
    public void Compute_matches_the_reference_for_every_length_and_alignment()
    {
        var rng = new Random(1624);
        var data = new byte[300];
        for (int round = 0; round < 50; round++)
        {
            rng.NextBytes(data);
            for (int n = 0; n <= 70; n++)
            {
                Assert.That(Checksum.Compute(data.AsSpan(0, n)), Is.EqualTo(ReferenceChecksum(data.AsSpan(0, n))), $"length {n}");
            }

            int big = rng.Next(71, data.Length);
            Assert.That(Checksum.Compute(data.AsSpan(0, big)), Is.EqualTo(ReferenceChecksum(data.AsSpan(0, big))), $"length {big}");
        }

        var ones = Enumerable.Repeat((byte)0xFF, 4096).ToArray();
        Assert.That(Checksum.Compute(ones), Is.EqualTo(ReferenceChecksum(ones)), "many carries");
        Assert.That(Checksum.Compute([]), Is.EqualTo(0xFFFF), "empty data");
    }

    /// <summary>
    /// RFC 1624: after changing one 16-bit word, the incremental update equals a full recompute.
    /// Word 0 stays 0x4500 (as the IPv4 version/IHL word would): the only data on which eqn. 3
    /// differs from a full recompute is all-zero data, which no IP header or pseudo-header is.
    /// </summary>
    [Test]
    public void Rfc1624_incremental_update_equals_full_recompute()
    {
        var rng = new Random(42);
        for (int round = 0; round < 20_000; round++)
        {
            int words = rng.Next(3, 40);
            var data = new byte[words * 2];
            rng.NextBytes(data);
            if (round % 3 == 0)
            {
                Array.Clear(data); // sparse data: the sums hit 0x0000 / 0xFFFF often
            }

            BinaryPrimitives.WriteUInt16BigEndian(data, 0x4500);
            int field = 2 * rng.Next(1, words);
            int word;
            do
            {
                word = 2 * rng.Next(1, words);
            }
            while (word == field);

            StoreFull(data, field);
            ushort old = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(word));
            ushort next = (rng.Next(4)) switch { 0 => 0x0000, 1 => 0xFFFF, _ => (ushort)rng.Next(0x10000) };
            BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(word), next);
            Checksum.Update16(data.AsSpan(field), old, next);
            ushort incremental = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(field));
            StoreFull(data, field);
            Assert.That(incremental, Is.EqualTo(BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(field))),
                $"round {round}: word {word / 2} {old:X4} → {next:X4}");
        }
    }

    [Test]
    public void Rfc1624_update_of_a_32_bit_address_equals_full_recompute()
    {
        var rng = new Random(7);
        for (int round = 0; round < 5_000; round++)
        {
            var header = new byte[20];
            rng.NextBytes(header);
            header[0] = 0x45;
            StoreFull(header, 10);
            uint old = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
            uint next = round % 5 == 0 ? 0xFFFF_0000u : round % 5 == 1 ? 0u : (uint)rng.NextInt64(1L << 32);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(12), next);
            Checksum.Update(header.AsSpan(10), (old >> 16) + (old & 0xFFFF), (next >> 16) + (next & 0xFFFF));
            Assert.That(TestFrames.ReferenceChecksum(header), Is.EqualTo(0), $"round {round}: header verifies");
        }
    }

    [Test]
    public void Rfc1624_edges_around_0x0000_and_0xFFFF()
    {
        // Data whose checksum becomes 0x0000 (sum 0xFFFF): 0x1234 + 0xEDCB = 0xFFFF.
        var d = Hex("1234 0001 0000");
        StoreFull(d, 4);
        Checksum.Update16(d.AsSpan(4), 0x0001, 0xEDCB);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(2), 0xEDCB);
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(4)), Is.EqualTo(0x0000), "into a 0x0000 checksum");
        Assert.That(ReferenceChecksum(d), Is.EqualTo(0));

        // ... and back out of it.
        Checksum.Update16(d.AsSpan(4), 0xEDCB, 0x0001);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(2), 0x0001);
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(4)), Is.EqualTo(ReferenceChecksum(Hex("1234 0001 0000"))), "out of 0x0000");

        // 0x0000 and 0xFFFF are both one's-complement zero: swapping one for the other keeps the checksum.
        var e = Hex("1234 0000 0000");
        StoreFull(e, 4);
        ushort before = BinaryPrimitives.ReadUInt16BigEndian(e.AsSpan(4));
        Checksum.Update16(e.AsSpan(4), 0x0000, 0xFFFF);
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(e.AsSpan(4)), Is.EqualTo(before), "0x0000 → 0xFFFF");
        Checksum.Update16(e.AsSpan(4), 0xFFFF, 0x0000);
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(e.AsSpan(4)), Is.EqualTo(before), "0xFFFF → 0x0000");
    }

    private static void StoreFull(byte[] data, int field)
    {
        data[field] = 0;
        data[field + 1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(field), ReferenceChecksum(data));
    }
}
