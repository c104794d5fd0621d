using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using NvDataplane.Headers;
using NvDataplane.Pipeline;
using NvDataplane.Rewrite;

namespace NvDataplane.Bench;

/// <summary>
/// IP rewrite (TranslationMethodNat). <c>RewriteBatch</c>: the whole forwarder on a batch of 32
/// generated 64-byte VM frames toward NAT records (addresses, IPv4 checksum, provider L2 header),
/// reported per packet, generator fill included. <c>AddressRewriter</c>: the rewrite alone on one
/// parsed IPv4/UDP frame whose UDP checksum is set, so both checksum updates run; each call swaps
/// the addresses back and forth. It does not depend on <see cref="Records"/>.
/// </summary>
[MemoryDiagnoser]
public class RewriteBenchmarks
{
    private BatchHarness _harness = null!;
    private byte[] _frame = [];
    private PacketInfo _info;
    private IpAddr _a;
    private IpAddr _b;
    private IpAddr _c;
    private IpAddr _d;

    [Params(1_000, 1_000_000)]
    public int Records { get; set; }

    [GlobalSetup(Target = nameof(RewriteBatch))]
    public void SetupBatch() => _harness = new BatchHarness(TrafficScenario.Rewrite, Records);

    [GlobalSetup(Target = nameof(RewriteAddresses))]
    public void SetupRewriter()
    {
        _a = SyntheticTraffic.VmCa;
        _b = SyntheticTraffic.RemoteCa(9);
        _c = IpAddr.Parse("192.168.1.20");
        _d = SyntheticTraffic.RemotePa(TrafficScenario.Rewrite, 9);
        _frame = SyntheticTraffic.BuildUdpFrame(SyntheticTraffic.VmMac, SyntheticTraffic.RouterMac, _a, _b, 64);
        BinaryPrimitives.WriteUInt16BigEndian(_frame.AsSpan(Ethernet.HeaderSize + Ipv4.MinHeaderSize + Udp.ChecksumOffset), 0x1234);
        _info = default;
        PacketParser.ParseEthernet(_frame, ref _info);
        PacketParser.ParseIp(_frame, ref _info);
    }

    [Benchmark(Description = "Rewrite batch of 32, per packet", OperationsPerInvoke = BatchHarness.BatchSize)]
    public int RewriteBatch() => _harness.RunBatch();

    [Benchmark(Description = "AddressRewriter.Rewrite IPv4/UDP")]
    public byte RewriteAddresses()
    {
        if (_info.Source == _a)
        {
            AddressRewriter.Rewrite(_frame, ref _info, _c, _d);
        }
        else
        {
            AddressRewriter.Rewrite(_frame, ref _info, _a, _b);
        }

        return _frame[Ethernet.HeaderSize + Ipv4.ChecksumOffset];
    }
}
