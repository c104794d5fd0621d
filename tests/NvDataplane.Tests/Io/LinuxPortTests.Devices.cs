using NvDataplane.Io;
using NvDataplane.Pipeline;

namespace NvDataplane.Tests.Io;

/// <summary>
/// Devices that change under a running port (deleted, made again, MTU raised), devices held by
/// another, and frames larger than a buffer at a TAP. Namespaces are named <c>fxp-</c> and 8 hex
/// digits, devices <c>fxp</c>something; both go away with the namespace, whatever the outcome.
/// </summary>
public partial class LinuxPortTests
{
    [TestCase(false)]
    [TestCase(true)]
    public void AfPacket_interface_deleted_under_the_port_is_a_receive_failure_at_once_even_when_made_again(bool madeAgain)
    {
        using var ns = NamespaceWithFxpVethPair();
        var pool = new BufferPool(64);
        var port = ns.Run(() => new AfPacketPort("fxpa"));
        try
        {
            ns.Ip("link", "del", "dev", "fxpa");
            if (madeAgain)
            {
                AddFxpVethPair(ns); // same name, a new index: the socket is still bound to the old one
            }

            var failure = ns.Run(() => ReceiveUntilFailure(port, pool));

            Assert.That(failure, Is.InstanceOf<IOException>(), "the port went on as if nothing happened");
            Assert.That(failure!.Message, Does.Contain("afpacket:fxpa").And.Contain(madeAgain ? "was deleted and made again" : "went away"));
        }
        finally
        {
            ns.Run(port.Dispose);
        }
    }

    [Test]
    public void Pcap_interface_deleted_under_the_port_is_a_receive_failure_and_a_link_down_is_not()
    {
        using var ns = NamespaceWithFxpVethPair();
        var pool = new BufferPool(64);
        var port = ns.Run(() => new PcapPort("fxpa"));
        try
        {
            ns.Ip("link", "set", "dev", "fxpa", "down");
            var whileDown = ns.Run(() => ReceiveUntilFailure(port, pool, TimeSpan.FromMilliseconds(600)));
            Assert.That(whileDown, Is.Null, "a link down is waited out");

            ns.Ip("link", "set", "dev", "fxpa", "up");
            ns.Ip("link", "del", "dev", "fxpa");
            var failure = ns.Run(() => ReceiveUntilFailure(port, pool));

            Assert.That(failure, Is.InstanceOf<IOException>(), "pcap_next_ex's PCAP_ERROR was taken for nothing waiting");
            Assert.That(failure!.Message, Does.Contain("pcap:fxpa").And.Contain("receiving failed"));
        }
        finally
        {
            ns.Run(port.Dispose);
        }
    }

    [Test]
    public void Pcap_on_a_device_that_is_not_ethernet_is_refused_at_open()
    {
        using var ns = NetworkNamespace.Create("fxp-");
        var e = ns.Run(() =>
        {
            try
            {
                PacketPorts.Open("pcap:any").Dispose(); // Linux cooked capture, not Ethernet frames
                return null;
            }
            catch (Exception caught)
            {
                return caught;
            }
        });

        Assert.That(e, Is.InstanceOf<IOException>());
        Assert.That(e!.Message, Does.Contain("pcap:any").And.Contain("is not an Ethernet device"));
    }

    [Test]
    public void AfPacket_mtu_raised_while_running_lets_jumbo_frames_out_once_read_again()
    {
        using var ns = NamespaceWithFxpVethPair(); // MTU 1500 at open
        List<byte[]> jumbo =
        [
            TestFrame(0, 60, source: 0x0a, destination: 0x0b),
            TestFrame(1, 8000, source: 0x0a, destination: 0x0b),
            TestFrame(2, 9014, source: 0x0a, destination: 0x0b), // the full MTU of 9000
            TestFrame(3, 60, source: 0x0a, destination: 0x0b),
        ];

        var result = ns.Run(() =>
        {
            var pool = new BufferPool(64);
            using var a = new AfPacketPort("fxpa");
            using var b = new AfPacketPort("fxpb");
            int mtuAtOpen = a.DeviceMtu;
            ns.Ip("link", "set", "dev", "fxpa", "mtu", "9000");
            ns.Ip("link", "set", "dev", "fxpb", "mtu", "9000");
            ReceiveUntilFailure(a, pool, TimeSpan.FromMilliseconds(AfPacketPort.HousekeepingIntervalMs + 100)); // a reads the MTU again
            SendAll(a, jumbo, pool);
            return (atB: ReceiveTestFrames(b, pool, jumbo.Count).Frames, a.TransmitDropped, mtuAtOpen, mtuRead: a.DeviceMtu);
        });

        AssertSameFrames(result.atB, jumbo, "a → b after the MTU went up to 9000");
        Assert.That((result.mtuAtOpen, result.mtuRead), Is.EqualTo((1500, 9000)), "the port says the device's MTU as last read");
        Assert.That(result.TransmitDropped, Is.Zero, "no frame refused for want of a slot");
    }

