using NvDataplane.Diagnostics;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// A provider port whose PAs sit on different VLANs (192.168.1.10 on VLAN 10, 192.168.2.10 on
/// VLAN 20): a tagged frame speaks only for the PAs of its own VLAN (FORWARDING 2.3), so a frame
/// on VLAN 20 neither reaches a VM behind the VLAN 10 PA nor gets that PA's ARP answered there.
/// </summary>
public class PaVlanTests
{
    private const string PnicMac = "02-00-00-00-01-0A", Hv2Mac = "02-00-00-00-01-0B", Red1Mac = "00-15-5D-00-00-01", Red2Mac = "00-15-5D-00-00-02";

    private const string Config = """
        {
          "host": { "name": "hv1" },
          "ports": [
            { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A" },
            { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001 }
          ],
          "providerAddresses": [
            { "address": "192.168.1.10", "prefixLength": 24, "vlanId": 10, "port": "pnic0" },
            { "address": "192.168.2.10", "prefixLength": 24, "vlanId": 20, "port": "pnic0" }
          ],
          "providerNeighbors": [ { "address": "192.168.1.11", "macAddress": "02-00-00-00-01-0B" } ],
          "lookupRecords": [
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.11" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }
          ]
        }
        """;

    private static ForwarderHarness Harness() => ForwarderHarness.FromJson(Config);

    private static byte[] Tagged(int vlan, ushort type, byte[] payload, string dst = PnicMac) =>
        vlan < 0 ? Concat(Eth(dst, Hv2Mac, type), payload) : Concat(Mac(dst), Mac(Hv2Mac), [0x81, 0x00, (byte)(vlan >> 8), (byte)vlan, (byte)(type >> 8), (byte)type], payload);

    private static byte[] NvgreToRed1() =>
        Ipv4Of("192.168.1.11", "192.168.1.10", 47, NvgreOf(5001, 3, Concat(Eth(Red1Mac, Red2Mac, 0x0800), Ipv4Of("10.1.1.8", "10.1.1.7", 17, UdpOf(1, 2, new byte[8])))));

    [TestCase(10, true, TestName = "NVGRE on the PA's own VLAN is decapsulated")]
    [TestCase(-1, true, TestName = "untagged NVGRE is decapsulated (a NIC may have taken the tag off)")]
    [TestCase(20, false, TestName = "NVGRE on another PA's VLAN is vlan_tagged")]
    public void Nvgre_to_a_pa_counts_only_on_its_vlan(int vlan, bool delivered)
    {
        var h = Harness();
        var output = h.Send(h.Port("pnic0"), Tagged(vlan, 0x0800, NvgreToRed1()));
        Assert.That(output.Count(o => o.Port == h.Port("red1")), Is.EqualTo(delivered ? 1 : 0));
        Assert.That(h.Forwarder.Counters.Drop(DropReason.VlanTagged), Is.EqualTo(delivered ? 0 : 1));
    }

    [Test]
    public void An_8021ad_service_tag_is_not_taken_for_the_pas_vlan()
    {
        // The same frame as on VLAN 10, but its tag is 802.1ad's (0x88A8): a QinQ outer tag, no
        // 802.1Q VLAN of this host.
        var h = Harness();
        byte[] frame = Tagged(10, 0x0800, NvgreToRed1());
        frame[12] = 0x88;
        frame[13] = 0xA8;
        Assert.That(h.Send(h.Port("pnic0"), frame), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.VlanTagged), Is.EqualTo(1));

        var trace = PacketTracer.Trace(PolicySnapshot.Build(ConfigLoader.Load(Config).Config!), "pnic0", frame);
        Assert.That(trace.Explained.DropReason, Is.EqualTo("vlan_tagged"));
        Assert.That(trace.Steps.Any(st => st.Text.Contains("802.1ad")), Is.True, "the trace says why");
        Assert.That(trace.Agrees, Is.True);
    }

    [Test]
    public void Arp_for_a_pa_is_answered_only_on_its_vlan()
    {
        var h = Harness();
        byte[] request = ArpOf(1, Hv2Mac, "192.168.1.11", "00-00-00-00-00-00", "192.168.1.10");
        Assert.That(h.Send(h.Port("pnic0"), Tagged(20, 0x0806, request, "FF-FF-FF-FF-FF-FF")), Is.Empty, "asked on VLAN 20");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.VlanTagged), Is.EqualTo(1));
        var answer = h.Send(h.Port("pnic0"), Tagged(10, 0x0806, request, "FF-FF-FF-FF-FF-FF"));
        Assert.That(answer.Single().Frame[12..16], Is.EqualTo(new byte[] { 0x81, 0x00, 0x00, 10 }), "answered on VLAN 10, tag kept");
    }
}
