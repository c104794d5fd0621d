using NvDataplane.Pipeline;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// The daemon's poll loop over in-memory ports: batches of at most 32, every frame forwarded, the
/// busy time split into device and forwarding time per packet, and a device that refuses frames
/// counted per port without stalling the loop.
/// </summary>
public class PortWorkerTests
{
    /// <summary>A provider port and one Red VM whose remote peer has a static neighbor (PortCaptureTests uses it too).</summary>
    internal const string Config = """
        {
          "host": { "name": "hv1" },
          "ports": [
            { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A", "mtu": 1500 },
            { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001 }
          ],
          "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
          "providerNeighbors": [ { "address": "192.168.1.11", "macAddress": "02-00-00-00-01-0B" } ],
          "lookupRecords": [
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10", "rule": "TranslationMethodEncap" },
            { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.11", "rule": "TranslationMethodEncap" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }
          ]
        }
        """;

    /// <summary>UDP from red1 to the remote Red VM, source port 1024 + i: encapsulated onto pnic0.</summary>
    internal static byte[] RedFrame(int i) => Concat(
        Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0800),
        Ipv4Of("10.1.1.7", "10.1.1.8", 17, UdpOf((ushort)(1024 + i), 4789, new byte[22])));

    private static (PortWorker Worker, QueuePort Provider, QueuePort Vm) Build(int providerAccepts = int.MaxValue, string config = Config)
    {
        var loaded = ConfigLoader.Load(config);
        Assert.That(loaded.Problems, Is.Empty);
        var provider = new QueuePort("pnic0", providerAccepts);
        var vm = new QueuePort("red1", int.MaxValue);
        var worker = new PortWorker(new PolicyStore(PolicySnapshot.Build(loaded.Config!)), [provider, vm], bufferCount: 256);
        return (worker, provider, vm);
    }

    [Test]
    public void A_round_forwards_every_waiting_frame_in_batches_of_32_and_times_them()
    {
        var (worker, provider, vm) = Build();
        for (int i = 0; i < 100; i++)
        {
            vm.Inbound.Enqueue(RedFrame(i));
        }

        int received = 0;
        while (vm.Inbound.Count > 0)
        {
            received += worker.RunOnce();
        }

        Assert.That(received, Is.EqualTo(100));
        Assert.That(provider.Sent, Has.Count.EqualTo(100), "every frame encapsulated onto the provider port");
        Assert.That(provider.Sent.Select(f => (f[12] << 8) | f[13]), Has.All.EqualTo(0x0800));
        Assert.That(provider.Sent.Select(f => f[14 + 9]), Has.All.EqualTo(47), "GRE");
        Assert.That(vm.ReceiveCalls.Where(n => n > 0), Is.EqualTo(new[] { 32, 32, 32, 4 }));

        var times = worker.Times;
        Assert.That(times.Packets, Is.EqualTo(100));
        Assert.That(times.Batches, Is.EqualTo(4));
        Assert.That(times.AverageBatch, Is.EqualTo(25.0));
        Assert.That(times.ForwardTicks, Is.Positive);
        Assert.That(times.TransmitTicks, Is.Positive);
        Assert.That(times.Describe(), Does.StartWith("ns/packet: receive ").And.Contain("100 packets in 4 batches (avg 25.0)"));
        Assert.That(worker.TxRefused, Is.All.Zero);
        Assert.That(worker.Forwarder.Pool.Available, Is.EqualTo(256), "every buffer back in the pool");
    }

    [Test]
    public void A_device_that_refuses_frames_costs_a_count_not_a_stall()
    {
        var (worker, provider, vm) = Build(providerAccepts: 10);
        for (int i = 0; i < 32; i++)
        {
            vm.Inbound.Enqueue(RedFrame(i));
        }

        Assert.That(worker.RunOnce(), Is.EqualTo(32));
        Assert.That(provider.Sent, Has.Count.EqualTo(10));
        Assert.That(worker.TxRefused[0], Is.EqualTo(22), "pnic0 refused the rest");
        Assert.That(worker.Forwarder.Counters.Forwarded, Is.EqualTo(32));
        Assert.That(worker.Forwarder.Pool.Available, Is.EqualTo(256));
    }

    [Test]
    public void Frames_still_waiting_for_a_next_hop_when_the_worker_stops_are_counted_neighbor_unresolved()
    {
        // The stopped line said "rx 1, forwarded 0, answered 0, dropped 0": the frame was in rx
        // and nowhere else (replay counted such frames at the end of its captures).
        var (worker, provider, vm) = Build(config: Config.Replace("""{ "address": "192.168.1.11", "macAddress": "02-00-00-00-01-0B" }""", "", StringComparison.Ordinal));
        vm.Stamped = true; // stamped 0, the frame would expire at once on the worker's clock
        vm.Inbound.Enqueue(RedFrame(0));
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => worker.Run(stop.Token));
        Assert.That(TestWait.Until(() => provider.Sent.Count == 1, seconds: 10), Is.True, "the ARP request went out");
        stop.Cancel();
        run.Wait(TimeSpan.FromSeconds(10));

        var c = worker.Forwarder.Counters;
        Assert.That((c.TotalRx, c.Forwarded, c.Answered, c.Drop(NvDataplane.Diagnostics.DropReason.NeighborUnresolved)), Is.EqualTo((1L, 0L, 0L, 1L)));
        Assert.That(worker.Forwarder.ParkedCount, Is.Zero);
        Assert.That(worker.Forwarder.Pool.Available, Is.EqualTo(256), "its buffer back in the pool");
    }

    [Test]
    public void With_no_packets_the_times_say_so()
    {
        var (worker, _, _) = Build();
        Assert.That(worker.RunOnce(), Is.Zero);
        Assert.That(worker.Times.Describe(), Is.EqualTo("no packets"));
        Assert.That(worker.Times.ReceiveNsPerPacket, Is.Zero);
    }
}
