using NvDataplane.Diagnostics;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// <c>nvdp capture</c>'s engine: a tap armed on one port of a <see cref="PortWorker"/> over
/// in-memory devices records what the port received and what the worker handed it to send, in
/// order and with the direction; drops with their reason only when asked; no more than the count;
/// a full ring costs counted frames, never a wait; the pcapng file reads back with CaptureReader
/// and with tshark (direction flags, drop comments, drop counts).
/// </summary>
public class PortCaptureTests
{
    [Test]
    public async Task A_vm_port_capture_holds_what_it_received_and_sent_in_order()
    {
        var (worker, pnic0, red1) = Build();
        using var session = PortCapture.Start(worker, "red1", count: 100);
        pnic0.Inbound.Enqueue(NvgreToRed1());
        byte[][] received = [Udp(1), ArpForRemote(), ToUnknown()];
        foreach (var f in received)
        {
            red1.Inbound.Enqueue(f);
        }

        Assert.That(worker.RunOnce(), Is.EqualTo(4));
        session.Stop();
        var packets = await ReadAll(session);

        // pnic0's batch comes first (its decapsulated frame is sent on red1), then red1's: three
        // received, then the ARP reply it was handed. The encapsulated UDP left by pnic0: not here.
        Assert.That(packets.Select(p => p.Direction), Is.EqualTo(new[] { CaptureDirection.Tx, CaptureDirection.Rx, CaptureDirection.Rx, CaptureDirection.Rx, CaptureDirection.Tx }));
        Assert.That(packets.Where(p => p.Direction == CaptureDirection.Rx).Select(p => p.Data), Is.EqualTo(received));
        Assert.That(packets.Where(p => p.Direction == CaptureDirection.Tx).Select(p => p.Data), Is.EqualTo(red1.Sent), "exactly what the device was handed");
        Assert.That(packets[0].Data, Is.EqualTo(RedInner()), "the inner frame as carried");
        Assert.That(packets.Select(p => p.DropReason), Has.All.EqualTo(DropReason.None), "drops were not asked for: the unknown destination is plain rx");
        Assert.That(packets.Select(p => p.OriginalLength), Is.EqualTo(packets.Select(p => p.Data.Length)));
        Assert.That(packets.Select(p => p.TimestampNs), Has.All.GreaterThan(1_600_000_000_000_000_000L), "stamped with the time");
        Assert.That(worker.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.EqualTo(1), "the worker forwarded as usual");
        Assert.That(pnic0.Sent, Has.Count.EqualTo(1));
        Assert.That((session.Captured, session.Lost, session.CountReached), Is.EqualTo((5L, 0L, false)));
    }

    [Test]
    public async Task Drops_carry_their_reason_when_asked_and_are_plain_rx_otherwise()
    {
        var (worker, _, red1) = Build();
        using var withDrops = PortCapture.Start(worker, 1, count: 100, includeDrops: true);
        using var without = PortCapture.Start(worker, 1, count: 100);
        var spoofed = Udp(2);
        Mac("00-15-5D-00-00-99").CopyTo(spoofed, 6);
        byte[][] frames = [Udp(1), spoofed, ToUnknown()];
        foreach (var f in frames)
        {
            red1.Inbound.Enqueue(f);
        }

        worker.RunOnce();
        withDrops.Stop();
        without.Stop();

        var marked = await ReadAll(withDrops);
        Assert.That(marked.Select(p => (p.Direction, p.DropReason)), Is.EqualTo(new[]
        {
            (CaptureDirection.Rx, DropReason.None),
            (CaptureDirection.Drop, DropReason.SpoofedSource),
            (CaptureDirection.Drop, DropReason.NoLookupRecord),
        }));
        Assert.That(marked.Select(p => p.Data), Is.EqualTo(frames), "a drop is the frame as it arrived");
        var plain = await ReadAll(without);
        Assert.That(plain.Select(p => (p.Direction, p.DropReason)), Has.All.EqualTo((CaptureDirection.Rx, DropReason.None)));
        Assert.That(plain.Select(p => p.Data), Is.EqualTo(frames));
    }

