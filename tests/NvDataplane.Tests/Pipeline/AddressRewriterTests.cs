using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Rewrite;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// IP rewrite's checksums where the transport header is cut or special: a TCP checksum that
/// travels in a later fragment, and a zero UDP checksum over IPv6. Expected sums come from
/// <see cref="ReferenceChecksum"/> over the reassembled segment, not from the rewriter's arithmetic.
/// </summary>
public class AddressRewriterTests
{
    private const string CaA = "10.1.1.7", CaB = "10.1.1.8", PaA = "192.168.1.20", PaB = "192.168.1.21";
    private const string CaA6 = "fd00::7", CaB6 = "fd00::8", PaA6 = "2001:db8::20", PaB6 = "2001:db8::21";

    /// <summary>The pseudo-header sum (not complemented) of RFC 793 / RFC 8200 8.1 for <paramref name="protocol"/>.</summary>
    private static uint PseudoSum(string src, string dst, byte protocol, int length)
    {
        byte[] s = Addr(src), d = Addr(dst);
        byte[] pseudo = s.Length == 4
            ? Concat(s, d, [0, protocol, (byte)(length >> 8), (byte)length])
            : Concat(s, d, [0, 0, (byte)(length >> 8), (byte)length, 0, 0, 0, protocol]);
        return (ushort)~ReferenceChecksum(pseudo);
    }

