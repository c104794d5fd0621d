namespace NvDataplane.Pipeline;

/// <summary>
/// One frame in a pinned buffer with headroom in front of it, so an outer header can be pushed
/// by moving <see cref="Offset"/> back instead of copying the frame.
/// </summary>
public sealed class PacketBuffer
{
    /// <summary>Room for the largest outer header (Ethernet + VLAN + IPv6 + GRE = 66) and ICMP error headers.</summary>
    public const int Headroom = 128;

    internal PacketBuffer(int dataSize)
    {
        Data = GC.AllocateUninitializedArray<byte>(Headroom + dataSize, pinned: true);
        Offset = Headroom;
    }

    public byte[] Data { get; }

    /// <summary>Start of the frame in <see cref="Data"/>.</summary>
    public int Offset { get; set; }

    /// <summary>Frame length in bytes.</summary>
    public int Length { get; set; }

    /// <summary>When the frame arrived (ns since the Unix epoch); replay carries it to the output.</summary>
    public long TimestampNs { get; set; }

    /// <summary>Bytes a frame may have from <see cref="Headroom"/> on.</summary>
    public int Capacity => Data.Length - Headroom;

    public Span<byte> Frame => Data.AsSpan(Offset, Length);

    /// <summary>Resets to an empty frame at the headroom mark.</summary>
    public void Reset()
    {
        Offset = Headroom;
        Length = 0;
    }

    /// <summary>Copies <paramref name="frame"/> in at the headroom mark; false when it does not fit.</summary>
    public bool TrySet(ReadOnlySpan<byte> frame, long timestampNs = 0)
    {
        Offset = Headroom;
        if (frame.Length > Capacity)
        {
            Length = 0;
            return false;
        }

        frame.CopyTo(Data.AsSpan(Headroom));
        Length = frame.Length;
        TimestampNs = timestampNs;
        return true;
    }
}

/// <summary>
/// A bounded pool of pinned <see cref="PacketBuffer"/>s (the Kestrel PinnedBlockMemoryPool habit):
/// everything is allocated up front, nothing per packet. Single-threaded: one pool per worker.
/// </summary>
public sealed class BufferPool
{
    /// <summary>Jumbo frames up to 9216 bytes plus slack fit every buffer.</summary>
    public const int DefaultDataSize = 9216 + 64;

    private readonly PacketBuffer[] _free;
    private int _count;

    public BufferPool(int count, int dataSize = DefaultDataSize)
    {
        _free = new PacketBuffer[count];
        for (int i = 0; i < count; i++)
        {
            _free[i] = new PacketBuffer(dataSize);
        }

        _count = count;
        Size = count;
    }

    public int Size { get; }

    public int Available => _count;

    /// <summary>A buffer reset to empty, or null when the pool is exhausted.</summary>
    public PacketBuffer? Rent()
    {
        if (_count == 0)
        {
            return null;
        }

        var b = _free[--_count];
        b.Reset();
        return b;
    }

    public void Return(PacketBuffer buffer)
    {
        if (_count < _free.Length)
        {
            _free[_count++] = buffer;
        }
    }
}
