using BenchmarkDotNet.Attributes;
using NvDataplane.Pipeline;

namespace NvDataplane.Bench;

/// <summary>
/// <see cref="PortWorkerBenchmarks"/> with a capture armed (<see cref="PortCapture"/>): on the
/// provider port, which every encapsulated frame leaves by (each batch's 32 frames copied as tx),
/// with drops noted. The ring is drained after every round so it never fills. Compare with
/// <c>PortWorkerBenchmarks.RunOnce</c>, the same loop with no capture armed.
/// </summary>
[MemoryDiagnoser]
public class PortCaptureBenchmarks
{
    private PortWorker _worker = null!;
    private CaptureSession _session = null!;

    [GlobalSetup]
    public void Setup()
    {
        _worker = WorkerHarness.Build(1_000);
        _session = PortCapture.Start(_worker, 0, int.MaxValue, includeDrops: true);
    }

    [GlobalCleanup]
    public void Cleanup() => _session.Stop();

    [Benchmark(Description = "RunOnce with a capture armed, per packet", OperationsPerInvoke = PortWorker.BatchSize)]
    public int RunOnceCaptured()
    {
        int n = _worker.RunOnce();
        _session.Discard();
        return n;
    }
}
