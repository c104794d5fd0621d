using NvDataplane.Diagnostics;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// Broadcast and multicast (<c>virtualSubnets[].flooding</c>, docs/FORWARDING.md 1.7 and 2.4).
/// hv1 (PA 192.168.1.10) runs red1 and red3 (Red, VSID 5001) and blue1 and blue3 (Blue, VSID
/// 6001, the same CAs). Red has 10.1.1.8 and 10.1.1.9 on hv2 (192.168.1.11), 10.1.1.10 on hv3
/// (192.168.1.12) and a NAT VM 10.1.1.20 (PA 192.168.1.20); Blue has 10.1.1.8 on hv2 and
/// 10.1.1.30 on hv4 (192.168.1.13). Expected frames are built from the RFC layouts by
/// <see cref="TestFrames"/>, never by the dataplane.
/// </summary>
public class FloodingTests
{
    private const string Red1Mac = "00-15-5D-00-00-01";
    private const string Red3Mac = "00-15-5D-00-00-03";
    private const string Red8Mac = "00-15-5D-00-00-08";
    private const string Blue1Mac = "00-15-5D-00-01-01";
    private const string Blue8Mac = "00-15-5D-00-01-08";
    private const string PnicMac = "02-00-00-00-01-0A";
    private const string Broadcast = "FF-FF-FF-FF-FF-FF";

    /// <summary>Next-hop MAC of each remote PA (static neighbors).</summary>
    private static readonly Dictionary<string, string> HostMacs = new()
    {
        ["192.168.1.11"] = "02-00-00-00-01-0B",
        ["192.168.1.12"] = "02-00-00-00-01-0C",
        ["192.168.1.13"] = "02-00-00-00-01-0D",
    };

    private static string Config(string virtualSubnets, int mtu = 1500, string extraPorts = "", string extraRecords = "", string extraSections = "") => $$"""
        {
          "host": { "name": "hv1" },
          "ports": [
            { "name": "pnic0", "role": "provider", "macAddress": "{{PnicMac}}", "mtu": {{mtu}} },
            { "name": "red1", "role": "vm", "macAddress": "{{Red1Mac}}", "virtualSubnetId": 5001 },
            { "name": "blue1", "role": "vm", "macAddress": "{{Blue1Mac}}", "virtualSubnetId": 6001 },
            { "name": "red3", "role": "vm", "macAddress": "{{Red3Mac}}", "virtualSubnetId": 5001 },
            { "name": "blue3", "role": "vm", "macAddress": "00-15-5D-00-01-03", "virtualSubnetId": 6001 }
            {{extraPorts}}
          ],
          "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
          "providerNeighbors": [
            { "address": "192.168.1.11", "macAddress": "{{HostMacs["192.168.1.11"]}}" },
            { "address": "192.168.1.12", "macAddress": "{{HostMacs["192.168.1.12"]}}" },
            { "address": "192.168.1.13", "macAddress": "{{HostMacs["192.168.1.13"]}}" },
            { "address": "192.168.1.20", "macAddress": "02-00-00-00-01-14" }
          ],
          "lookupRecords": [
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "{{Red1Mac}}", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.3", "virtualSubnetId": 5001, "macAddress": "{{Red3Mac}}", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "{{Red8Mac}}", "providerAddress": "192.168.1.11" },
            { "customerAddress": "10.1.1.9", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-09", "providerAddress": "192.168.1.11" },
            { "customerAddress": "10.1.1.10", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-10", "providerAddress": "192.168.1.12" },
            { "customerAddress": "10.1.1.20", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-20", "providerAddress": "192.168.1.20", "rule": "Nat" },
            { "customerAddress": "2001:db8:1::7", "virtualSubnetId": 5001, "macAddress": "{{Red1Mac}}", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 6001, "macAddress": "{{Blue1Mac}}", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.3", "virtualSubnetId": 6001, "macAddress": "00-15-5D-00-01-03", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.8", "virtualSubnetId": 6001, "macAddress": "{{Blue8Mac}}", "providerAddress": "192.168.1.11" },
            { "customerAddress": "10.1.1.30", "virtualSubnetId": 6001, "macAddress": "00-15-5D-00-01-30", "providerAddress": "192.168.1.13" }
            {{extraRecords}}
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" },
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "2001:db8:1::/64", "nextHop": "::" },
            { "routingDomainId": "{22222222-2222-3333-4444-000000000000}", "virtualSubnetId": 6001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }
          ],
          "virtualSubnets": [ {{virtualSubnets}} ]
          {{extraSections}}
        }
        """;

    private const string RedFloods = """{ "virtualSubnetId": 5001, "flooding": true }""";
    private const string BlueFloods = """{ "virtualSubnetId": 6001, "flooding": true }""";

    private static ForwarderHarness Harness(string json, int buffers = 256)
    {
        var load = ConfigLoader.Load(json);
        Assert.That(load.Problems, Is.Empty, () => string.Join(Environment.NewLine, load.Problems));
        return new ForwarderHarness(load.Config!, buffers);
    }