    private static byte[] TcpSegment(string src, string dst)
    {
        byte[] tcp = TcpOf(40000, 443, Enumerable.Range(0, 40).Select(i => (byte)(i * 7)).ToArray());
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(16), ReferenceChecksum(tcp, PseudoSum(src, dst, 6, tcp.Length)));
        return tcp;
    }

    /// <summary>Parses the IP packet behind a dummy Ethernet header, rewrites it and returns the rewritten IP packet.</summary>
    private static byte[] Rewrite(byte[] ip, bool v4, string newSrc, string newDst)
    {
        byte[] frame = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", v4 ? (ushort)0x0800 : (ushort)0x86DD), ip);
        PacketInfo info = default;
        Assert.That(PacketParser.ParseEthernet(frame, ref info), Is.EqualTo(DropReason.None));
        Assert.That(PacketParser.ParseIp(frame, ref info), Is.EqualTo(DropReason.None));
        AddressRewriter.Rewrite(frame, ref info, IpAddr.Parse(newSrc), IpAddr.Parse(newDst));
        return frame[14..];
    }

    [TestCase(8)]
    [TestCase(16)]
    public void A_tcp_checksum_left_to_a_later_ipv4_fragment_is_patched_there(int firstBytes)
    {
        // RFC 1858's tiny first fragment: the checksum (bytes 16-17) is in the second fragment.
        byte[] tcp = TcpSegment(CaA, CaB);
        byte[] first = Ipv4Of(CaA, CaB, 6, tcp[..firstBytes], flagsFragment: 0x2000, id: 9);
        byte[] second = Ipv4Of(CaA, CaB, 6, tcp[firstBytes..], flagsFragment: (ushort)(firstBytes / 8), id: 9);

        byte[] a = Rewrite(first, v4: true, PaA, PaB);
        byte[] b = Rewrite(second, v4: true, PaA, PaB);

        byte[] reassembled = Concat(a[20..], b[20..]);
        Assert.That(ReferenceChecksum(reassembled, PseudoSum(PaA, PaB, 6, reassembled.Length)), Is.Zero, "TCP checksum valid between the PAs");
        Assert.That(ReferenceChecksum(a.AsSpan(0, 20)), Is.Zero, "first header");
        Assert.That(ReferenceChecksum(b.AsSpan(0, 20)), Is.Zero, "second header");
    }

    [Test]
    public void An_ipv6_first_fragment_short_of_its_tcp_header_is_refused_before_any_rewrite()
    {
        // IPv6 has no tiny fragments to patch: RFC 7112 wants the whole header chain through
        // the upper-layer header in the first fragment, and the parser refuses one without it.
        byte[] tcp = TcpSegment(CaA6, CaB6);
        byte[] fragmentHeader = [6, 0, 0, 1, 0, 0, 0, 9]; // offset 0, more fragments
        byte[] frame = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x86DD), Ipv6Of(CaA6, CaB6, 44, Concat(fragmentHeader, tcp[..8])));
        PacketInfo info = default;
        Assert.That(PacketParser.ParseEthernet(frame, ref info), Is.EqualTo(DropReason.None));
        Assert.That(PacketParser.ParseIp(frame, ref info), Is.EqualTo(DropReason.MalformedHeader));
    }

    [Test]
    public void A_whole_first_fragment_keeps_the_later_ones_untouched()
    {
        byte[] tcp = TcpSegment(CaA, CaB);
        byte[] first = Ipv4Of(CaA, CaB, 6, tcp[..24], flagsFragment: 0x2000, id: 9);
        byte[] second = Ipv4Of(CaA, CaB, 6, tcp[24..], flagsFragment: 3, id: 9);

        byte[] a = Rewrite(first, v4: true, PaA, PaB);
        byte[] b = Rewrite(second, v4: true, PaA, PaB);

        Assert.That(b[20..], Is.EqualTo(tcp[24..]), "no checksum in the second fragment: its bytes stay as sent");
        byte[] reassembled = Concat(a[20..], b[20..]);
        Assert.That(ReferenceChecksum(reassembled, PseudoSum(PaA, PaB, 6, reassembled.Length)), Is.Zero);
    }

    [Test]
    public void A_zero_udp_checksum_over_ipv6_stays_zero()
    {
        // Only tunnels may send it (RFC 6935); an incremental update of zero would be wrong either way.
        byte[] udp = UdpOf(4000, 4789, new byte[12]);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(6), 0);
        byte[] rewritten = Rewrite(Ipv6Of(CaA6, CaB6, 17, udp), v4: false, PaA6, PaB6);
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(rewritten.AsSpan(40 + 6)), Is.Zero);

        byte[] summed = UdpOf(4000, 4789, new byte[12]);
        BinaryPrimitives.WriteUInt16BigEndian(summed.AsSpan(6), ReferenceChecksum(summed, PseudoSum(CaA6, CaB6, 17, summed.Length)));
        byte[] updated = Rewrite(Ipv6Of(CaA6, CaB6, 17, summed), v4: false, PaA6, PaB6);
        Assert.That(ReferenceChecksum(updated.AsSpan(40), PseudoSum(PaA6, PaB6, 17, summed.Length)), Is.Zero, "a real one is updated");
    }
    /// <summary>
    /// UDP-Lite (136, checksum coverage 8: the header alone) and DCCP (33, a 16-byte generic
    /// header with X=1, then data): both checksums cover the pseudo-header, so both change with
    /// the addresses. The pseudo-header length is the whole transport segment for both.
    /// </summary>
    [TestCase(136, false)]
    [TestCase(136, true)]
    [TestCase(33, false)]
    [TestCase(33, true)]
    public void Udp_lite_and_dccp_checksums_are_patched_with_the_addresses(int protocol, bool v6)
    {
        string a = v6 ? CaA6 : CaA, b = v6 ? CaB6 : CaB, pa = v6 ? PaA6 : PaA, pb = v6 ? PaB6 : PaB;
        byte[] segment = new byte[16 + 24];
        BinaryPrimitives.WriteUInt16BigEndian(segment, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), 5004);
        for (int i = 16; i < segment.Length; i++)
        {
            segment[i] = (byte)(i * 5);
        }

        int covered = segment.Length;
        if (protocol == 136)
        {
            BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(4), 8); // checksum coverage: the header only
            covered = 8;
        }
        else
        {
            segment[4] = 4; // data offset: 4 words
            segment[8] = (byte)(2 << 1 | 1); // type 2 (Data), X = 1: 48-bit sequence numbers
        }

        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(6), ReferenceChecksum(segment.AsSpan(0, covered), PseudoSum(a, b, (byte)protocol, segment.Length)));
        byte[] packet = v6 ? Ipv6Of(a, b, (byte)protocol, segment) : Ipv4Of(a, b, (byte)protocol, segment);
        byte[] rewritten = Rewrite(packet, v4: !v6, pa, pb);

        byte[] l4 = rewritten[(v6 ? 40 : 20)..];
        Assert.That(ReferenceChecksum(l4.AsSpan(0, covered), PseudoSum(pa, pb, (byte)protocol, l4.Length)), Is.Zero, "checksum valid between the PAs");
        Assert.That(l4[8..], Is.EqualTo(segment[8..]), "nothing else changed");
    }
}
