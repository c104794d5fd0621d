namespace NvDataplane.Io;

/// <summary>
/// Pins the calling thread to CPUs (sched_setaffinity(2) on Linux, where affinity is per thread
/// and threads inherit their creator's), as OVS's pmd-cpu-mask and VPP's corelist-workers give a
/// poll-mode worker a core of its own. Elsewhere it does nothing and says so.
/// </summary>
public static class CpuAffinity
{
    /// <summary>Pins the calling thread to <paramref name="cpus"/> (0-based, below 64); false (nothing changed) where that is not possible.</summary>
    public static bool PinCurrentThread(IEnumerable<int> cpus) =>
        TryMask(cpus, out ulong mask) && LinuxNative.SchedSetAffinity(0, sizeof(ulong), ref mask) == 0;

    /// <summary>The affinity mask of <paramref name="cpus"/>; false when it is empty, names a CPU outside 0..63, or this is not Linux.</summary>
    private static bool TryMask(IEnumerable<int> cpus, out ulong mask)
    {
        mask = 0;
        foreach (int cpu in cpus)
        {
            if (cpu is < 0 or > 63)
            {
                return false;
            }

            mask |= 1UL << cpu;
        }

        return mask != 0 && OperatingSystem.IsLinux();
    }

    /// <summary>The calling thread's kernel thread id on Linux, or -1.</summary>
    private static int CurrentThreadId()
    {
        // /proc/thread-self links to "PID/task/TID".
        return OperatingSystem.IsLinux() && File.ResolveLinkTarget("/proc/thread-self", returnFinalTarget: false) is { } target
            && int.TryParse(Path.GetFileName(target.FullName), out int tid) ? tid : -1;
    }

    /// <summary>
    /// Pins every thread of the process but <paramref name="keep"/> (kernel thread ids) to
    /// <paramref name="cpus"/>: the runtime's own threads (tiered compilation, finalizer, timers)
    /// start with every CPU allowed, and one of them on a poll-mode worker's CPU takes its time.
    /// Threads made later inherit their creator's CPUs, so call it again now and then. Returns
    /// the threads pinned (0 where that is not possible).
    /// </summary>
    public static int PinOtherThreads(IReadOnlySet<int> keep, IEnumerable<int> cpus)
    {
        if (!TryMask(cpus, out ulong mask))
        {
            return 0;
        }

        int pinned = 0;
        foreach (string task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            // A thread that exits meanwhile just fails.
            if (int.TryParse(Path.GetFileName(task), out int tid) && !keep.Contains(tid) && LinuxNative.SchedSetAffinity(tid, sizeof(ulong), ref mask) == 0)
            {
                pinned++;
            }
        }

        return pinned;
    }

    /// <summary>
    /// Keeps every thread but the calling one on <paramref name="cpus"/> (<see cref="PinOtherThreads"/>
    /// now and every <paramref name="every"/>, since the runtime makes some threads afresh, its
    /// JIT worker among them): a poll-mode worker that pinned itself elsewhere keeps its CPU to
    /// itself. Dispose it to stop.
    /// </summary>
    public static IDisposable KeepOtherThreadsOn(IEnumerable<int> cpus, TimeSpan every)
    {
        var keep = new HashSet<int> { CurrentThreadId() };
        int[] others = [.. cpus];
        return new Timer(_ => PinOtherThreads(keep, others), null, TimeSpan.Zero, every);
    }
}
