using BenchmarkDotNet.Attributes;
using NvDataplane.Pipeline;

namespace NvDataplane.Bench;

/// <summary>
/// NVGRE from remote PAs to the local VM through the whole forwarder: outer parse, local-PA and
/// GRE checks, VSID, inner parse, destination record and the anti-spoofing (inner CA → outer PA)
/// check, then transmit completion. A batch of 32 generated 106-byte frames per invocation,
/// reported per packet; the cost includes the generator's fill (see PipelineBenchmarks.FillOnly).
/// </summary>
[MemoryDiagnoser]
public class DecapBenchmarks
{
    private BatchHarness _harness = null!;

    [Params(1_000, 1_000_000)]
    public int Records { get; set; }

    [GlobalSetup]
    public void Setup() => _harness = new BatchHarness(TrafficScenario.Decap, Records);

    [Benchmark(Description = "Decap batch of 32, per packet", OperationsPerInvoke = BatchHarness.BatchSize)]
    public int DecapBatch() => _harness.RunBatch();
}
