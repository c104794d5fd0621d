using System.Buffers.Binary;
using System.Runtime.InteropServices;
using NvDataplane.Io;
using NvDataplane.Pipeline;

namespace NvDataplane.Tests.Io;

/// <summary>
/// The Linux ports over real devices, each test in network namespaces of its own (ignored unless
/// root with iproute2). Loops are bounded by deadlines; nothing asserts on time.
/// </summary>
public partial class LinuxPortTests
{
    private const ushort TestEtherType = 0x88b5; // IEEE 802 local experimental: the kernel ignores it
    private const int FrameCount = 100;
    private const int BurstCount = 6000;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Measurement windows for "allocates nothing": the same traffic passes again while a window
    /// allocated something, up to this many times.
    /// </summary>
    /// <remarks>
    /// The runtime bills some of its own one-off work to the thread it happens on: a method
    /// moving up a compilation tier, or entering on-stack replacement, allocated 1,048 bytes in
    /// one Transmit call of a CI run that way. Such work happens once, so it
    /// dirties one window; an allocation of the port's own dirties every window.
    /// </remarks>
    private const int AllocationWindows = 3;

    [Test]
    public void AfPacket_frames_cross_a_veth_pair_both_ways_byte_for_byte()
    {
        using var ns = NamespaceWithVethPair();
        var fromB = MakeFrames(source: 0x0b, destination: 0x0a);
        var fromA = MakeFrames(source: 0x0a, destination: 0x0b);

        var result = ns.Run(() =>
        {
            var pool = new BufferPool(4 * FrameCount);
            using var a = new AfPacketPort("a");
            using var b = new AfPacketPort("b");
            SendAll(b, fromB, pool);
            var (atA, batchesA) = ReceiveTestFrames(a, pool, FrameCount);
            SendAll(a, fromA, pool);
            var (atB, batchesB) = ReceiveTestFrames(b, pool, FrameCount);
            var (echoAtA, _) = ReceiveTestFrames(a, pool, 0); // what is left on a: its own frames must not be
            return (atA, atB, echoAtA, batchesA, batchesB, pool.Available, pool.Size);
        });

        AssertSameFrames(result.atA, fromB, "b → a");
        AssertSameFrames(result.atB, fromA, "a → b");
        Assert.That(result.echoAtA, Is.Empty, "a received its own transmissions");
        Assert.That(result.Available, Is.EqualTo(result.Size), "every rented buffer went back to the pool");
        TestContext.Out.WriteLine($"receive calls with frames: a {result.batchesA}, b {result.batchesB} for {FrameCount} frames each");
    }

    [Test]
    public void AfPacket_frames_too_large_for_a_buffer_are_counted_and_dropped_and_the_frames_around_them_arrive()
    {
        using var ns = NamespaceWithVethPair();
        ns.Ip("link", "set", "dev", "a", "mtu", "16000"); // as large as a local kernel's GSO frames get on a jumbo veth
        ns.Ip("link", "set", "dev", "b", "mtu", "16000");
        List<byte[]> sent =
        [
            TestFrame(0, 100, source: 0x0b, destination: 0x0a),
            TestFrame(1, BufferPool.DefaultDataSize + 1000, source: 0x0b, destination: 0x0a), // past any buffer
            TestFrame(2, 9216, source: 0x0b, destination: 0x0a),                                  // the largest a buffer holds
            TestFrame(3, 15000, source: 0x0b, destination: 0x0a),
            TestFrame(4, 60, source: 0x0b, destination: 0x0a),
        ];

        var result = ns.Run(() =>
        {
            var pool = new BufferPool(64);
            using var a = new AfPacketPort("a");
            using var b = new AfPacketPort("b");
            SendAll(b, sent, new BufferPool(64, dataSize: 16000)); // the sender's buffers take them all
            var (atA, _) = ReceiveTestFrames(a, pool, 3);
            return (atA, a.ReceiveTruncated, reported: ((IPacketPort)a).ReceiveTruncated, b.TransmitDropped, pool.Available, pool.Size);
        });

        AssertSameFrames(result.atA, [sent[0], sent[2], sent[4]], "b → a around the frames too large");
        Assert.That(result.ReceiveTruncated, Is.EqualTo(2), "the two frames over 9,216 bytes");
        Assert.That(result.reported, Is.EqualTo(2), "what the daemon reports per port (rxTooLarge)");
        Assert.That(result.TransmitDropped, Is.Zero, "b's MTU let them all out");
        Assert.That(result.Available, Is.EqualTo(result.Size), "every rented buffer went back to the pool");
    }