    [Test]
    public void Tap_frames_too_large_for_a_buffer_are_counted_and_dropped_not_cut_short()
    {
        using var ns = NetworkNamespace.Create("fxp-");
        var tap = ns.Run(() => new TapPort("fxptap"));
        try
        {
            ns.Ip("link", "set", "dev", "fxptap", "mtu", "16000");
            List<byte[]> sent =
            [
                TestFrame(0, 100, source: 0x0b, destination: 0x0a),
                TestFrame(1, BufferPool.DefaultDataSize + 500, source: 0x0b, destination: 0x0a), // past any buffer
                TestFrame(2, BufferPool.DefaultDataSize, source: 0x0b, destination: 0x0a),       // exactly a buffer
                TestFrame(3, BufferPool.DefaultDataSize + 1, source: 0x0b, destination: 0x0a),   // one byte over
                TestFrame(4, 60, source: 0x0b, destination: 0x0a),
            ];

            var result = ns.Run(() =>
            {
                var pool = new BufferPool(64);
                using var sender = new AfPacketPort("fxptap"); // what it sends, the TAP's reader reads
                SendAll(sender, sent, new BufferPool(64, dataSize: 16000));
                var (atTap, _) = ReceiveTestFrames(tap, pool, 3);
                return (atTap, tap.ReceiveTruncated, reported: ((IPacketPort)tap).ReceiveTruncated, pool.Available, pool.Size);
            });

            AssertSameFrames(result.atTap, [sent[0], sent[2], sent[4]], "into the TAP around the frames too large");
            Assert.That(result.ReceiveTruncated, Is.EqualTo(2), "the two frames over a buffer");
            Assert.That(result.reported, Is.EqualTo(2), "what the daemon reports per port (rxTooLarge, port_rx_too_large)");
            Assert.That(result.Available, Is.EqualTo(result.Size), "every rented buffer went back to the pool");
        }
        finally
        {
            ns.Run(tap.Dispose);
        }
    }

    [Test]
    public void Tap_held_by_another_is_in_use_and_not_to_be_deleted()
    {
        using var ns = NetworkNamespace.Create("fxp-");
        var holder = ns.Run(() => new TapPort("fxpheld"));
        try
        {
            var e = ns.Run(() =>
            {
                try
                {
                    new TapPort("fxpheld").Dispose();
                    return null;
                }
                catch (Exception caught)
                {
                    return caught;
                }
            });

            Assert.That(e, Is.InstanceOf<IOException>());
            Assert.That(e!.Message, Does.Contain("tap:fxpheld").And.Contain("is in use by another process"));
            Assert.That(e.Message, Does.Not.Contain("ip link del"), "deleting it would take the holder's port away");
        }
        finally
        {
            ns.Run(holder.Dispose);
        }
    }

    /// <summary>Receives (returning every buffer) until the port throws or the time is up; the exception, or null.</summary>
    private static IOException? ReceiveUntilFailure(IPacketPort port, BufferPool pool, TimeSpan? within = null)
    {
        var batch = new PacketBuffer[32];
        var end = DateTime.UtcNow + (within ?? Deadline);
        try
        {
            while (DateTime.UtcNow < end)
            {
                _ = port.WaitReadable(20);
                int n = port.Receive(batch, pool);
                for (int i = 0; i < n; i++)
                {
                    pool.Return(batch[i]);
                }
            }
        }
        catch (IOException e)
        {
            return e;
        }

        return null;
    }

    /// <summary>A namespace of the test's own holding a veth pair fxpa ↔ fxpb, both up.</summary>
    private static NetworkNamespace NamespaceWithFxpVethPair()
    {
        var ns = NetworkNamespace.Create("fxp-");
        try
        {
            AddFxpVethPair(ns);
            return ns;
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    private static void AddFxpVethPair(NetworkNamespace ns)
    {
        ns.Ip("link", "add", "name", "fxpa", "type", "veth", "peer", "name", "fxpb");
        ns.Ip("link", "set", "dev", "fxpa", "up");
        ns.Ip("link", "set", "dev", "fxpb", "up");
    }
}
