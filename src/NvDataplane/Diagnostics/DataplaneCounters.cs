namespace NvDataplane.Diagnostics;

/// <summary>
/// Counters of one forwarding worker: per-port rx/tx, frames forwarded and answered, drops by
/// reason. Written only by the worker that owns them; readers see plain 64-bit values, which
/// are read atomically on 64-bit hosts.
/// </summary>
public sealed class DataplaneCounters
{
    public DataplaneCounters(int portCount)
    {
        PortRx = new long[portCount];
        PortTx = new long[portCount];
    }

    public long[] PortRx { get; }
    public long[] PortTx { get; }
    public long[] Drops { get; } = new long[DropReasons.Count];

    /// <summary>Frames received that left again (forwarded, encapsulated, rewritten or decapsulated).</summary>
    public long Forwarded { get; set; }

    /// <summary>Frames received that were answered here (ARP, ND, echo) and consumed.</summary>
    public long Answered { get; set; }

    /// <summary>Live migration: relayed frames, REDIRECT / UNREACHABLE sent and received (MigrationCounters.cs).</summary>
    public MigrationCounters Migration { get; } = new();

    public long TotalDrops => Drops.Sum();

    public long TotalRx => PortRx.Sum();

    public long Drop(DropReason reason) => Drops[(int)reason];
}