    /// <summary>A UDP datagram from <paramref name="srcIp"/> of the port with <paramref name="srcMac"/>, 10.1.1.255 by default.</summary>
    private static byte[] Udp(string srcMac, string srcIp = "10.1.1.7", string dstMac = Broadcast, string dstIp = "10.1.1.255", int payload = 24, ushort flags = 0x4000, ushort sport = 5000, ushort dport = 5001) =>
        Concat(Eth(dstMac, srcMac, 0x0800), Ipv4Of(srcIp, dstIp, 17, UdpOf(sport, dport, new byte[payload]), flagsFragment: flags));

    /// <summary>
    /// What FORWARDING.md 1.12 makes of <paramref name="inner"/> toward <paramref name="pa"/>:
    /// outer Ethernet to the PA's host, IPv4 id 0, DF, TTL 64, protocol 47, GRE key VSID &lt;&lt; 8 | FlowID
    /// (the FlowID taken from <paramref name="flowId"/>, since it is a hash).
    /// </summary>
    private static byte[] Nvgre(string pa, uint vsid, byte[] inner, byte flowId) =>
        Concat(Eth(HostMacs[pa], PnicMac, 0x0800), Ipv4Of("192.168.1.10", pa, 47, NvgreOf(vsid, flowId, inner), ttl: 64, flagsFragment: 0x4000));

    /// <summary>NVGRE from <paramref name="fromPa"/> to our PA carrying <paramref name="inner"/> in <paramref name="vsid"/>.</summary>
    private static byte[] FromProvider(string fromPa, uint vsid, byte[] inner) =>
        Concat(Eth(PnicMac, HostMacs.GetValueOrDefault(fromPa, "02-00-00-00-01-99"), 0x0800), Ipv4Of(fromPa, "192.168.1.10", 47, NvgreOf(vsid, 0x5A, inner), flagsFragment: 0x4000));

    private static List<(string Port, string Hex)> Named(ForwarderHarness h, List<(int Port, byte[] Frame)> output) =>
        output.Select(o => (h.Forwarder.Policy.Ports[o.Port].Name, Convert.ToHexString(o.Frame))).ToList();

