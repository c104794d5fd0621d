using BenchmarkDotNet.Attributes;
using NvDataplane.Pipeline;

namespace NvDataplane.Bench;

/// <summary>
/// The whole pipeline as <c>nvdp bench</c> drives it, for every <see cref="TrafficScenario"/>:
/// 32 pooled buffers filled by <see cref="SyntheticTraffic.Fill"/>, <see cref="Forwarder.ProcessBatch"/>,
/// <see cref="Forwarder.CompleteTransmit"/> on every port; reported per packet. Destinations are
/// spread over the whole table, so 1,000,000 records are measured with their cache misses.
/// <c>FillOnly</c> is the generator's share (rent, fill, return) to subtract from <c>Batch</c>.
/// </summary>
[MemoryDiagnoser]
public class PipelineBenchmarks
{
    private BatchHarness _harness = null!;

    [Params(TrafficScenario.Encap, TrafficScenario.Decap, TrafficScenario.Rewrite)]
    public TrafficScenario Scenario { get; set; }

    [Params(1_000, 1_000_000)]
    public int Records { get; set; }

    [GlobalSetup]
    public void Setup() => _harness = new BatchHarness(Scenario, Records);

    [Benchmark(Description = "Batch of 32, per packet", OperationsPerInvoke = BatchHarness.BatchSize)]
    public int Batch() => _harness.RunBatch();

    [Benchmark(Description = "FillOnly of 32, per packet", OperationsPerInvoke = BatchHarness.BatchSize)]
    public int FillOnly() => _harness.FillOnly();
}
