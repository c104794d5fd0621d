using System.Runtime.CompilerServices;
using NvDataplane.Io;

namespace NvDataplane.Pipeline;

// The capture tap (PortCapture.cs): while no capture is armed, _captures is null and the batch
// loop pays one predictable branch per batch; while one is, every batch goes through
// ProcessCaptured, which copies frames into the captures' rings around the usual ProcessBatch.
public sealed partial class PortWorker
{
    private readonly object _captureLock = new();
    private readonly DropRecorder _captureDrops = new(BatchSize);

    // Copy-on-write: the control side replaces the array under _captureLock; the worker reads it once per batch.
    private CaptureSession[]? _captures;

    /// <summary>Whether some capture is armed (the batch loop then takes the capturing path).</summary>
    internal bool CaptureArmed => Volatile.Read(ref _captures) is not null;

    /// <summary>Arms <paramref name="session"/>: from the next batch on the worker feeds it.</summary>
    internal void AttachCapture(CaptureSession session)
    {
        lock (_captureLock)
        {
            Volatile.Write(ref _captures, [.. _captures ?? [], session]);
        }
    }

    /// <summary>Disarms <paramref name="session"/> (from the reader, or from the worker when the count is reached).</summary>
    internal void DetachCapture(CaptureSession session)
    {
        lock (_captureLock)
        {
            var left = (_captures ?? []).Where(c => c != session).ToArray();
            Volatile.Write(ref _captures, left.Length == 0 ? null : left);
        }
    }

    /// <summary>
    /// A batch received on <paramref name="port"/> while captures are armed: the received frames
    /// are copied before the forwarder changes them, the drops are noted with their reason when a
    /// capture of the port wants them, and every captured port's transmit queue is copied before
    /// the devices get it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ProcessCaptured(CaptureSession[] captures, int port, Span<PacketBuffer> batch)
    {
        long now = PortBuffers.NowNs();
        bool drops = false;
        foreach (var c in captures)
        {
            if (c.PortIndex == port)
            {
                c.CopyReceived(batch, now);
                drops |= c.IncludeDrops;
            }
        }

        _forwarder.DropRecorder = drops ? _captureDrops : null;
        _forwarder.ProcessBatch(port, batch);
        _forwarder.DropRecorder = null;
        foreach (var c in captures)
        {
            if (c.PortIndex == port)
            {
                c.PublishReceived(batch, drops ? _captureDrops : null);
            }

            c.CopyTransmitted(_forwarder.PendingTransmit(c.PortIndex), now);
        }

        _captureDrops.Clear();
    }
}
