using NvDataplane.Headers;
using NvDataplane.Nvgre;

namespace NvDataplane.Pipeline;

/// <summary>
/// At most one REDIRECT and one UNREACHABLE per (sender PA, VSID, CA) per
/// <see cref="IntervalNs"/>, on the frames' clock, so a 20,000 packet/s stream toward a moved VM
/// costs its sender 10 messages a second, not 20,000. Per worker; bounded by
/// <see cref="Capacity"/> keys (when full, keys older than the interval are swept, at most once
/// per <see cref="SweepIntervalNs"/> so that a sender filling the table cannot make every frame
/// pay for a sweep; still full: the message is not sent).
/// </summary>
public sealed class MessageRateLimiter
{
    public const long IntervalNs = 100_000_000;
    public const int Capacity = 4096;
    public const long SweepIntervalNs = IntervalNs / 10;

    private readonly Dictionary<(MigrationMessageKind Kind, IpAddr SenderPa, uint Vsid, IpAddr Ca), long> _lastNs = [];
    private long _lastSweepNs = long.MinValue;

    /// <summary>Sweeps of the full table so far (tests: a table kept full costs a sweep per <see cref="SweepIntervalNs"/>, not per frame).</summary>
    internal long Sweeps { get; private set; }

    /// <summary>True (and the time noted) when a message of <paramref name="kind"/> may go now.</summary>
    public bool TryAcquire(MigrationMessageKind kind, IpAddr senderPa, uint vsid, IpAddr ca, long nowNs)
    {
        var key = (kind, senderPa, vsid, ca);
        if (_lastNs.TryGetValue(key, out long last))
        {
            if (nowNs - last < IntervalNs && nowNs >= last)
            {
                return false;
            }
        }
        else if (_lastNs.Count >= Capacity && Sweep(nowNs) == 0)
        {
            return false;
        }

        _lastNs[key] = nowNs;
        return true;
    }

    private int Sweep(long nowNs)
    {
        if (!SweepClock.Due(ref _lastSweepNs, nowNs, SweepIntervalNs))
        {
            return 0;
        }

        Sweeps++;
        int removed = 0;
        foreach (var (key, last) in _lastNs)
        {
            if (nowNs - last >= IntervalNs || nowNs < last)
            {
                _lastNs.Remove(key);
                removed++;
            }
        }

        return removed;
    }
}
