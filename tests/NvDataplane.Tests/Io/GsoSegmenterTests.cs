using System.Buffers.Binary;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Io;

/// <summary>
/// What a local kernel hands an AF_PACKET socket unsegmented (TSO/USO through a veth) is cut
/// into the frames a NIC would have sent: checked field by field against the layouts, with
/// checksums from the test's own reference sum, and the payload put back together.
/// </summary>
public class GsoSegmenterTests
{
    private const byte Fin = 0x01, Psh = 0x08, Ack = 0x10, Cwr = 0x80;

    [Test]
    public void A_tcp_over_ipv4_frame_is_cut_at_the_segment_size_with_lengths_ids_sequence_numbers_flags_and_checksums_of_its_own()
    {
        var payload = Payload(4000);
        var tcp = Tcp(seq: 0xFFFFF000, flags: Cwr | Psh | Ack | Fin, options: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], payload); // the sequence number wraps
        var frame = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 6, tcp, id: 0x1234));

        var segments = Cut(frame, GsoSegmenter.GsoTcpV4, 1448);

        Assert.That(segments.Select(s => s.Length), Is.EqualTo(new[] { 14 + 20 + 32 + 1448, 14 + 20 + 32 + 1448, 14 + 20 + 32 + 1104 }));
        for (int i = 0; i < segments.Count; i++)
        {
            var ip = segments[i].AsSpan(14);
            var l4 = ip[20..];
            Assert.That(BinaryPrimitives.ReadUInt16BigEndian(ip[2..]), Is.EqualTo(segments[i].Length - 14), $"segment {i}: IPv4 total length");
            Assert.That(BinaryPrimitives.ReadUInt16BigEndian(ip[4..]), Is.EqualTo(0x1234 + i), $"segment {i}: identification");
            Assert.That(ReferenceChecksum(ip[..20]), Is.Zero, $"segment {i}: IPv4 header checksum");
            Assert.That(BinaryPrimitives.ReadUInt32BigEndian(l4[4..]), Is.EqualTo(unchecked(0xFFFFF000u + (uint)(i * 1448))), $"segment {i}: sequence number");
            Assert.That(ReferenceChecksum(l4, PseudoHeader(ip[12..16], ip[16..20], 6, l4.Length)), Is.Zero, $"segment {i}: TCP checksum");
            Assert.That(l4[20..32].ToArray(), Is.EqualTo(tcp[20..32]), $"segment {i}: options kept");
        }

        Assert.That(segments.Select(s => s[14 + 20 + 13]), Is.EqualTo(new[] { Cwr | Ack, Ack, Psh | Ack | Fin }), "CWR on the first only, PSH and FIN on the last only");
        Assert.That(segments.SelectMany(s => s[(14 + 20 + 32)..]), Is.EqualTo(payload), "the payload, in order, once");
    }

    [Test]
    public void A_tcp_over_ipv6_frame_behind_a_vlan_tag_is_cut_with_payload_lengths_and_checksums_of_its_own()
    {
        var payload = Payload(3000);
        var tcp = Tcp(seq: 7, flags: Psh | Ack, options: [], payload);
        byte[] tag = [0x00, 0x64, 0x86, 0xDD]; // VID 100, then IPv6
        var frame = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x8100), tag, Ipv6Of("fd00::7", "fd00::8", 6, tcp));

        var segments = Cut(frame, GsoSegmenter.GsoTcpV6, 1400);

        Assert.That(segments.Select(s => s.Length), Is.EqualTo(new[] { 18 + 40 + 20 + 1400, 18 + 40 + 20 + 1400, 18 + 40 + 20 + 200 }));
        for (int i = 0; i < segments.Count; i++)
        {
            var ip = segments[i].AsSpan(18);
            var l4 = ip[40..];
            Assert.That(segments[i][..18], Is.EqualTo(frame[..18]), $"segment {i}: Ethernet header and tag");
            Assert.That(BinaryPrimitives.ReadUInt16BigEndian(ip[4..]), Is.EqualTo(l4.Length), $"segment {i}: IPv6 payload length");
            Assert.That(BinaryPrimitives.ReadUInt32BigEndian(l4[4..]), Is.EqualTo(7u + (uint)(i * 1400)), $"segment {i}: sequence number");
            Assert.That(ReferenceChecksum(l4, PseudoHeader(ip[8..24], ip[24..40], 6, l4.Length)), Is.Zero, $"segment {i}: TCP checksum");
        }

        Assert.That(segments.Select(s => s[18 + 40 + 13]), Is.EqualTo(new[] { Ack, Ack, Psh | Ack }));
        Assert.That(segments.SelectMany(s => s[(18 + 40 + 20)..]), Is.EqualTo(payload));
    }

    [Test]
    public void A_udp_segmentation_frame_becomes_datagrams_of_the_segment_size_each_with_its_length_and_checksum()
    {
        var payload = Payload(2500);
        var udp = new byte[8 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(udp, 4433);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), 443);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        payload.CopyTo(udp, 8);
        var frame = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 17, udp, id: 9));

        var segments = Cut(frame, GsoSegmenter.GsoUdpL4, 1200);

        Assert.That(segments.Select(s => s.Length), Is.EqualTo(new[] { 14 + 20 + 8 + 1200, 14 + 20 + 8 + 1200, 14 + 20 + 8 + 100 }));
        foreach (var s in segments)
        {
            var ip = s.AsSpan(14);
            var l4 = ip[20..];
            Assert.That(BinaryPrimitives.ReadUInt16BigEndian(l4[4..]), Is.EqualTo(l4.Length), "UDP length");
            Assert.That(ReferenceChecksum(ip[..20]), Is.Zero, "IPv4 header checksum");
            Assert.That(ReferenceChecksum(l4, PseudoHeader(ip[12..16], ip[16..20], 17, l4.Length)), Is.Zero, "UDP checksum");
        }

        Assert.That(segments.SelectMany(s => s[(14 + 20 + 8)..]), Is.EqualTo(payload));
    }

    [Test]
    public void Frames_nothing_here_can_cut_are_refused()
    {
        var tcp = Tcp(seq: 1, flags: Ack, options: [], Payload(3000));
        var v4 = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 6, tcp));
        var udp = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 17, new byte[3008]));
        var shortOffset = tcp.ToArray();
        shortOffset[12] = 0x40; // data offset 4: 16 bytes, less than a TCP header
        var badTcp = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 6, shortOffset));
        Assert.Multiple(() =>
        {
            Assert.That(GsoSegmenter.TryPlan(v4, GsoSegmenter.GsoTcpV6, 1448, out _), Is.False, "TCPv6 asked of an IPv4 frame");
            Assert.That(GsoSegmenter.TryPlan(udp, GsoSegmenter.GsoUdp, 1448, out _), Is.False, "UDP fragmentation offload");
            Assert.That(GsoSegmenter.TryPlan(udp, GsoSegmenter.GsoTcpV4, 1448, out _), Is.False, "TCP asked of a UDP frame");
            Assert.That(GsoSegmenter.TryPlan(v4, GsoSegmenter.GsoTcpV4, 0, out _), Is.False, "no segment size");
            Assert.That(GsoSegmenter.TryPlan(v4.AsSpan(0, 1000), GsoSegmenter.GsoTcpV4, 1448, out _), Is.False, "cut short of its IP length");
            Assert.That(GsoSegmenter.TryPlan(badTcp, GsoSegmenter.GsoTcpV4, 1448, out _), Is.False, "a TCP data offset short of the header");
            Assert.That(GsoSegmenter.TryPlan(v4, GsoSegmenter.GsoTcpV4 | GsoSegmenter.GsoEcn, 1448, out var plan), Is.True, "ECN rides along");
            Assert.That(plan.Segments, Is.EqualTo(3));
        });
    }

    private static List<byte[]> Cut(byte[] frame, byte gsoType, int gsoSize)
    {
        Assert.That(GsoSegmenter.TryPlan(frame, gsoType, gsoSize, out var plan), Is.True, "the frame is one to cut");
        var pool = new BufferPool(plan.Segments);
        var segments = new List<byte[]>();
        for (int i = 0; i < plan.Segments; i++)
        {
            var buffer = pool.Rent()!;
            Assert.That(GsoSegmenter.WriteSegment(frame, plan, i, buffer), Is.True);
            segments.Add(buffer.Frame.ToArray());
        }

        return segments;
    }

    private static byte[] Tcp(uint seq, int flags, byte[] options, byte[] payload)
    {
        var b = new byte[20 + options.Length + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(b, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), 5001);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), seq);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), 99);
        b[12] = (byte)((20 + options.Length) / 4 << 4);
        b[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(14), 65535);
        options.CopyTo(b, 20);
        payload.CopyTo(b, 20 + options.Length);
        return b;
    }

    private static byte[] Payload(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray();

    /// <summary>The pseudo-header sum RFC 793 / RFC 8200 put ahead of a TCP or UDP checksum.</summary>
    private static uint PseudoHeader(ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, byte protocol, int length)
    {
        uint sum = 0;
        for (int i = 0; i < source.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(source[i..]) + (uint)BinaryPrimitives.ReadUInt16BigEndian(destination[i..]);
        }

        return sum + protocol + (uint)(length >> 16) + (uint)(length & 0xFFFF);
    }
}
