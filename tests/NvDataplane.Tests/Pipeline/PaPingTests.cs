using NvDataplane.Headers;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// "PA ping" (SPEC section 4: ICMP echo to a local PA is answered) on the host of the `nat`
/// golden scenario, whose PAs are 192.168.1.10 (the host's) and 192.168.1.20 (Red-1's Nat PA;
/// the peer Red-2 is 192.168.1.21): a datacenter monitor pinging either PA gets the host's reply;
/// an echo between two Nat PAs is VM traffic, rewritten to CAs and delivered to the VM.
/// </summary>
public class PaPingTests
{
    private const string NicMac = "02-00-00-00-01-0A";
    private const string PeerMac = "02-00-00-00-01-15";

    private static ForwarderHarness Host()
    {
        var loaded = ConfigLoader.Load(File.ReadAllText(Path.Combine(TestPaths.Captures, "nat", "config.json")));
        Assert.That(loaded.Problems, Is.Empty);
        return new ForwarderHarness(loaded.Config!);
    }

    private static byte[] Echo(string from, string to) =>
        Concat(Eth(NicMac, PeerMac, 0x0800), Ipv4Of(from, to, 1, IcmpEcho(8, 0x1234, 1, new byte[16])));

    [TestCase("192.168.1.10", TestName = "A monitor's ping to the host's PA is answered")]
    [TestCase("192.168.1.20", TestName = "A monitor's ping to a Nat record's PA is answered by the host")]
    public void A_ping_from_outside_the_virtual_networks_to_a_local_PA_is_answered(string pa)
    {
        var h = Host();
        var output = h.Send("pnic0", Echo("192.168.1.99", pa));
        Assert.That(output, Has.Count.EqualTo(1), "one reply");
        Assert.That(output[0].Port, Is.EqualTo(h.Port("pnic0")));
        byte[] reply = output[0].Frame;
        Assert.That(reply.AsSpan(0, 6).ToArray(), Is.EqualTo(Convert.FromHexString("020000000115")), "back to the sender's MAC");
        Assert.That(IpAddr.ReadV4(reply.AsSpan(14 + 12)), Is.EqualTo(IpAddr.Parse(pa)), "from the PA pinged");
        Assert.That(IpAddr.ReadV4(reply.AsSpan(14 + 16)), Is.EqualTo(IpAddr.Parse("192.168.1.99")));
        Assert.That(reply[14 + 20], Is.Zero, "echo reply");
        Assert.That(h.Forwarder.Counters.Answered, Is.EqualTo(1));
    }

    [Test]
    public void A_ping_between_two_Nat_PAs_is_the_VMs_and_is_rewritten_to_it()
    {
        var h = Host();
        var output = h.Send("pnic0", Echo("192.168.1.21", "192.168.1.20"));
        Assert.That(output, Has.Count.EqualTo(1));
        Assert.That(output[0].Port, Is.EqualTo(h.Port("red1")), "delivered to Red-1, which answers it");
        Assert.That(IpAddr.ReadV4(output[0].Frame.AsSpan(14 + 12)), Is.EqualTo(IpAddr.Parse("10.1.1.8")), "from Red-2's CA");
        Assert.That(IpAddr.ReadV4(output[0].Frame.AsSpan(14 + 16)), Is.EqualTo(IpAddr.Parse("10.1.1.7")), "to Red-1's CA");
        Assert.That(output[0].Frame[14 + 20], Is.EqualTo(8), "still the echo request");
        Assert.That(h.Forwarder.Counters.Answered, Is.Zero);
    }
}
