namespace NvDataplane.Io;

/// <summary>
/// Pins the calling thread to CPUs (sched_setaffinity(2) on Linux, where affinity is per thread
/// and threads inherit their creator's), as OVS's pmd-cpu-mask and VPP's corelist-workers give a
/// poll-mode worker a core of its own. Elsewhere it does nothing and says so.
/// </summary>
public static class CpuAffinity
{
    /// <summary>Pins the calling thread to <paramref name="cpus"/> (0-based, below 64); false (nothing changed) where that is not possible.</summary>
    public static bool PinCurrentThread(IEnumerable<int> cpus)
    {
        ulong mask = 0;
        foreach (int cpu in cpus)
        {
            if (cpu is < 0 or > 63)
            {
                return false;
            }

            mask |= 1UL << cpu;
        }

        return mask != 0 && OperatingSystem.IsLinux() && LinuxNative.SchedSetAffinity(0, sizeof(ulong), ref mask) == 0;
    }
}
