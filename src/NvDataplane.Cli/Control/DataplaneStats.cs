using System.Diagnostics;
using NvDataplane.Diagnostics;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using NvDataplane.Policy.Sources;

namespace NvDataplane.Cli.Control;

/// <summary>
/// Reads what the workers count, for <c>/v1/stats</c>, <c>/metrics</c> and the
/// <c>NvDataplane</c> meter. Only reads: the counters are plain 64-bit values each worker writes
/// alone (atomic to read on 64-bit hosts), so nothing here takes a lock a worker takes or makes
/// a worker wait. Clearing does not touch them either: like OVS's <c>pmd-stats-clear</c>, it
/// keeps the values of that moment and <see cref="SinceClear"/> subtracts them; <c>/metrics</c>
/// and the meter always show the running totals (Prometheus counters never go back).
/// </summary>
internal sealed class DataplaneStats
{
    private readonly PolicyEditor _editor;
    private readonly IReadOnlyList<PortWorker> _workers;
    private readonly IReadOnlyList<IPacketPort> _devices;
    private readonly EtcdPolicySource? _source;
    private StatsSnapshot _baseline;

    /// <param name="workers">The workers; each owns every port of the policy (counters indexed by policy port).</param>
    /// <param name="devices">One device per policy port, for the frames the devices lost (read now and then, never per batch).</param>
    /// <param name="source">The etcd policy source when the policy comes from one, for its counters.</param>
    public DataplaneStats(PolicyEditor editor, IReadOnlyList<PortWorker> workers, IReadOnlyList<IPacketPort> devices, CpuClock clock, EtcdPolicySource? source = null)
    {
        _editor = editor;
        _workers = workers;
        _devices = devices;
        _source = source;
        Clock = clock;
        _baseline = StatsSnapshot.Zero(Take());
    }

    public CpuClock Clock { get; }

    /// <summary>The workers counted; <c>/v1/capture</c> arms its captures on them.</summary>
    public IReadOnlyList<PortWorker> Workers => _workers;

    public string HostName => _editor.Store.Current.Config.HostName;

    /// <summary>The running totals now.</summary>
    public StatsSnapshot Take()
    {
        var policy = _editor.Store.Current;
        var ports = policy.Config.Ports;
        var portStats = new PortStats[ports.Count];
        var drops = new long[DropReasons.Count];
        long forwarded = 0, answered = 0;
        for (int p = 0; p < ports.Count; p++)
        {
            var device = _devices[p];
            portStats[p] = new PortStats(ports[p].Name, ports[p].Role, ports[p].VirtualSubnetId, 0, 0, 0, device.DeviceDrops)
            {
                RxTooLarge = device.ReceiveTruncated,
                TxDropped = device.TransmitDropped,
            };
        }

        var workers = new WorkerStats[_workers.Count];
        for (int w = 0; w < _workers.Count; w++)
        {
            var worker = _workers[w];
            var c = worker.Forwarder.Counters;
            for (int p = 0; p < ports.Count; p++)
            {
                portStats[p] = portStats[p] with
                {
                    Rx = portStats[p].Rx + c.PortRx[p],
                    Tx = portStats[p].Tx + c.PortTx[p],
                    TxRefused = portStats[p].TxRefused + worker.TxRefused[p],
                };
            }

            for (int r = 0; r < drops.Length; r++)
            {
                drops[r] += c.Drops[r];
            }

            forwarded += c.Forwarded;
            answered += c.Answered;
            var t = worker.Times;
            workers[w] = new WorkerStats(t.Packets, t.Batches, t.ReceiveTicks, t.ForwardTicks, t.TransmitTicks);
        }

        var entries = new int[PolicySections.All.Length];
        foreach (var section in PolicySections.All)
        {
            entries[(int)section] = _editor.EntryCount(section);
        }

        return new StatsSnapshot(DateTimeOffset.UtcNow, policy.Version, _editor.ChangesApplied, entries, portStats, drops, forwarded, answered, workers)
        {
            PolicyUnseenVersions = _editor.UnseenVersions,
            PolicySource = _source is { } e ? PolicySourceStats.Of(e) : null,
        };
    }

    /// <summary>The counts since the daemon started or since the last <see cref="Clear"/>.</summary>
    public StatsSnapshot SinceClear() => Take().Minus(Volatile.Read(ref _baseline));

    /// <summary>Starts <see cref="SinceClear"/> from zero; returns the time it counts from.</summary>
    public DateTimeOffset Clear()
    {
        var now = Take();
        Volatile.Write(ref _baseline, now);
        return now.Taken;
    }
}

/// <summary>
/// One port's counts: frames received, queued for the device, refused by it, lost in it; and,
/// from the device, frames received too large for a buffer and frames it could never send.
/// </summary>
internal readonly record struct PortStats(string Name, PortRole Role, uint? VirtualSubnetId, long Rx, long Tx, long TxRefused, long DeviceDrops)
{
    public long RxTooLarge { get; init; }

    public long TxDropped { get; init; }
}

