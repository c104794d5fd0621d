using System.Diagnostics;
using NvDataplane.Diagnostics;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

/// <summary>What one in-memory throughput run measured.</summary>
public sealed record ThroughputResult(
    string Scenario,
    int Records,
    int FrameSize,
    long Packets,
    double Seconds,
    double Mpps,
    double NsPerPacket,
    double AllocatedBytesPerPacket,
    int GcCollections,
    long Forwarded,
    long Dropped);

/// <summary>
/// Drives the whole pipeline through in-memory ports on the calling thread: a generator port
/// fills a batch of pooled buffers, the forwarder decides every frame, and a sink port takes each
/// port's transmit queue once per batch. Allocation and GC counts are taken over the steady state
/// only (after a warm-up).
/// </summary>
public static class ThroughputRunner
{
    public const int BatchSize = 32;

    public static ThroughputResult Run(SyntheticTraffic traffic, double seconds, double warmupSeconds = 1.0) =>
        Run(traffic, seconds, warmupSeconds, new PolicyStore(PolicySnapshot.Build(traffic.Config)), null);

    /// <summary>
    /// As <see cref="Run(SyntheticTraffic, double, double)"/> over <paramref name="store"/>, which
    /// others may change meanwhile (the policy-churn benchmark); <paramref name="onBatch"/>, when
    /// given, is told the policy version of every batch.
    /// </summary>
    public static ThroughputResult Run(SyntheticTraffic traffic, double seconds, double warmupSeconds, PolicyStore store, Action<long>? onBatch)
    {
        var pool = new BufferPool(4 * BatchSize, 2048);
        using var reader = store.AddReader();
        var forwarder = new Forwarder(store, pool) { Reader = reader };
        var batch = new PacketBuffer[BatchSize];
        int port = traffic.IngressPort;

        RunFor(warmupSeconds);
        long forwarded0 = forwarder.Counters.Forwarded;
        long dropped0 = forwarder.Counters.TotalDrops;
        int gc0 = GC.CollectionCount(0) + GC.CollectionCount(1) + GC.CollectionCount(2);
        long alloc0 = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        long packets = RunFor(seconds);
        sw.Stop();
        long alloc = GC.GetAllocatedBytesForCurrentThread() - alloc0;
        int gcs = GC.CollectionCount(0) + GC.CollectionCount(1) + GC.CollectionCount(2) - gc0;
        double elapsed = sw.Elapsed.TotalSeconds;
        return new ThroughputResult(
            traffic.Scenario.ToString().ToLowerInvariant(),
            traffic.Config.LookupRecords.Count - 1,
            traffic.FrameSize,
            packets,
            elapsed,
            packets / elapsed / 1e6,
            elapsed * 1e9 / packets,
            (double)alloc / packets,
            gcs,
            forwarder.Counters.Forwarded - forwarded0,
            forwarder.Counters.TotalDrops - dropped0);

        long RunFor(double s)
        {
            long count = 0;
            long deadline = Stopwatch.GetTimestamp() + (long)(s * Stopwatch.Frequency);
            do
            {
                // Check the clock once per 64 batches: the clock read is not free at 50 ns/packet.
                for (int round = 0; round < 64; round++)
                {
                    for (int i = 0; i < BatchSize; i++)
                    {
                        var b = pool.Rent()!;
                        traffic.Fill(b);
                        batch[i] = b;
                    }

                    forwarder.ProcessBatch(port, batch);
                    onBatch?.Invoke(forwarder.Policy.Version);
                    for (int p = 0; p < forwarder.PortCount; p++)
                    {
                        forwarder.CompleteTransmit(p);
                    }

                    count += BatchSize;
                }
            }
            while (Stopwatch.GetTimestamp() < deadline);
            return count;
        }
    }
}