    [Test]
    public async Task The_capture_ends_after_its_count_and_the_worker_is_disarmed()
    {
        var (worker, _, red1) = Build();
        var session = PortCapture.Start(worker, "red1", count: 3);
        Assert.That(worker.CaptureArmed, Is.True);
        for (int i = 0; i < 5; i++)
        {
            red1.Inbound.Enqueue(Udp(i));
        }

        worker.RunOnce();
        Assert.That((session.IsEnded, session.CountReached, session.Captured), Is.EqualTo((true, true, 3L)));
        Assert.That(worker.CaptureArmed, Is.False, "back to the one branch per batch");
        red1.Inbound.Enqueue(Udp(9));
        worker.RunOnce();

        var packets = await ReadAll(session);
        Assert.That(packets.Select(p => p.Data), Is.EqualTo(new[] { Udp(0), Udp(1), Udp(2) }));
        Assert.That(await session.ReadAsync(), Is.Null, "ended and drained");
        Assert.That(worker.Forwarder.Counters.Forwarded, Is.EqualTo(6), "every frame was forwarded all the same");
    }

    [Test]
    public async Task A_full_ring_counts_lost_frames_and_never_holds_the_worker()
    {
        var (worker, pnic0, red1) = Build();
        using var session = PortCapture.Start(worker, "red1", count: 1000, options: new CaptureOptions { RingSlots = 4 });
        for (int i = 0; i < 10; i++)
        {
            red1.Inbound.Enqueue(Udp(i));
        }

        worker.RunOnce();
        Assert.That((session.Captured, session.Lost), Is.EqualTo((4L, 6L)));
        Assert.That(pnic0.Sent, Has.Count.EqualTo(10), "the worker forwarded every frame");
        var first = new List<CapturedPacket>();
        for (int i = 0; i < 4; i++)
        {
            first.Add((await session.ReadAsync())!);
        }

        Assert.That(first.Select(p => p.Data), Is.EqualTo(Enumerable.Range(0, 4).Select(Udp)));
        Assert.That(first.Select(p => p.LostBefore), Has.All.Zero);

        red1.Inbound.Enqueue(Udp(10));
        worker.RunOnce();
        session.Stop();
        var next = await session.ReadAsync();
        Assert.That(next!.Data, Is.EqualTo(Udp(10)));
        Assert.That(next.LostBefore, Is.EqualTo(6), "the frames lost since the previous one");
        Assert.That(session.Lost, Is.EqualTo(6));
    }

    [Test]
    public async Task The_snap_length_cuts_long_frames_and_keeps_their_length()
    {
        var (worker, _, red1) = Build();
        using var session = PortCapture.Start(worker, "red1", count: 1, options: new CaptureOptions { SnapLength = 20 });
        red1.Inbound.Enqueue(Udp(1));
        worker.RunOnce();

        var p = (await session.ReadAsync())!;
        Assert.That(p.Data, Is.EqualTo(Udp(1).AsSpan(0, 20).ToArray()));
        Assert.That(p.OriginalLength, Is.EqualTo(Udp(1).Length));
    }

