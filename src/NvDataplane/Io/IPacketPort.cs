using NvDataplane.Pipeline;

namespace NvDataplane.Io;

/// <summary>
/// A device frames are read from and written to, one batch per call. Receive, Transmit and
/// WaitReadable never block beyond WaitReadable's timeout. Not thread-safe: one worker owns a port.
/// </summary>
public interface IPacketPort : IDisposable
{
    /// <summary>The device as configured, e.g. "tap:red1" or "afpacket:eth1".</summary>
    string Name { get; }

    /// <summary>
    /// Fills up to <c>into.Length</c> slots with frames waiting now, in arrival order, each in a
    /// buffer rented from <paramref name="pool"/> (the caller returns them). Returns the count;
    /// 0 when nothing is waiting or the pool is empty. Never blocks.
    /// </summary>
    int Receive(Span<PacketBuffer> into, BufferPool pool);

    /// <summary>
    /// Sends frames in order and returns how many from the front were taken. Fewer than
    /// <c>frames.Length</c> means the device queue is full: send the rest later. A frame the
    /// device can never send (too large, link down) is taken and counted as dropped by the port,
    /// so one bad frame never stalls the queue behind it. The caller keeps the buffers.
    /// </summary>
    int Transmit(ReadOnlySpan<PacketBuffer> frames);

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> (0: just look, negative: forever) for a frame to
    /// read; true when one is waiting (or an error is, which the next Receive reports).
    /// </summary>
    bool WaitReadable(int timeoutMs);

    /// <summary>
    /// Frames the device itself lost on the way in since the port opened, because it kept them
    /// for us and its buffer was full (we read too slowly); 0 where the device does not say.
    /// Not the frames Transmit counts as dropped. May ask the device, so read it now and then, not per batch.
    /// </summary>
    long DeviceDrops => 0;

    /// <summary>
    /// Frames received that were too large for a buffer (jumbo frames of 9,216 bytes fit), or cut
    /// short by the device, and so dropped, since the port opened: an MTU over 9,216, or a local
    /// kernel's unsegmented frame an <c>afpacket:</c> port cannot cut (see <see cref="GsoSegmenter"/>).
    /// </summary>
    long ReceiveTruncated => 0;

    /// <summary>Frames <see cref="Transmit"/> took but the device could never send as they were (too large, a runt, the link down), since the port opened.</summary>
    long TransmitDropped => 0;

    /// <summary>The device's MTU as last read (an <c>afpacket:</c> port reads it every 200 ms), or 0 where the port does not know it.</summary>
    int DeviceMtu => 0;
}
