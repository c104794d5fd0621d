using BenchmarkDotNet.Attributes;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Bench;

/// <summary>
/// The daemon's poll loop, <see cref="PortWorker.RunOnce"/>, over in-memory devices: the Encap
/// scenario's VM port gives a batch of 32 <see cref="SyntheticTraffic"/> frames per receive, the
/// provider port takes whatever it is handed. One round = one busy batch plus one empty receive;
/// reported per packet. The reference for what the worker's own loop (capture branch, flush,
/// timing) costs around <see cref="Forwarder.ProcessBatch"/>.
/// </summary>
[MemoryDiagnoser]
public class PortWorkerBenchmarks
{
    private PortWorker _worker = null!;

    [Params(1_000)]
    public int Records { get; set; }

    [GlobalSetup]
    public void Setup() => _worker = WorkerHarness.Build(Records);

    [Benchmark(Description = "RunOnce, batch of 32, per packet", OperationsPerInvoke = PortWorker.BatchSize)]
    public int RunOnce() => _worker.RunOnce();
}

/// <summary>A <see cref="PortWorker"/> over a generator port and a sink port (<see cref="PortWorkerBenchmarks"/>).</summary>
internal static class WorkerHarness
{
    public static PortWorker Build(int records)
    {
        var traffic = new SyntheticTraffic(TrafficScenario.Encap, records, 64);
        var store = new PolicyStore(PolicySnapshot.Build(traffic.Config));
        var worker = new PortWorker(store, [new SinkPort(), new GeneratorPort(traffic)], bufferCount: 256);
        for (int i = 0; i < 2048; i++)
        {
            worker.RunOnce();
        }

        var c = worker.Forwarder.Counters;
        if (c.Forwarded != 2048L * PortWorker.BatchSize || c.TotalDrops != 0)
        {
            throw new InvalidOperationException($"forwarded {c.Forwarded}, dropped {c.TotalDrops}: the benchmark would not measure the forwarding path");
        }

        return worker;
    }

    /// <summary>A VM device that always has a full batch of the generator's frames waiting.</summary>
    private sealed class GeneratorPort(SyntheticTraffic traffic) : IPacketPort
    {
        public string Name => "generator";

        public int Receive(Span<PacketBuffer> into, BufferPool pool)
        {
            int n = 0;
            while (n < into.Length && pool.Rent() is { } b)
            {
                traffic.Fill(b);
                into[n++] = b;
            }

            return n;
        }

        public int Transmit(ReadOnlySpan<PacketBuffer> frames) => frames.Length;

        public bool WaitReadable(int timeoutMs) => true;

        public void Dispose()
        {
        }
    }

    /// <summary>A provider device that receives nothing and takes everything.</summary>
    private sealed class SinkPort : IPacketPort
    {
        public string Name => "sink";

        public int Receive(Span<PacketBuffer> into, BufferPool pool) => 0;

        public int Transmit(ReadOnlySpan<PacketBuffer> frames) => frames.Length;

        public bool WaitReadable(int timeoutMs) => false;

        public void Dispose()
        {
        }
    }
}
