using System.Runtime.InteropServices;

namespace NvDataplane.Policy;

/// <summary>
/// Allocates the large policy tables (lookup slots, records, templates) pinned and, on Linux,
/// asks the kernel to back them with transparent huge pages before they are first touched. A
/// lookup into a table of a million records is a DRAM access; with 4 KiB pages it is a TLB miss
/// and a page walk as well, which on a virtual machine costs as much again.
/// </summary>
internal static partial class LargeArray
{
    private const int MadvHugePage = 14;
    private const long HugePageSize = 2 * 1024 * 1024;

    /// <summary>
    /// A zeroed array of <paramref name="count"/> elements: pinned, with huge-page advice, when
    /// it spans at least two huge pages; else an ordinary array. Pinned arrays live on the
    /// pinned-object heap, which only a full (generation 2) collection frees, and a policy
    /// changed many times a second compiles small tables many times a second: pinning those
    /// made the collector run full collections, stopping the forwarding threads each time.
    /// </summary>
    public static unsafe T[] Allocate<T>(int count)
        where T : unmanaged
    {
        long bytes = (long)count * sizeof(T);
        if (bytes < 2 * HugePageSize || !OperatingSystem.IsLinux())
        {
            return new T[count];
        }

        var array = GC.AllocateUninitializedArray<T>(count, pinned: true);
        fixed (T* p = array)
        {
            long start = ((long)p + HugePageSize - 1) & ~(HugePageSize - 1);
            long end = ((long)p + bytes) & ~(HugePageSize - 1);
            if (end > start)
            {
                // Advice only: where the kernel says no (THP off), the table works as before.
                _ = Madvise((nint)start, (nuint)(end - start), MadvHugePage);
            }
        }

        array.AsSpan().Clear();
        return array;
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);
}