    [Test]
    public async Task The_pcapng_file_reads_back_with_capture_reader_and_tshark()
    {
        var (worker, pnic0, red1) = Build();
        var session = PortCapture.Start(worker, "red1", count: 7, includeDrops: true, new CaptureOptions { RingSlots = 2 });
        using var temp = new TempDir();
        string file = Path.Combine(temp.Path, "red1.pcapng");
        var spoofed = Udp(2);
        Mac("00-15-5D-00-00-99").CopyTo(spoofed, 6);

        // Round 1: ARP (rx) and its reply (tx); round 2: three frames into a two-slot ring (one
        // lost); the writer drains between rounds; round 3: one more frame ends the count.
        red1.Inbound.Enqueue(ArpForRemote());
        worker.RunOnce();
        var expected = new List<(CaptureDirection, DropReason, byte[])> { (CaptureDirection.Rx, DropReason.None, ArpForRemote()), (CaptureDirection.Tx, DropReason.None, red1.Sent[0]) };
        var writing = Task.Run(async () =>
        {
            await using var stream = File.Create(file);
            return await session.WriteToAsync(stream);
        });
        await WaitUntil(() => session.Captured == 2 && RingEmpty(session));
        red1.Inbound.Enqueue(spoofed);
        red1.Inbound.Enqueue(Udp(3));
        red1.Inbound.Enqueue(Udp(4));
        worker.RunOnce();
        expected.Add((CaptureDirection.Drop, DropReason.SpoofedSource, spoofed));
        expected.Add((CaptureDirection.Rx, DropReason.None, Udp(3)));
        await WaitUntil(() => session.Captured == 4 && RingEmpty(session));
        pnic0.Inbound.Enqueue(NvgreToRed1());
        red1.Inbound.Enqueue(Udp(5));
        worker.RunOnce();
        expected.Add((CaptureDirection.Tx, DropReason.None, RedInner()));
        expected.Add((CaptureDirection.Rx, DropReason.None, Udp(5)));
        await WaitUntil(() => session.Captured == 6 && RingEmpty(session));
        red1.Inbound.Enqueue(ToUnknown());
        worker.RunOnce();
        expected.Add((CaptureDirection.Drop, DropReason.NoLookupRecord, ToUnknown()));
        var summary = await writing.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(summary, Is.EqualTo(new CaptureSummary("red1", 7, 1, CountReached: true)));
        var read = await GoldenScenarioTests.ReadAll(file);
        Assert.That(read.Select(f => f.Data), Is.EqualTo(expected.Select(e => e.Item3)), "CaptureReader reads every frame back, in order");
        Assert.That(read.Select(f => f.LinkType), Has.All.EqualTo(1));
        Assert.That(read.Select(f => f.TimestampNs), Is.Ordered.And.All.GreaterThan(1_600_000_000_000_000_000L), "ns timestamps");

        Assume.That(File.Exists("/usr/bin/tshark"), "tshark is installed by .ci/setup-deps");
        string fields = TsharkCheckTests.RunTshark(file, "-T", "fields", "-e", "frame.packet_flags_direction", "-e", "frame.comment", "-e", "frame.drop_count", "-e", "frame.len", "-E", "separator=|");
        var lines = fields.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(7));
        for (int i = 0; i < lines.Length; i++)
        {
            var cols = lines[i].Split('|');
            var (direction, reason, data) = expected[i];
            Assert.That(Convert.ToInt32(cols[0], 16), Is.EqualTo(direction == CaptureDirection.Tx ? 2 : 1), $"frame {i + 1}: inbound / outbound");
            Assert.That(cols[1], Is.EqualTo(reason == DropReason.None ? string.Empty : "drop: " + DropReasons.Name(reason)), $"frame {i + 1}: comment");
            Assert.That(cols[2], Is.EqualTo(i == 4 ? "1" : string.Empty), $"frame {i + 1}: drop count (Udp(4) was lost just before the decapsulated frame)");
            Assert.That(cols[3], Is.EqualTo(data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        string stats = TestProcess.Run("/usr/bin/capinfos", ["-M", file]).Output;
        Assert.That(stats, Does.Contain("Number of packets:   7"));
    }

    [Test]
    public async Task Cancelling_the_writer_stops_the_capture_and_leaves_a_complete_file()
    {
        var (worker, _, red1) = Build();
        var session = PortCapture.Start(worker, "red1", count: int.MaxValue);
        red1.Inbound.Enqueue(Udp(1));
        red1.Inbound.Enqueue(Udp(2));
        worker.RunOnce();
        using var cts = new CancellationTokenSource();
        using var stream = new MemoryStream();
        var writing = session.WriteToAsync(stream, cts.Token);
        await WaitUntil(() => RingEmpty(session));
        await cts.CancelAsync();
        var summary = await writing.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(summary, Is.EqualTo(new CaptureSummary("red1", 2, 0, CountReached: false)));
        Assert.That((session.IsEnded, worker.CaptureArmed), Is.EqualTo((true, false)));
        stream.Position = 0;
        await using var reader = new CaptureReader(stream, "memory", leaveOpen: true);
        var frames = new List<CapturedFrame>();
        while (await reader.ReadNextAsync() is { } f)
        {
            frames.Add(f);
        }

        Assert.That(frames.Select(f => f.Data), Is.EqualTo(new[] { Udp(1), Udp(2) }));
    }

    [Test]
    public async Task A_running_worker_and_a_reader_on_another_thread_lose_nothing_silently()
    {
        var (worker, _, red1) = Build(bufferCount: 4096);
        const int total = 3000;
        for (int i = 0; i < total; i++)
        {
            red1.Inbound.Enqueue(Udp(i));
        }

        var session = PortCapture.Start(worker, "red1", count: int.MaxValue, options: new CaptureOptions { RingSlots = 64 });
        using var stop = new CancellationTokenSource();
        var run = Task.Factory.StartNew(() => worker.Run(stop.Token), TaskCreationOptions.LongRunning);
        var got = new List<CapturedPacket>();
        var reading = Task.Run(async () =>
        {
            while (await session.ReadAsync() is { } p)
            {
                got.Add(p);
            }
        });
        await WaitUntil(() => Volatile.Read(ref worker.Forwarder.Counters.PortRx[1]) == total);
        session.Stop();
        await reading.WaitAsync(TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(got.Count + session.Lost, Is.EqualTo(total), "every frame captured or counted as lost");
        Assert.That(got.Sum(p => p.LostBefore), Is.LessThanOrEqualTo(session.Lost));
        var sourcePorts = got.Select(p => (p.Data[34] << 8) | p.Data[35]).ToList();
        Assert.That(sourcePorts, Is.Ordered.Ascending.And.Unique, "in arrival order, none twice");
        Assert.That(got.Zip(sourcePorts).All(x => x.First.Data.AsSpan().SequenceEqual(Udp(x.Second - 1024))), Is.True, "each copied whole");
    }

    [Test]
    public void Start_refuses_unknown_ports_and_empty_counts()
    {
        var (worker, _, _) = Build();
        Assert.That(() => PortCapture.Start(worker, "red9", 10), Throws.ArgumentException.With.Message.Contains("no port named 'red9'; the ports are pnic0, red1"));
        Assert.That(() => PortCapture.Start(worker, 2, 10), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => PortCapture.Start(worker, "red1", 0), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => PortCapture.Start(worker, "red1", 1, options: new CaptureOptions { SnapLength = 0 }), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(worker.CaptureArmed, Is.False);
    }

    private static (PortWorker Worker, QueuePort Pnic0, QueuePort Red1) Build(int bufferCount = 256)
    {
        var loaded = ConfigLoader.Load(PortWorkerTests.Config);
        Assert.That(loaded.Problems, Is.Empty);
        var pnic0 = new QueuePort("pnic0");
        var red1 = new QueuePort("red1");
        var worker = new PortWorker(new PolicyStore(PolicySnapshot.Build(loaded.Config!)), [pnic0, red1], bufferCount);
        return (worker, pnic0, red1);
    }

    private static byte[] Udp(int i) => PortWorkerTests.RedFrame(i);

    private static byte[] ToUnknown() => Concat(
        Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0800),
        Ipv4Of("10.1.1.7", "10.1.1.99", 17, UdpOf(1000, 2000, new byte[10])));

    private static byte[] ArpForRemote() => Concat(
        Eth("FF-FF-FF-FF-FF-FF", "00-15-5D-00-00-01", 0x0806),
        ArpOf(1, "00-15-5D-00-00-01", "10.1.1.7", "00-00-00-00-00-00", "10.1.1.8"));

    private static byte[] RedInner() => Concat(
        Eth("00-15-5D-00-00-01", "00-15-5D-00-00-02", 0x0800),
        Ipv4Of("10.1.1.8", "10.1.1.7", 17, UdpOf(4789, 1024, new byte[12])));

    private static byte[] NvgreToRed1() => Concat(
        Eth("02-00-00-00-01-0A", "02-00-00-00-01-0B", 0x0800),
        Ipv4Of("192.168.1.11", "192.168.1.10", 47, NvgreOf(5001, 7, RedInner())));

    private static async Task<List<CapturedPacket>> ReadAll(CaptureSession session)
    {
        var packets = new List<CapturedPacket>();
        while (await session.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)) is { } p)
        {
            packets.Add(p);
        }

        return packets;
    }

    private static bool RingEmpty(CaptureSession session) => session.Unread == 0;

    /// <summary>Polls a condition another thread makes true (a guard against hanging, not a timing assertion).</summary>
    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "timed out waiting");
            await Task.Delay(5);
        }
    }
}