    [Test]
    public void AfPacket_vlan_tags_the_kernel_takes_off_on_receive_are_put_back_byte_for_byte()
    {
        using var ns = NamespaceWithVethPair();

        // Written out by hand from IEEE 802.1Q: the tag sits between the source MAC and the type.
        // The receiving veth's kernel strips the outer tag (VLAN offload, or in software) and
        // reports it beside the frame; the port must hand on the frame as it was on the wire.
        byte[] macs = [0x02, 0, 0, 0, 0, 0x0a, 0x02, 0, 0, 0, 0, 0x0b];
        List<byte[]> sent =
        [
            [.. macs, 0x81, 0x00, 0xa0, 0x64, 0x88, 0xb5, 0, 0, 0, 0, .. Payload(46)],                  // VID 100, priority 5
            [.. macs, 0x88, 0xa8, 0x00, 0xc8, 0x81, 0x00, 0x00, 0x64, 0x88, 0xb5, 0, 0, 0, 1, .. Payload(42)], // 802.1ad VID 200 over VID 100
            [.. macs, 0x81, 0x00, 0xa0, 0x00, 0x88, 0xb5, 0, 0, 0, 2, .. Payload(46)],                  // priority tag, VID 0
            [.. macs, 0x88, 0xb5, 0, 0, 0, 3, .. Payload(46)],                                          // untagged
            [.. macs, 0x81, 0x00, 0x0f, 0xfe, 0x88, 0xb5, 0, 0, 0, 4, .. Payload(1496)],                // VID 4094, a full 1500-byte payload
        ];

        var result = ns.Run(() =>
        {
            var pool = new BufferPool(64);
            using var a = new AfPacketPort("a");
            using var b = new AfPacketPort("b");
            SendAll(b, sent, pool);
            var (atA, _) = ReceiveTestFrames(a, pool, sent.Count);
            return (atA, a.ReceiveTruncated, pool.Available, pool.Size);
        });

        AssertSameFrames(result.atA, sent, "tagged b → a");
        Assert.That(result.ReceiveTruncated, Is.Zero);
        Assert.That(result.Available, Is.EqualTo(result.Size), "every rented buffer went back to the pool");
    }

    [Test]
    public void AfPacket_5000_frames_over_several_ring_blocks_come_out_once_each_in_order_in_batches_cut_anywhere_allocating_nothing()
    {
        const int count = 5000;
        using var ns = NamespaceWithVethPair();
        var frames = MakeFrames(source: 0x0b, destination: 0x0a, count, maxExtra: 160); // ~1 MB in the ring: several 256 KiB blocks

        var result = ns.Run(() =>
        {
            // One sending CPU, so the kernel itself delivers in order (RPS is off on veth).
            ulong cpu0 = 1;
            Assert.That(SchedSetAffinity(0, sizeof(ulong), ref cpu0), Is.Zero, "pinning the sender to CPU 0");
            var sendPool = new BufferPool(64);
            using var a = new AfPacketPort("a");
            using var b = new AfPacketPort("b");
            SendAll(b, frames, sendPool);

            // Batches of 1 to 7 slots from a pool of 5: Receive stops mid-block both because the
            // span is full and because the pool is empty, and must resume at the next frame.
            var pool = new BufferPool(5);
            var batch = new PacketBuffer[7];
            int calls = 0;
            var passes = new List<(List<int> Indices, List<int> Mismatched, long Allocated)>();
            do
            {
                if (passes.Count > 0)
                {
                    SendAll(b, frames, sendPool); // the same frames again, for another window
                }

                var indices = new List<int>(count);
                var mismatched = new List<int>();
                long allocated = 0;
                var end = DateTime.UtcNow + Deadline;
                while (indices.Count < count && DateTime.UtcNow < end)
                {
                    _ = a.WaitReadable(100);
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    int n = a.Receive(batch.AsSpan(0, (calls % 7) + 1), pool);
                    if (calls++ > 0)
                    {
                        allocated += GC.GetAllocatedBytesForCurrentThread() - before; // the first call may load types
                    }

                    for (int i = 0; i < n; i++)
                    {
                        int index = TestIndex(batch[i].Frame);
                        if (index >= 0)
                        {
                            if (index >= count || !batch[i].Frame.SequenceEqual(frames[index]))
                            {
                                mismatched.Add(index);
                            }

                            indices.Add(index);
                        }

                        pool.Return(batch[i]);
                    }
                }

                passes.Add((indices, mismatched, allocated));
            }
            while (passes[^1].Allocated > 0 && passes.Count < AllocationWindows);

            return (passes, a.ReceiveTruncated, pool.Available);
        });

        foreach (var pass in result.passes)
        {
            Assert.That(pass.Mismatched, Is.Empty, "frames received with other bytes than were sent");
            Assert.That(pass.Indices, Is.EqualTo(Enumerable.Range(0, count)), "every frame once, in the order sent");
        }

        Assert.That(result.ReceiveTruncated, Is.Zero);
        Assert.That(result.Available, Is.EqualTo(5), "every rented buffer went back to the pool");
        AssertOneWindowAllocatedNothing(result.passes.Select(p => p.Allocated), "Receive");
    }

