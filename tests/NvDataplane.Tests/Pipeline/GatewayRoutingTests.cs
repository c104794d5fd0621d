using NvDataplane.Diagnostics;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// A tenant reaching addresses outside its virtual network through a gateway VM (HNV's
/// GatewayWildcard pattern: the gateway VM has a record for its own CA plus a wildcard record with
/// CA 0.0.0.0 and the same MAC and PA; a default customer route names the gateway CA), and
/// <c>global.useExternalRouter</c>. hv1 runs red1 (10.1.1.7, VSID 5001); hv2 (PA 192.168.1.11)
/// runs the gateway VM gw (10.1.2.254, VSID 5002) and, in 10.1.2.0/24, red5 (10.1.2.5).
/// </summary>
public class GatewayRoutingTests
{
    private const string RedMac = "00-15-5D-00-00-01";
    private const string GwMac = "00-15-5D-00-02-FE";
    private const string Red5Mac = "00-15-5D-00-02-05";
    private const string L2Mac = "00-15-5D-00-02-20";
    private const string VirtualGatewayMac = "00-15-5D-FF-FF-FF";
    private const string Hv1Mac = "02-00-00-00-01-0A";
    private const string Hv2Mac = "02-00-00-00-01-0B";

    private static string Config(bool onGatewayHost, bool useExternalRouter = false, bool gatewayHasOwnRecord = true)
    {
        string self = onGatewayHost ? "192.168.1.11" : "192.168.1.10";
        string other = onGatewayHost ? "192.168.1.10" : "192.168.1.11";
        string selfMac = onGatewayHost ? Hv2Mac : Hv1Mac;
        string otherMac = onGatewayHost ? Hv1Mac : Hv2Mac;
        string vmPort = onGatewayHost
            ? $$"""{ "name": "gw", "role": "vm", "macAddress": "{{GwMac}}", "virtualSubnetId": 5002 }"""
            : $$"""{ "name": "red1", "role": "vm", "macAddress": "{{RedMac}}", "virtualSubnetId": 5001 }""";
        string gatewayRecord = gatewayHasOwnRecord
            ? $$"""{ "customerAddress": "10.1.2.254", "virtualSubnetId": 5002, "macAddress": "{{GwMac}}", "providerAddress": "192.168.1.11" },"""
            : "";
        return $$"""
            {
              "host": { "name": "{{(onGatewayHost ? "hv2" : "hv1")}}" },
              "global": { "useExternalRouter": {{(useExternalRouter ? "true" : "false")}} },
              "ports": [
                { "name": "pnic0", "role": "provider", "macAddress": "{{selfMac}}", "mtu": 1500 },
                {{vmPort}}
              ],
              "providerAddresses": [ { "address": "{{self}}", "prefixLength": 24, "port": "pnic0" } ],
              "providerNeighbors": [ { "address": "{{other}}", "macAddress": "{{otherMac}}" } ],
              "lookupRecords": [
                { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "{{RedMac}}", "providerAddress": "192.168.1.10" },
                { "customerAddress": "10.1.2.5", "virtualSubnetId": 5002, "macAddress": "{{Red5Mac}}", "providerAddress": "192.168.1.11" },
                {{gatewayRecord}}
                { "customerAddress": "0.0.0.0", "virtualSubnetId": 5002, "macAddress": "{{GwMac}}", "providerAddress": "192.168.1.11", "type": "GatewayWildcard" }
              ],
              "customerRoutes": [
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" },
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5002, "destinationPrefix": "10.1.2.0/24", "nextHop": "0.0.0.0" },
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5002, "destinationPrefix": "0.0.0.0/0", "nextHop": "10.1.2.254" }
              ]
            }
            """;
    }

    private static ForwarderHarness Harness(string json)
    {
        var loaded = ConfigLoader.Load(json);
        Assert.That(loaded.Problems, Is.Empty);
        return new ForwarderHarness(loaded.Config!);
    }

    private static byte[] Udp(string dstMac, string srcMac, string src, string dst, byte ttl = 64) =>
        Concat(Eth(dstMac, srcMac, 0x0800), Ipv4Of(src, dst, 17, UdpOf(40000, 53, new byte[16]), ttl: ttl));

    private static byte[] NvgreFrom(string outerSrc, string outerDst, uint vsid, byte[] inner) =>
        Concat(Eth(outerSrc == "192.168.1.10" ? Hv2Mac : Hv1Mac, outerSrc == "192.168.1.10" ? Hv1Mac : Hv2Mac, 0x0800), Ipv4Of(outerSrc, outerDst, 47, NvgreOf(vsid, 0x11, inner)));

