using NvDataplane.Diagnostics;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// Two hosts whose moved records point at each other (a VM moving hv1 → hv3 → hv1 within the
/// grace period, hv1 not yet told it came back): each relayed the other's relays, 63 bounces per
/// frame, each with a REDIRECT. A frame that came from the new PA's own station is not sent back
/// (FORWARDING 8.2, split horizon): relays_refused, an UNREACHABLE to the sender, no_local_port.
/// </summary>
public partial class MigrationTests
{
    /// <summary>Red-2's frame to Red-1 as hv3 relays it to hv1: hv2's PA kept, hv3's MAC as the Ethernet source.</summary>
    private static byte[] RelayedBy(string stationMac) => FromRed2("10.1.1.7", ethSource: stationMac, ttl: 63);

    private static void AssertRefused(Host host, List<(int Port, byte[] Frame)> output, long redirectsBefore)
    {
        Assert.That(output, Has.Count.EqualTo(1), "only the message");
        Assert.That(output[0].Frame[(14 + 20 + 8 + 14 + 20)..(14 + 20 + 8 + 14 + 22)], Is.EqualTo(new byte[] { 3, 10 }), "an UNREACHABLE");
        Assert.That(output[0].Frame[(14 + 16)..(14 + 20)], Is.EqualTo(Addr(Hv2)), "to the sender");
        Assert.That((host.Counters.RelaysRefused, host.Counters.UnreachablesSent, host.Counters.RedirectsSent), Is.EqualTo((1L, 1L, redirectsBefore)), "no REDIRECT for it");
        Assert.That(host.Drops(DropReason.NoLocalPort), Is.EqualTo(1));
    }

    [Test]
    public void A_frame_from_the_new_pas_own_station_is_not_relayed_back_to_it()
    {
        var host = MovedHost();
        var output = host.Send("pnic0", RelayedBy(Hv3Mac), T0 + Second);

        AssertRefused(host, output, redirectsBefore: 0);
        Assert.That(host.Counters.Relayed, Is.Zero);

        var direct = host.Send("pnic0", FromRed2("10.1.1.7", 5001), T0 + Second + 1);
        Assert.That(direct, Has.Count.EqualTo(2), "the sender's own frame is still relayed (and the sender redirected)");
        Assert.That(host.Counters.Relayed, Is.EqualTo(1));
    }

    [Test]
    public void A_frame_from_the_new_pas_station_learned_by_arp_is_not_relayed_back_to_it()
    {
        var host = MovedWithUnresolvedSender(red1: Hv30, red9: Hv2);
        Assert.That(host.Send("pnic0", FromRed2("10.1.1.7"), T0 + Second).Select(o => Convert.ToHexString(o.Frame[12..14])),
            Is.EqualTo(new[] { "0800", "0806" }), "the REDIRECT to hv2; the relay waits for 192.168.1.30's MAC");
        Assert.That(host.Send("pnic0", ArpReply(Hv30, Hv30Mac), T0 + Second + 1), Has.Count.EqualTo(1), "the relay leaves");

        var output = host.Send("pnic0", RelayedBy(Hv30Mac), T0 + (2 * Second));
        AssertRefused(host, output, redirectsBefore: 1);
    }

    [Test]
    public void The_trace_refuses_the_bounce_as_the_forwarder_does()
    {
        var host = MovedHost();
        var trace = PacketTracer.Trace(host.Store.Current, "pnic0", RelayedBy(Hv3Mac), T0 + Second);
        Assert.That(trace.Agrees, Is.True, trace.ToString());
        Assert.That(trace.Actual.DropReason, Is.EqualTo("no_local_port"));
        Assert.That(trace.Steps.Select(s => s.Text), Has.Some.Contains("split horizon"));

        var direct = PacketTracer.Trace(host.Store.Current, "pnic0", FromRed2("10.1.1.7"), T0 + Second);
        Assert.That(direct.Agrees, Is.True, direct.ToString());
        Assert.That(direct.Actual.Fate, Is.EqualTo(TraceFate.Forwarded), "relayed");
    }
}
