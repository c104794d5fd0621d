using NvDataplane.Diagnostics;

namespace NvDataplane.Pipeline;

/// <summary>How a captured frame met the port.</summary>
public enum CaptureDirection
{
    /// <summary>Received on the port (and, when the capture tracks drops, not dropped).</summary>
    Rx,

    /// <summary>Handed to the port's device to send.</summary>
    Tx,

    /// <summary>Received on the port and dropped (only when the capture was started with drops); the frame as it arrived.</summary>
    Drop,
}

/// <summary>One frame of a capture, as the control side reads it.</summary>
/// <param name="TimestampNs">ns since the Unix epoch: the receive time for rx and drops, the time the frame was handed to the device for tx.</param>
/// <param name="Data">The frame's bytes, at most the capture's snap length.</param>
/// <param name="OriginalLength">The frame's length; more than <c>Data.Length</c> when the snap length cut it.</param>
/// <param name="DropReason">Why the frame was dropped (<see cref="CaptureDirection.Drop"/> only, else None).</param>
/// <param name="LostBefore">Frames the capture lost (its ring was full) just before this one.</param>
public sealed record CapturedPacket(long TimestampNs, CaptureDirection Direction, byte[] Data, int OriginalLength, DropReason DropReason, long LostBefore);

/// <summary>What a capture wrote, once it has ended.</summary>
/// <param name="Captured">Frames read out of the capture (written to the file).</param>
/// <param name="Lost">Frames the capture could not keep because its ring was full (the worker never waits).</param>
/// <param name="CountReached">True when the capture ended by reaching its count, false when it was stopped or cancelled first.</param>
public sealed record CaptureSummary(string Port, long Captured, long Lost, bool CountReached);

/// <summary>Sizes of a capture's ring.</summary>
public sealed record CaptureOptions
{
    public const int DefaultRingSlots = 1024;

    /// <summary>Every frame a worker buffer can hold is captured whole.</summary>
    public const int DefaultSnapLength = BufferPool.DefaultDataSize;

    public static CaptureOptions Default { get; } = new();

    /// <summary>Frames the ring holds between the worker and the reader (rounded up to a power of two).</summary>
    public int RingSlots { get; init; } = DefaultRingSlots;

    /// <summary>The most bytes kept of a frame; longer frames are cut (their original length is kept).</summary>
    public int SnapLength { get; init; } = DefaultSnapLength;

    /// <summary>How long the reader waits before looking at an empty ring again.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(2);
}

/// <summary>
/// <c>nvdp capture</c>: arms a tap on one port of a running <see cref="PortWorker"/>. From the next
/// batch on, the worker copies the frames received on the port, the frames it hands the port to
/// send and, when asked, marks the received frames it dropped with their reason, into a bounded
/// single-producer / single-consumer ring that the returned <see cref="CaptureSession"/> reads
/// (<see cref="CaptureSession.ReadAsync"/>, or <see cref="CaptureSession.WriteToAsync"/> for a pcapng
/// file). A full ring costs frames (counted as lost), never a wait in the worker. The capture ends
/// after <c>count</c> frames, or when stopped; while no capture is armed the worker pays one
/// predictable branch per batch.
/// </summary>
public static class PortCapture
{
    /// <summary>Starts a capture of <paramref name="count"/> frames (int.MaxValue: until stopped) on the worker's port <paramref name="portIndex"/>.</summary>
    /// <param name="includeDrops">Mark received frames the worker dropped as <see cref="CaptureDirection.Drop"/> with their reason; without it they are plain rx.</param>
    public static CaptureSession Start(PortWorker worker, int portIndex, int count, bool includeDrops = false, CaptureOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(worker);
        var ports = worker.Forwarder.Policy.Ports;
        ArgumentOutOfRangeException.ThrowIfNegative(portIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(portIndex, ports.Length);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        options ??= CaptureOptions.Default;
        ArgumentOutOfRangeException.ThrowIfLessThan(options.RingSlots, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.RingSlots, 1 << 20, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SnapLength, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.SnapLength, Io.PcapLayout.MaxFrameSize, nameof(options));
        var session = new CaptureSession(worker, portIndex, ports[portIndex].Name, count, includeDrops, options);
        worker.AttachCapture(session);
        return session;
    }

    /// <summary>As <see cref="Start(PortWorker, int, int, bool, CaptureOptions?)"/>, for the port named <paramref name="portName"/>.</summary>
    /// <exception cref="ArgumentException">No port has that name (the message lists the ports).</exception>
    public static CaptureSession Start(PortWorker worker, string portName, int count, bool includeDrops = false, CaptureOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(portName);
        var policy = worker.Forwarder.Policy;
        int index = policy.FindPort(portName);
        if (index < 0)
        {
            throw new ArgumentException($"no port named '{portName}'; the ports are {string.Join(", ", policy.Ports.Select(p => p.Name))}", nameof(portName));
        }

        return Start(worker, index, count, includeDrops, options);
    }
}
