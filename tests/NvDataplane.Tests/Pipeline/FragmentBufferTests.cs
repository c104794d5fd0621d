using NvDataplane.Diagnostics;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// A packet without DF too big for the tunnel is cut into fragments, each in a buffer of its own;
/// when the worker's pool has too few free buffers for them, the packet is counted as
/// pool_exhausted, not as tx_full (the provider port's queue had room).
/// </summary>
public class FragmentBufferTests
{
    private static byte[] TooBigWithoutDf() =>
        Concat(Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 17, UdpOf(40000, 5000, new byte[1472]), flagsFragment: 0)); // 1,500 bytes of IP: over 1,458

    [Test]
    public void Fragments_that_find_too_few_free_buffers_are_counted_as_pool_exhausted()
    {
        var roomy = new ForwarderHarness(ProviderRouteTests.Config(v6: false, routePrefix: null));
        Assert.That(roomy.Send("red1", TooBigWithoutDf()), Has.Count.EqualTo(2), "with buffers to spare: two fragments");

        var tight = new ForwarderHarness(ProviderRouteTests.Config(v6: false, routePrefix: null), buffers: 2);
        Assert.That(tight.Send("red1", TooBigWithoutDf()), Is.Empty);
        Assert.That(tight.Forwarder.Counters.Drop(DropReason.PoolExhausted), Is.EqualTo(1));
        Assert.That(tight.Forwarder.Counters.Drop(DropReason.TxFull), Is.Zero, "the queue had room");
    }
}
