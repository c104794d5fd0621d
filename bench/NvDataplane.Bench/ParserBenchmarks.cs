using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using NvDataplane.Headers;
using NvDataplane.Pipeline;

namespace NvDataplane.Bench;

/// <summary>
/// <see cref="PacketParser.ParseEthernet"/> + <see cref="PacketParser.ParseIp"/> on one frame, as
/// the ingress paths call them. The IPv4 cases include the header checksum check.
/// </summary>
[MemoryDiagnoser]
public class ParserBenchmarks
{
    private byte[] _ipv4Udp = [];
    private byte[] _ipv6Tcp = [];
    private byte[] _nvgreOuter = [];

    [GlobalSetup]
    public void Setup()
    {
        _ipv4Udp = SyntheticTraffic.BuildUdpFrame(
            SyntheticTraffic.VmMac, SyntheticTraffic.RouterMac, SyntheticTraffic.VmCa, SyntheticTraffic.RemoteCa(0), 64);
        _ipv6Tcp = BuildIpv6TcpFrame();

        // The decap generator's frame: outer Ethernet/IPv4/GRE (42 bytes of outer IP + GRE) around a 64-byte inner frame.
        var traffic = new SyntheticTraffic(TrafficScenario.Decap, 1, 64 + 42);
        var pool = new BufferPool(1, 2048);
        var buffer = pool.Rent()!;
        traffic.Fill(buffer);
        _nvgreOuter = buffer.Frame.ToArray();

        Check(_ipv4Udp, IpProtocol.Udp);
        Check(_ipv6Tcp, IpProtocol.Tcp);
        Check(_nvgreOuter, IpProtocol.Gre);
    }

    [Benchmark(Description = "IPv4/UDP 64 B")]
    public int Ipv4Udp() => Parse(_ipv4Udp);

    [Benchmark(Description = "IPv6/TCP 74 B")]
    public int Ipv6Tcp() => Parse(_ipv6Tcp);

    [Benchmark(Description = "NVGRE outer IPv4/GRE 106 B")]
    public int NvgreOuter() => Parse(_nvgreOuter);

    private static int Parse(ReadOnlySpan<byte> frame)
    {
        PacketInfo info = default;
        var r = PacketParser.ParseEthernet(frame, ref info);
        if (r == Diagnostics.DropReason.None)
        {
            r = PacketParser.ParseIp(frame, ref info);
        }

        return (int)r + info.L4Offset + info.DestinationPort;
    }

    private static void Check(byte[] frame, byte protocol)
    {
        PacketInfo info = default;
        var r = PacketParser.ParseEthernet(frame, ref info);
        if (r == Diagnostics.DropReason.None)
        {
            r = PacketParser.ParseIp(frame, ref info);
        }

        if (r != Diagnostics.DropReason.None || info.Protocol != protocol)
        {
            throw new InvalidOperationException($"benchmark frame does not parse: {r}, protocol {info.Protocol}");
        }
    }

    /// <summary>Ethernet + IPv6 (no extension headers) + a 20-byte TCP header, no payload: 74 bytes.</summary>
    private static byte[] BuildIpv6TcpFrame()
    {
        var f = new byte[Ethernet.HeaderSize + Ipv6.HeaderSize + Tcp.MinHeaderSize];
        SyntheticTraffic.RouterMac.Write(f);
        SyntheticTraffic.VmMac.Write(f.AsSpan(Ethernet.SourceOffset));
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(Ethernet.TypeOffset), Ethernet.TypeIpv6);
        Span<byte> ip = f.AsSpan(Ethernet.HeaderSize);
        ip[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv6.PayloadLengthOffset..], Tcp.MinHeaderSize);
        ip[Ipv6.NextHeaderOffset] = IpProtocol.Tcp;
        ip[Ipv6.HopLimitOffset] = 64;
        IpAddr.Parse("2001:db8::7").Write(ip[Ipv6.SourceOffset..]);
        IpAddr.Parse("2001:db8::1:7").Write(ip[Ipv6.DestinationOffset..]);
        Span<byte> tcp = ip[Ipv6.HeaderSize..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 443);
        tcp[Tcp.DataOffsetOffset] = 5 << 4;
        return f;
    }
}