/// <summary>The etcd policy source's counts (EtcdPolicySource; running totals, as the policy version is).</summary>
internal sealed record PolicySourceStats(
    long Reads,
    long Compactions,
    long Updates,
    long Events,
    long Rejected,
    long Refused,
    long Unreachable,
    long Watches,
    long Revision,
    long AppliedRevision,
    int RejectedKeys,
    bool Connected)
{
    public static PolicySourceStats Of(EtcdPolicySource s) =>
        new(s.Reads, s.Compactions, s.Updates, s.Events, s.Rejected, s.Refused, s.Unreachable, s.Watches, s.Revision, s.AppliedRevision, s.RejectedKeys, s.Connected);
}

/// <summary>One worker's counts and busy time (Stopwatch ticks) as <see cref="WorkerTimes"/> keeps them.</summary>
internal readonly record struct WorkerStats(long Packets, long Batches, long ReceiveTicks, long ForwardTicks, long TransmitTicks)
{
    /// <summary>Frames per non-empty receive over the batch size: how full the batches were (0..1).</summary>
    public double BatchFill => Batches == 0 ? 0 : (double)Packets / Batches / PortWorker.BatchSize;

    /// <summary>Where a worker's busy time goes, as OVS and VPP split it: receive and transmit are the devices, forward is nvdp.</summary>
    public static readonly (string Name, Func<WorkerStats, long> Ticks)[] Stages =
        [("receive", w => w.ReceiveTicks), ("forward", w => w.ForwardTicks), ("transmit", w => w.TransmitTicks)];

    public static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;

    public double NsPerPacket(long ticks) => Packets == 0 ? 0 : Seconds(ticks) * 1e9 / Packets;
}

/// <summary>Every count at one moment (the running totals, or the difference of two moments).</summary>
internal sealed record StatsSnapshot(
    DateTimeOffset Taken,
    long PolicyVersion,
    long PolicyChanges,
    int[] Entries,
    PortStats[] Ports,
    long[] Drops,
    long Forwarded,
    long Answered,
    WorkerStats[] Workers)
{
    /// <summary>When the counts start: the daemon's start, or the last clear.</summary>
    public DateTimeOffset Since { get; init; } = Taken;

    /// <summary>Policy versions answered before every worker had taken them (PolicyEditor.UnseenVersions; a running total, as the version is).</summary>
    public long PolicyUnseenVersions { get; init; }

    /// <summary>The etcd policy source's counts, or null when the policy does not come from etcd.</summary>
    public PolicySourceStats? PolicySource { get; init; }

    public long Rx => Ports.Sum(p => p.Rx);

    public long Dropped => Drops.Sum();

    /// <summary>A baseline of zero counts taken at <paramref name="start"/>'s moment.</summary>
    public static StatsSnapshot Zero(StatsSnapshot start) => start with
    {
        Ports = [.. start.Ports.Select(p => p with { Rx = 0, Tx = 0, TxRefused = 0, DeviceDrops = 0, RxTooLarge = 0, TxDropped = 0 })],
        Drops = new long[start.Drops.Length],
        Forwarded = 0,
        Answered = 0,
        Workers = new WorkerStats[start.Workers.Length],
    };

    /// <summary>The counts since <paramref name="baseline"/> (the policy figures stay as they are now).</summary>
    public StatsSnapshot Minus(StatsSnapshot baseline) => this with
    {
        Since = baseline.Taken,
        Ports = [.. Ports.Select((p, i) => p with
        {
            Rx = p.Rx - baseline.Ports[i].Rx,
            Tx = p.Tx - baseline.Ports[i].Tx,
            TxRefused = p.TxRefused - baseline.Ports[i].TxRefused,
            DeviceDrops = p.DeviceDrops - baseline.Ports[i].DeviceDrops,
            RxTooLarge = p.RxTooLarge - baseline.Ports[i].RxTooLarge,
            TxDropped = p.TxDropped - baseline.Ports[i].TxDropped,
        })],
        Drops = [.. Drops.Select((d, i) => d - baseline.Drops[i])],
        Forwarded = Forwarded - baseline.Forwarded,
        Answered = Answered - baseline.Answered,
        Workers = [.. Workers.Select((w, i) => new WorkerStats(
            w.Packets - baseline.Workers[i].Packets,
            w.Batches - baseline.Workers[i].Batches,
            w.ReceiveTicks - baseline.Workers[i].ReceiveTicks,
            w.ForwardTicks - baseline.Workers[i].ForwardTicks,
            w.TransmitTicks - baseline.Workers[i].TransmitTicks))],
    };

    /// <summary>Per VSID, the sum over its vm ports (no counter of its own on the hot path).</summary>
    public IEnumerable<(uint Vsid, string[] Ports, long Rx, long Tx)> VirtualSubnets() =>
        Ports.Where(p => p.Role == PortRole.Vm && p.VirtualSubnetId is not null)
            .GroupBy(p => p.VirtualSubnetId!.Value)
            .OrderBy(g => g.Key)
            .Select(g => (g.Key, g.Select(p => p.Name).ToArray(), g.Sum(p => p.Rx), g.Sum(p => p.Tx)));
}
