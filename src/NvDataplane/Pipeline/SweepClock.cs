namespace NvDataplane.Pipeline;

/// <summary>
/// When a full table may be swept again: a table that stays full must not make every frame pay
/// for a scan of it, so a sweep comes at most once per interval of frame time (and at once
/// when the clock went back, as after a replay's reload).
/// </summary>
internal static class SweepClock
{
    /// <summary>True, noting <paramref name="nowNs"/> in <paramref name="lastNs"/>, when the last sweep was <paramref name="intervalNs"/> ago or more (long.MinValue: never).</summary>
    public static bool Due(ref long lastNs, long nowNs, long intervalNs)
    {
        if (lastNs != long.MinValue && nowNs - lastNs < intervalNs && nowNs >= lastNs)
        {
            return false;
        }

        lastNs = nowNs;
        return true;
    }
}