    [Test]
    public void AfPacket_5000_frames_go_out_through_the_transmit_ring_once_each_in_order_byte_for_byte_in_batches_larger_than_the_ring_allocating_nothing()
    {
        const int count = 5000;
        using var ns = NamespaceWithVethPair();
        var frames = MakeFrames(source: 0x0a, destination: 0x0b, count); // 60 to 1459 bytes

        var result = ns.Run(() =>
        {
            // One sending CPU, so the kernel itself delivers in order (RPS is off on veth).
            ulong cpu0 = 1;
            Assert.That(SchedSetAffinity(0, sizeof(ulong), ref cpu0), Is.Zero, "pinning the sender to CPU 0");
            using var a = new AfPacketPort("a");
            using var b = new AfPacketPort("b");

            // Batches of 1 to 1,000 frames; 600 and 1,000 are more than the ring's 256 slots, so
            // Transmit takes part of them and the caller sends the rest again, as PortWorker does.
            int[] sizes = [1, 3, 32, 1000, 7, 600, 64];
            var buffers = new PacketBuffer[1000];
            var sendPool = new BufferPool(buffers.Length);
            for (int i = 0; i < buffers.Length; i++)
            {
                buffers[i] = sendPool.Rent()!;
            }

            var receivePool = new BufferPool(64);
            int batches = 0, calls = 0;
            var passes = new List<(List<int> Indices, List<int> Mismatched, int ShortReturns, long Allocated)>();
            do
            {
                var indices = new List<int>(count);
                var mismatched = new List<int>();
                int sent = 0, shortReturns = 0;
                long allocated = 0;
                var end = DateTime.UtcNow + (2 * Deadline);
                while (sent < count && DateTime.UtcNow < end)
                {
                    int size = Math.Min(sizes[batches++ % sizes.Length], count - sent);
                    for (int i = 0; i < size; i++)
                    {
                        Assert.That(buffers[i].TrySet(frames[sent + i]), Is.True);
                    }

                    int taken = 0;
                    while (taken < size && DateTime.UtcNow < end)
                    {
                        long before = GC.GetAllocatedBytesForCurrentThread();
                        int n = a.Transmit(buffers.AsSpan(taken, size - taken));
                        if (calls++ > 0)
                        {
                            allocated += GC.GetAllocatedBytesForCurrentThread() - before; // the first call may load types
                        }

                        shortReturns += n < size - taken ? 1 : 0;
                        taken += n;
                        TakeTestFrames(b, receivePool, frames, indices, mismatched);
                    }

                    sent += taken;
                }

                while (indices.Count < sent && DateTime.UtcNow < end)
                {
                    _ = b.WaitReadable(100);
                    TakeTestFrames(b, receivePool, frames, indices, mismatched);
                }

                passes.Add((indices, mismatched, shortReturns, allocated));
            }
            while (passes[^1].Allocated > 0 && passes.Count < AllocationWindows);

            return (passes, a.TransmitDropped);
        });

        foreach (var pass in result.passes)
        {
            Assert.That(pass.Mismatched, Is.Empty, "frames received with other bytes than were sent");
            Assert.That(pass.Indices, Is.EqualTo(Enumerable.Range(0, count)), "every frame once, in the order sent");
            Assert.That(pass.ShortReturns, Is.Positive, "a batch larger than the ring was taken in parts");
        }

        Assert.That(result.TransmitDropped, Is.Zero);
        AssertOneWindowAllocatedNothing(result.passes.Select(p => p.Allocated), "Transmit");
    }

