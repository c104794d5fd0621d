using NvDataplane.Diagnostics;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// The ACL rules of the external port's VSID judge the port as a VM's rules judge the VM: the
/// outbound rules what comes in from the outside network, the inbound rules what leaves for it,
/// whether it comes from a VM on this host or decapsulated from another. Frames the port makes
/// itself (an echo reply, an ICMP error) are not judged, as no locally answered frame is.
/// </summary>
public partial class ExternalGatewayTests
{
    private const string GatewayAcls = """
        "acls": [
          { "virtualSubnetId": 5099, "priority": 10, "direction": "outbound", "protocol": "udp", "sourcePrefix": "172.16.0.66/32", "action": "deny", "name": "no-bad-host" },
          { "virtualSubnetId": 5099, "priority": 20, "direction": "inbound", "protocol": "udp", "destinationPrefix": "8.8.4.4/32", "action": "deny", "name": "no-dns-out" },
          { "virtualSubnetId": 5099, "priority": 30, "direction": "outbound", "protocol": "icmp", "action": "deny", "name": "no-icmp-in" }
        ],
        "customerRoutes": [
        """;

    private static string ConfigWithGatewayAcls() => Config().Replace("\"customerRoutes\": [", GatewayAcls);

    [Test]
    public void The_gateway_vsids_outbound_rules_judge_what_comes_in_from_outside()
    {
        var h = Harness(ConfigWithGatewayAcls());
        byte[] bad = FromOnPrem(UdpIp("172.16.0.66", "10.1.1.7"));
        Assert.That(h.Send("ext0", bad), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.AclDeny), Is.EqualTo(1));
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp("172.16.0.10", "10.1.1.7"))).Single().Port, Is.EqualTo(h.Port("pnic0")), "another outside host's packet goes in");
        Assert.That(h.Send("ext0", FromOnPrem(UdpIp("172.16.0.66", "10.1.1.8"))), Is.Empty, "nor to a VM on this host");
        Assert.That(h.Send("ext0", FromOnPrem(Ipv4Of("172.16.0.10", "10.1.1.7", 1, IcmpEcho(8, 7, 1, [1, 2, 3])))), Is.Empty, "no ICMP in");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.AclDeny), Is.EqualTo(3));

        var trace = PacketTracer.Trace(h.Forwarder.Policy, "ext0", bad);
        Assert.That(trace.Explained.DropReason, Is.EqualTo("acl_deny"));
        Assert.That(trace.Explained.AclHits, Is.EqualTo(new[] { "no-bad-host" }));
        Assert.That(trace.Agrees, Is.True);
    }

    [Test]
    public void The_gateway_vsids_inbound_rules_judge_what_leaves_for_outside()
    {
        var h = Harness(ConfigWithGatewayAcls());
        byte[] fromRemote = NvgreFromHv1(UdpIp("10.1.1.7", "8.8.4.4", ttl: 63));
        Assert.That(h.Send("pnic0", fromRemote), Is.Empty, "not even an ARP request for the next hop");
        Assert.That(h.Send("web2", Concat(Eth(VirtualGatewayMac, Web2Mac, 0x0800), UdpIp("10.1.1.8", "8.8.4.4"))), Is.Empty, "from a VM on this host");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.AclDeny), Is.EqualTo(2));
        Assert.That(h.Send("pnic0", NvgreFromHv1(UdpIp("10.1.1.7", "8.8.8.8", ttl: 63))).Single().Port, Is.EqualTo(h.Port("ext0")), "another destination: ARP for the next hop");

        var trace = PacketTracer.Trace(h.Forwarder.Policy, "pnic0", fromRemote);
        Assert.That(trace.Explained.DropReason, Is.EqualTo("acl_deny"));
        Assert.That(trace.Agrees, Is.True);
    }

    [Test]
    public void An_echo_reply_that_waits_for_its_provider_next_hop_is_counted_answered_when_it_leaves()
    {
        // Counted forwarded: only a reply that left at once was relabelled as the answer it is.
        string json = Config().Replace($$"""{ "address": "192.168.1.10", "macAddress": "{{Hv1Mac}}" }""", "", StringComparison.Ordinal);
        var h = Harness(json);
        var asked = h.Send("pnic0", NvgreFromHv1(Ipv4Of("10.1.1.7", "172.16.0.1", 1, IcmpEcho(8, 7, 1, [1, 2, 3]), ttl: 63)));
        Assert.That(asked.Single().Frame[12..14], Is.EqualTo(new byte[] { 0x08, 0x06 }), "the reply waits while ARP asks for hv1");

        var left = h.Send("pnic0", ArpFrame(Hv2Mac, Hv1Mac, 2, Hv1Mac, "192.168.1.10", Hv2Mac, "192.168.1.11"));
        Assert.That(left.Single().Port, Is.EqualTo(h.Port("pnic0")), "the echo reply leaves for web1's host");
        var c = h.Forwarder.Counters;
        Assert.That((c.Forwarded, c.Answered, c.TotalDrops), Is.EqualTo((0L, 2L, 0L)), "the echo and the ARP reply: both answered");
    }

    [Test]
    public void Replies_the_external_port_makes_are_not_judged_by_its_rules()
    {
        // "no-icmp-in" denies ICMP from outside, but the port's own echo reply and time exceeded
        // are the dataplane's answers, not traffic from outside.
        var h = Harness(ConfigWithGatewayAcls());
        var reply = h.Send("pnic0", NvgreFromHv1(Ipv4Of("10.1.1.7", "172.16.0.1", 1, IcmpEcho(8, 7, 1, [1, 2, 3]), ttl: 63)));
        Assert.That(reply.Single().Port, Is.EqualTo(h.Port("pnic0")), "the echo reply goes back to web1's host");
        var expired = h.Send("pnic0", NvgreFromHv1(UdpIp("10.1.1.7", "8.8.8.8", ttl: 1)));
        Assert.That(expired.Single().Port, Is.EqualTo(h.Port("pnic0")), "time exceeded back to web1's host");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.AclDeny), Is.Zero);
    }

    [Test]
    public void An_icmp_error_the_port_routes_in_that_the_receivers_inbound_rules_deny_is_counted_acl_deny()
    {
        // web2's VSID takes no ICMP in. Its packet routed out with TTL 2 runs out at the
        // gateway's hop; the time exceeded the port routes back in is judged by web2's inbound
        // rules like any packet from outside, and denied: the rule's hit and the drop are both
        // counted, as for a flood copy a receiving port denies (the packet itself is ttl_expired).
        var h = Harness(Config().Replace("\"customerRoutes\": [", """
            "acls": [ { "virtualSubnetId": 5001, "priority": 10, "direction": "inbound", "protocol": "icmp", "action": "deny", "name": "no-icmp-to-vms" } ],
            "customerRoutes": [
            """));
        byte[] frame = Concat(Eth(VirtualGatewayMac, Web2Mac, 0x0800), UdpIp("10.1.1.8", "172.16.0.10", ttl: 2));
        Assert.That(h.Send("web2", frame), Is.Empty, "the time exceeded is denied at web2's port");
        var c = h.Forwarder.Counters;
        Assert.That((c.Drop(DropReason.TtlExpired), c.Drop(DropReason.AclDeny), c.Forwarded), Is.EqualTo((1L, 1L, 0L)));
        Assert.That(h.Forwarder.AclCounters.Read().ToDictionary()["no-icmp-to-vms"], Is.EqualTo(1));

        var trace = PacketTracer.Trace(h.Forwarder.Policy, "web2", frame);
        Assert.That(trace.Explained.DropReason, Is.EqualTo("ttl_expired"));
        Assert.That(trace.Explained.LostCopies, Is.EqualTo(new[] { "acl_deny" }));
        Assert.That(trace.Agrees, Is.True);
    }
}
