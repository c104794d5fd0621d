using System.Buffers.Binary;
using NvDataplane.Io;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Io;

/// <summary>
/// Finishing a TCP/UDP checksum left to offload: the result must verify with the reference RFC
/// 1071 sum over the pseudo-header, and frames it cannot judge are left exactly as they were.
/// </summary>
public class OffloadedChecksumTests
{
    private static uint Pseudo(byte[] src, byte[] dst, byte protocol, int length)
    {
        var p = new byte[src.Length * 2 + (src.Length == 4 ? 4 : 8)];
        src.CopyTo(p, 0);
        dst.CopyTo(p, src.Length);
        if (src.Length == 4)
        {
            p[9] = protocol;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(10), (ushort)length);
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(32), (uint)length);
            p[39] = protocol;
        }

        return (uint)(~ReferenceChecksum(p) & 0xFFFF);
    }

    [TestCase(false, TestName = "TCP over IPv4")]
    [TestCase(true, TestName = "TCP over IPv4 behind an 802.1Q tag")]
    public void A_tcp_checksum_holding_only_the_pseudo_header_sum_is_finished(bool tagged)
    {
        byte[] tcp = TcpOf(40000, 80, Enumerable.Range(0, 37).Select(i => (byte)i).ToArray());
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(16), 0x1234); // what offload leaves: not the real sum
        byte[] ip = Ipv4Of("10.1.1.7", "10.1.1.8", 6, tcp);
        byte[] frame = tagged
            ? Concat(Hex("00155d000002 00155d000001 8100 0064 0800"), ip)
            : Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0800), ip);

        Assert.That(OffloadedChecksum.Complete(frame), Is.True);
        int l4 = frame.Length - tcp.Length;
        Assert.That(ReferenceChecksum(frame.AsSpan(l4), Pseudo(Addr("10.1.1.7"), Addr("10.1.1.8"), 6, tcp.Length)), Is.Zero);
        Assert.That(frame.AsSpan(l4 + 18).ToArray(), Is.EqualTo(tcp.AsSpan(18).ToArray()), "nothing but the checksum changed");
    }

    [Test]
    public void A_udp_checksum_over_ipv6_is_finished()
    {
        byte[] udp = UdpOf(5353, 9, new byte[21]);
        byte[] frame = Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x86DD), Ipv6Of("2001:db8:1::7", "2001:db8:1::8", 17, udp));
        Assert.That(OffloadedChecksum.Complete(frame), Is.True);
        Assert.That(ReferenceChecksum(frame.AsSpan(54), Pseudo(Addr("2001:db8:1::7"), Addr("2001:db8:1::8"), 17, udp.Length)), Is.Zero);
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(54 + 6)), Is.Not.Zero, "a UDP checksum is never left zero");
    }

    [Test]
    public void Frames_it_cannot_judge_are_left_as_they_are()
    {
        byte[][] frames =
        [
            Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0806), new byte[28]),
            Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 1, IcmpEcho(8, 1, 1, new byte[8]))),
            Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 6, new byte[24], flagsFragment: 0x2000)),
            Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 6, new byte[10])),
            new byte[10],
        ];
        foreach (var f in frames)
        {
            byte[] before = (byte[])f.Clone();
            Assert.That(OffloadedChecksum.Complete(f), Is.False);
            Assert.That(f, Is.EqualTo(before));
        }
    }
}