    /// <summary>Decodes what left pnic0: the outer destination PA, the VSID and the inner frame.</summary>
    private static (string OuterDst, uint Vsid, byte[] Inner) Decode(byte[] frame)
    {
        Assert.That(GreVsid(frame), Is.Not.Null, "an NVGRE frame");
        var outerDst = new System.Net.IPAddress(frame.AsSpan(14 + 16, 4)).ToString();
        return (outerDst, GreVsid(frame)!.Value, frame[(14 + 20 + 8)..]);
    }

    /// <summary>The first frame reaches <paramref name="port"/> as <paramref name="expected"/>; the second is dropped for <paramref name="reason"/>.</summary>
    private static void DeliveredThenRefused(ForwarderHarness h, byte[] arriving, string port, byte[] expected, byte[] refused, DropReason reason)
    {
        var output = h.Send("pnic0", arriving);
        Assert.That(output, Has.Count.EqualTo(1));
        Assert.That(output[0].Port, Is.EqualTo(h.Port(port)));
        Assert.That(output[0].Frame, Is.EqualTo(expected));
        Assert.That(h.Send("pnic0", refused), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(reason), Is.EqualTo(1));
    }

    [Test]
    public void A_vm_reaches_an_outside_address_through_the_gateway_vm_named_by_the_default_route()
    {
        var h = Harness(Config(onGatewayHost: false));
        var output = h.Send("red1", Udp(VirtualGatewayMac, RedMac, "10.1.1.7", "8.8.8.8"));
        Assert.That(output, Has.Count.EqualTo(1));
        var (outerDst, vsid, inner) = Decode(output[0].Frame);
        Assert.That(outerDst, Is.EqualTo("192.168.1.11"), "to the gateway host");
        Assert.That(vsid, Is.EqualTo(5002), "the gateway subnet's VSID");
        Assert.That(inner[..6], Is.EqualTo(Mac(GwMac)), "inner destination MAC = the gateway VM");
        Assert.That(inner[6..12], Is.EqualTo(Mac(VirtualGatewayMac)));
        Assert.That(inner[30..34], Is.EqualTo(Addr("8.8.8.8")), "inner destination unchanged");
    }

    [Test]
    public void Without_a_record_of_its_own_the_gateway_vm_is_reached_through_its_wildcard_record()
    {
        var h = Harness(Config(onGatewayHost: false, gatewayHasOwnRecord: false));
        var output = h.Send("red1", Udp(VirtualGatewayMac, RedMac, "10.1.1.7", "8.8.8.8"));
        Assert.That(output, Has.Count.EqualTo(1));
        var (outerDst, vsid, inner) = Decode(output[0].Frame);
        Assert.That((outerDst, vsid), Is.EqualTo(("192.168.1.11", 5002u)));
        Assert.That(inner[..6], Is.EqualTo(Mac(GwMac)));
    }

    [Test]
    public void On_the_gateway_host_nvgre_for_any_ca_of_the_gateway_vsid_goes_to_the_gateway_vm()
    {
        byte[] inner = Udp(GwMac, VirtualGatewayMac, "10.1.1.7", "8.8.8.8", ttl: 63);

        // Another VSID of the domain is not the gateway's: nothing of it on this host.
        DeliveredThenRefused(
            Harness(Config(onGatewayHost: true)), NvgreFrom("192.168.1.10", "192.168.1.11", 5002, inner), "gw", inner,
            NvgreFrom("192.168.1.10", "192.168.1.11", 5001, inner), DropReason.UnknownVsid);
    }

    [Test]
    public void The_gateway_vm_may_send_from_outside_addresses_and_the_receiving_host_accepts_them_from_its_pa()
    {
        var gw = Harness(Config(onGatewayHost: true));
        var output = gw.Send("gw", Udp(VirtualGatewayMac, GwMac, "8.8.8.8", "10.1.1.7"));
        Assert.That(output, Has.Count.EqualTo(1), "the reply from outside is routed back");
        var (outerDst, vsid, inner) = Decode(output[0].Frame);
        Assert.That((outerDst, vsid), Is.EqualTo(("192.168.1.10", 5001u)));
        Assert.That(inner[..6], Is.EqualTo(Mac(RedMac)));

        // The same inner frame from a PA that is not the gateway's is a spoof.
        DeliveredThenRefused(
            Harness(Config(onGatewayHost: false)), output[0].Frame, "red1", inner,
            NvgreFrom("192.168.1.12", "192.168.1.10", 5001, inner), DropReason.PaMismatch);
    }

    [Test]
    public void Only_the_gateway_vm_may_send_from_addresses_that_have_no_record()
    {
        var hv1 = Harness(Config(onGatewayHost: false));
        Assert.That(hv1.Send("red1", Udp(VirtualGatewayMac, RedMac, "8.8.8.8", "10.1.2.5")), Is.Empty);
        Assert.That(hv1.Send("red1", Udp(Red5Mac, RedMac, "8.8.4.4", "10.1.2.5")), Is.Empty);
        Assert.That(hv1.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(2));
    }

