using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using NvDataplane.Diagnostics;
using NvDataplane.Policy;

namespace NvDataplane.Cli.Control;

public enum MetricKind
{
    Counter,
    Gauge,
}

/// <summary>
/// One figure the daemon publishes, named once: the meter instrument is <see cref="Name"/>
/// (<c>nvdp.port.rx_packets</c>), the Prometheus family is the same name with underscores and,
/// for a counter, <c>_total</c> (<c>nvdp_port_rx_packets_total</c>), as OpenTelemetry's Prometheus
/// exporter maps them. <see cref="Read"/> yields one measurement per label set.
/// </summary>
internal sealed record MetricFamily(string Name, MetricKind Kind, string? Unit, string Help, Func<StatsSnapshot, CpuClock, IEnumerable<Measurement<double>>> Read)
{
    public string PrometheusName { get; } = Name.Replace('.', '_') + (Kind == MetricKind.Counter ? "_total" : "");
}

/// <summary>
/// The one list of the daemon's metrics, and the two ways it is shown: the <c>NvDataplane</c>
/// meter (observable instruments, read when a listener such as <c>dotnet-counters monitor -n nvdp
/// --counters NvDataplane</c> collects) and <c>/metrics</c> in the Prometheus text format 0.0.4.
/// Both read the running totals (never the values since a stats clear).
/// </summary>
internal static class DataplaneMetrics
{
    public const string MeterName = "NvDataplane";

