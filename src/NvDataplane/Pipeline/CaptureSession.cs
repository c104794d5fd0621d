using NvDataplane.Diagnostics;
using NvDataplane.Io;

namespace NvDataplane.Pipeline;

/// <summary>
/// One armed capture (<see cref="PortCapture.Start(PortWorker, int, int, bool, CaptureOptions?)"/>):
/// a ring of fixed-size slots written only by the worker's thread and read only by one reader
/// (the control side). The worker copies a frame into the slot after the last one it published,
/// when the ring has room (else it counts the frame as lost), and publishes a batch's slots with
/// one volatile write; the reader copies slots out and frees them with one volatile write. Neither
/// side ever waits for the other: the reader polls an empty ring every
/// <see cref="CaptureOptions.PollInterval"/>.
/// </summary>
public sealed class CaptureSession : IDisposable, IAsyncDisposable
{
    private const int Running = 0;
    private const int CountDone = 1;
    private const int Stopped = 2;

    private readonly PortWorker _worker;
    private readonly CaptureOptions _options;
    private readonly int _snapLength;
    private readonly byte[] _data;
    private readonly Slot[] _slots;
    private readonly int _mask;

    // Worker side: the batch's received frames and the slots they took (-1: none).
    private readonly long[] _rxSlots = new long[PortWorker.BatchSize];
    private int _rxCount;
    private long _reserved;
    private long _lostPending;
    private long _remaining;

    // Shared: published by the worker, freed by the reader.
    private long _tail;
    private long _head;
    private long _lost;
    private int _state;

