using NvDataplane.Diagnostics;
using NvDataplane.Pipeline;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// <c>global.useExternalRouter</c> with an external port as the router the default route names:
/// what comes in from outside is routed straight to the tenant, and traffic between the routing
/// domain's own subnets is not sent out of the port (the physical router would send it back in
/// from a tenant source, which the port refuses as spoofed).
/// </summary>
public partial class ExternalGatewayTests
{
    private const string Red3Mac = "00-15-5D-00-02-07";

    /// <summary>The gateway host's configuration with useExternalRouter on and a second subnet 10.1.2.0/24 (VSID 5002) whose VM red3 (10.1.2.7) runs here.</summary>
    private static string ExternalRouterConfig() => Config()
        .Replace("\"host\": { \"name\": \"hv2\" },", "\"host\": { \"name\": \"hv2\" }, \"global\": { \"useExternalRouter\": true },")
        .Replace("{ \"name\": \"blue7\",", $$"""{ "name": "red3", "role": "vm", "macAddress": "{{Red3Mac}}", "virtualSubnetId": 5002 }, { "name": "blue7",""")
        .Replace("\"lookupRecords\": [", $$"""
            "lookupRecords": [
              { "customerAddress": "10.1.2.7", "virtualSubnetId": 5002, "macAddress": "{{Red3Mac}}", "providerAddress": "192.168.1.11" },
            """)
        .Replace("\"customerRoutes\": [", $$"""
            "customerRoutes": [
              { "routingDomainId": "{{Red}}", "virtualSubnetId": 5002, "destinationPrefix": "10.1.2.0/24", "nextHop": "0.0.0.0" },
            """);

    [Test]
    public void With_use_external_router_outside_traffic_is_routed_straight_into_the_tenant()
    {
        // The redirection took the port's own traffic to the router of the default route (the
        // port itself): every outside packet for a subnet other than the gateway's was no_route.
        var h = Harness(ExternalRouterConfig());
        byte[] toWeb2 = FromOnPrem(UdpIp("172.16.0.10", "10.1.1.8"));
        var local = h.Send("ext0", toWeb2);
        Assert.That(local.Single().Port, Is.EqualTo(h.Port("web2")));
        Assert.That(local[0].Frame, Is.EqualTo(Concat(Eth(Web2Mac, VirtualGatewayMac, 0x0800), UdpIp("172.16.0.10", "10.1.1.8", ttl: 63))));

        var remote = h.Send("ext0", FromOnPrem(UdpIp("172.16.0.10", "10.1.1.7")));
        Assert.That(remote.Single().Port, Is.EqualTo(h.Port("pnic0")));
        Assert.That(GreVsid(remote[0].Frame), Is.EqualTo(5001u));
        Assert.That(remote[0].Frame[(14 + 20 + 8)..], Is.EqualTo(Concat(Eth(Web1Mac, VirtualGatewayMac, 0x0800), UdpIp("172.16.0.10", "10.1.1.7", ttl: 63))));

        var trace = PacketTracer.Trace(h.Forwarder.Policy, "ext0", toWeb2);
        Assert.That((trace.Explained.DropReason, trace.Agrees), Is.EqualTo(((string?)null, true)), trace.ToString());
    }

    [Test]
    public void With_use_external_router_traffic_between_the_tenant_subnets_is_not_sent_out_of_the_external_port()
    {
        // The external port is never the external router: red3's packet for web2 would leave
        // for the physical router, and come back in from a tenant source, which the port refuses (spoofed_source).
        var h = Harness(ExternalRouterConfig());
        byte[] frame = Concat(Eth(VirtualGatewayMac, Red3Mac, 0x0800), UdpIp("10.1.2.7", "10.1.1.8"));
        var output = h.Send("red3", frame);
        Assert.That(output.Single().Port, Is.EqualTo(h.Port("web2")), "routed directly");
        Assert.That(output[0].Frame, Is.EqualTo(Concat(Eth(Web2Mac, VirtualGatewayMac, 0x0800), UdpIp("10.1.2.7", "10.1.1.8", ttl: 63))));
        var trace = PacketTracer.Trace(h.Forwarder.Policy, "red3", frame);
        Assert.That((trace.Explained.DropReason, trace.Agrees), Is.EqualTo(((string?)null, true)), trace.ToString());

        // Outside addresses still leave by the port.
        var asked = h.Send("web2", Concat(Eth(VirtualGatewayMac, Web2Mac, 0x0800), UdpIp("10.1.1.8", "172.16.0.10")));
        Assert.That(asked.Single().Port, Is.EqualTo(h.Port("ext0")));
    }

    [Test]
    public void Nvgre_a_remote_host_redirected_to_the_external_port_for_a_tenant_subnet_is_not_sent_out()
    {
        // hv1 cannot tell the external port's records from a gateway VM's, so its useExternalRouter
        // sends web1's packet for red3 here, to the gateway CA's MAC in VSID 5099.
        var h = Harness(ExternalRouterConfig());
        byte[] frame = NvgreFromHv1(UdpIp("10.1.1.7", "10.1.2.7", ttl: 63));
        Assert.That(h.Send("pnic0", frame), Is.Empty, "neither out of ext0 nor an ARP for its next hop");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoRoute), Is.EqualTo(1));
        var trace = PacketTracer.Trace(h.Forwarder.Policy, "pnic0", frame);
        Assert.That((trace.Explained.DropReason, trace.Agrees), Is.EqualTo(("no_route", true)), trace.ToString());

        // An outside address still leaves.
        Assert.That(h.Send("pnic0", NvgreFromHv1(UdpIp("10.1.1.7", "172.16.0.10", ttl: 63))).Single().Port, Is.EqualTo(h.Port("ext0")));
    }
}

