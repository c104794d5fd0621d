using System.Buffers.Binary;
using NvDataplane.Headers;
using NvDataplane.Pipeline;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// Hand-built frames for the tests, written field by field with BinaryPrimitives from the RFC
/// layouts (never with the dataplane's own builders). Checksums use <see cref="ReferenceChecksum"/>,
/// a word-by-word RFC 1071 sum written independently of <see cref="Checksum"/>.
/// </summary>
public static class TestFrames
{
    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal));

    public static byte[] Concat(params byte[][] parts)
    {
        var result = new byte[parts.Sum(p => p.Length)];
        int at = 0;
        foreach (var p in parts)
        {
            p.CopyTo(result, at);
            at += p.Length;
        }

        return result;
    }

    /// <summary>RFC 1071, the slow obvious way: 16-bit big-endian words, end-around carry, complement.</summary>
    public static ushort ReferenceChecksum(ReadOnlySpan<byte> data, uint initial = 0)
    {
        uint sum = initial;
        for (int i = 0; i < data.Length; i += 2)
        {
            sum += (uint)(data[i] << 8) | (i + 1 < data.Length ? data[i + 1] : 0u);
            while (sum > 0xFFFF)
            {
                sum = (sum & 0xFFFF) + (sum >> 16);
            }
        }

        return (ushort)~sum;
    }

    public static byte[] Mac(string text)
    {
        var b = new byte[6];
        MacAddress.Parse(text).Write(b);
        return b;
    }

    public static byte[] Addr(string text)
    {
        var a = IpAddr.Parse(text);
        var b = new byte[a.ByteLength];
        a.Write(b);
        return b;
    }

    public static byte[] Eth(string dst, string src, ushort type)
    {
        var b = new byte[14];
        Mac(dst).CopyTo(b, 0);
        Mac(src).CopyTo(b, 6);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(12), type);
        return b;
    }

    /// <summary>An IPv4 header (with optional options) and its payload, header checksum filled in.</summary>
    public static byte[] Ipv4Of(string src, string dst, byte protocol, byte[] payload, byte ttl = 64, byte tos = 0, ushort flagsFragment = 0x4000, ushort id = 0, byte[]? options = null)
    {
        options ??= [];
        int ihl = 20 + options.Length;
        var b = new byte[ihl + payload.Length];
        b[0] = (byte)(0x40 | (ihl / 4));
        b[1] = tos;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), (ushort)b.Length);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), id);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), flagsFragment);
        b[8] = ttl;
        b[9] = protocol;
        Addr(src).CopyTo(b, 12);
        Addr(dst).CopyTo(b, 16);
        options.CopyTo(b, 20);
        FixIpv4Checksum(b);
        payload.CopyTo(b, ihl);
        return b;
    }

    /// <summary>Recomputes the header checksum of the IPv4 header at the start of <paramref name="ip"/>.</summary>
    public static void FixIpv4Checksum(Span<byte> ip)
    {
        int ihl = (ip[0] & 0x0F) * 4;
        ip[10] = 0;
        ip[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], ReferenceChecksum(ip[..Math.Min(ihl, ip.Length)]));
    }

    /// <summary>An IPv6 header followed by <paramref name="payload"/> (extension headers included in it).</summary>
    public static byte[] Ipv6Of(string src, string dst, byte nextHeader, byte[] payload, byte hopLimit = 64, byte trafficClass = 0, uint flowLabel = 0)
    {
        var b = new byte[40 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(b, 0x6000_0000u | ((uint)trafficClass << 20) | (flowLabel & 0xFFFFF));
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), (ushort)payload.Length);
        b[6] = nextHeader;
        b[7] = hopLimit;
        Addr(src).CopyTo(b, 8);
        Addr(dst).CopyTo(b, 24);
        payload.CopyTo(b, 40);
        return b;
    }

    /// <summary>The RFC 8200 section 8.1 pseudo-header of an ICMPv6 message, summed (not complemented) for <see cref="ReferenceChecksum"/>.</summary>
    public static uint Icmpv6PseudoHeaderSum(byte[] source, byte[] destination, int length)
    {
        var pseudo = new byte[40];
        source.CopyTo(pseudo, 0);
        destination.CopyTo(pseudo, 16);
        BinaryPrimitives.WriteUInt32BigEndian(pseudo.AsSpan(32), (uint)length);
        pseudo[39] = 58;
        return (uint)(~ReferenceChecksum(pseudo) & 0xFFFF);
    }

    /// <summary>An IPv6 packet carrying the ICMPv6 <paramref name="message"/> (type first), its checksum filled in.</summary>
    public static byte[] Icmpv6Of(string src, string dst, byte[] message, byte hopLimit = 64)
    {
        var m = (byte[])message.Clone();
        m[2] = m[3] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(m.AsSpan(2), ReferenceChecksum(m, Icmpv6PseudoHeaderSum(Addr(src), Addr(dst), m.Length)));
        return Ipv6Of(src, dst, 58, m, hopLimit);
    }

    /// <summary>An ICMPv6 neighbor advertisement (RFC 4861 4.4, flags S|O) for <paramref name="target"/> with its target link-layer address option, hop limit 255.</summary>
    public static byte[] NeighborAdvertisementOf(string src, string dst, string target, string targetMac) =>
        Icmpv6Of(src, dst, Concat([136, 0, 0, 0, 0x60, 0, 0, 0], Addr(target), [2, 1], Mac(targetMac)), hopLimit: 255);

    public static byte[] UdpOf(ushort sport, ushort dport, byte[] payload)
    {
        var b = new byte[8 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(b, sport);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), (ushort)b.Length);
        payload.CopyTo(b, 8);
        return b;
    }

    public static byte[] TcpOf(ushort sport, ushort dport, byte[] payload)
    {
        var b = new byte[20 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(b, sport);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), 1000);
        b[12] = 0x50;
        b[13] = 0x18;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(14), 65535);
        payload.CopyTo(b, 20);
        return b;
    }

    /// <summary>ICMP / ICMPv6 echo request header (checksum left zero unless <paramref name="v4Checksum"/>).</summary>
    public static byte[] IcmpEcho(byte type, ushort id, ushort seq, byte[] payload, bool v4Checksum = true)
    {
        var b = new byte[8 + payload.Length];
        b[0] = type;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), id);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), seq);
        payload.CopyTo(b, 8);
        if (v4Checksum)
        {
            BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), ReferenceChecksum(b));
        }

        return b;
    }

    public static byte[] ArpOf(ushort op, string sha, string spa, string tha, string tpa)
    {
        var b = new byte[28];
        BinaryPrimitives.WriteUInt16BigEndian(b, 1);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), 0x0800);
        b[4] = 6;
        b[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), op);
        Mac(sha).CopyTo(b, 8);
        Addr(spa).CopyTo(b, 14);
        Mac(tha).CopyTo(b, 18);
        Addr(tpa).CopyTo(b, 24);
        return b;
    }

    /// <summary>GRE as NVGRE uses it: 0x2000 0x6558, key = VSID &lt;&lt; 8 | FlowID, then the inner frame.</summary>
    public static byte[] NvgreOf(uint vsid, byte flowId, byte[] inner, ushort flagsVersion = 0x2000, ushort protocol = 0x6558)
    {
        var b = new byte[8 + inner.Length];
        BinaryPrimitives.WriteUInt16BigEndian(b, flagsVersion);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), protocol);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), (vsid << 8) | flowId);
        inner.CopyTo(b, 8);
        return b;
    }

    /// <summary>The VSID of an NVGRE frame (outer IPv4 or IPv6, optionally one VLAN tag), or null when it is not one.</summary>
    public static uint? GreVsid(ReadOnlySpan<byte> f)
    {
        int l3 = 14;
        if (f.Length < 14)
        {
            return null;
        }

        ushort type = BinaryPrimitives.ReadUInt16BigEndian(f[12..]);
        if (type is 0x8100 or 0x88A8)
        {
            if (f.Length < 18)
            {
                return null;
            }

            type = BinaryPrimitives.ReadUInt16BigEndian(f[16..]);
            l3 = 18;
        }

        int gre;
        if (type == 0x0800 && f.Length >= l3 + 20 && f[l3 + 9] == 47)
        {
            gre = l3 + ((f[l3] & 0x0F) * 4);
        }
        else if (type == 0x86DD && f.Length >= l3 + 40)
        {
            byte next = f[l3 + 6];
            gre = l3 + 40;
            while (next is 0 or 43 or 44 or 60 or 51 && f.Length >= gre + 8)
            {
                int len = next == 44 ? 8 : next == 51 ? (f[gre + 1] + 2) * 4 : (f[gre + 1] + 1) * 8;
                next = f[gre];
                gre += len;
            }

            if (next != 47)
            {
                return null;
            }
        }
        else
        {
            return null;
        }

        return f.Length >= gre + 8 ? BinaryPrimitives.ReadUInt32BigEndian(f[(gre + 4)..]) >> 8 : null;
    }
}

