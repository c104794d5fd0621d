using Microsoft.Win32.SafeHandles;

namespace NvDataplane.Io;

/// <summary>A Linux file descriptor closed exactly once, even if the owner forgets to dispose.</summary>
internal sealed class LinuxFileDescriptor : SafeHandleMinusOneIsInvalid
{
    public LinuxFileDescriptor(int fd)
        : base(ownsHandle: true) => SetHandle(fd);

    /// <summary>The descriptor number, for the calls; valid until disposed.</summary>
    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => LinuxNative.Close((int)handle) == 0;
}
