using System.Buffers.Binary;
using NvDataplane.Headers;

namespace NvDataplane.Cli;

/// <summary>Builds the VM-side frames the demo sends (what a guest kernel would put on its vNIC).</summary>
internal static class DemoFrames
{
    public static byte[] ArpRequest(MacAddress sender, IpAddr senderIp, IpAddr target)
    {
        var f = new byte[14 + Arp.Size];
        MacAddress.Broadcast.Write(f);
        sender.Write(f.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), Ethernet.TypeArp);
        Span<byte> a = f.AsSpan(14);
        BinaryPrimitives.WriteUInt16BigEndian(a, 1);
        BinaryPrimitives.WriteUInt16BigEndian(a[2..], Ethernet.TypeIpv4);
        a[4] = 6;
        a[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(a[Arp.OperationOffset..], Arp.OpRequest);
        sender.Write(a[Arp.SenderMacOffset..]);
        senderIp.Write(a[Arp.SenderIpOffset..]);
        target.Write(a[Arp.TargetIpOffset..]);
        return f;
    }

    public static byte[] IcmpEcho(MacAddress src, MacAddress dst, IpAddr srcIp, IpAddr dstIp, bool reply, ushort sequence) =>
        Ipv4Frame(src, dst, srcIp, dstIp, IpProtocol.Icmp, l4 =>
        {
            l4[0] = reply ? Icmp.EchoReply : Icmp.EchoRequest;
            BinaryPrimitives.WriteUInt16BigEndian(l4[4..], 0x4e56);
            BinaryPrimitives.WriteUInt16BigEndian(l4[6..], sequence);
            "NvDataplane demo ping"u8.CopyTo(l4[8..]);
            BinaryPrimitives.WriteUInt16BigEndian(l4[2..], Checksum.Compute(l4));
        }, 8 + 21);

    public static byte[] Udp(MacAddress src, MacAddress dst, IpAddr srcIp, IpAddr dstIp, ushort sport, ushort dport, string text)
    {
        byte[] payload = System.Text.Encoding.ASCII.GetBytes(text);
        return Ipv4Frame(src, dst, srcIp, dstIp, IpProtocol.Udp, l4 =>
        {
            BinaryPrimitives.WriteUInt16BigEndian(l4, sport);
            BinaryPrimitives.WriteUInt16BigEndian(l4[2..], dport);
            BinaryPrimitives.WriteUInt16BigEndian(l4[4..], (ushort)l4.Length);
            payload.CopyTo(l4[8..]);
            ushort c = Checksum.Compute(l4, Checksum.PseudoHeaderSum(srcIp, dstIp, IpProtocol.Udp, l4.Length));
            BinaryPrimitives.WriteUInt16BigEndian(l4[6..], c == 0 ? (ushort)0xFFFF : c);
        }, 8 + payload.Length);
    }

    public static byte[] Tcp(MacAddress src, MacAddress dst, IpAddr srcIp, IpAddr dstIp, ushort sport, ushort dport, uint seq, uint ack, byte flags) =>
        Ipv4Frame(src, dst, srcIp, dstIp, IpProtocol.Tcp, l4 =>
        {
            BinaryPrimitives.WriteUInt16BigEndian(l4, sport);
            BinaryPrimitives.WriteUInt16BigEndian(l4[2..], dport);
            BinaryPrimitives.WriteUInt32BigEndian(l4[4..], seq);
            BinaryPrimitives.WriteUInt32BigEndian(l4[8..], ack);
            l4[12] = 0x50;
            l4[13] = flags;
            BinaryPrimitives.WriteUInt16BigEndian(l4[14..], 64240);
            BinaryPrimitives.WriteUInt16BigEndian(l4[16..], Checksum.Compute(l4, Checksum.PseudoHeaderSum(srcIp, dstIp, IpProtocol.Tcp, l4.Length)));
        }, 20);

    private static byte[] Ipv4Frame(MacAddress src, MacAddress dst, IpAddr srcIp, IpAddr dstIp, byte protocol, SpanAction l4Writer, int l4Length)
    {
        var f = new byte[14 + 20 + l4Length];
        dst.Write(f);
        src.Write(f.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), Ethernet.TypeIpv4);
        Span<byte> ip = f.AsSpan(14);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + l4Length));
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], 0x1234);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], Ipv4.FlagDontFragment);
        ip[8] = 64;
        ip[9] = protocol;
        srcIp.Write(ip[12..]);
        dstIp.Write(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum.Compute(ip[..20]));
        l4Writer(ip.Slice(20, l4Length));
        return f;
    }

    public delegate void SpanAction(Span<byte> span);
}