    internal CaptureSession(PortWorker worker, int portIndex, string port, int count, bool includeDrops, CaptureOptions options)
    {
        _worker = worker;
        _options = options;
        PortIndex = portIndex;
        Port = port;
        Count = count;
        IncludeDrops = includeDrops;
        _remaining = count;
        _snapLength = options.SnapLength;
        int slots = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)options.RingSlots);
        _slots = new Slot[slots];
        _mask = slots - 1;
        _data = GC.AllocateUninitializedArray<byte>(slots * _snapLength);
    }

    /// <summary>The captured port's name.</summary>
    public string Port { get; }

    public int PortIndex { get; }

    /// <summary>Frames the capture ends after.</summary>
    public int Count { get; }

    public bool IncludeDrops { get; }

    /// <summary>Frames the worker has put in the ring so far.</summary>
    public long Captured => Volatile.Read(ref _tail);

    /// <summary>Frames the worker could not put in the ring because it was full.</summary>
    public long Lost => Volatile.Read(ref _lost);

    /// <summary>True once the worker adds nothing more: the count was reached or the capture stopped (frames may still wait to be read).</summary>
    public bool IsEnded => Volatile.Read(ref _state) != Running;

    /// <summary>True when the capture ended by reaching <see cref="Count"/>.</summary>
    public bool CountReached => Volatile.Read(ref _state) == CountDone;

    internal bool IsArmed => Volatile.Read(ref _state) == Running;

    /// <summary>Frames published and not read yet.</summary>
    internal long Unread => Volatile.Read(ref _tail) - Volatile.Read(ref _head);

    /// <summary>
    /// The next frame, waiting for one while the capture runs; null once it has ended and every
    /// frame was read. Cancelling <paramref name="ct"/> cancels the wait, not the capture.
    /// </summary>
    public async ValueTask<CapturedPacket?> ReadAsync(CancellationToken ct = default)
    {
        while (true)
        {
            bool ended = IsEnded; // before looking at the ring: what was published before the end is seen
            if (TryPeek(out Slot slot, out ReadOnlySpan<byte> data))
            {
                var packet = new CapturedPacket(slot.TimestampNs, slot.Direction, data.ToArray(), slot.OriginalLength, slot.Reason, slot.LostBefore);
                Release();
                return packet;
            }

            if (ended)
            {
                return null;
            }

            await Task.Delay(_options.PollInterval, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Writes the capture to <paramref name="stream"/> as pcapng (<see cref="PcapNgWriter"/>: the
    /// port as the interface, rx and drops inbound, tx outbound, a drop's reason as the packet's
    /// comment "drop: REASON", frames lost to a full ring as epb_dropcount and in a closing
    /// statistics block) until the capture ends. Cancelling <paramref name="ct"/> stops the capture:
    /// what it holds is still written, the file is complete, and the summary says it was stopped.
    /// The stream is flushed after every batch of frames and left open.
    /// </summary>
    public async Task<CaptureSummary> WriteToAsync(Stream stream, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        long written = 0;
        var writer = new PcapNgWriter(stream, Port, _snapLength, leaveOpen: true);
        try
        {
            await using var _ = writer.ConfigureAwait(false);
            while (true)
            {
                bool ended = IsEnded;
                int n = WriteWaiting(writer);
                written += n;
                if (n > 0)
                {
                    await writer.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                    continue;
                }

                if (ended)
                {
                    break;
                }

                try
                {
                    await Task.Delay(_options.PollInterval, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    Stop();
                }
            }

            writer.WriteStatistics(PortBuffers.NowNs(), Lost, written);
        }
        finally
        {
            Stop(); // a stream that fails must not leave the worker copying frames nobody reads
        }

        return new CaptureSummary(Port, written, Lost, CountReached);
    }

    /// <summary>Ends the capture: the worker adds nothing more (frames already in the ring can still be read).</summary>
    public void Stop() => End(Stopped);

    public void Dispose() => Stop();

    public ValueTask DisposeAsync()
    {
        Stop();
        return ValueTask.CompletedTask;
    }

    /// <summary>Worker: copies the frames just received on the port (before the forwarder changes them) into slots not yet published.</summary>
    internal void CopyReceived(ReadOnlySpan<PacketBuffer> batch, long nowNs)
    {
        _rxCount = 0;
        if (!IsArmed)
        {
            return;
        }

        int n = Math.Min(batch.Length, _rxSlots.Length);
        for (int i = 0; i < n; i++)
        {
            var b = batch[i];
            _rxSlots[i] = Take(b.Frame, b.TimestampNs > 0 ? b.TimestampNs : nowNs, CaptureDirection.Rx);
        }

        _rxCount = n;
    }

    /// <summary>Worker: marks the received frames the forwarder dropped (when the capture wants drops) and publishes them.</summary>
    internal void PublishReceived(ReadOnlySpan<PacketBuffer> batch, DropRecorder? drops)
    {
        if (IncludeDrops && drops is { Count: > 0 })
        {
            for (int i = 0; i < _rxCount; i++)
            {
                DropReason reason = _rxSlots[i] >= 0 ? drops.ReasonFor(batch[i]) : DropReason.None;
                if (reason != DropReason.None)
                {
                    ref Slot slot = ref _slots[_rxSlots[i] & _mask];
                    slot.Direction = CaptureDirection.Drop;
                    slot.Reason = reason;
                }
            }
        }

        _rxCount = 0;
        Publish();
    }

    /// <summary>Worker: copies the frames about to be handed to the port's device, and publishes them.</summary>
    internal void CopyTransmitted(ReadOnlySpan<PacketBuffer> frames, long nowNs)
    {
        if (!IsArmed)
        {
            return;
        }

        foreach (var f in frames)
        {
            Take(f.Frame, nowNs, CaptureDirection.Tx);
        }

        Publish();
    }

    /// <summary>The next unpublished slot holding <paramref name="frame"/>; -1 when the count is met by what is in flight, or the ring is full (lost).</summary>
    private long Take(ReadOnlySpan<byte> frame, long timestampNs, CaptureDirection direction)
    {
        if (_reserved - _tail >= _remaining)
        {
            return -1;
        }

        if (_reserved - Volatile.Read(ref _head) >= _slots.Length)
        {
            _lostPending++;
            Volatile.Write(ref _lost, _lost + 1);
            return -1;
        }

        long seq = _reserved++;
        int index = (int)(seq & _mask);
        int length = Math.Min(frame.Length, _snapLength);
        frame[..length].CopyTo(_data.AsSpan(index * _snapLength, length));
        _slots[index] = new Slot
        {
            TimestampNs = timestampNs,
            Length = length,
            OriginalLength = frame.Length,
            Direction = direction,
            LostBefore = _lostPending,
        };
        _lostPending = 0;
        return seq;
    }

    private void Publish()
    {
        long published = _reserved - _tail;
        if (published == 0)
        {
            return;
        }

        Volatile.Write(ref _tail, _reserved);
        _remaining -= published;
        if (_remaining == 0)
        {
            End(CountDone);
        }
    }

    private void End(int state)
    {
        if (Interlocked.CompareExchange(ref _state, state, Running) == Running)
        {
            _worker.DetachCapture(this);
        }
    }

    /// <summary>Reader: the oldest published slot, if any.</summary>
    private bool TryPeek(out Slot slot, out ReadOnlySpan<byte> data)
    {
        long head = _head;
        if (head == Volatile.Read(ref _tail))
        {
            slot = default;
            data = default;
            return false;
        }

        int index = (int)(head & _mask);
        slot = _slots[index];
        data = _data.AsSpan(index * _snapLength, slot.Length);
        return true;
    }

    /// <summary>Reader: frees the slot <see cref="TryPeek"/> returned.</summary>
    private void Release() => Volatile.Write(ref _head, _head + 1);

    /// <summary>Reader: frees every published slot unread (benchmarks); returns how many.</summary>
    internal int Discard()
    {
        long tail = Volatile.Read(ref _tail);
        int n = (int)(tail - _head);
        Volatile.Write(ref _head, tail);
        return n;
    }

    /// <summary>Reader: writes what the ring holds now (at most one ring's worth) and frees it.</summary>
    private int WriteWaiting(PcapNgWriter writer)
    {
        int n = 0;
        while (n < _slots.Length && TryPeek(out Slot slot, out ReadOnlySpan<byte> data))
        {
            var direction = slot.Direction == CaptureDirection.Tx ? PcapNgDirection.Outbound : PcapNgDirection.Inbound;
            string? comment = slot.Direction == CaptureDirection.Drop ? "drop: " + DropReasons.Name(slot.Reason) : null;
            writer.Write(slot.TimestampNs, data, slot.OriginalLength, direction, comment, slot.LostBefore);
            Release();
            n++;
        }

        return n;
    }

    private struct Slot
    {
        public long TimestampNs;
        public int Length;
        public int OriginalLength;
        public CaptureDirection Direction;
        public DropReason Reason;
        public long LostBefore;
    }
}
