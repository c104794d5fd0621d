using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NvDataplane.Io;

namespace NvDataplane.Tests.Io;

/// <summary>The C structures the ports hand to the kernel, at their LP64 Linux sizes.</summary>
public class LinuxNativeLayoutTests
{
    [Test]
    public void Structures_have_their_kernel_sizes()
    {
        if (IntPtr.Size != 8)
        {
            Assert.Ignore("LP64 layouts");
        }

        Assert.Multiple(() =>
        {
            Assert.That(Unsafe.SizeOf<LinuxNative.PollFd>(), Is.EqualTo(8), "struct pollfd");
            Assert.That(Unsafe.SizeOf<LinuxNative.IfReq>(), Is.EqualTo(40), "struct ifreq");
            Assert.That(Offset<LinuxNative.IfReq>(nameof(LinuxNative.IfReq.Mtu)), Is.EqualTo(16), "ifr_mtu");
            Assert.That(Offset<LinuxNative.IfReq>(nameof(LinuxNative.IfReq.IfIndex)), Is.EqualTo(16), "ifr_ifindex");
            Assert.That(Unsafe.SizeOf<LinuxNative.IoVec>(), Is.EqualTo(16), "struct iovec");
            Assert.That(Unsafe.SizeOf<LinuxNative.SockAddrLl>(), Is.EqualTo(20), "struct sockaddr_ll");
            Assert.That(Unsafe.SizeOf<LinuxNative.PacketMreq>(), Is.EqualTo(16), "struct packet_mreq");
        });
    }

    /// <summary>Sizes and offsets as offsetof reports them for &lt;linux/if_packet.h&gt; (Linux 6.1 headers, x86_64).</summary>
    [Test]
    public void Ring_structures_have_their_kernel_sizes_and_offsets()
    {
        if (IntPtr.Size != 8)
        {
            Assert.Ignore("LP64 layouts");
        }

        Assert.Multiple(() =>
        {
            Assert.That(Unsafe.SizeOf<LinuxNative.TpacketReq3>(), Is.EqualTo(28), "struct tpacket_req3");
            Assert.That(Offset<LinuxNative.TpacketReq3>(nameof(LinuxNative.TpacketReq3.FrameSize)), Is.EqualTo(8), "tp_frame_size");
            Assert.That(Offset<LinuxNative.TpacketReq3>(nameof(LinuxNative.TpacketReq3.RetireTimeoutMs)), Is.EqualTo(16), "tp_retire_blk_tov");
            Assert.That(Offset<LinuxNative.TpacketReq3>(nameof(LinuxNative.TpacketReq3.FeatureRequest)), Is.EqualTo(24), "tp_feature_req_word");

            Assert.That(Unsafe.SizeOf<LinuxNative.TpacketBlockDesc>(), Is.EqualTo(48), "struct tpacket_block_desc");
            Assert.That(Offset<LinuxNative.TpacketBlockDesc>(nameof(LinuxNative.TpacketBlockDesc.Header)), Is.EqualTo(8), "tpacket_block_desc.hdr");
            Assert.That(Unsafe.SizeOf<LinuxNative.TpacketHdrV1>(), Is.EqualTo(40), "struct tpacket_hdr_v1");
            Assert.That(Offset<LinuxNative.TpacketHdrV1>(nameof(LinuxNative.TpacketHdrV1.BlockStatus)), Is.Zero, "block_status");
            Assert.That(Offset<LinuxNative.TpacketHdrV1>(nameof(LinuxNative.TpacketHdrV1.PacketCount)), Is.EqualTo(4), "num_pkts");
            Assert.That(Offset<LinuxNative.TpacketHdrV1>(nameof(LinuxNative.TpacketHdrV1.OffsetToFirstPacket)), Is.EqualTo(8), "offset_to_first_pkt");
            Assert.That(Offset<LinuxNative.TpacketHdrV1>(nameof(LinuxNative.TpacketHdrV1.SequenceNumber)), Is.EqualTo(16), "seq_num");
            Assert.That(Offset<LinuxNative.TpacketHdrV1>(nameof(LinuxNative.TpacketHdrV1.LastPacketSeconds)), Is.EqualTo(32), "ts_last_pkt");

            Assert.That(Unsafe.SizeOf<LinuxNative.Tpacket3Hdr>(), Is.EqualTo(48), "struct tpacket3_hdr");
            Assert.That(Offset<LinuxNative.Tpacket3Hdr>(nameof(LinuxNative.Tpacket3Hdr.SnapLength)), Is.EqualTo(12), "tp_snaplen");
            Assert.That(Offset<LinuxNative.Tpacket3Hdr>(nameof(LinuxNative.Tpacket3Hdr.Length)), Is.EqualTo(16), "tp_len");
            Assert.That(Offset<LinuxNative.Tpacket3Hdr>(nameof(LinuxNative.Tpacket3Hdr.Status)), Is.EqualTo(20), "tp_status");
            Assert.That(Offset<LinuxNative.Tpacket3Hdr>(nameof(LinuxNative.Tpacket3Hdr.Mac)), Is.EqualTo(24), "tp_mac");
            Assert.That(Offset<LinuxNative.Tpacket3Hdr>(nameof(LinuxNative.Tpacket3Hdr.Variant1)), Is.EqualTo(28), "hv1");
            Assert.That(Unsafe.SizeOf<LinuxNative.TpacketStatsV3>(), Is.EqualTo(12), "struct tpacket_stats_v3");
            Assert.That(Offset<LinuxNative.TpacketStatsV3>(nameof(LinuxNative.TpacketStatsV3.Drops)), Is.EqualTo(4), "tp_drops");
            Assert.That(Unsafe.SizeOf<LinuxNative.TpacketHdrVariant1>(), Is.EqualTo(12), "struct tpacket_hdr_variant1");
            Assert.That(Offset<LinuxNative.TpacketHdrVariant1>(nameof(LinuxNative.TpacketHdrVariant1.VlanTci)), Is.EqualTo(4), "hv1.tp_vlan_tci at 32");
            Assert.That(Offset<LinuxNative.TpacketHdrVariant1>(nameof(LinuxNative.TpacketHdrVariant1.VlanTpid)), Is.EqualTo(8), "hv1.tp_vlan_tpid at 36");
        });
    }

    [Test]
    public void Protocol_numbers_go_out_in_network_order() =>
        Assert.That(LinuxNative.HostToNetwork(LinuxNative.ETH_P_ALL), Is.EqualTo(BitConverter.IsLittleEndian ? 0x0300 : 0x0003));

    private static int Offset<T>(string field) => (int)Marshal.OffsetOf<T>(field);
}
