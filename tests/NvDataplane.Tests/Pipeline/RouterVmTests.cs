using NvDataplane.Diagnostics;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// A customer route whose next hop is an ordinary VM (a router or firewall appliance, no
/// GatewayWildcard record) on another host: hv1 routes red1's packet for 10.7.3.9 to the
/// router's record (VSID 5002, its MAC, its PA); hv2, with the same policy, delivers it to the
/// router's port, as hv1 would had the router run there. Before, hv2 looked only for a record
/// of 10.7.3.9, dropped the packet as no_lookup_record and told hv1 its policy was stale.
/// </summary>
public class RouterVmTests
{
    private const string Red1Mac = "00-15-5D-00-00-01", RouterMac = "00-15-5D-00-02-05", OtherMac = "00-15-5D-00-02-06";
    private const string Hv1Mac = "02-00-00-00-01-0A", Hv2Mac = "02-00-00-00-01-0B", GatewayMac = "00-15-5D-FF-FF-FF";

    private static ForwarderHarness Host(string name, string pa, string ports, string neighborPa, string neighborMac)
    {
        string json = $$"""
            {
              "host": { "name": "{{name}}" },
              "ports": [ {{ports}} ],
              "providerAddresses": [ { "address": "{{pa}}", "prefixLength": 24, "port": "pnic0" } ],
              "providerNeighbors": [ { "address": "{{neighborPa}}", "macAddress": "{{neighborMac}}" } ],
              "lookupRecords": [
                { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "{{Red1Mac}}", "providerAddress": "192.168.1.10" },
                { "customerAddress": "10.1.2.5", "virtualSubnetId": 5002, "macAddress": "{{RouterMac}}", "providerAddress": "192.168.1.11" },
                { "customerAddress": "10.1.2.6", "virtualSubnetId": 5002, "macAddress": "{{OtherMac}}", "providerAddress": "192.168.1.11" }
              ],
              "customerRoutes": [
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" },
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5002, "destinationPrefix": "10.1.2.0/24", "nextHop": "0.0.0.0" },
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5002, "destinationPrefix": "10.7.0.0/16", "nextHop": "10.1.2.5" }
              ]
            }
            """;
        var loaded = ConfigLoader.Load(json);
        Assert.That(loaded.Problems, Is.Empty);
        return new ForwarderHarness(loaded.Config!);
    }

    private static ForwarderHarness Hv1() => Host("hv1", "192.168.1.10",
        $$"""{ "name": "pnic0", "role": "provider", "macAddress": "{{Hv1Mac}}" }, { "name": "red1", "role": "vm", "macAddress": "{{Red1Mac}}", "virtualSubnetId": 5001 }""",
        "192.168.1.11", Hv2Mac);

    private static ForwarderHarness Hv2() => Host("hv2", "192.168.1.11",
        $$"""{ "name": "pnic0", "role": "provider", "macAddress": "{{Hv2Mac}}" }, { "name": "router", "role": "vm", "macAddress": "{{RouterMac}}", "virtualSubnetId": 5002 }, { "name": "other", "role": "vm", "macAddress": "{{OtherMac}}", "virtualSubnetId": 5002 }""",
        "192.168.1.10", Hv1Mac);

    private static byte[] Red1To(string destination) =>
        Concat(Eth(GatewayMac, Red1Mac, 0x0800), Ipv4Of("10.1.1.7", destination, 17, UdpOf(40000, 40001, new byte[8]), ttl: 10));

    [Test]
    public void A_packet_routed_to_a_router_vm_on_another_host_reaches_it()
    {
        var hv1 = Hv1();
        var encapsulated = hv1.Send("red1", Red1To("10.7.3.9")).Single();
        Assert.That(encapsulated.Port, Is.EqualTo(hv1.Port("pnic0")));
        Assert.That(GreVsid(encapsulated.Frame), Is.EqualTo(5002u), "the router's VSID");

        var hv2 = Hv2();
        var delivered = hv2.Send("pnic0", encapsulated.Frame);
        Assert.That(delivered.Single().Port, Is.EqualTo(hv2.Port("router")));
        byte[] expected = Concat(Eth(RouterMac, GatewayMac, 0x0800), Ipv4Of("10.1.1.7", "10.7.3.9", 17, UdpOf(40000, 40001, new byte[8]), ttl: 9));
        Assert.That(delivered[0].Frame, Is.EqualTo(expected), "as hv1 routed it: one hop, the router's MAC");
        Assert.That(hv2.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.Zero);

        var trace = PacketTracer.Trace(hv2.Forwarder.Policy, "pnic0", encapsulated.Frame);
        Assert.That(trace.Explained.Fate, Is.EqualTo(trace.Actual.Fate));
        Assert.That(trace.Agrees, Is.True);
        Assert.That(trace.Steps.Any(s => s.Text.Contains("a customer route makes")), Is.True);
    }

    [Test]
    public void Only_the_next_hop_the_route_names_takes_such_a_packet()
    {
        // The same packet addressed to another VM of the VSID (not the route's next hop), or to
        // the router for a destination no route sends through it, is nobody's here.
        var hv1 = Hv1();
        byte[] frame = hv1.Send("red1", Red1To("10.7.3.9")).Single().Frame;
        byte[] toOther = (byte[])frame.Clone();
        int innerMac = 14 + 20 + 8;
        Mac(OtherMac).CopyTo(toOther, innerMac);
        var hv2 = Hv2();
        Assert.That(hv2.Send("pnic0", toOther).Where(o => o.Port != hv2.Port("pnic0")), Is.Empty);
        Assert.That(hv2.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.EqualTo(1));

        byte[] unrouted = hv1.Send("red1", Red1To("10.1.2.5")).Single().Frame; // the router's own address
        Assert.That(hv2.Send("pnic0", unrouted).Single().Port, Is.EqualTo(hv2.Port("router")), "its own CA, by its record");
    }
}
