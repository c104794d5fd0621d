using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

/// <summary>What <see cref="SyntheticTraffic"/> exercises.</summary>
public enum TrafficScenario
{
    /// <summary>A VM sends UDP to remote CAs: NVGRE encapsulation.</summary>
    Encap,

    /// <summary>NVGRE from remote PAs to a local VM: decapsulation with every check.</summary>
    Decap,

    /// <summary>A NAT-rule VM sends UDP to remote NAT CAs: IP rewrite.</summary>
    Rewrite,
}

/// <summary>
/// A host policy with <c>records</c> lookup records and a frame generator over them, shared by
/// <c>nvdp bench</c> and the BenchmarkDotNet benchmarks. Frames go to destinations spread over
/// the whole table (a precomputed pseudo-random sequence), so large tables are measured with
/// their cache misses, not with a handful of hot entries.
/// </summary>
public sealed class SyntheticTraffic
{
    public const uint Vsid = 5001;
    public static readonly MacAddress VmMac = MacAddress.Parse("00-15-5D-00-00-01");
    public static readonly MacAddress ProviderMac = MacAddress.Parse("02-00-00-00-01-0A");
    public static readonly MacAddress RouterMac = MacAddress.Parse("02-00-00-00-01-01");
    public static readonly IpAddr VmCa = IpAddr.Parse("10.0.0.7");
    public static readonly IpAddr LocalPa = IpAddr.Parse("192.168.1.10");

    private const int SequenceLength = 1 << 16;
    private readonly byte[] _baseFrame;
    private readonly uint[] _sequence;
    private readonly uint[] _sourcePas;
    private readonly int _ipOffset;
    private readonly ushort[] _checksums;
    private readonly ushort[] _outerChecksums;
    private int _next;

    public SyntheticTraffic(TrafficScenario scenario, int records, int frameSize)
    {
        if (records < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(records), "use at least 1 record");
        }

        int minimum = Ethernet.HeaderSize + Ipv4.MinHeaderSize + Udp.HeaderSize;
        if (frameSize < minimum || frameSize > 9000)
        {
            throw new ArgumentOutOfRangeException(nameof(frameSize), $"use a frame size of {minimum}..9000 bytes");
        }

        Scenario = scenario;
        Config = BuildConfig(scenario, records);
        FrameSize = frameSize;
        var rng = new Random(7);
        _sequence = new uint[SequenceLength];
        _sourcePas = new uint[SequenceLength];
        for (int i = 0; i < SequenceLength; i++)
        {
            int r = rng.Next(records);
            _sequence[i] = RemoteCa(r).V4;
            _sourcePas[i] = RemotePa(scenario, r).V4;
        }

