using NvDataplane.Diagnostics;
using NvDataplane.Rewrite;
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

    [TestCase(1500, 1458, 0)]
    [TestCase(1500, 1500, 0)]
    [TestCase(1501, 1458, 0)]
    [TestCase(9000, 1458, 0)]
    [TestCase(9000, 576, 0)]
    [TestCase(4000, 1458, 36)]
    [TestCase(4000, 600, 36)]
    [TestCase(600, 100, 16)]
    public void Count_is_the_number_of_fragments_WriteFragment_makes(int length, int maxIp, int optionBytes)
    {
        // Options: a non-copied one (record route, 7) and padding; later fragments drop it, so
        // they carry more payload than the first.
        byte[] options = new byte[optionBytes];
        if (optionBytes > 0)
        {
            options[0] = 7;
            options[1] = (byte)Math.Min(optionBytes, 39);
            options[2] = 4;
        }

        byte[] ip = Ipv4Of("10.1.1.7", "10.1.1.8", 17, new byte[length - 20 - optionBytes], flagsFragment: 0, options: optionBytes > 0 ? options : null);
        var piece = new byte[maxIp];
        int made = 0;
        while (Ipv4Fragmenter.WriteFragment(ip, maxIp, made, piece) > 0)
        {
            made++;
        }

        Assert.That(Ipv4Fragmenter.Count(ip, maxIp), Is.EqualTo(made));
    }

    [Test]
    public void Fragments_that_find_too_few_free_buffers_are_counted_as_pool_exhausted()
    {
        var roomy = new ForwarderHarness(ProviderRouteTests.Config(v6: false, routePrefix: null));
        Assert.That(roomy.Send("red1", TooBigWithoutDf()), Has.Count.EqualTo(2), "with buffers to spare: two fragments");

        var exact = new ForwarderHarness(ProviderRouteTests.Config(v6: false, routePrefix: null), buffers: 3);
        Assert.That(exact.Send("red1", TooBigWithoutDf()), Has.Count.EqualTo(2), "the frame's buffer and one free buffer per fragment are enough");

        var tight = new ForwarderHarness(ProviderRouteTests.Config(v6: false, routePrefix: null), buffers: 2);
        Assert.That(tight.Send("red1", TooBigWithoutDf()), Is.Empty);
        Assert.That(tight.Forwarder.Counters.Drop(DropReason.PoolExhausted), Is.EqualTo(1));
        Assert.That(tight.Forwarder.Counters.Drop(DropReason.TxFull), Is.Zero, "the queue had room");
    }
}
