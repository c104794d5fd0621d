using System.Diagnostics;
using NvDataplane.Io;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

/// <summary>
/// The poll-mode loop of one worker: it owns a set of ports, a buffer pool and a
/// <see cref="Forwarder"/>, receives a batch from each port in turn, decides it, and hands each
/// port its transmit queue once per round. When a round finds nothing it backs off: it spins for
/// <see cref="SpinRounds"/> empty rounds, then yields, then waits on the first port's descriptor
/// for up to <see cref="MaxIdleWaitMs"/> ms, so an idle host costs almost no CPU and a busy one
/// never sleeps.
/// </summary>
public sealed partial class PortWorker
{
    public const int BatchSize = 32;
    public const int SpinRounds = 256;
    public const int YieldRounds = 1024;
    public const int MaxIdleWaitMs = 1;

    private readonly IReadOnlyList<IPacketPort> _ports;
    private readonly Forwarder _forwarder;
    private readonly PolicyStore _store;
    private readonly PacketBuffer[] _batch = new PacketBuffer[BatchSize];

    /// <param name="ports">One device per policy port, in the policy's port order.</param>
    public PortWorker(PolicyStore store, IReadOnlyList<IPacketPort> ports, int bufferCount = 4096)
    {
        if (ports.Count != store.Current.Ports.Length)
        {
            throw new ArgumentException($"{ports.Count} devices for {store.Current.Ports.Length} ports", nameof(ports));
        }

        _ports = ports;
        _store = store;
        _forwarder = new Forwarder(store, new BufferPool(bufferCount));
        TxRefused = new long[ports.Count];
    }

    public Forwarder Forwarder => _forwarder;

    /// <summary>Frames a device would not take (its queue stayed full), per port; they were counted as sent by the forwarder.</summary>
    public long[] TxRefused { get; }

    /// <summary>Empty rounds that ended in a wait, for the idle-cost figures.</summary>
    public long IdleWaits { get; private set; }

    /// <summary>Where the worker's busy time went; read it after <see cref="Run"/> returns.</summary>
    public WorkerTimes Times { get; } = new();

    /// <summary>Runs until <paramref name="stop"/> is cancelled.</summary>
    public void Run(CancellationToken stop)
    {
        // Policy changes are answered once this thread uses them (PolicyStore.WaitUntilSeen).
        using var reader = _store.AddReader();
        _forwarder.Reader = reader;
        try
        {
            Loop(reader, stop);
        }
        finally
        {
            _forwarder.Reader = null;
            // Frames still waiting for a next hop's MAC never leave: counted as replay counts
            // them at the end of its captures, not left in rx and nowhere else.
            _forwarder.ExpireParked(long.MaxValue);
        }
    }

    private void Loop(PolicyReader reader, CancellationToken stop)
    {
        int empty = 0;
        while (!stop.IsCancellationRequested)
        {
            int received = RunOnce();
            if (received > 0)
            {
                empty = 0;
                continue;
            }

            // No frame in hand: the next batch reads the current version first.
            reader.Idle();

            empty++;
            if (empty < SpinRounds)
            {
                Thread.SpinWait(16);
            }
            else if (empty < YieldRounds)
            {
                Thread.Yield();
            }
            else
            {
                IdleWaits++;
                _ports[0].WaitReadable(MaxIdleWaitMs);
            }
        }
    }

    /// <summary>One round over every port; returns the frames received.</summary>
    public int RunOnce()
    {
        int total = 0;
        var pool = _forwarder.Pool;
        if (_forwarder.ParkedCount > 0)
        {
            _forwarder.ExpireParked(PortBuffers.NowNs()); // the clock the ports stamp frames with
        }

        var times = Times;
        for (int p = 0; p < _ports.Count; p++)
        {
            long start = Stopwatch.GetTimestamp();
            int n = _ports[p].Receive(_batch, pool);
            long received = Stopwatch.GetTimestamp();
            if (n == 0)
            {
                times.EmptyReceiveTicks += received - start;
                continue;
            }

            total += n;
            if (Volatile.Read(ref _captures) is not { } captures)
            {
                _forwarder.ProcessBatch(p, _batch.AsSpan(0, n));
            }
            else
            {
                ProcessCaptured(captures, p, _batch.AsSpan(0, n));
            }

            long processed = Stopwatch.GetTimestamp();
            Flush();
            long flushed = Stopwatch.GetTimestamp();
            times.Packets += n;
            times.Batches++;
            times.ReceiveTicks += received - start;
            times.ForwardTicks += processed - received;
            times.TransmitTicks += flushed - processed;
        }

        return total;
    }

    private void Flush()
    {
        for (int q = 0; q < _ports.Count; q++)
        {
            var pending = _forwarder.PendingTransmit(q);
            if (pending.Length == 0)
            {
                continue;
            }

            int sent = 0;
            long deadline = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 10_000); // 100 µs of retries at most
            while (sent < pending.Length)
            {
                int n = _ports[q].Transmit(pending[sent..]);
                sent += n;
                if (n == 0 && Stopwatch.GetTimestamp() > deadline)
                {
                    break;
                }
            }

            TxRefused[q] += pending.Length - sent;
            _forwarder.CompleteTransmit(q);
        }
    }
}

/// <summary>
/// A worker's busy time split the way OVS's pmd-stats-show and VPP's show runtime split it: time
/// in the devices (receive and transmit calls, which are system calls for afpacket:, tap: and
/// pcap: ports) and time in nvdp's own forwarding, per received packet. Receive calls that found
/// nothing are idle polling, kept apart. Four clock reads per busy batch, no more.
/// </summary>
public sealed class WorkerTimes
{
    public long Packets { get; internal set; }

    public long Batches { get; internal set; }

    public long ReceiveTicks { get; internal set; }

    public long ForwardTicks { get; internal set; }

    public long TransmitTicks { get; internal set; }

    public long EmptyReceiveTicks { get; internal set; }

    public double ReceiveNsPerPacket => PerPacket(ReceiveTicks);

    public double ForwardNsPerPacket => PerPacket(ForwardTicks);

    public double TransmitNsPerPacket => PerPacket(TransmitTicks);

    public double AverageBatch => Batches == 0 ? 0 : (double)Packets / Batches;

    /// <summary>One line for logs: ns/packet in receive, forwarding and transmit, and the batch fill.</summary>
    public string Describe() => Packets == 0
        ? "no packets"
        : string.Create(
            System.Globalization.CultureInfo.InvariantCulture,
            $"ns/packet: receive {ReceiveNsPerPacket:F0} (device), forward {ForwardNsPerPacket:F0} (nvdp), transmit {TransmitNsPerPacket:F0} (device); {Packets} packets in {Batches} batches (avg {AverageBatch:F1})");

    private double PerPacket(long ticks) => Packets == 0 ? 0 : ticks * (1e9 / Stopwatch.Frequency) / Packets;
}
