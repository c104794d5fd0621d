using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Diagnostics;

/// <summary>
/// <c>nvdp trace</c> (as OVS's ofproto/trace, HNV's Select-NetVirtualizationNextHop): what the
/// dataplane does with one frame arriving on one port, and why. Two things happen, both against
/// the given policy version and neither touching a running worker (its state, queues or
/// counters): the frame is walked through the version's tables, a step per decision, to an
/// explained outcome; and it is run through a private <see cref="Forwarder"/> (own buffer pool) on
/// that version, whose counters and transmit queues give the actual outcome and the frames it
/// sent. <see cref="TraceResult.Agrees"/> holds the two side by side. Both start from a fresh
/// worker's state: no next-hop MAC learned by ARP / ND, no Dynamic binding but those the frame
/// itself teaches. Thread-safe: every call has its own forwarder.
/// </summary>
public static class PacketTracer
{
    /// <summary>The longest frame a port takes in (the devices' snap length).</summary>
    public const int MaxFrameSize = 9216;

    /// <summary>
    /// Buffers of the private forwarder: enough for a frame's copies, fragments and requests, and
    /// more than twice the 64 frames that may wait for next hops, so waiting is bounded as in a
    /// worker with the daemon's pool.
    /// </summary>
    internal const int PoolSize = 512;

    private const string FreshStateNote =
        "traced on a fresh worker's state: no next-hop MAC learned by ARP / ND and no Dynamic binding but those this frame teaches; " +
        "the running worker may already know a next hop's MAC (it then sends at once instead of waiting) or a Dynamic binding";

    /// <summary>Traces <paramref name="frame"/> as received on the port named <paramref name="port"/> of <paramref name="policy"/> (e.g. <c>PolicyStore.Current</c>).</summary>
    /// <param name="timestampNs">The frame's receive time (ns since the Unix epoch), as a pcap gives it; 0 when unknown.</param>
    /// <exception cref="ArgumentException">No port has that name (the message lists the ports), or the frame is empty or longer than <see cref="MaxFrameSize"/>.</exception>
    public static TraceResult Trace(PolicySnapshot policy, string port, ReadOnlySpan<byte> frame, long timestampNs = 0)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(port);
        int index = policy.FindPort(port);
        if (index < 0)
        {
            throw new ArgumentException($"no port named '{port}'; the ports are {string.Join(", ", policy.Ports.Select(p => p.Name))}", nameof(port));
        }

        return Trace(policy, index, frame, timestampNs);
    }

    /// <summary>As <see cref="Trace(PolicySnapshot, string, ReadOnlySpan{byte}, long)"/>, for the port at <paramref name="portIndex"/> in the policy's port order.</summary>
    public static TraceResult Trace(PolicySnapshot policy, int portIndex, ReadOnlySpan<byte> frame, long timestampNs = 0)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentOutOfRangeException.ThrowIfNegative(portIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(portIndex, policy.Ports.Length);
        if (frame.IsEmpty)
        {
            throw new ArgumentException("the frame is empty", nameof(frame));
        }

        if (frame.Length > MaxFrameSize)
        {
            throw new ArgumentException($"the frame has {frame.Length} bytes, more than the {MaxFrameSize} a port takes in", nameof(frame));
        }

        // Room for the frame and for what is made of it in place (a DHCP reply, an ICMP error).
        int dataSize = Math.Max(2048, frame.Length + 64);
        var walkBuffer = new BufferPool(1, dataSize).Rent()!;
        walkBuffer.TrySet(frame, timestampNs);
        var walk = new TraceWalk(policy, walkBuffer, PoolSize);
        var explained = walk.Run(portIndex);
        var actual = RunForwarder(policy, portIndex, frame, timestampNs, dataSize);
        bool agrees = explained.SameAs(actual);
        var notes = new List<string> { FreshStateNote };
        if (!agrees)
        {
            notes.Add("the explanation and the forwarder disagree: the actual outcome is what the dataplane does; please report this trace (its JSON form) as a bug");
        }

        var port = policy.Ports[portIndex];
        return new TraceResult
        {
            Port = port.Name,
            PortRole = port.IsExternal ? "external" : port.Role == PortRole.Vm ? "vm" : "provider",
            PolicyVersion = policy.Version,
            Frame = Convert.ToHexStringLower(frame),
            FrameLength = frame.Length,
            Outer = walk.Outer,
            Inner = walk.Inner,
            Steps = walk.Steps,
            Explained = explained,
            Actual = actual,
            Agrees = agrees,
            Notes = notes,
        };
    }

    /// <summary>Traces every frame of a capture (<see cref="TraceInput.ReadCaptureAsync(string, int, CancellationToken)"/>), each on its own fresh state.</summary>
    public static IReadOnlyList<TraceResult> TraceAll(PolicySnapshot policy, string port, IEnumerable<CapturedFrame> frames)
    {
        ArgumentNullException.ThrowIfNull(frames);
        return [.. frames.Select(f => Trace(policy, port, f.Data, f.TimestampNs))];
    }

    /// <summary>The frame through a private forwarder on <paramref name="policy"/>: its own fate, lost copies, frames sent, frames waiting and ACL hits.</summary>
    private static TraceOutcome RunForwarder(PolicySnapshot policy, int port, ReadOnlySpan<byte> frame, long timestampNs, int dataSize)
    {
        var pool = new BufferPool(PoolSize, dataSize);
        var forwarder = new Forwarder(new PolicyStore(policy), pool);
        var drops = new DropRecorder(1);
        forwarder.DropRecorder = drops;
        var buffer = pool.Rent()!;
        buffer.TrySet(frame, timestampNs);
        forwarder.ProcessBatch(port, [buffer]);

        var counters = forwarder.Counters;
        DropReason own = drops.ReasonFor(buffer);
        var lost = new List<DropReason>();
        foreach (var reason in DropReasons.All)
        {
            long n = counters.Drop(reason) - (reason == own ? 1 : 0);
            for (long i = 0; i < n; i++)
            {
                lost.Add(reason);
            }
        }

        var egress = new int[forwarder.PortCount];
        var sent = new List<string>[forwarder.PortCount];
        for (int p = 0; p < egress.Length; p++)
        {
            var pending = forwarder.PendingTransmit(p);
            egress[p] = pending.Length;
            sent[p] = [];
            foreach (var b in pending)
            {
                sent[p].Add(Convert.ToHexStringLower(b.Frame));
            }
        }

        var hits = forwarder.AclCounters.Read().SelectMany(h => Enumerable.Repeat(h.Key, (int)h.Value));
        bool forwarded = counters.Forwarded > 0;
        bool answered = counters.Answered > 0;
        int waiting = forwarder.ParkedCount;
        string summary = ActualSummary(policy, own, forwarded, answered, waiting, egress);
        return TraceWalk.Outcome(policy, own, forwarded, answered, waiting, lost, egress, hits, summary, p => sent[p]);
    }

    private static string ActualSummary(PolicySnapshot policy, DropReason own, bool forwarded, bool answered, int waiting, int[] egress)
    {
        string ports = string.Join(", ", egress.Select((n, p) => (n, p)).Where(e => e.n > 0).Select(e => $"{e.n} on {policy.Ports[e.p].Name}"));
        string sent = ports.Length == 0 ? "no frame sent" : "frames sent: " + ports;
        string state = forwarded ? "forwarded" : answered ? "answered" : own != DropReason.None ? "dropped: " + DropReasons.Name(own) : waiting > 0 ? "waiting" : "dropped";
        return waiting > 0 ? $"{state}; {sent}; {waiting} waiting for a next hop's MAC" : $"{state}; {sent}";
    }
}