    [Test]
    public void Flooding_off_drops_broadcast_and_multicast_from_vms_and_from_the_provider_as_flooding_disabled()
    {
        var h = Harness(Config(""));
        Assert.That(h.Send("red1", Udp(Red1Mac)), Is.Empty, "UDP to 10.1.1.255");
        Assert.That(h.Send("red1", Udp(Red1Mac, dstMac: "01-00-5E-00-00-FB", dstIp: "224.0.0.251")), Is.Empty, "mDNS");
        byte[] inner = Udp(Red8Mac, "10.1.1.8");
        Assert.That(h.Send("pnic0", FromProvider("192.168.1.11", 5001, inner)), Is.Empty, "NVGRE broadcast");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.FloodingDisabled), Is.EqualTo(3));
        Assert.That(h.Forwarder.Counters.Forwarded, Is.Zero);
    }

    [Test]
    public void A_red_broadcast_reaches_every_other_red_vm_here_and_each_remote_red_pa_once_and_nothing_of_blue()
    {
        var h = Harness(Config(RedFloods + "," + BlueFloods));
        byte[] frame = Udp(Red1Mac);

        var output = h.Send("red1", frame);

        Assert.That(output, Has.Count.EqualTo(3), "red3, hv2 (10.1.1.8 and 10.1.1.9 share its PA) and hv3; the NAT record none");
        byte flowId = output[0].Frame[14 + 20 + 7];
        Assert.That(output[1].Frame[14 + 20 + 7], Is.EqualTo(flowId), "one inner flow, one FlowID");
        Assert.That(Named(h, output), Is.EqualTo(new[]
        {
            ("pnic0", Convert.ToHexString(Nvgre("192.168.1.11", 5001, frame, flowId))),
            ("pnic0", Convert.ToHexString(Nvgre("192.168.1.12", 5001, frame, flowId))),
            ("red3", Convert.ToHexString(frame)),
        }));
        var c = h.Forwarder.Counters;
        Assert.That((c.Forwarded, c.TotalDrops), Is.EqualTo((1L, 0L)), "counted once, as forwarded");
        Assert.That(c.PortTx[h.Port("pnic0")], Is.EqualTo(2));
        Assert.That(c.PortTx[h.Port("red1")] + c.PortTx[h.Port("blue1")] + c.PortTx[h.Port("blue3")], Is.Zero, "never back to the sender, never to Blue");
    }

    [Test]
    public void A_blue_broadcast_with_the_same_addresses_stays_in_blue()
    {
        var h = Harness(Config(RedFloods + "," + BlueFloods));
        byte[] frame = Udp(Blue1Mac);

        var output = h.Send("blue1", frame);

        Assert.That(output.Select(o => (h.Forwarder.Policy.Ports[o.Port].Name, TestFrames.GreVsid(o.Frame))), Is.EqualTo(new (string, uint?)[]
        {
            ("pnic0", 6001u),
            ("pnic0", 6001u),
            ("blue3", null),
        }));
        Assert.That(output.Take(2).Select(o => Convert.ToHexString(o.Frame.AsSpan(14 + 16, 4))), Is.EqualTo(new[] { "C0A8010B", "C0A8010D" }), "Blue's PAs: hv2 and hv4, not hv3");
    }

    [Test]
    public void Flooding_is_per_vsid()
    {
        var h = Harness(Config(RedFloods));
        Assert.That(h.Send("blue1", Udp(Blue1Mac)), Is.Empty);
        Assert.That(h.Send("pnic0", FromProvider("192.168.1.11", 6001, Udp(Blue8Mac, "10.1.1.8"))), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.FloodingDisabled), Is.EqualTo(2));
        Assert.That(h.Send("red1", Udp(Red1Mac)), Has.Count.EqualTo(3));
    }

    [TestCase("01-00-5E-00-00-FB", "224.0.0.251")]
    [TestCase(Broadcast, "255.255.255.255")]
    [TestCase(Red8Mac, "224.0.0.251")]
    [TestCase("01-00-5E-00-00-FB", "10.1.1.8")]
    public void Every_kind_of_broadcast_and_multicast_floods(string dstMac, string dstIp)
    {
        var h = Harness(Config(RedFloods));
        byte[] frame = Udp(Red1Mac, dstMac: dstMac, dstIp: dstIp);
        var output = h.Send("red1", frame);
        Assert.That(output.Select(o => h.Forwarder.Policy.Ports[o.Port].Name), Is.EqualTo(new[] { "pnic0", "pnic0", "red3" }));
        Assert.That(output[2].Frame, Is.EqualTo(frame));
    }

    [Test]
    public void Ipv6_multicast_from_a_ca_with_a_record_floods()
    {
        var h = Harness(Config(RedFloods));
        byte[] frame = Concat(Eth("33-33-00-00-00-01", Red1Mac, 0x86DD), Ipv6Of("2001:db8:1::7", "ff02::1", 17, UdpOf(5000, 5001, new byte[16])));
        var output = h.Send("red1", frame);
        Assert.That(output.Select(o => h.Forwarder.Policy.Ports[o.Port].Name), Is.EqualTo(new[] { "pnic0", "pnic0", "red3" }));
        Assert.That(output[0].Frame.AsSpan(14 + 20 + 8).ToArray(), Is.EqualTo(frame), "the inner frame unchanged");
    }

    [Test]
    public void The_padding_of_a_short_broadcast_is_left_behind()
    {
        var h = Harness(Config(RedFloods));
        byte[] frame = Udp(Red1Mac, payload: 4); // 46 bytes
        var output = h.Send("red1", Concat(frame, new byte[14]));
        Assert.That(output[2].Frame, Is.EqualTo(frame));
        Assert.That(output[0].Frame.AsSpan(14 + 20 + 8).ToArray(), Is.EqualTo(frame));
    }

    [TestCase("10.1.1.8", Red1Mac)]
    [TestCase("10.1.1.99", Red1Mac)]
    [TestCase("10.1.1.7", "00-15-5D-00-00-66")]
    [TestCase("0.0.0.0", Red1Mac)]
    public void A_broadcast_from_a_source_the_port_does_not_own_is_spoofed_source(string srcIp, string srcMac)
    {
        var h = Harness(Config(RedFloods));
        Assert.That(h.Send("red1", Udp(srcMac, srcIp)), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(1));
    }

    [Test]
    public void Arp_requests_and_neighbor_solicitations_are_still_answered_here_and_never_flood()
    {
        var h = Harness(Config(RedFloods));
        var arp = Concat(Eth(Broadcast, Red1Mac, 0x0806), ArpOf(1, Red1Mac, "10.1.1.7", "00-00-00-00-00-00", "10.1.1.8"));
        var answer = h.Send("red1", arp);
        Assert.That(answer.Select(o => h.Forwarder.Policy.Ports[o.Port].Name), Is.EqualTo(new[] { "red1" }), "ARP reply to the asker only");

        var unknown = Concat(Eth(Broadcast, Red1Mac, 0x0806), ArpOf(1, Red1Mac, "10.1.1.7", "00-00-00-00-00-00", "10.1.1.99"));
        Assert.That(h.Send("red1", unknown), Is.Empty, "unanswered ARP is not flooded");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.ArpUnresolved), Is.EqualTo(1));

        byte[] ns = new byte[24];
        ns[0] = 135;
        Addr("2001:db8:1::99").CopyTo(ns, 8);
        var solicitation = Concat(Eth("33-33-FF-00-00-99", Red1Mac, 0x86DD), Icmpv6Of("2001:db8:1::7", "ff02::1:ff00:99", ns, hopLimit: 255));
        Assert.That(h.Send("red1", solicitation), Is.Empty, "unanswered NS is not flooded");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.ArpUnresolved), Is.EqualTo(2));
        Assert.That(h.Forwarder.Counters.Forwarded, Is.Zero);
    }

    private const string Red3v6 = """, { "customerAddress": "2001:db8:1::3", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-03", "providerAddress": "192.168.1.10" }""";

    /// <summary>An ICMPv6 message of <paramref name="type"/> naming <paramref name="target"/> at <paramref name="mac"/> (NA layout: flags R|S|O or O, target, option 2).</summary>
    private static byte[] NdMessage(byte type, string target, string mac) =>
        Concat([type, 0, 0, 0, type == 136 ? (byte)0xA0 : (byte)0, 0, 0, 0], Addr(target), [2, 1], Mac(mac));

    [TestCase(136, "2001:db8:1::1", "33-33-00-00-00-01", "ff02::1", TestName = "{m}(neighbor advertisement for the gateway, to all nodes)")]
    [TestCase(136, "2001:db8:1::3", "33-33-00-00-00-01", "ff02::1", TestName = "{m}(neighbor advertisement for a VSID-mate, to all nodes)")]
    [TestCase(136, "2001:db8:1::8", Red3Mac, "2001:db8:1::3", TestName = "{m}(neighbor advertisement for a remote VM, unicast)")]
    [TestCase(134, "::", "33-33-00-00-00-01", "ff02::1", TestName = "{m}(router advertisement)")]
    [TestCase(137, "2001:db8:1::3", Red3Mac, "2001:db8:1::3", TestName = "{m}(redirect)")]
    public void A_vms_own_advertisement_or_redirect_reaches_no_neighbor(byte type, string target, string dstMac, string dst)
    {
        // Flooded, or sent on unicast, an unsolicited advertisement with the override flag
        // rewrote the neighbor entries of red3 and of Red-2's host for the gateway or a VSID-mate:
        // red3's routed IPv6 then went to red1's MAC (no_lookup_record), a black hole.
        var h = Harness(Config(RedFloods, extraRecords: Red3v6));
        byte[] frame = Concat(Eth(dstMac, Red1Mac, 0x86DD), Icmpv6Of("2001:db8:1::7", dst, NdMessage(type, target, Red1Mac), hopLimit: 255));

        Assert.That(h.Send("red1", frame), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.VmNeighborDiscovery), Is.EqualTo(1));
        Assert.That(h.Forwarder.Counters.TotalDrops, Is.EqualTo(1));
        var trace = PacketTracer.Trace(h.Forwarder.Policy, "red1", frame);
        Assert.That(trace.Agrees, Is.True, trace.ToString());
        Assert.That(trace.Actual.DropReason, Is.EqualTo("vm_neighbor_discovery"));

        byte[] udp = Concat(Eth("33-33-00-00-00-01", Red1Mac, 0x86DD), Ipv6Of("2001:db8:1::7", "ff02::1", 17, UdpOf(5000, 5001, new byte[16])));
        Assert.That(h.Send("red1", udp), Has.Count.EqualTo(3), "other IPv6 multicast floods as before");
    }

    [Test]
    public void A_remote_vms_advertisement_inside_nvgre_reaches_no_vm_here()
    {
        // Delivered to red1 and red3 as carried: a host that let it leave (not nvdp) poisoned ours.
        var h = Harness(Config(RedFloods, extraRecords: Red3v6 + """, { "customerAddress": "2001:db8:1::8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-08", "providerAddress": "192.168.1.11" }"""));
        byte[] inner = Concat(Eth("33-33-00-00-00-01", Red8Mac, 0x86DD), Icmpv6Of("2001:db8:1::8", "ff02::1", NdMessage(136, "2001:db8:1::3", Red8Mac), hopLimit: 255));
        byte[] frame = FromProvider("192.168.1.11", 5001, inner);

        Assert.That(h.Send("pnic0", frame), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.VmNeighborDiscovery), Is.EqualTo(1));
        var trace = PacketTracer.Trace(h.Forwarder.Policy, "pnic0", frame);
        Assert.That(trace.Agrees, Is.True, trace.ToString());
        Assert.That(trace.Actual.DropReason, Is.EqualTo("vm_neighbor_discovery"));

        byte[] unicast = Concat(Eth(Red3Mac, Red8Mac, 0x86DD), Icmpv6Of("2001:db8:1::8", "2001:db8:1::3", NdMessage(136, "2001:db8:1::7", Red8Mac), hopLimit: 255));
        Assert.That(h.Send("pnic0", FromProvider("192.168.1.11", 5001, unicast)), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.VmNeighborDiscovery), Is.EqualTo(2));

        byte[] echo = Concat(Eth(Red3Mac, Red8Mac, 0x86DD), Icmpv6Of("2001:db8:1::8", "2001:db8:1::3", [128, 0, 0, 0, 0, 1, 0, 1], hopLimit: 64));
        Assert.That(h.Send("pnic0", FromProvider("192.168.1.11", 5001, echo)).Select(o => h.Forwarder.Policy.Ports[o.Port].Name), Is.EqualTo(new[] { "red3" }), "other ICMPv6 is delivered as before");
    }

    [Test]
    public void Nvgre_broadcast_reaches_every_vm_of_its_vsid_here_and_is_never_sent_on()
    {
        var h = Harness(Config(RedFloods + "," + BlueFloods));
        byte[] inner = Udp(Red8Mac, "10.1.1.8");

        var output = h.Send("pnic0", FromProvider("192.168.1.11", 5001, inner));

        Assert.That(Named(h, output), Is.EqualTo(new[] { ("red1", Convert.ToHexString(inner)), ("red3", Convert.ToHexString(inner)) }));
        Assert.That((h.Forwarder.Counters.Forwarded, h.Forwarder.Counters.TotalDrops), Is.EqualTo((1L, 0L)));

        byte[] blue = Udp(Blue8Mac, "10.1.1.8");
        Assert.That(h.Send("pnic0", FromProvider("192.168.1.11", 6001, blue)).Select(o => h.Forwarder.Policy.Ports[o.Port].Name), Is.EqualTo(new[] { "blue1", "blue3" }));
    }

    [TestCase("192.168.1.12", "10.1.1.8")]
    [TestCase("192.168.1.11", "10.1.1.99")]
    [TestCase("192.168.1.13", "10.1.1.30")]
    [TestCase("192.168.1.10", "10.1.1.3")] // our own PA, for a VM of this host: never from the wire
    public void Nvgre_broadcast_with_a_spoofed_source_is_refused(string outerPa, string innerSource)
    {
        var h = Harness(Config(RedFloods));
        Assert.That(h.Send("pnic0", FromProvider(outerPa, 5001, Udp(Red8Mac, innerSource))), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(1));
    }

    [Test]
    public void Nvgre_from_our_own_pa_speaking_for_a_vm_of_this_host_is_refused()
    {
        // Red-3 lives here, on 192.168.1.10: a frame from the provider network claiming that PA
        // and Red-3's address is a forger's, however well it matches Red-3's record.
        var h = Harness(Config(RedFloods));
        byte[] toRed1 = Udp(Red3Mac, "10.1.1.3", dstMac: Red1Mac, dstIp: "10.1.1.7");
        Assert.That(h.Send("pnic0", FromProvider("192.168.1.10", 5001, toRed1)), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(1));
        Assert.That(h.Send("pnic0", FromProvider("192.168.1.11", 5001, Udp(Red8Mac, "10.1.1.8", dstMac: Red1Mac, dstIp: "10.1.1.7"))), Has.Count.EqualTo(1), "Red-8 from its own PA still arrives");
    }

    [Test]
    public void Pool_exhaustion_mid_replication_drops_the_remaining_copies_and_counts_them()
    {
        // Two buffers: the frame's own and one more. Three targets: red3 gets a copy from the
        // pool, hv2 gets the frame's own buffer, hv3 gets nothing.
        var h = Harness(Config(RedFloods), buffers: 2);
        var output = h.Send("red1", Udp(Red1Mac));
        Assert.That(output.Select(o => h.Forwarder.Policy.Ports[o.Port].Name), Is.EqualTo(new[] { "pnic0", "red3" }));
        Assert.That(Convert.ToHexString(output[0].Frame.AsSpan(14 + 16, 4)), Is.EqualTo("C0A8010B"), "hv2 got its copy, hv3 did not");
        var c = h.Forwarder.Counters;
        Assert.That((c.Forwarded, c.Drop(DropReason.PoolExhausted), c.TotalDrops), Is.EqualTo((1L, 1L, 1L)));
        Assert.That(h.Forwarder.Pool.Available, Is.EqualTo(h.Forwarder.Pool.Size), "every buffer back after transmit");

        // With only the frame's own buffer, it carries the first copy; the other two are counted.
        var one = Harness(Config(RedFloods), buffers: 1);
        Assert.That(one.Send("red1", Udp(Red1Mac)).Select(o => one.Forwarder.Policy.Ports[o.Port].Name), Is.EqualTo(new[] { "red3" }));
        Assert.That(one.Forwarder.Counters.Drop(DropReason.PoolExhausted), Is.EqualTo(2));
        Assert.That(one.Forwarder.Pool.Available, Is.EqualTo(1));
    }

    [Test]
    public void A_full_transmit_queue_loses_only_the_copies_that_do_not_fit()
    {
        var h = Harness(Config(RedFloods), buffers: Forwarder.TxQueueCapacity + 16);
        var fwd = h.Forwarder;
        fwd.BeginBatch();
        for (int i = 0; i < Forwarder.TxQueueCapacity; i++)
        {
            var b = fwd.Pool.Rent()!;
            b.TrySet(Udp(Red1Mac, dstMac: Red3Mac, dstIp: "10.1.1.3"));
            fwd.Process(h.Port("red1"), b);
        }

        var flood = fwd.Pool.Rent()!;
        flood.TrySet(Udp(Red1Mac));
        fwd.Process(h.Port("red1"), flood);

        Assert.That(fwd.PendingTransmit(h.Port("red3")).Length, Is.EqualTo(Forwarder.TxQueueCapacity));
        Assert.That(fwd.PendingTransmit(h.Port("pnic0")).Length, Is.EqualTo(2), "the remote copies still went");
        Assert.That(fwd.Counters.Drop(DropReason.TxFull), Is.EqualTo(1));
        for (int p = 0; p < fwd.PortCount; p++)
        {
            fwd.CompleteTransmit(p);
        }

        Assert.That(fwd.Pool.Available, Is.EqualTo(fwd.Pool.Size));
    }

    [Test]
    public void A_vsid_with_nobody_to_flood_to_counts_no_flood_target()
    {
        string green = """, { "name": "green1", "role": "vm", "macAddress": "00-15-5D-00-02-01", "virtualSubnetId": 7001 }""";
        string record = """, { "customerAddress": "10.1.1.7", "virtualSubnetId": 7001, "macAddress": "00-15-5D-00-02-01", "providerAddress": "192.168.1.10" }""";
        var h = Harness(Config("""{ "virtualSubnetId": 7001, "flooding": true }""", extraPorts: green, extraRecords: record));
        Assert.That(h.Send("green1", Udp("00-15-5D-00-02-01")), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoFloodTarget), Is.EqualTo(1));
        Assert.That(h.Forwarder.Pool.Available, Is.EqualTo(h.Forwarder.Pool.Size));
    }

    [Test]
    public void Too_big_with_df_reaches_the_local_vms_and_loses_the_remote_copies_without_an_icmp_error_about_a_broadcast()
    {
        // A "fragmentation needed" went back about the broadcast: RFC 1812 4.3.2.7 says none
        // about a datagram to a broadcast address or sent as a link-layer broadcast.
        var h = Harness(Config(RedFloods, mtu: 1000));
        byte[] frame = Udp(Red1Mac, payload: 1000);
        var output = h.Send("red1", frame);
        Assert.That(output.Select(o => h.Forwarder.Policy.Ports[o.Port].Name), Is.EqualTo(new[] { "red3" }), "the copy for red3, no ICMP error back");
        Assert.That(output[0].Frame, Is.EqualTo(frame));
        Assert.That((h.Forwarder.Counters.Forwarded, h.Forwarder.Counters.Drop(DropReason.MtuExceeded)), Is.EqualTo((1L, 2L)));
        var trace = PacketTracer.Trace(h.Forwarder.Policy, "red1", frame);
        Assert.That(trace.Agrees, Is.True, trace.ToString());
    }

    [Test]
    public void Too_big_ipv6_multicast_reaches_the_local_vms_loses_the_remote_copies_and_tells_the_sender_once()
    {
        // RFC 4443 2.4 (e.3): a packet too big about a multicast packet is allowed, and needed
        // for path MTU discovery.
        var h = Harness(Config(RedFloods, mtu: 1000));
        byte[] frame = Concat(Eth("33-33-00-00-00-01", Red1Mac, 0x86DD), Ipv6Of("2001:db8:1::7", "ff02::1", 17, UdpOf(5000, 5001, new byte[1000])));
        var output = h.Send("red1", frame);
        Assert.That(output.Select(o => h.Forwarder.Policy.Ports[o.Port].Name), Is.EqualTo(new[] { "red1", "red3" }), "one packet too big back, the copy for red3");
        Assert.That((output[0].Frame[14 + 6], output[0].Frame[14 + 40]), Is.EqualTo(((byte)58, (byte)2)), "ICMPv6 packet too big");
        Assert.That(output[1].Frame, Is.EqualTo(frame));
        Assert.That((h.Forwarder.Counters.Forwarded, h.Forwarder.Counters.Drop(DropReason.MtuExceeded)), Is.EqualTo((1L, 2L)));
    }

    [Test]
    public void Too_big_without_df_is_fragmented_for_each_remote_pa()
    {
        var h = Harness(Config(RedFloods, mtu: 1000));
        byte[] frame = Udp(Red1Mac, payload: 1000, flags: 0);
        var output = h.Send("red1", frame);
        Assert.That(output.Select(o => (h.Forwarder.Policy.Ports[o.Port].Name, o.Frame.Length)), Is.EqualTo(new[]
        {
            ("pnic0", 14 + 20 + 8 + 14 + 956), // 936 payload bytes per fragment: 20 + 936 = 956
            ("pnic0", 14 + 20 + 8 + 14 + 20 + 72),
            ("pnic0", 14 + 20 + 8 + 14 + 956),
            ("pnic0", 14 + 20 + 8 + 14 + 20 + 72),
            ("red3", 14 + 1028),
        }));
        Assert.That(output.Take(4).Select(o => Convert.ToHexString(o.Frame.AsSpan(14 + 16, 4))), Is.EqualTo(new[] { "C0A8010B", "C0A8010B", "C0A8010C", "C0A8010C" }));
        Assert.That((h.Forwarder.Counters.Forwarded, h.Forwarder.Counters.TotalDrops), Is.EqualTo((1L, 0L)));
        Assert.That(h.Forwarder.Pool.Available, Is.EqualTo(h.Forwarder.Pool.Size));
    }

    [TestCase(6, 0)]
    [TestCase(5, 1)]
    [TestCase(3, 2)]
    public void A_fragmented_copy_needs_a_buffer_per_fragment_and_no_more(int buffers, int lost)
    {
        // The frame holds one buffer and red3's copy another; each remote copy is two fragments.
        // With six buffers both remote copies fit exactly (2 + 2); with five, hv3's is lost as
        // pool_exhausted; with three, both are.
        var h = Harness(Config(RedFloods, mtu: 1000), buffers);
        var output = h.Send("red1", Udp(Red1Mac, payload: 1000, flags: 0));
        var expected = new List<(string, string)>();
        foreach (string pa in new[] { "C0A8010B", "C0A8010C" }.Take(2 - lost))
        {
            expected.AddRange([("pnic0", pa), ("pnic0", pa)]);
        }

        expected.Add(("red3", ""));
        Assert.That(output.Select(o => (h.Forwarder.Policy.Ports[o.Port].Name, h.Forwarder.Policy.Ports[o.Port].Name == "pnic0" ? Convert.ToHexString(o.Frame.AsSpan(14 + 16, 4)) : "")),
            Is.EqualTo(expected));
        Assert.That((h.Forwarder.Counters.Forwarded, h.Forwarder.Counters.Drop(DropReason.PoolExhausted), h.Forwarder.Counters.TotalDrops), Is.EqualTo((1L, (long)lost, (long)lost)));
        Assert.That(h.Forwarder.Pool.Available, Is.EqualTo(h.Forwarder.Pool.Size));
    }

    [Test]
    public void A_copy_for_a_pa_whose_next_hop_is_unknown_waits_for_arp_and_is_counted_when_it_never_comes()
    {
        string hv5 = """, { "customerAddress": "10.1.1.50", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-50", "providerAddress": "192.168.1.50" }""";
        var h = Harness(Config(RedFloods, extraRecords: hv5));
        var output = h.Send("red1", Udp(Red1Mac));
        Assert.That(output.Select(o => (h.Forwarder.Policy.Ports[o.Port].Name, o.Frame[12], o.Frame[13])), Is.EqualTo(new[]
        {
            ("pnic0", (byte)0x08, (byte)0x00),
            ("pnic0", (byte)0x08, (byte)0x00),
            ("pnic0", (byte)0x08, (byte)0x06),
            ("red3", (byte)0x08, (byte)0x00),
        }), "the copies for hv2 and hv3, then ARP for 192.168.1.50");
        Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1));
        h.Forwarder.ExpireParked(long.MaxValue);
        Assert.That((h.Forwarder.Counters.Forwarded, h.Forwarder.Counters.Drop(DropReason.NeighborUnresolved)), Is.EqualTo((1L, 1L)));
        Assert.That(h.Forwarder.Pool.Available, Is.EqualTo(h.Forwarder.Pool.Size));
    }

    [Test]
    public void With_a_thousand_remote_pas_one_broadcast_fills_the_queue_and_the_next_in_the_batch_loses_what_does_not_fit()
    {
        // The README's sizing example: nvdp run's pool (4,096 buffers) and queue (1,024 per port).
        var records = new List<string> { $$"""{ "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "{{Red1Mac}}", "providerAddress": "192.168.1.10" }""" };
        for (int i = 0; i < 1000; i++)
        {
            string host = $"{i / 250}.{(i % 250) + 1}";
            records.Add($$"""{ "customerAddress": "10.2.{{host}}", "virtualSubnetId": 5001, "macAddress": "02-15-5D-00-{{i / 256:X2}}-{{i % 256:X2}}", "providerAddress": "10.200.{{host}}" }""");
        }

        string json = $$"""
            {
              "ports": [
                { "name": "pnic0", "role": "provider", "macAddress": "{{PnicMac}}" },
                { "name": "red1", "role": "vm", "macAddress": "{{Red1Mac}}", "virtualSubnetId": 5001 }
              ],
              "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
              "providerRoutes": [ { "destinationPrefix": "0.0.0.0/0", "nextHop": "192.168.1.1" } ],
              "providerNeighbors": [ { "address": "192.168.1.1", "macAddress": "02-00-00-00-01-01" } ],
              "lookupRecords": [ {{string.Join(",", records)}} ],
              "virtualSubnets": [ {{RedFloods}} ]
            }
            """;
        var load = ConfigLoader.Load(json);
        Assert.That(load.Problems, Is.Empty, () => string.Join(Environment.NewLine, load.Problems));
        var fwd = new Forwarder(new PolicyStore(PolicySnapshot.Build(load.Config!)), new BufferPool(4096, 2048));
        var batch = new[] { fwd.Pool.Rent()!, fwd.Pool.Rent()! };
        batch[0].TrySet(Udp(Red1Mac));
        batch[1].TrySet(Udp(Red1Mac, dstMac: "01-00-5E-00-00-FB", dstIp: "224.0.0.251"));

        fwd.ProcessBatch(fwd.Policy.FindPort("red1"), batch);

        var sent = fwd.PendingTransmit(fwd.Policy.FindPort("pnic0")).ToArray();
        Assert.That(sent, Has.Length.EqualTo(Forwarder.TxQueueCapacity));
        Assert.That(sent.Take(1000).Select(b => Convert.ToHexString(b.Frame.Slice(14 + 16, 4))).Distinct().Count(), Is.EqualTo(1000), "the first broadcast: each PA once");
        Assert.That((fwd.Counters.Forwarded, fwd.Counters.Drop(DropReason.TxFull), fwd.Counters.TotalDrops), Is.EqualTo((2L, 976L, 976L)), "the second: 24 copies, 976 counted");
        for (int p = 0; p < fwd.PortCount; p++)
        {
            fwd.CompleteTransmit(p);
        }

        Assert.That(fwd.Pool.Available, Is.EqualTo(fwd.Pool.Size), "every buffer back once the batch is sent");
    }

    [Test]
    public void A_broadcast_to_many_unresolved_hosts_never_holds_the_whole_pool_of_a_replay()
    {
        // A replay's pool is 64 buffers and it expires waiting frames only at the end: copies
        // parked for 100 unanswered hosts must leave buffers for the frames that follow.
        var records = new List<string> { $$"""{ "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "{{Red1Mac}}", "providerAddress": "192.168.1.10" }""" };
        for (int i = 0; i < 100; i++)
        {
            records.Add($$"""{ "customerAddress": "10.2.0.{{i + 1}}", "virtualSubnetId": 5001, "macAddress": "02-15-5D-00-00-{{i:X2}}", "providerAddress": "192.168.1.{{i + 100}}" }""");
        }

        string json = $$"""
            {
              "ports": [
                { "name": "pnic0", "role": "provider", "macAddress": "{{PnicMac}}" },
                { "name": "red1", "role": "vm", "macAddress": "{{Red1Mac}}", "virtualSubnetId": 5001 }
              ],
              "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
              "lookupRecords": [ {{string.Join(",", records)}} ],
              "virtualSubnets": [ {{RedFloods}} ]
            }
            """;
        var h = Harness(json, buffers: 64);
        for (int i = 0; i < 3; i++)
        {
            Assert.DoesNotThrow(() => h.Send("red1", Udp(Red1Mac)), "broadcast {0}", i);
        }

        Assert.That(h.Forwarder.ParkedCount, Is.LessThanOrEqualTo(32));
        Assert.That(h.Forwarder.Pool.Available, Is.GreaterThanOrEqualTo(32));
        h.Forwarder.ExpireParked(long.MaxValue);
        var c = h.Forwarder.Counters;
        Assert.That(c.Drop(DropReason.NeighborUnresolved) + c.Drop(DropReason.PoolExhausted), Is.EqualTo(300), "every copy of the three broadcasts is counted lost");
        Assert.That(h.Forwarder.Pool.Available, Is.EqualTo(h.Forwarder.Pool.Size));
    }

    [Test]
    public void Flooded_frames_meet_the_senders_outbound_acl_once_and_each_receivers_inbound_acl()
    {
        const string acls = """
            , "acls": [
              { "virtualSubnetId": 5001, "priority": 10, "direction": "outbound", "protocol": "udp", "destinationPorts": "9", "action": "deny", "name": "no-discard-out" },
              { "virtualSubnetId": 5001, "priority": 20, "direction": "inbound", "protocol": "udp", "destinationPorts": "7", "action": "deny", "name": "no-echo-in" }
            ]
            """;
        var h = Harness(Config(RedFloods, extraSections: acls));
        var c = h.Forwarder.Counters;

        Assert.That(h.Send("red1", Udp(Red1Mac, dport: 9)), Is.Empty, "denied before any copy is made");
        Assert.That((c.Drop(DropReason.AclDeny), c.Forwarded), Is.EqualTo((1L, 0L)));

        var output = h.Send("red1", Udp(Red1Mac, dport: 7));
        Assert.That(output.Select(o => h.Forwarder.Policy.Ports[o.Port].Name), Is.EqualTo(new[] { "pnic0", "pnic0" }), "red3's inbound rule takes its copy; the remote hosts judge theirs");
        Assert.That((c.Drop(DropReason.AclDeny), c.Forwarded), Is.EqualTo((2L, 1L)));

        Assert.That(h.Send("pnic0", FromProvider("192.168.1.11", 5001, Udp(Red8Mac, "10.1.1.8", dport: 7))), Is.Empty, "neither red1 nor red3 takes it");
        Assert.That((c.Drop(DropReason.AclDeny), c.Forwarded), Is.EqualTo((4L, 1L)));
        Assert.That(h.Forwarder.Pool.Available, Is.EqualTo(h.Forwarder.Pool.Size));
    }

    [Test]
    public void An_external_port_of_the_vsid_gets_no_copy()
    {
        const string ext = """
            , { "name": "ext0", "role": "external", "macAddress": "02-00-00-00-EE-01", "virtualSubnetId": 5001,
                "address": "172.16.0.1", "prefixLength": 24, "nextHop": "172.16.0.254" }
            """;
        const string wildcard = """
            , { "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "02-00-00-00-EE-01", "providerAddress": "192.168.1.10", "type": "GatewayWildcard" }
            """;
        var h = Harness(Config(RedFloods, extraPorts: ext, extraRecords: wildcard));
        Assert.That(h.Send("red1", Udp(Red1Mac)).Select(o => h.Forwarder.Policy.Ports[o.Port].Name), Is.EqualTo(new[] { "pnic0", "pnic0", "red3" }));
        Assert.That(h.Send("pnic0", FromProvider("192.168.1.11", 5001, Udp(Red8Mac, "10.1.1.8"))).Select(o => h.Forwarder.Policy.Ports[o.Port].Name), Is.EqualTo(new[] { "red1", "red3" }));
    }

    [Test]
    public void A_dhcp_client_message_is_left_to_the_dhcp_server_and_never_flooded()
    {
        var h = Harness(Config(RedFloods));
        byte[] notDhcp = Udp(Red1Mac, "0.0.0.0", dstIp: "255.255.255.255", sport: 68, dport: 67); // 24 zero bytes: no BOOTP message
        Assert.That(h.Send("red1", notDhcp), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.DhcpMalformed), Is.EqualTo(1), "judged by the DHCP server, before flooding");
        Assert.That(h.Forwarder.Counters.Forwarded, Is.Zero);
    }

    [Test]
    public void The_flood_group_holds_the_vsids_ports_and_its_distinct_encap_pas_in_record_order()
    {
        var policy = PolicySnapshot.Build(ConfigLoader.Load(Config(RedFloods)).Config!);
        var red = policy.Vsids[5001].Flood!;
        Assert.That(red.LocalPorts.Select(p => policy.Ports[p].Name), Is.EqualTo(new[] { "red1", "red3" }));
        Assert.That(red.RemotePas.Select(i => policy.RemotePas[i].ToString()), Is.EqualTo(new[] { "192.168.1.11", "192.168.1.12" }), "the NAT PA 192.168.1.20 has none");
        Assert.That(policy.Vsids[6001].Flood, Is.Null, "flooding off");
    }
}