        (_baseFrame, _ipOffset) = scenario == TrafficScenario.Decap ? BuildNvgreFrame(frameSize) : (BuildUdpFrame(VmMac, RouterMac, VmCa, RemoteCa(0), frameSize), Ethernet.HeaderSize);
        bool decap = scenario == TrafficScenario.Decap;
        _checksums = PrecomputeChecksums(_baseFrame, _ipOffset, decap ? Ipv4.SourceOffset : Ipv4.DestinationOffset, _sequence);
        _outerChecksums = decap ? PrecomputeChecksums(_baseFrame, Ethernet.HeaderSize, Ipv4.SourceOffset, _sourcePas) : [];
    }

    public TrafficScenario Scenario { get; }

    public HostConfig Config { get; }

    /// <summary>The inner (customer) frame size; decap frames arrive 42 bytes longer.</summary>
    public int FrameSize { get; }

    /// <summary>The port frames arrive on: the VM port for encap/rewrite, the provider port for decap.</summary>
    public int IngressPort => Scenario == TrafficScenario.Decap ? 0 : 1;

    public static IpAddr RemoteCa(int i) => IpAddr.FromV4(0x0A00_0000u + 256u + (uint)i); // 10.0.1.0 + i

    /// <summary>NAT needs a PA per CA; Encap spreads records over at most 4096 remote hosts.</summary>
    public static IpAddr RemotePa(TrafficScenario scenario, int i) =>
        IpAddr.FromV4(0x0AC8_0000u + (uint)(scenario == TrafficScenario.Rewrite ? i : i % 4096)); // 10.200.0.0 + i

    /// <summary>Writes the next frame into <paramref name="buffer"/>.</summary>
    public void Fill(PacketBuffer buffer)
    {
        int n = _next++ & (SequenceLength - 1);
        buffer.Offset = PacketBuffer.Headroom;
        buffer.Length = _baseFrame.Length;
        Span<byte> f = buffer.Data.AsSpan(PacketBuffer.Headroom, _baseFrame.Length);
        if (_baseFrame.Length == 64)
        {
            // The common benchmark size as one constant-size (vectorised) copy.
            Unsafe.CopyBlockUnaligned(ref f[0], ref _baseFrame[0], 64);
        }
        else
        {
            _baseFrame.CopyTo(f);
        }
        Span<byte> ip = f[_ipOffset..];
        if (Scenario == TrafficScenario.Decap)
        {
            // Inner source CA and outer source PA change together (the anti-spoofing pair).
            Patch(ip, Ipv4.SourceOffset, _sequence[n], _checksums[n]);
            Patch(f[Ethernet.HeaderSize..], Ipv4.SourceOffset, _sourcePas[n], _outerChecksums[n]);
        }
        else
        {
            Patch(ip, Ipv4.DestinationOffset, _sequence[n], _checksums[n]);
        }
    }

    /// <summary>Writes an address and the header checksum precomputed for it.</summary>
    private static void Patch(Span<byte> ip, int offset, uint address, ushort checksum)
    {
        BinaryPrimitives.WriteUInt32BigEndian(ip[offset..], address);
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.ChecksumOffset..], checksum);
    }

    /// <summary>The header checksums of the base frame's IPv4 header at <paramref name="ipOffset"/> with each address of <paramref name="addresses"/> at <paramref name="addressOffset"/>.</summary>
    private static ushort[] PrecomputeChecksums(byte[] frame, int ipOffset, int addressOffset, uint[] addresses)
    {
        var sums = new ushort[addresses.Length];
        var header = frame.AsSpan(ipOffset, Ipv4.MinHeaderSize).ToArray();
        for (int i = 0; i < addresses.Length; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(addressOffset), addresses[i]);
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(Ipv4.ChecksumOffset), 0);
            sums[i] = Checksum.Compute(header);
        }

        return sums;
    }

    /// <summary>An Ethernet/IPv4/UDP frame of exactly <paramref name="frameSize"/> bytes with a zero UDP checksum.</summary>
    public static byte[] BuildUdpFrame(MacAddress src, MacAddress dst, IpAddr srcIp, IpAddr dstIp, int frameSize)
    {
        var f = new byte[frameSize];
        dst.Write(f);
        src.Write(f.AsSpan(Ethernet.SourceOffset));
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(Ethernet.TypeOffset), Ethernet.TypeIpv4);
        Span<byte> ip = f.AsSpan(Ethernet.HeaderSize);
        int total = frameSize - Ethernet.HeaderSize;
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.TotalLengthOffset..], (ushort)total);
        ip[Ipv4.TtlOffset] = 64;
        ip[Ipv4.ProtocolOffset] = IpProtocol.Udp;
        srcIp.Write(ip[Ipv4.SourceOffset..]);
        dstIp.Write(ip[Ipv4.DestinationOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.ChecksumOffset..], Checksum.Compute(ip[..Ipv4.MinHeaderSize]));
        Span<byte> udp = ip[Ipv4.MinHeaderSize..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], 4789);
        BinaryPrimitives.WriteUInt16BigEndian(udp[Udp.LengthOffset..], (ushort)(total - Ipv4.MinHeaderSize));
        return f;
    }

    /// <summary>An NVGRE frame carrying an inner frame of <paramref name="innerSize"/> bytes (the outer frame is 42 bytes longer).</summary>
    private static (byte[] Frame, int InnerIpOffset) BuildNvgreFrame(int innerSize)
    {
        int frameSize = innerSize + 42;
        byte[] inner = BuildUdpFrame(RemoteMac(0), VmMac, RemoteCa(0), VmCa, innerSize);
        var f = new byte[frameSize];
        ProviderMac.Write(f);
        RouterMac.Write(f.AsSpan(Ethernet.SourceOffset));
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(Ethernet.TypeOffset), Ethernet.TypeIpv4);
        Span<byte> ip = f.AsSpan(Ethernet.HeaderSize);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.TotalLengthOffset..], (ushort)(frameSize - Ethernet.HeaderSize));
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.FlagsFragmentOffset..], Ipv4.FlagDontFragment);
        ip[Ipv4.TtlOffset] = 64;
        ip[Ipv4.ProtocolOffset] = IpProtocol.Gre;
        RemotePa(TrafficScenario.Decap, 0).Write(ip[Ipv4.SourceOffset..]);
        LocalPa.Write(ip[Ipv4.DestinationOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.ChecksumOffset..], Checksum.Compute(ip[..Ipv4.MinHeaderSize]));
        Span<byte> gre = ip[Ipv4.MinHeaderSize..];
        BinaryPrimitives.WriteUInt16BigEndian(gre, Gre.NvgreFlagsVersion);
        BinaryPrimitives.WriteUInt16BigEndian(gre[2..], Ethernet.TypeTransparentBridging);
        BinaryPrimitives.WriteUInt32BigEndian(gre[4..], (Vsid << 8) | 0x2A);
        inner.CopyTo(gre[Gre.NvgreSize..]);
        return (f, 42 + Ethernet.HeaderSize);
    }

    private static MacAddress RemoteMac(int i) => new(0x0015_5D10_0000UL + (ulong)i);

    public static HostConfig BuildConfig(TrafficScenario scenario, int records)
    {
        bool nat = scenario == TrafficScenario.Rewrite;
        var rule = nat ? TranslationRule.Nat : TranslationRule.Encap;
        var rd = Guid.Parse("11111111-2222-3333-4444-000000000000");
        IpAddr localPa = nat ? IpAddr.Parse("192.168.1.20") : LocalPa;
        var pas = new List<ProviderAddressConfig> { new(LocalPa, 24, 0, "pnic0") };
        if (nat)
        {
            pas.Add(new ProviderAddressConfig(localPa, 24, 0, "pnic0"));
        }

        var list = new List<LookupRecordConfig>(records + 1)
        {
            new(VmCa, Vsid, VmMac, localPa, rule, RecordType.Static, "vm"),
        };
        for (int i = 0; i < records; i++)
        {
            list.Add(new LookupRecordConfig(RemoteCa(i), Vsid, RemoteMac(i), RemotePa(scenario, i), rule, RecordType.Static));
        }

        return new HostConfig(
            "bench",
            GlobalSettings.Default,
            [
                new PortConfig("pnic0", PortRole.Provider, null, ProviderMac, 1500, null, null),
                new PortConfig("vm", PortRole.Vm, null, VmMac, 1500, Vsid, "vm"),
            ],
            pas,
            [new ProviderRouteConfig(IpPrefix.Parse("0.0.0.0/0"), IpAddr.Parse("192.168.1.1"), 0)],
            [new ProviderNeighborConfig(IpAddr.Parse("192.168.1.1"), RouterMac)],
            list,
            [new CustomerRouteConfig(rd, Vsid, IpPrefix.Parse("10.0.0.0/8"), IpAddr.Any4, 255)]);
    }
}