    [Test]
    public void AfPacket_frames_the_device_cannot_send_are_counted_and_never_hold_up_the_frames_behind_them()
    {
        using var ns = NamespaceWithVethPair(); // MTU 1500: frames of up to 1514 bytes, 1518 with an 802.1Q tag
        List<byte[]> first =
        [
            TestFrame(0, 60, source: 0x0a, destination: 0x0b),
            TestFrame(1, 4000, source: 0x0a, destination: 0x0b),                  // longer than a ring slot
            TestFrame(2, 100, source: 0x0a, destination: 0x0b),
            TestFrame(3, 1515, source: 0x0a, destination: 0x0b),                  // one byte over the MTU
            TestFrame(4, 1514, source: 0x0a, destination: 0x0b),
            TestFrame(5, 1518, source: 0x0a, destination: 0x0b, vlanTci: 0x0064), // tagged: 4 bytes more allowed
            [0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x88],               // shorter than an Ethernet header
            TestFrame(7, 60, source: 0x0a, destination: 0x0b),
        ];
        List<byte[]> afterMtuLowered = [TestFrame(8, 60, 0x0a, 0x0b), TestFrame(9, 1200, 0x0a, 0x0b), TestFrame(10, 60, 0x0a, 0x0b)];
        List<byte[]> afterMtuRead = [TestFrame(11, 1200, 0x0a, 0x0b), TestFrame(12, 60, 0x0a, 0x0b)];

        var result = ns.Run(() =>
        {
            var pool = new BufferPool(64);
            using var a = new AfPacketPort("a");
            using var b = new AfPacketPort("b");
            SendAll(a, first, pool);
            var atB = ReceiveTestFrames(b, pool, 5).Frames;
            long dropped = a.TransmitDropped;

            // The MTU lowered under the port: until it reads the MTU again frame 9 leaves as it
            // is (with a virtio_net_hdr the kernel leaves the MTU to the sender), and the veth
            // peer, whose MTU is still 1500, takes it.
            ns.Ip("link", "set", "dev", "a", "mtu", "1000");
            SendAll(a, afterMtuLowered, pool);
            var atBLowered = ReceiveTestFrames(b, pool, 3).Frames;

            // The first receive call HousekeepingIntervalMs after the last read reads it again.
            var batch = new PacketBuffer[32];
            long due = Environment.TickCount64 + AfPacketPort.HousekeepingIntervalMs + 50;
            do
            {
                _ = a.WaitReadable(10);
                int n = a.Receive(batch, pool);
                for (int j = 0; j < n; j++)
                {
                    pool.Return(batch[j]);
                }
            }
            while (Environment.TickCount64 < due);

            SendAll(a, afterMtuRead, pool);
            var atBRead = ReceiveTestFrames(b, pool, 1).Frames;
            return (atB, dropped, atBLowered, atBRead, droppedRead: a.TransmitDropped, pool.Available, pool.Size);
        });

        AssertSameFrames(result.atB, [first[0], first[2], first[4], first[5], first[7]], "a → b around the frames a cannot send");
        Assert.That(result.dropped, Is.EqualTo(3), "the frame longer than a slot, the one over the MTU and the runt");
        AssertSameFrames(result.atBLowered, afterMtuLowered, "a → b before the port read the lower MTU");
        AssertSameFrames(result.atBRead, [afterMtuRead[1]], "a → b once the port knows the lower MTU");
        Assert.That(result.droppedRead, Is.EqualTo(4), "the 1200-byte frame counted once the port knows the MTU");
        Assert.That(result.Available, Is.EqualTo(result.Size), "every rented buffer went back to the pool");
    }

    [Test]
    public void AfPacket_frames_the_kernel_drops_on_a_full_receive_ring_are_counted_and_reading_the_count_keeps_it()
    {
        using var ns = NamespaceWithVethPair();
        var result = ns.Run(() =>
        {
            var pool = new BufferPool(64);
            using var a = new AfPacketPort("a"); // nobody reads it until the burst is over
            using var b = new AfPacketPort("b");
            long before = a.KernelDrops;
            long drops = BurstIntoUnreadPort(a, b, pool);
            var (received, _) = ReceiveTestFrames(a, pool, 0);
            return (before, drops, received.Count, after: a.KernelDrops, a.DeviceDrops);
        });

        TestContext.Out.WriteLine($"of {BurstCount} frames: {result.Count} in the ring, {result.drops} dropped by the kernel");
        Assert.That(result.before, Is.Zero, "no drops before the burst");
        Assert.That(result.drops, Is.Positive, "the kernel's drops of the full ring, counted");
        Assert.That(result.Count + result.drops, Is.GreaterThanOrEqualTo(BurstCount), "every frame either in the ring or counted as dropped");
        Assert.That(result.after, Is.GreaterThanOrEqualTo(result.drops), "reading the count (which resets the kernel's) keeps what was counted");
        Assert.That(result.DeviceDrops, Is.EqualTo(result.after), "what the daemon reports per port");
    }

    [Test]
    public void Pcap_frames_lost_on_a_full_libpcap_buffer_are_reported_as_device_drops()
    {
        using var ns = NamespaceWithVethPair();
        var result = ns.Run(() =>
        {
            var pool = new BufferPool(64);
            using var a = new PcapPort("a"); // nobody reads it
            using var b = new AfPacketPort("b");
            long before = a.DeviceDrops;
            return (before, drops: BurstIntoUnreadPort(a, b, pool));
        });

        TestContext.Out.WriteLine($"of {BurstCount} frames: {result.drops} lost in libpcap's buffer");
        Assert.That(result.before, Is.Zero, "no drops before the burst");
        Assert.That(result.drops, Is.Positive, "libpcap's drops of the full buffer, reported");
        Assert.That(result.drops, Is.LessThan(BurstCount - 1000), "the buffer holds over a thousand full-size frames (with snaplen 65535 it held ~30)");
    }

