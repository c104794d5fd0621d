using NvDataplane.Io;
using NvDataplane.Pipeline;

namespace NvDataplane.Tests.Pipeline;

/// <summary>An in-memory device: frames queued to be received, frames sent kept, a limit on what it takes.</summary>
internal sealed class QueuePort(string name, int accepts = int.MaxValue) : IPacketPort
{
    private int _accepts = accepts;

    public string Name { get; } = "queue:" + name;

    public Queue<byte[]> Inbound { get; } = new();

    public List<byte[]> Sent { get; } = [];

    public List<int> ReceiveCalls { get; } = [];

    /// <summary>What the port reports as frames received too large for a buffer; set by a test.</summary>
    public long ReceiveTruncated { get; set; }

    public int DeviceMtu { get; set; }

    /// <summary>Stamps received frames with the clock real ports use (PortBuffers.NowNs) instead of 0; set by a test.</summary>
    public bool Stamped { get; set; }

    /// <summary>What the port reports as frames it could never send; set by a test.</summary>
    public long TransmitDropped { get; set; }

    public int Receive(Span<PacketBuffer> into, BufferPool pool)
    {
        int n = 0;
        while (n < into.Length && Inbound.Count > 0 && pool.Rent() is { } buffer)
        {
            Assert.That(buffer.TrySet(Inbound.Dequeue(), Stamped ? PortBuffers.NowNs() : 0), Is.True);
            into[n++] = buffer;
        }

        ReceiveCalls.Add(n);
        return n;
    }

    public int Transmit(ReadOnlySpan<PacketBuffer> frames)
    {
        int n = Math.Min(frames.Length, _accepts);
        for (int i = 0; i < n; i++)
        {
            Sent.Add(frames[i].Frame.ToArray());
        }

        _accepts -= n;
        return n;
    }

    public bool WaitReadable(int timeoutMs) => Inbound.Count > 0;

    public void Dispose()
    {
    }
}
