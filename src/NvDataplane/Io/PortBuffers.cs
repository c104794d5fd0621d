using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NvDataplane.Pipeline;

namespace NvDataplane.Io;

/// <summary>Addresses of pool buffers for system calls; the pool's arrays are pinned, so they are stable.</summary>
internal static unsafe class PortBuffers
{
    /// <summary>Where a received frame is written: the headroom mark.</summary>
    public static byte* ReceiveStart(PacketBuffer buffer) =>
        (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer.Data)) + PacketBuffer.Headroom;

    /// <summary>The first byte of the frame a buffer holds.</summary>
    public static byte* FrameStart(PacketBuffer buffer) =>
        (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer.Data)) + buffer.Offset;

    /// <summary>Arrival time for a batch, ns since the Unix epoch: one clock read per batch.</summary>
    public static long NowNs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
}
