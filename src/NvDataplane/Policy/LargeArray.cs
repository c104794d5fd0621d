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

    /// <summary>A zeroed array of <paramref name="count"/> elements.</summary>
    public static unsafe T[] Allocate<T>(int count)
        where T : unmanaged
    {
        var array = GC.AllocateUninitializedArray<T>(count, pinned: true);
        long bytes = (long)count * sizeof(T);
        if (bytes >= 2 * HugePageSize && OperatingSystem.IsLinux())
        {
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
        }

        array.AsSpan().Clear();
        return array;
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);
}