/// <summary>Drives one <see cref="Forwarder"/> frame by frame and collects what each port emits.</summary>
public sealed class ForwarderHarness
{
    public ForwarderHarness(NvDataplane.Policy.HostConfig config, int buffers = 256)
        : this(new NvDataplane.Policy.PolicyStore(NvDataplane.Policy.PolicySnapshot.Build(config)), buffers)
    {
    }

    public ForwarderHarness(NvDataplane.Policy.PolicyStore store, int buffers = 256) =>
        Forwarder = new Forwarder(store, new BufferPool(buffers));

    /// <summary>A harness for the host configuration <paramref name="json"/>, which must load without a problem.</summary>
    public static ForwarderHarness FromJson(string json)
    {
        var loaded = NvDataplane.Policy.ConfigLoader.Load(json);
        Assert.That(loaded.Problems, Is.Empty);
        return new ForwarderHarness(loaded.Config!);
    }

    public Forwarder Forwarder { get; }

    public int Port(string name) => Forwarder.Policy.FindPort(name);

    /// <summary>Processes one frame in its own batch; returns every frame emitted, with its port.</summary>
    public List<(int Port, byte[] Frame)> Send(int port, ReadOnlySpan<byte> frame, long timestampNs = 0)
    {
        var b = Forwarder.Pool.Rent() ?? throw new InvalidOperationException("buffer pool exhausted");
        if (!b.TrySet(frame, timestampNs))
        {
            throw new ArgumentException("frame too large for a buffer", nameof(frame));
        }

        Forwarder.BeginBatch();
        Forwarder.Process(port, b);
        var output = new List<(int, byte[])>();
        for (int p = 0; p < Forwarder.PortCount; p++)
        {
            foreach (var sent in Forwarder.PendingTransmit(p))
            {
                output.Add((p, sent.Frame.ToArray()));
            }

            Forwarder.CompleteTransmit(p);
        }

        return output;
    }

    public List<(int Port, byte[] Frame)> Send(string port, ReadOnlySpan<byte> frame, long timestampNs = 0) => Send(Port(port), frame, timestampNs);
}