    public const string PrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static readonly MetricFamily[] Families =
    [
        new("nvdp.port.rx_packets", MetricKind.Counter, "{packet}", "Frames received, per port.",
            (s, _) => s.Ports.Select(p => Sample(p.Rx, "port", p.Name))),
        new("nvdp.port.tx_packets", MetricKind.Counter, "{packet}", "Frames queued to a port's device, per port (the ones it refused included).",
            (s, _) => s.Ports.Select(p => Sample(p.Tx, "port", p.Name))),
        new("nvdp.port.tx_refused", MetricKind.Counter, "{packet}", "Frames a port's device would not take (its queue stayed full), per port.",
            (s, _) => s.Ports.Select(p => Sample(p.TxRefused, "port", p.Name))),
        new("nvdp.port.device_drops", MetricKind.Counter, "{packet}", "Frames a port's device lost on the way in because nvdp read too slowly (ring or buffer full), per port.",
            (s, _) => s.Ports.Select(p => Sample(p.DeviceDrops, "port", p.Name))),
        new("nvdp.port.rx_too_large", MetricKind.Counter, "{packet}", "Frames a port received that were too large for a buffer (jumbo frames of 9,216 bytes fit; a local kernel's unsegmented frames are cut first) and so dropped, per port.",
            (s, _) => s.Ports.Select(p => Sample(p.RxTooLarge, "port", p.Name))),
        new("nvdp.port.tx_dropped", MetricKind.Counter, "{packet}", "Frames a port's device could never send as they were (too large for its MTU, a runt, the link down), per port.",
            (s, _) => s.Ports.Select(p => Sample(p.TxDropped, "port", p.Name))),
        new("nvdp.vsid.rx_packets", MetricKind.Counter, "{packet}", "Frames received from the vm ports of a virtual subnet.",
            (s, _) => s.VirtualSubnets().Select(v => Sample(v.Rx, "vsid", Text(v.Vsid)))),
        new("nvdp.vsid.tx_packets", MetricKind.Counter, "{packet}", "Frames queued to the vm ports of a virtual subnet.",
            (s, _) => s.VirtualSubnets().Select(v => Sample(v.Tx, "vsid", Text(v.Vsid)))),
        new("nvdp.forwarded", MetricKind.Counter, "{packet}", "Frames received that left again (forwarded, encapsulated, rewritten or decapsulated).",
            (s, _) => [Sample(s.Forwarded)]),
        new("nvdp.answered", MetricKind.Counter, "{packet}", "Frames received that were answered here (ARP, ND, echo, DHCP) and consumed.",
            (s, _) => [Sample(s.Answered)]),
        new("nvdp.drops", MetricKind.Counter, "{packet}", "Frames dropped, by reason (SPEC section 5 names).",
            (s, _) => DropReasons.All.Select(r => Sample(s.Drops[(int)r], "reason", DropReasons.Name(r)))),
        new("nvdp.policy.version", MetricKind.Gauge, null, "Version of the running policy (1 at start, one more per published change).",
            (s, _) => [Sample(s.PolicyVersion)]),
        new("nvdp.policy.changes", MetricKind.Counter, "{change}", "Policy entries added, set or removed through the policy editor (control API, reload).",
            (s, _) => [Sample(s.PolicyChanges)]),
        new("nvdp.policy.unseen_versions", MetricKind.Counter, "{version}", "Policy versions answered before every worker had taken them: a worker did not move for 10 ms (stuck in a device call).",
            (s, _) => [Sample(s.PolicyUnseenVersions)]),
        new("nvdp.policy.entries", MetricKind.Gauge, "{entry}", "Entries of the running policy, per section.",
            (s, _) => PolicySections.All.Select(p => Sample(s.Entries[(int)p], "section", PolicySections.JsonName(p)))),
        new("nvdp.worker.packets", MetricKind.Counter, "{packet}", "Frames a worker received and processed.",
            (s, _) => s.Workers.Select((w, i) => Sample(w.Packets, "worker", Text(i)))),
        new("nvdp.worker.batches", MetricKind.Counter, "{batch}", "Receive calls that returned frames, per worker.",
            (s, _) => s.Workers.Select((w, i) => Sample(w.Batches, "worker", Text(i)))),
        new("nvdp.worker.busy_seconds", MetricKind.Counter, "s", "Worker time spent on received frames, by stage: receive and transmit are the devices, forward is nvdp.",
            (s, _) => s.Workers.SelectMany((w, i) => WorkerStats.Stages.Select(stage => Sample(WorkerStats.Seconds(stage.Ticks(w)), "worker", Text(i), "stage", stage.Name)))),
        new("nvdp.worker.ns_per_packet", MetricKind.Gauge, "ns", "Worker time per frame since start, by stage.",
            (s, _) => s.Workers.SelectMany((w, i) => WorkerStats.Stages.Select(stage => Sample(w.NsPerPacket(stage.Ticks(w)), "worker", Text(i), "stage", stage.Name)))),
        new("nvdp.worker.cycles_per_packet", MetricKind.Gauge, "{cycle}", "Worker CPU cycles per frame since start, by stage (ns/packet times the CPU clock; 0 when the clock is unknown).",
            (s, clock) => s.Workers.SelectMany((w, i) => WorkerStats.Stages.Select(stage => Sample(clock.Cycles(w.NsPerPacket(stage.Ticks(w))), "worker", Text(i), "stage", stage.Name)))),
        new("nvdp.worker.batch_fill", MetricKind.Gauge, null, "Frames per non-empty receive over the batch size (32), per worker: 1 means every batch was full.",
            (s, _) => s.Workers.Select((w, i) => Sample(w.BatchFill, "worker", Text(i)))),
        new("nvdp.gc.pause_seconds", MetricKind.Counter, "s", "Time the .NET runtime stopped every thread, the workers included, to collect garbage (large policy changes allocate).",
            (_, _) => [Sample(GC.GetTotalPauseDuration().TotalSeconds)]),

        // The etcd policy source (policySource), when the policy comes from one: no samples otherwise.
        Source("reads", MetricKind.Counter, "{read}", "Full reads of the policy source's prefix: the first, and again after a compaction or an error.", e => e.Reads),
        Source("compactions", MetricKind.Counter, "{watch}", "Watches that found their start revision compacted (each followed by a full read).", e => e.Compactions),
        Source("updates", MetricKind.Counter, "{version}", "Policy versions the policy source published.", e => e.Updates),
        Source("events", MetricKind.Counter, "{event}", "Watch events (puts and deletes) the policy source received.", e => e.Events),
        Source("rejected", MetricKind.Counter, "{write}", "Key writes the policy source rejected (each key revision once); the key keeps its last good value.", e => e.Rejected),
        Source("refused", MetricKind.Counter, "{update}", "Updates refused whole (a problem no changed key could be blamed for).", e => e.Refused),
        Source("unreachable", MetricKind.Counter, "{outage}", "Times etcd became unreachable (forwarding goes on with the last policy).", e => e.Unreachable),
        Source("watches", MetricKind.Counter, "{watch}", "Watches started: the first, then one per resume.", e => e.Watches),
        Source("revision", MetricKind.Gauge, null, "The last etcd revision the policy source saw.", e => e.Revision),
        Source("applied_revision", MetricKind.Gauge, null, "The etcd revision the running policy reflects (0 before the first read applied).", e => e.AppliedRevision),
        Source("rejected_keys", MetricKind.Gauge, "{key}", "Keys whose etcd value is not what runs (rejected, waiting for a good write).", e => e.RejectedKeys),
        Source("connected", MetricKind.Gauge, null, "1 when the policy source's last call to etcd succeeded, else 0.", e => e.Connected ? 1 : 0),
    ];