    /// <summary>The gateway host with l2 beside the gateway VM: a VM of VSID 5002 with an L2Only record (its addresses are learned).</summary>
    private static string WithL2OnlyVm(string json)
    {
        string gwPort = $$"""{ "name": "gw", "role": "vm", "macAddress": "{{GwMac}}", "virtualSubnetId": 5002 }""";
        Assert.That(json, Does.Contain(gwPort));
        return json
            .Replace(gwPort, gwPort + $$""", { "name": "l2", "role": "vm", "macAddress": "{{L2Mac}}", "virtualSubnetId": 5002 }""", StringComparison.Ordinal)
            .Replace("\"lookupRecords\": [", $$"""
                "lookupRecords": [ { "customerAddress": "0.0.0.0", "virtualSubnetId": 5002, "macAddress": "{{L2Mac}}", "providerAddress": "192.168.1.11", "type": "L2Only" },
                """, StringComparison.Ordinal);
    }

    [Test]
    public void The_gateway_vm_may_not_send_from_an_address_the_virtual_network_owns()
    {
        // The wildcard stands for addresses outside the virtual network (FORWARDING 1.8), as on an
        // external port (6, In 4). The gateway VM sent as Red-1 (a record of VSID 5001), as an
        // L2Only VM's learned address, as a subnet's broadcast or network address, and as a gateway
        // address: a DHCP ACK from 10.1.1.1 reached Red-1 from the gateway MAC.
        var h = Harness(WithL2OnlyVm(Config(onGatewayHost: true)));
        h.Send("l2", Udp(VirtualGatewayMac, L2Mac, "10.1.2.50", "10.1.1.7"));
        Assert.That(h.Forwarder.Learned.Count, Is.EqualTo(1), "10.1.2.50 learned for l2");

        string[] owned = ["10.1.1.7", "10.1.2.50", "10.1.1.1", "10.1.2.1", "10.1.1.255", "10.1.2.0", "10.1.2.255"];
        foreach (string source in owned)
        {
            Assert.That(h.Send("gw", Udp(VirtualGatewayMac, GwMac, source, "10.1.1.7")), Is.Empty, source);
        }

        var dhcpAck = Concat(Eth(VirtualGatewayMac, GwMac, 0x0800), Ipv4Of("10.1.1.1", "10.1.1.7", 17, UdpOf(67, 68, new byte[240])));
        Assert.That(h.Send("gw", dhcpAck), Is.Empty, "a DHCP answer from Red-1's gateway address");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(owned.Length + 1));

        foreach (var frame in new[] { Udp(VirtualGatewayMac, GwMac, "10.1.1.7", "10.1.1.7"), Udp(VirtualGatewayMac, GwMac, "10.1.2.1", "10.1.1.7"), dhcpAck })
        {
            var trace = PacketTracer.Trace(h.Forwarder.Policy, "gw", frame);
            Assert.That((trace.Explained.DropReason, trace.Agrees), Is.EqualTo(("spoofed_source", true)), trace.ToString());
        }

