using System.Runtime.CompilerServices;
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
            Assert.That(Unsafe.SizeOf<LinuxNative.SockAddrLl>(), Is.EqualTo(20), "struct sockaddr_ll");
            Assert.That(Unsafe.SizeOf<LinuxNative.PacketMreq>(), Is.EqualTo(16), "struct packet_mreq");
            Assert.That(Unsafe.SizeOf<LinuxNative.IoVec>(), Is.EqualTo(16), "struct iovec");
            Assert.That(Unsafe.SizeOf<LinuxNative.MsgHdr>(), Is.EqualTo(56), "struct msghdr");
            Assert.That(Unsafe.SizeOf<LinuxNative.MMsgHdr>(), Is.EqualTo(64), "struct mmsghdr");
        });
    }

    [Test]
    public void Protocol_numbers_go_out_in_network_order() =>
        Assert.That(LinuxNative.HostToNetwork(LinuxNative.ETH_P_ALL), Is.EqualTo(BitConverter.IsLittleEndian ? 0x0300 : 0x0003));
}
