using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// Messages to a sender whose PA has no providerNeighbors entry (FORWARDING 8.3): they wait for
/// ARP like any frame, and count as sent only when they leave — else as messages_lost, never
/// under a frame's drop reason. Red-9 (10.1.1.9) sends from 192.168.1.30, which hv1 must ask for.
/// </summary>
public partial class MigrationTests
{
    private const string Hv30 = "192.168.1.30", Hv30Mac = "02-00-00-00-01-1E";

    /// <summary>hv1 after Red-1 moved to <paramref name="red1"/>, Red-9 on the unresolved PA <paramref name="red9"/>.</summary>
    private static Host MovedWithUnresolvedSender(string red1 = Hv3, string red9 = Hv30, Func<HostConfig, HostConfig>? edit = null)
    {
        edit ??= c => c;
        var host = new Host(edit(Config(red9: red9)));
        host.Replace(edit(Config(red1: red1, red9: red9)), T0);
        return host;
    }

    /// <summary>Red-9's frame to <paramref name="dstCa"/> as its host at <paramref name="fromPa"/> sends it to hv1.</summary>
    private static byte[] FromRed9(string dstCa, string fromPa = Hv30) =>
        FromRed2(dstCa, fromPa: fromPa, srcCa: "10.1.1.9", srcMac: Red9Mac, ethSource: Hv30Mac);

    private static byte[] ArpReply(string from, string fromMac) => Concat(Eth(Hv1Mac, fromMac, 0x0806), ArpOf(2, fromMac, from, Hv1Mac, Hv1));

    [Test]
    public void A_redirect_waiting_for_the_senders_mac_counts_as_sent_when_the_answer_lets_it_leave()
    {
        var host = MovedWithUnresolvedSender();
        byte[] input = FromRed9("10.1.1.7");

        var output = host.Send("pnic0", input, T0 + Second);

        Assert.That(output.Select(o => Convert.ToHexString(o.Frame[12..14])), Is.EqualTo(new[] { "0806", "0800" }), "the ARP request for 192.168.1.30, the relayed frame");
        Assert.That(output[1].Frame[(14 + 16)..(14 + 20)], Is.EqualTo(Addr(Hv3)));
        Assert.That((host.Counters.Relayed, host.Counters.RedirectsSent, host.Counters.MessagesLost), Is.EqualTo((1L, 0L, 0L)), "the REDIRECT waits: not sent yet");
        Assert.That(host.Harness.Forwarder.ParkedCount, Is.EqualTo(1));

        var released = host.Send("pnic0", ArpReply(Hv30, Hv30Mac), T0 + Second + 1_000_000);
        byte[] expected = Message4(5, 10, Addr(Hv3), input[14..], to: Hv30, toMac: Hv30Mac);
        Assert.That(released.Select(o => Convert.ToHexString(o.Frame)), Is.EqualTo(new[] { Convert.ToHexString(expected) }), "the REDIRECT, once the MAC is known");
        Assert.That((host.Counters.RedirectsSent, host.Counters.MessagesLost), Is.EqualTo((1L, 0L)));
    }

    [Test]
    public void Messages_whose_next_hop_never_answers_are_lost_not_sent()
    {
        var host = MovedWithUnresolvedSender();
        host.Send("pnic0", FromRed9("10.1.1.7"), T0 + Second);
        host.Send("pnic0", FromRed9("10.1.1.200"), T0 + Second + 1);
        Assert.That(host.Harness.Forwarder.ParkedCount, Is.EqualTo(2), "a REDIRECT and an UNREACHABLE wait for 192.168.1.30");
        Assert.That((host.Counters.RedirectsSent, host.Counters.UnreachablesSent), Is.EqualTo((0L, 0L)));

        host.Harness.Forwarder.ExpireParked(T0 + (2 * Second) + 1);

        Assert.That(host.Harness.Forwarder.ParkedCount, Is.Zero);
        Assert.That((host.Counters.RedirectsSent, host.Counters.UnreachablesSent, host.Counters.MessagesLost), Is.EqualTo((0L, 0L, 2L)));
        Assert.That(host.Drops(DropReason.NeighborUnresolved), Is.Zero, "a message is no input frame: messages_lost, not a drop");
        Assert.That(host.Drops(DropReason.NoLookupRecord), Is.EqualTo(1), "the frame to 10.1.1.200, as before");
    }

    [Test]
    public void A_waiting_message_dropped_by_a_new_policy_version_is_lost_not_policy_changed()
    {
        var host = MovedWithUnresolvedSender();
        host.Send("pnic0", FromRed9("10.1.1.7"), T0 + Second);
        Assert.That(host.Harness.Forwarder.ParkedCount, Is.EqualTo(1));

        host.Replace(Config(red1: Hv3, red9: Hv30, red4: Hv3V6), T0 + Second + 1);
        Assert.That(host.Send("pnic0", ArpReply(Hv30, Hv30Mac), T0 + Second + 2), Is.Empty, "nothing waits any more");

        Assert.That((host.Counters.RedirectsSent, host.Counters.MessagesLost), Is.EqualTo((0L, 1L)));
        Assert.That(host.Drops(DropReason.PolicyChanged), Is.Zero);
    }

    [Test]
    public void A_redirect_and_the_relayed_frame_waiting_for_one_next_hop_leave_redirect_first()
    {
        // The sender and the new PA both behind the provider router 192.168.1.1, which hv1 asks for.
        static HostConfig ViaRouter(HostConfig c) =>
            ConfigLoader.Load(ConfigWriter.Write(c with { ProviderRoutes = [new ProviderRouteConfig(IpPrefix.Parse("10.99.0.0/16"), IpAddr.Parse("192.168.1.1"), 1)] })).Config!;
        var host = MovedWithUnresolvedSender(red1: "10.99.0.12", red9: "10.99.0.30", edit: ViaRouter);
        byte[] input = FromRed9("10.1.1.7", fromPa: "10.99.0.30");

        var asked = host.Send("pnic0", input, T0 + Second);
        Assert.That(asked.Select(o => Convert.ToHexString(o.Frame[12..14])), Is.EqualTo(new[] { "0806" }), "one ARP request for the router; both frames wait");

        const string RouterMac = "02-00-00-00-01-01";
        var released = host.Send("pnic0", ArpReply("192.168.1.1", RouterMac), T0 + Second + 1_000_000);
        Assert.That(released, Has.Count.EqualTo(2));
        Assert.That(released[0].Frame[(14 + 20 + 8 + 14 + 20)], Is.EqualTo(5), "the REDIRECT first (8.2)");
        Assert.That(released[1].Frame[(14 + 16)..(14 + 20)], Is.EqualTo(Addr("10.99.0.12")), "then the relayed frame");
        Assert.That(released.Select(o => o.Frame[..6]), Is.All.EqualTo(Mac(RouterMac)));
        Assert.That((host.Counters.RedirectsSent, host.Harness.Forwarder.Counters.Forwarded), Is.EqualTo((1L, 1L)));
    }
}