    [Test]
    public void AfPacket_link_going_down_is_reported_once_not_spun_on_and_frames_flow_again_after_it_comes_back()
    {
        using var ns = NamespaceWithVethPair();
        var pool = new BufferPool(4 * FrameCount);
        var (a, b) = ns.Run(() => (new AfPacketPort("a"), new AfPacketPort("b")));
        try
        {
            ns.Run(() => ReceiveTestFrames(a, pool, 0)); // whatever the kernels said on link up
            ns.Ip("link", "set", "dev", "a", "down");

            // The socket error (ENETDOWN) makes poll answer at once until it is read: Receive must
            // read it, without throwing, so that an idle worker goes back to sleeping.
            int wakeUps = ns.Run(() =>
            {
                var batch = new PacketBuffer[32];
                int rounds = 0;
                while (rounds < 10 && a.WaitReadable(100))
                {
                    int n = a.Receive(batch, pool);
                    for (int i = 0; i < n; i++)
                    {
                        pool.Return(batch[i]);
                    }

                    rounds++;
                }

                return rounds;
            });
            Assert.That(wakeUps, Is.InRange(1, 3), "WaitReadable reports the link going down, then goes quiet once Receive read it");

            // Frames sent while the link is down can never go out: taken and counted, not left in the ring.
            long droppedWhileDown = ns.Run(() =>
            {
                SendAll(a, MakeFrames(source: 0x0a, destination: 0x0b, count: 10), pool);
                return a.TransmitDropped;
            });
            Assert.That(droppedWhileDown, Is.EqualTo(10), "frames sent with the link down, counted as dropped");

            ns.Ip("link", "set", "dev", "a", "up");
            var fromB = MakeFrames(source: 0x0b, destination: 0x0a);
            var fromA = MakeFrames(source: 0x0a, destination: 0x0b);
            var (atA, _) = ns.Run(() =>
            {
                SendAll(b, fromB, pool);
                return ReceiveTestFrames(a, pool, FrameCount);
            });
            AssertSameFrames(atA, fromB, "b → a after a came back up");
            var (atB, _) = ns.Run(() =>
            {
                SendAll(a, fromA, pool);
                return ReceiveTestFrames(b, pool, FrameCount);
            });
            AssertSameFrames(atB, fromA, "a → b after a came back up: the frames taken back left the ring in order");
            Assert.That(pool.Available, Is.EqualTo(pool.Size), "every rented buffer went back to the pool");
        }
        finally
        {
            ns.Run(a.Dispose);
            ns.Run(b.Dispose);
        }
    }

