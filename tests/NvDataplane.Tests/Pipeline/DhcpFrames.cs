using System.Buffers.Binary;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// DHCP client messages written byte by byte from the RFC 2131 figure 1 layout (never with the
/// dataplane's own code), and a plain reader of the replies for the assertions.
/// </summary>
public static class DhcpFrames
{
    /// <summary>A BOOTP message: the 236 fixed bytes, the magic cookie, then <paramref name="options"/> as given (end and padding included).</summary>
    public static byte[] Message(string chaddr, uint xid = 0x1234_5678, ushort flags = 0, string ciaddr = "0.0.0.0", string giaddr = "0.0.0.0", byte op = 1, byte htype = 1, byte hlen = 6, uint cookie = 0x6382_5363, params byte[][] options)
    {
        var m = new byte[240];
        m[0] = op;
        m[1] = htype;
        m[2] = hlen;
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(4), xid);
        BinaryPrimitives.WriteUInt16BigEndian(m.AsSpan(8), 3); // secs
        BinaryPrimitives.WriteUInt16BigEndian(m.AsSpan(10), flags);
        Addr(ciaddr).CopyTo(m, 12);
        Addr(giaddr).CopyTo(m, 24);
        Mac(chaddr).CopyTo(m, 28);
        m[107] = 0x5A; // last byte of sname, not echoed (the reply's sname is zero)
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(236), cookie);
        return Concat([m, .. options]);
    }

    public static byte[] Option(byte code, params byte[] value) => Concat([code, (byte)value.Length], value);

    public static byte[] Type(byte type) => Option(53, type);

    public static byte[] Address(byte code, string address) => Option(code, Addr(address));

    public static readonly byte[] End = [255];

    /// <summary>What a typical client adds: client id (61), parameter request list (55), host name (12), then end and padding.</summary>
    public static byte[][] Usual(params byte[][] first) =>
        [.. first, Option(61, Concat([1], Mac("00-15-5D-00-00-01"))), Option(55, 1, 3, 6, 15, 26, 51, 54, 58, 59), Option(12, "vm"u8.ToArray()), End, new byte[7]];

    /// <summary>Ethernet + IPv4 + UDP 68 → 67 around <paramref name="message"/> (UDP checksum left 0, as RFC 768 allows).</summary>
    public static byte[] Frame(string srcMac, byte[] message, string dstMac = "FF-FF-FF-FF-FF-FF", string src = "0.0.0.0", string dst = "255.255.255.255", ushort sport = 68, ushort dport = 67, byte[]? ipOptions = null) =>
        Concat(Eth(dstMac, srcMac, 0x0800), Ipv4Of(src, dst, 17, UdpOf(sport, dport, message), ttl: 64, flagsFragment: 0, options: ipOptions));

    public static byte[] Discover(string mac, ushort flags = 0, uint xid = 0x1234_5678) =>
        Frame(mac, Message(mac, xid, flags, options: Usual(Type(1))));

    /// <summary>A DHCP reply as the test reads it: headers, BOOTP fields and the options in order.</summary>
    public sealed record Reply(
        string EthDst, string EthSrc, string IpSrc, string IpDst, int Ttl, int Tos, ushort IpId, ushort IpFlags, bool IpChecksumOk,
        ushort SrcPort, ushort DstPort, bool UdpChecksumOk, int MessageLength,
        byte Op, byte Htype, byte Hlen, byte Hops, uint Xid, ushort Secs, ushort Flags, string Ciaddr, string Yiaddr, string Siaddr, string Giaddr,
        byte[] Chaddr, bool SnameFileZero, uint Cookie, List<(byte Code, byte[] Value)> Options, bool ZeroAfterEnd)
    {
        public byte[]? Get(byte code) => Options.FirstOrDefault(o => o.Code == code).Value;

        public IEnumerable<byte> Codes => Options.Select(o => o.Code);
    }

    /// <summary>Reads a reply frame field by field (Ethernet, IPv4 with IHL 5, UDP, BOOTP, options up to 255).</summary>
    public static Reply Read(byte[] f)
    {
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)), Is.EqualTo(0x0800), "IPv4");
        Assert.That(f[14], Is.EqualTo(0x45), "IPv4 without options");
        var ip = f.AsSpan(14);
        int total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        Assert.That(total, Is.EqualTo(f.Length - 14), "IP total length = the frame, no padding");
        Assert.That(ip[9], Is.EqualTo(17), "UDP");
        var udp = ip[20..total];
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(udp[4..]), Is.EqualTo(udp.Length), "UDP length");
        uint pseudo = Sum(ip.Slice(12, 8)) + 17u + (uint)udp.Length;
        var m = udp[8..];
        int at = 240;
        var options = new List<(byte, byte[])>();
        while (m[at] != 255)
        {
            Assert.That(m[at], Is.Not.Zero, "no pad inside the option list");
            options.Add((m[at], m.Slice(at + 2, m[at + 1]).ToArray()));
            at += 2 + m[at + 1];
        }

        return new Reply(
            Hex6(f.AsSpan(0, 6)), Hex6(f.AsSpan(6, 6)), Ip(ip[12..]), Ip(ip[16..]), ip[8], ip[1],
            BinaryPrimitives.ReadUInt16BigEndian(ip[4..]), BinaryPrimitives.ReadUInt16BigEndian(ip[6..]), ReferenceChecksum(ip[..20]) == 0,
            BinaryPrimitives.ReadUInt16BigEndian(udp), BinaryPrimitives.ReadUInt16BigEndian(udp[2..]),
            BinaryPrimitives.ReadUInt16BigEndian(udp[6..]) != 0 && ReferenceChecksum(udp, pseudo) == 0, m.Length,
            m[0], m[1], m[2], m[3], BinaryPrimitives.ReadUInt32BigEndian(m[4..]), BinaryPrimitives.ReadUInt16BigEndian(m[8..]),
            BinaryPrimitives.ReadUInt16BigEndian(m[10..]), Ip(m[12..]), Ip(m[16..]), Ip(m[20..]), Ip(m[24..]),
            m.Slice(28, 16).ToArray(), !m.Slice(44, 192).ContainsAnyExcept((byte)0), BinaryPrimitives.ReadUInt32BigEndian(m[236..]),
            options, !m[(at + 1)..].ContainsAnyExcept((byte)0));
    }

    public static uint Be32(byte[] value) => BinaryPrimitives.ReadUInt32BigEndian(value);

    private static uint Sum(ReadOnlySpan<byte> words)
    {
        uint s = 0;
        for (int i = 0; i < words.Length; i += 2)
        {
            s += BinaryPrimitives.ReadUInt16BigEndian(words[i..]);
        }

        return s;
    }

    private static string Ip(ReadOnlySpan<byte> b) => $"{b[0]}.{b[1]}.{b[2]}.{b[3]}";

    private static string Hex6(ReadOnlySpan<byte> b) => Convert.ToHexString(b).ToUpperInvariant();
}