        Assert.That(h.Send("gw", Udp(VirtualGatewayMac, GwMac, "8.8.8.8", "10.1.1.7")), Has.Count.EqualTo(1), "an outside address still goes");
        Assert.That(h.Send("gw", Udp(VirtualGatewayMac, GwMac, "10.1.2.254", "10.1.1.7")), Has.Count.EqualTo(1), "and the gateway VM's own CA");
    }

    [Test]
    public void Nvgre_from_the_gateway_pa_is_not_taken_from_a_gateway_or_subnet_edge_address()
    {
        // The receiving side's fallback to the GatewayWildcard record took a gateway address
        // (which no VM sends from) as from the gateway VM.
        var hv1 = Harness(Config(onGatewayHost: false));
        var outside = Udp(RedMac, VirtualGatewayMac, "8.8.8.8", "10.1.1.7", ttl: 63);
        var asGateway = Udp(RedMac, VirtualGatewayMac, "10.1.1.1", "10.1.1.7", ttl: 63);
        DeliveredThenRefused(hv1, NvgreFrom("192.168.1.11", "192.168.1.10", 5001, outside), "red1", outside,
            NvgreFrom("192.168.1.11", "192.168.1.10", 5001, asGateway), DropReason.PaMismatch);
        foreach (string source in new[] { "10.1.2.1", "10.1.1.255", "10.1.2.0" })
        {
            Assert.That(hv1.Send("pnic0", NvgreFrom("192.168.1.11", "192.168.1.10", 5001, Udp(RedMac, VirtualGatewayMac, source, "10.1.1.7", ttl: 63))), Is.Empty, source);
        }

        Assert.That(hv1.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(4));
        var trace = PacketTracer.Trace(hv1.Forwarder.Policy, "pnic0", NvgreFrom("192.168.1.11", "192.168.1.10", 5001, asGateway));
        Assert.That((trace.Explained.DropReason, trace.Agrees), Is.EqualTo(("pa_mismatch", true)), trace.ToString());
    }

    [Test]
    public void With_use_external_router_cross_subnet_traffic_goes_to_the_router_not_straight_to_the_vm()
    {
        var direct = Harness(Config(onGatewayHost: false)).Send("red1", Udp(VirtualGatewayMac, RedMac, "10.1.1.7", "10.1.2.5"));
        Assert.That(Decode(direct.Single().Frame).Inner[..6], Is.EqualTo(Mac(Red5Mac)), "distributed routing: straight to red5");

        var h = Harness(Config(onGatewayHost: false, useExternalRouter: true));
        var output = h.Send("red1", Udp(VirtualGatewayMac, RedMac, "10.1.1.7", "10.1.2.5"));
        Assert.That(output, Has.Count.EqualTo(1));
        var (outerDst, vsid, inner) = Decode(output[0].Frame);
        Assert.That((outerDst, vsid), Is.EqualTo(("192.168.1.11", 5002u)));
        Assert.That(inner[..6], Is.EqualTo(Mac(GwMac)), "to the router named by the customer routes");
        Assert.That(inner[30..34], Is.EqualTo(Addr("10.1.2.5")));

        // Inside its own subnet a VM is still on-link.
        var same = h.Send("red1", Udp(VirtualGatewayMac, RedMac, "10.1.1.7", "10.1.1.7"));
        Assert.That(same.Single().Port, Is.EqualTo(h.Port("red1")));
    }

    [Test]
    public void With_use_external_router_the_gateway_vm_own_traffic_is_routed_directly_not_back_to_itself()
    {
        // The redirection sent the router's own cross-subnet traffic to the router of the
        // default route: the gateway VM itself, which got its packet back.
        var h = Harness(Config(onGatewayHost: true, useExternalRouter: true));
        foreach (string source in new[] { "8.8.8.8", "10.1.2.254" })
        {
            byte[] frame = Udp(VirtualGatewayMac, GwMac, source, "10.1.1.7");
            var output = h.Send("gw", frame);
            Assert.That(output, Has.Count.EqualTo(1), source);
            Assert.That(output[0].Port, Is.EqualTo(h.Port("pnic0")), source);
            var (outerDst, vsid, inner) = Decode(output[0].Frame);
            Assert.That((outerDst, vsid), Is.EqualTo(("192.168.1.10", 5001u)), "straight to red1's host and VSID");
            Assert.That(inner[..6], Is.EqualTo(Mac(RedMac)));
            var trace = PacketTracer.Trace(h.Forwarder.Policy, "gw", frame);
            Assert.That((trace.Explained.DropReason, trace.Agrees), Is.EqualTo(((string?)null, true)), trace.ToString());
        }
    }

    [Test]
    public void With_use_external_router_a_router_vm_named_by_a_route_is_not_sent_its_own_traffic()
    {
        // red5 is a router (10.1.0.0/16 names it) but no gateway VM; on this host with it.
        string json = Config(onGatewayHost: true, useExternalRouter: true)
            .Replace("""{ "name": "gw", "role": "vm",""", $$"""{ "name": "red5", "role": "vm", "macAddress": "{{Red5Mac}}", "virtualSubnetId": 5002 }, { "name": "gw", "role": "vm",""")
            .Replace("""
                "destinationPrefix": "0.0.0.0/0", "nextHop": "10.1.2.254" }
                """, """
                "destinationPrefix": "0.0.0.0/0", "nextHop": "10.1.2.254" },
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5002, "destinationPrefix": "10.1.0.0/16", "nextHop": "10.1.2.5", "metric": 1 }
                """);
        var h = Harness(json);
        byte[] frame = Udp(VirtualGatewayMac, Red5Mac, "10.1.2.5", "10.1.1.7");
        var output = h.Send("red5", frame);
        Assert.That(output.Single().Port, Is.EqualTo(h.Port("pnic0")));
        var (outerDst, vsid, inner) = Decode(output[0].Frame);
        Assert.That((outerDst, vsid), Is.EqualTo(("192.168.1.10", 5001u)));
        Assert.That(inner[..6], Is.EqualTo(Mac(RedMac)));
        var trace = PacketTracer.Trace(h.Forwarder.Policy, "red5", frame);
        Assert.That((trace.Explained.DropReason, trace.Agrees), Is.EqualTo(((string?)null, true)), trace.ToString());
    }
}
