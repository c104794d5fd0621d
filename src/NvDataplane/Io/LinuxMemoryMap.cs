using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace NvDataplane.Io;

/// <summary>A shared mapping of a descriptor (mmap(2)) unmapped exactly once, even if the owner forgets to dispose.</summary>
internal sealed unsafe class LinuxMemoryMap : SafeHandleZeroOrMinusOneIsInvalid
{
    private readonly nuint _size;

    private LinuxMemoryMap(void* address, nuint size)
        : base(ownsHandle: true)
    {
        SetHandle((nint)address);
        _size = size;
    }

    /// <summary>The first mapped byte; valid until disposed.</summary>
    public byte* Address => (byte*)handle;

    /// <summary>Maps <paramref name="size"/> bytes of <paramref name="fd"/> read-write and shared; the errno on failure.</summary>
    public static LinuxMemoryMap? MapShared(int fd, nuint size, out int errno)
    {
        void* address = LinuxNative.Mmap(null, size, LinuxNative.PROT_READ | LinuxNative.PROT_WRITE, LinuxNative.MAP_SHARED, fd, 0);
        errno = address == (void*)-1 ? Marshal.GetLastPInvokeError() : 0; // MAP_FAILED
        return errno == 0 ? new LinuxMemoryMap(address, size) : null;
    }

    protected override bool ReleaseHandle() => LinuxNative.Munmap((void*)handle, _size) == 0;
}