    [Test]
    public void AfPacket_finishes_the_tcp_and_udp_checksums_a_local_kernel_left_to_offload()
    {
        using var ns = NamespaceWithVethPair();
        var pool = new BufferPool(256);
        var port = ns.Run(() => new AfPacketPort("b"));
        try
        {
            // The kernel behind veth a checksums nothing itself (veths offer checksum offload):
            // what leaves it carries only the pseudo-header sum, flagged for the receiver.
            ns.Ip("addr", "add", "10.98.0.1/24", "dev", "a");
            ns.Ip("neigh", "replace", "10.98.0.2", "lladdr", "02:00:00:00:98:02", "dev", "a");
            var (exit, _, error) = ns.Exec("bash", "-c", "echo x > /dev/udp/10.98.0.2/9; timeout 1 bash -c 'echo > /dev/tcp/10.98.0.2/9' || true");
            Assert.That(exit, Is.Zero, error);

            var seen = ns.Run(() =>
            {
                var found = new Dictionary<byte, byte[]>();
                var end = DateTime.UtcNow + Deadline;
                var batch = new PacketBuffer[16];
                while (DateTime.UtcNow < end && found.Count < 2)
                {
                    _ = port.WaitReadable(100);
                    int n = port.Receive(batch, pool);
                    for (int i = 0; i < n; i++)
                    {
                        var f = batch[i].Frame;
                        if (f.Length > 34 && BinaryPrimitives.ReadUInt16BigEndian(f[12..]) == 0x0800 && f[23] is 6 or 17)
                        {
                            found.TryAdd(f[23], f.ToArray());
                        }

                        pool.Return(batch[i]);
                    }
                }

                return found;
            });

            Assert.That(seen.Keys, Is.EquivalentTo(new byte[] { 6, 17 }), "a TCP SYN and a UDP datagram from the kernel");
            foreach (var (protocol, frame) in seen)
            {
                int ihl = (frame[14] & 0x0F) * 4;
                int l4Length = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(16)) - ihl;
                var pseudo = new byte[12];
                frame.AsSpan(26, 8).CopyTo(pseudo);
                pseudo[9] = protocol;
                BinaryPrimitives.WriteUInt16BigEndian(pseudo.AsSpan(10), (ushort)l4Length);
                uint sum = (uint)(~Pipeline.TestFrames.ReferenceChecksum(pseudo) & 0xFFFF);
                Assert.That(Pipeline.TestFrames.ReferenceChecksum(frame.AsSpan(14 + ihl, l4Length), sum), Is.Zero, $"protocol {protocol}: the checksum verifies");
            }
        }
        finally
        {
            ns.Run(port.Dispose);
        }
    }

    [Test]
    public void Tap_sees_the_kernels_arp_request_and_the_kernel_learns_the_reply_written_back()
    {
        using var ns = NetworkNamespace.Create();
        var pool = new BufferPool(64);
        var tap = ns.Run(() => new TapPort("nvtap0"));
        try
        {
            Assert.That(tap.CreatedInterface, Is.True);
            ns.Ip("addr", "add", "10.99.0.1/24", "dev", "nvtap0");

            // A datagram to an unresolved neighbour makes the kernel ask for it out of the TAP.
            var (exit, _, error) = ns.Exec("bash", "-c", "echo x > /dev/udp/10.99.0.2/9");
            Assert.That(exit, Is.Zero, "sending the trigger datagram: " + error);

            byte[]? request = ns.Run(() =>
            {
                var end = DateTime.UtcNow + Deadline;
                var batch = new PacketBuffer[16];
                while (DateTime.UtcNow < end)
                {
                    _ = tap.WaitReadable(100);
                    int n = tap.Receive(batch, pool);
                    byte[]? found = null;
                    for (int i = 0; i < n; i++)
                    {
                        if (found is null && IsArpWhoHas(batch[i].Frame, target: [10, 99, 0, 2], sender: [10, 99, 0, 1]))
                        {
                            found = batch[i].Frame.ToArray();
                        }

                        pool.Return(batch[i]);
                    }

                    if (found is not null)
                    {
                        return found;
                    }
                }

                return null;
            });
            Assert.That(request, Is.Not.Null, "no ARP who-has 10.99.0.2 tell 10.99.0.1 came out of the TAP");

            byte[] tapMac = request![6..12];
            byte[] peerMac = [0x02, 0x00, 0x00, 0x00, 0x99, 0x02];
            byte[] reply = ArpReply(peerMac, [10, 99, 0, 2], tapMac, [10, 99, 0, 1]);
            int taken = ns.Run(() =>
            {
                var buffer = pool.Rent()!;
                Assert.That(buffer.TrySet(reply), Is.True);
                int count = tap.Transmit([buffer]);
                pool.Return(buffer);
                return count;
            });
            Assert.That(taken, Is.EqualTo(1));

            string neighbour = "";
            var end = DateTime.UtcNow + Deadline;
            while (DateTime.UtcNow < end && !neighbour.Contains("02:00:00:00:99:02", StringComparison.Ordinal))
            {
                neighbour = ns.Ip("neigh", "show", "10.99.0.2", "dev", "nvtap0");
                Thread.Sleep(20);
            }

            Assert.That(neighbour, Does.Contain("lladdr 02:00:00:00:99:02"), "the kernel did not learn the ARP reply");
        }
        finally
        {
            ns.Run(tap.Dispose);
        }

        var (gone, _, _) = ns.Exec("ip", "link", "show", "dev", "nvtap0");
        Assert.That(gone, Is.Not.Zero, "a TAP the port created must disappear with it");
    }

    [Test]
    public void Tap_found_is_left_as_found()
    {
        using var ns = NetworkNamespace.Create();
        ns.Ip("tuntap", "add", "dev", "nvtap1", "mode", "tap");
        var tap = ns.Run(() => new TapPort("nvtap1"));
        try
        {
            Assert.That(tap.CreatedInterface, Is.False);
            Assert.That(LinkFlags(ns.Ip("link", "show", "dev", "nvtap1")), Does.Contain("UP"), "the port brings the link up");
        }
        finally
        {
            ns.Run(tap.Dispose);
        }

        Assert.That(LinkFlags(ns.Ip("link", "show", "dev", "nvtap1")), Does.Not.Contain("UP"), "a found TAP stays, down as it was");
    }

    [Test]
    public void AfPacket_on_a_missing_interface_names_it()
    {
        using var ns = NetworkNamespace.Create();
        var e = ns.Run(() =>
        {
            try
            {
                PacketPorts.Open("afpacket:nope0").Dispose();
                return null;
            }
            catch (Exception caught)
            {
                return caught;
            }
        });
        Assert.That(e, Is.InstanceOf<IOException>());
        Assert.That(e!.Message, Does.Contain("no interface nope0"));
    }

    [Test]
    public void Tap_with_a_name_too_long_for_linux_says_so()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("Linux ports only");
        }

        var e = Assert.Throws<IOException>(() => PacketPorts.Open("tap:a-name-of-16-bytes").Dispose());
        Assert.That(e!.Message, Does.Contain("tap:a-name-of-16-bytes").And.Contain("1 to 15 bytes"));
    }

    /// <summary>A namespace of the test's own holding a veth pair a ↔ b, both up.</summary>
    private static NetworkNamespace NamespaceWithVethPair()
    {
        var ns = NetworkNamespace.Create();
        try
        {
            ns.Ip("link", "add", "name", "a", "type", "veth", "peer", "name", "b");
            ns.Ip("link", "set", "dev", "a", "up");
            ns.Ip("link", "set", "dev", "b", "up");
            return ns;
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    /// <summary>Distinct frames of varied length (60 bytes and up to <paramref name="maxExtra"/> more) with their index in the payload.</summary>
    private static List<byte[]> MakeFrames(byte source, byte destination, int count = FrameCount, int maxExtra = 1400)
    {
        var frames = new List<byte[]>(count);
        for (int i = 0; i < count; i++)
        {
            var frame = new byte[60 + (i * 137 % maxExtra)];
            byte[] header = [0x02, 0, 0, 0, 0, destination, 0x02, 0, 0, 0, 0, source];
            header.CopyTo(frame, 0);
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), TestEtherType);
            BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(14), i);
            for (int j = 18; j < frame.Length; j++)
            {
                frame[j] = (byte)(i + j);
            }

            frames.Add(frame);
        }

        return frames;
    }

    /// <summary>
    /// A test frame of <paramref name="size"/> bytes carrying <paramref name="index"/> after its
    /// type, behind an 802.1Q tag when <paramref name="vlanTci"/> is given.
    /// </summary>
    private static byte[] TestFrame(int index, int size, byte source, byte destination, int vlanTci = -1)
    {
        var frame = new byte[size];
        byte[] header = [0x02, 0, 0, 0, 0, destination, 0x02, 0, 0, 0, 0, source];
        header.CopyTo(frame, 0);
        int type = 12;
        if (vlanTci >= 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x8100);
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14), (ushort)vlanTci);
            type = 16;
        }

        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(type), TestEtherType);
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(type + 2), index);
        for (int j = type + 6; j < frame.Length; j++)
        {
            frame[j] = (byte)(index + j);
        }

        return frame;
    }

    /// <summary>Sends every frame, in order, through buffers rented 64 at a time.</summary>
    private static void SendAll(AfPacketPort port, List<byte[]> frames, BufferPool pool)
    {
        var buffers = new PacketBuffer[Math.Min(64, frames.Count)];
        int sent = 0;
        var end = DateTime.UtcNow + Deadline;
        while (sent < frames.Count && DateTime.UtcNow < end)
        {
            int chunk = Math.Min(buffers.Length, frames.Count - sent);
            for (int i = 0; i < chunk; i++)
            {
                buffers[i] = pool.Rent()!;
                Assert.That(buffers[i].TrySet(frames[sent + i]), Is.True);
            }

            int taken = 0;
            while (taken < chunk && DateTime.UtcNow < end)
            {
                taken += port.Transmit(buffers.AsSpan(taken, chunk - taken));
                if (taken < chunk)
                {
                    Thread.Sleep(1); // queue full: let it drain
                }
            }

            for (int i = 0; i < chunk; i++)
            {
                pool.Return(buffers[i]);
            }

            sent += taken;
        }

        Assert.That(sent, Is.EqualTo(frames.Count), $"{port.Name} took only {sent} frames");
    }

    /// <summary>
    /// Sends <see cref="BurstCount"/> 1514-byte frames from <paramref name="sender"/> to a port
    /// nobody reads: several times what a 4 MiB ring holds (each takes 1,600 bytes of a block, more
    /// when the kernel closes a block early). Returns the port's device drops once they stop moving.
    /// </summary>
    private static long BurstIntoUnreadPort(IPacketPort port, AfPacketPort sender, BufferPool pool)
    {
        var frames = Enumerable.Range(0, BurstCount).Select(i => TestFrame(i, 1514, source: 0x0b, destination: 0x0a)).ToList();
        SendAll(sender, frames, pool);

        // The peer's softirq may still be delivering: wait until the count stops moving.
        long drops = port.DeviceDrops;
        var end = DateTime.UtcNow + Deadline;
        while (DateTime.UtcNow < end)
        {
            Thread.Sleep(50);
            long now = port.DeviceDrops;
            if (now == drops)
            {
                break;
            }

            drops = now;
        }

        return drops;
    }

    /// <summary>
    /// Receives in batches of 32 until <paramref name="wanted"/> test frames came (or, for 0, until
    /// nothing more is waiting), keeping copies of the test frames and returning every buffer.
    /// </summary>
    private static (List<byte[]> Frames, int Batches) ReceiveTestFrames(IPacketPort port, BufferPool pool, int wanted)
    {
        var frames = new List<byte[]>();
        var batch = new PacketBuffer[32];
        int batches = 0;
        var end = DateTime.UtcNow + Deadline;
        while (DateTime.UtcNow < end && (wanted == 0 || frames.Count < wanted))
        {
            bool ready = port.WaitReadable(wanted == 0 ? 200 : 100);
            int n = port.Receive(batch, pool);
            if (n > 0)
            {
                batches++;
            }

            for (int i = 0; i < n; i++)
            {
                if (TestIndex(batch[i].Frame) >= 0)
                {
                    frames.Add(batch[i].Frame.ToArray());
                }

                pool.Return(batch[i]);
            }

            if (wanted == 0 && !ready && n == 0)
            {
                break;
            }
        }

        return (frames, batches);
    }

    /// <summary>Asserts the last window allocated nothing: see <see cref="AllocationWindows"/>.</summary>
    private static void AssertOneWindowAllocatedNothing(IEnumerable<long> windows, string what)
    {
        var bytes = windows.ToList();
        if (bytes.Count > 1)
        {
            TestContext.Out.WriteLine($"{what}: bytes allocated per window: {string.Join(", ", bytes)}");
        }

        Assert.That(bytes[^1], Is.Zero, $"bytes allocated by {what} in every one of {bytes.Count} windows: {string.Join(", ", bytes)}");
    }

    /// <summary>Receives whatever is waiting now, noting each test frame's index, and which differ from what was sent.</summary>
    private static void TakeTestFrames(AfPacketPort port, BufferPool pool, List<byte[]> sent, List<int> indices, List<int> mismatched)
    {
        var batch = new PacketBuffer[32];
        int n;
        while ((n = port.Receive(batch, pool)) > 0)
        {
            for (int i = 0; i < n; i++)
            {
                int index = TestIndex(batch[i].Frame);
                if (index >= 0)
                {
                    if (index >= sent.Count || !batch[i].Frame.SequenceEqual(sent[index]))
                    {
                        mismatched.Add(index);
                    }

                    indices.Add(index);
                }

                pool.Return(batch[i]);
            }
        }
    }

    /// <summary>Same frames, byte for byte, each once (order across CPUs is not promised).</summary>
    private static void AssertSameFrames(List<byte[]> received, List<byte[]> sent, string direction)
    {
        Assert.That(received, Has.Count.EqualTo(sent.Count), direction);
        var byIndex = received.OrderBy(f => TestIndex(f)).ToList();
        for (int i = 0; i < sent.Count; i++)
        {
            Assert.That(byIndex[i], Is.EqualTo(sent[i]), $"{direction}: frame {i}");
        }
    }

    /// <summary>The index a test frame carries after its type (behind up to two VLAN tags); -1 for any other frame.</summary>
    private static int TestIndex(ReadOnlySpan<byte> frame)
    {
        int type = 12;
        while (frame.Length >= type + 6 && BinaryPrimitives.ReadUInt16BigEndian(frame[type..]) is 0x8100 or 0x88a8 && type < 20)
        {
            type += 4;
        }

        return frame.Length >= type + 6 && BinaryPrimitives.ReadUInt16BigEndian(frame[type..]) == TestEtherType
            ? BinaryPrimitives.ReadInt32BigEndian(frame[(type + 2)..])
            : -1;
    }

    private static byte[] Payload(int size)
    {
        var payload = new byte[size];
        for (int i = 0; i < size; i++)
        {
            payload[i] = (byte)(i * 7);
        }

        return payload;
    }

    private static bool IsArpWhoHas(ReadOnlySpan<byte> frame, byte[] target, byte[] sender) =>
        frame.Length >= 42
        && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == 0x0806
        && BinaryPrimitives.ReadUInt16BigEndian(frame[20..]) == 1
        && frame.Slice(28, 4).SequenceEqual(sender)
        && frame.Slice(38, 4).SequenceEqual(target);

    /// <summary>An ARP reply laid out by hand from RFC 826: Ethernet/IPv4, opcode 2.</summary>
    private static byte[] ArpReply(byte[] senderMac, byte[] senderIp, byte[] targetMac, byte[] targetIp)
    {
        var frame = new byte[60];
        targetMac.CopyTo(frame, 0);
        senderMac.CopyTo(frame, 6);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x0806);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14), 1);      // hardware: Ethernet
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), 0x0800); // protocol: IPv4
        frame[18] = 6;
        frame[19] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(20), 2);      // reply
        senderMac.CopyTo(frame, 22);
        senderIp.CopyTo(frame, 28);
        targetMac.CopyTo(frame, 32);
        targetIp.CopyTo(frame, 38);
        return frame;
    }

    /// <summary>The flags between &lt;&gt; in 'ip link show' output.</summary>
    private static string[] LinkFlags(string output)
    {
        int open = output.IndexOf('<', StringComparison.Ordinal);
        int close = output.IndexOf('>', StringComparison.Ordinal);
        return open < 0 || close < open ? [] : output[(open + 1)..close].Split(',');
    }

    [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    private static partial int SchedSetAffinity(int pid, nuint maskSize, ref ulong mask);
}
