using NvDataplane.Diagnostics;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Bench;

/// <summary>
/// The loop of <see cref="ThroughputRunner"/>, one batch per call: rent 32 pooled buffers, fill
/// them from <see cref="SyntheticTraffic"/>, <see cref="Forwarder.ProcessBatch"/>, then
/// <see cref="Forwarder.CompleteTransmit"/> on every port. Setup checks that every frame of the
/// generator's whole sequence is forwarded, so a benchmark never measures a drop path by mistake.
/// </summary>
internal sealed class BatchHarness
{
    public const int BatchSize = ThroughputRunner.BatchSize;

    private readonly SyntheticTraffic _traffic;
    private readonly BufferPool _pool;
    private readonly Forwarder _forwarder;
    private readonly PacketBuffer[] _batch = new PacketBuffer[BatchSize];
    private readonly int _port;

    public BatchHarness(TrafficScenario scenario, int records)
    {
        _traffic = new SyntheticTraffic(scenario, records, FrameSize(scenario));
        var store = new PolicyStore(PolicySnapshot.Build(_traffic.Config));
        _pool = new BufferPool(4 * BatchSize, 2048);
        _forwarder = new Forwarder(store, _pool);
        _port = _traffic.IngressPort;
        CheckEveryFrameIsForwarded();
    }

    /// <summary>64-byte frames from the VM; for decap the same 64-byte inner frame behind 42 bytes of outer IPv4 + GRE.</summary>
    public static int FrameSize(TrafficScenario scenario) => scenario == TrafficScenario.Decap ? 64 + 42 : 64;

    /// <summary>One batch through the forwarder; returns the pool level so the work cannot be elided.</summary>
    public int RunBatch()
    {
        PacketBuffer[] batch = _batch;
        for (int i = 0; i < batch.Length; i++)
        {
            var b = _pool.Rent()!;
            _traffic.Fill(b);
            batch[i] = b;
        }

        _forwarder.ProcessBatch(_port, batch);
        for (int p = 0; p < _forwarder.PortCount; p++)
        {
            _forwarder.CompleteTransmit(p);
        }

        return _pool.Available;
    }

    /// <summary>The generator alone (rent, fill, return): the part of <see cref="RunBatch"/> that is not the forwarder.</summary>
    public int FillOnly()
    {
        PacketBuffer[] batch = _batch;
        for (int i = 0; i < batch.Length; i++)
        {
            var b = _pool.Rent()!;
            _traffic.Fill(b);
            batch[i] = b;
        }

        for (int i = 0; i < batch.Length; i++)
        {
            _pool.Return(batch[i]);
        }

        return _pool.Available;
    }

    private void CheckEveryFrameIsForwarded()
    {
        // 2048 batches = the generator's whole 65,536-frame sequence.
        const int batches = 2048;
        for (int i = 0; i < batches; i++)
        {
            RunBatch();
        }

        var c = _forwarder.Counters;
        const long expected = (long)batches * BatchSize;
        if (c.Forwarded != expected || c.TotalDrops != 0 || _pool.Available != _pool.Size)
        {
            var reasons = DropReasons.All.Where(r => c.Drop(r) != 0).Select(r => $"{DropReasons.Name(r)}={c.Drop(r)}");
            throw new InvalidOperationException(
                $"{_traffic.Scenario}: forwarded {c.Forwarded} of {expected}, drops [{string.Join(", ", reasons)}], " +
                $"pool {_pool.Available}/{_pool.Size}: the benchmark would not measure the forwarding path.");
        }
    }
}
