using BenchmarkDotNet.Attributes;
using NvDataplane.Headers;

namespace NvDataplane.Bench;

/// <summary>The RFC 1071 sum over an IPv4 header and over a full 1500-byte packet, and the RFC 1624 update.</summary>
[MemoryDiagnoser]
public class ChecksumBenchmarks
{
    private readonly byte[] _data = new byte[1500];
    private readonly byte[] _field = new byte[2];
    private ulong _oldSum;
    private ulong _newSum;

    [GlobalSetup]
    public void Setup()
    {
        new Random(7).NextBytes(_data);
        _oldSum = Checksum.AddressSum(IpAddr.Parse("10.0.0.7")) + Checksum.AddressSum(IpAddr.Parse("10.0.1.9"));
        _newSum = Checksum.AddressSum(IpAddr.Parse("192.168.1.20")) + Checksum.AddressSum(IpAddr.Parse("10.200.0.9"));
        _field[0] = 0x12;
        _field[1] = 0x34;
    }

    [Benchmark(Description = "Compute 20 B")]
    public ushort Compute20() => Checksum.Compute(_data.AsSpan(0, 20));

    [Benchmark(Description = "Compute 1500 B")]
    public ushort Compute1500() => Checksum.Compute(_data);

    /// <summary>Two addresses replaced: the update AddressRewriter makes per checksum.</summary>
    [Benchmark(Description = "Update (RFC 1624)")]
    public byte Update()
    {
        Checksum.Update(_field, _oldSum, _newSum);
        return _field[0];
    }
}
