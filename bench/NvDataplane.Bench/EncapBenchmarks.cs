using BenchmarkDotNet.Attributes;
using NvDataplane.Headers;
using NvDataplane.Nvgre;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Bench;

/// <summary>
/// <see cref="NvgreEncapsulator.Push"/> of one IPv4 tunnel template (from the 1,000-record encap
/// policy) in front of a 64-byte inner frame: template copy, outer length/TOS/checksum patch and
/// GRE key. The buffer's Offset and Length are reset before each push.
/// </summary>
[MemoryDiagnoser]
public class EncapBenchmarks
{
    private const int InnerSize = 64;

    private PacketBuffer _buffer = null!;
    private EncapTemplate _template;
    private byte[] _templateBytes = [];
    private uint _flowHash;

    [GlobalSetup]
    public void Setup()
    {
        var snapshot = PolicySnapshot.Build(SyntheticTraffic.BuildConfig(TrafficScenario.Encap, 1000));
        var remote = SyntheticTraffic.RemoteCa(0);
        ref readonly RecordEntry src = ref snapshot.Records[snapshot.FindRecord(SyntheticTraffic.Vsid, SyntheticTraffic.VmCa)];
        ref readonly RecordEntry dst = ref snapshot.Records[snapshot.FindRecord(SyntheticTraffic.Vsid, remote)];
        _template = snapshot.Template(in src, dst.RemotePaIndex);
        _templateBytes = snapshot.TemplateBytes;
        if (_template.Unusable != Diagnostics.DropReason.None)
        {
            throw new InvalidOperationException($"template unusable: {_template.Unusable}");
        }

        byte[] inner = SyntheticTraffic.BuildUdpFrame(SyntheticTraffic.VmMac, SyntheticTraffic.RouterMac, SyntheticTraffic.VmCa, remote, InnerSize);
        PacketInfo info = default;
        PacketParser.ParseEthernet(inner, ref info);
        PacketParser.ParseIp(inner, ref info);
        _flowHash = FlowHash.Compute(in info);
        _buffer = new BufferPool(1, 2048).Rent()!;
        _buffer.TrySet(inner);
    }

    [Benchmark(Description = "Push IPv4 template")]
    public int Push()
    {
        PacketBuffer b = _buffer;
        b.Offset = PacketBuffer.Headroom;
        b.Length = InnerSize;
        NvgreEncapsulator.Push(b, InnerSize, in _template, _templateBytes, SyntheticTraffic.Vsid, 0, _flowHash);
        return b.Offset;
    }
}