    private static MetricFamily Source(string name, MetricKind kind, string? unit, string help, Func<PolicySourceStats, double> read) =>
        new("nvdp.policy_source." + name, kind, unit, help, (s, _) => s.PolicySource is { } e ? [Sample(read(e))] : []);

    /// <summary>A meter with one observable instrument per family, each reading <paramref name="stats"/> when collected.</summary>
    public static Meter CreateMeter(DataplaneStats stats)
    {
        var meter = new Meter(MeterName);
        foreach (var family in Families)
        {
            IEnumerable<Measurement<double>> Observe() => family.Read(stats.Take(), stats.Clock);
            if (family.Kind == MetricKind.Counter)
            {
                meter.CreateObservableCounter(family.Name, Observe, family.Unit, family.Help);
            }
            else
            {
                meter.CreateObservableGauge(family.Name, Observe, family.Unit, family.Help);
            }
        }

        return meter;
    }

    /// <summary>Every family with a sample, in the Prometheus text format (HELP, TYPE, then one line per label set).</summary>
    public static string Prometheus(StatsSnapshot snapshot, CpuClock clock)
    {
        var text = new StringBuilder(8192);
        foreach (var family in Families)
        {
            var samples = family.Read(snapshot, clock).ToList();
            if (samples.Count == 0)
            {
                continue; // the policy source's, on a host whose policy does not come from etcd
            }

            string name = family.PrometheusName;
            text.Append("# HELP ").Append(name).Append(' ').Append(family.Help.Replace("\\", "\\\\", StringComparison.Ordinal)).Append('\n');
            text.Append("# TYPE ").Append(name).Append(' ').Append(family.Kind == MetricKind.Counter ? "counter" : "gauge").Append('\n');
            foreach (var m in samples)
            {
                text.Append(name);
                var tags = m.Tags;
                for (int i = 0; i < tags.Length; i++)
                {
                    text.Append(i == 0 ? '{' : ',').Append(tags[i].Key).Append("=\"").Append(EscapeLabel(tags[i].Value as string ?? "")).Append('"');
                }

                text.Append(tags.Length == 0 ? "" : "}").Append(' ').Append(Number(m.Value)).Append('\n');
            }
        }

        return text.ToString();
    }

    private static Measurement<double> Sample(double value) => new(value);

    private static Measurement<double> Sample(double value, string label, string labelValue) =>
        new(value, new KeyValuePair<string, object?>(label, labelValue));

    private static Measurement<double> Sample(double value, string label1, string value1, string label2, string value2) =>
        new(value, new KeyValuePair<string, object?>(label1, value1), new KeyValuePair<string, object?>(label2, value2));

    private static string Text(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string EscapeLabel(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
