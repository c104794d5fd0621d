using NvDataplane.Diagnostics;

namespace NvDataplane.Pipeline;

/// <summary>
/// The input frames a <see cref="Forwarder"/> dropped while this recorder was set on it
/// (<see cref="Forwarder.DropRecorder"/>), each with its own reason: the one
/// <see cref="DropReason"/> the frame was counted under, not the copies of it that were lost.
/// A capture with drops and the packet tracer set one around a batch; the usual path never does.
/// Buffers are told apart by reference: a dropped buffer goes back to the pool, but the caller
/// still holds the batch that named it.
/// </summary>
internal sealed class DropRecorder(int capacity)
{
    private readonly PacketBuffer?[] _buffers = new PacketBuffer?[capacity];
    private readonly DropReason[] _reasons = new DropReason[capacity];
    private int _count;

    public int Count => _count;

    /// <summary>Notes a dropped input frame; beyond the capacity nothing more is noted.</summary>
    public void Record(PacketBuffer buffer, DropReason reason)
    {
        if (_count < _buffers.Length)
        {
            _buffers[_count] = buffer;
            _reasons[_count] = reason;
            _count++;
        }
    }

    /// <summary>The reason <paramref name="buffer"/> was dropped for, or <see cref="DropReason.None"/> when it was not.</summary>
    public DropReason ReasonFor(PacketBuffer buffer)
    {
        for (int i = 0; i < _count; i++)
        {
            if (ReferenceEquals(_buffers[i], buffer))
            {
                return _reasons[i];
            }
        }

        return DropReason.None;
    }

    /// <summary>Forgets every frame noted (and the buffers, so none is kept alive here).</summary>
    public void Clear()
    {
        Array.Clear(_buffers, 0, _count);
        _count = 0;
    }
}
