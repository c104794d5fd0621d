using NvDataplane.Diagnostics;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// <c>global.useExternalRouter</c> end to end: the router VM a customer route names receives a
/// VM's cross-subnet traffic and forwards it on with the sender's CA. Red's routing domain has
/// 10.1.1.0/24 (VSID 5001), 10.1.2.0/24 (5002) and the router subnet 10.1.3.0/24 (5003), whose
/// router rtr (10.1.3.254) 10.1.0.0/16 names; the same for IPv6 (fd00:1::/64 … fd00::/16 →
/// fd00:3::fe). hv1 runs red1 (10.1.1.7, PA 192.168.1.10) and rtr (on its own PA 192.168.1.20);
/// hv2 (192.168.1.11) runs red2 (10.1.2.8) and Blue's blue2 (10.1.1.9, VSID 6001, another
/// routing domain, where blue1 on hv1 has Red's 10.1.1.7 too).
/// </summary>
public class ExternalRouterForwardingTests
{
    private const string Red1Mac = "00-15-5D-00-01-07";
    private const string Red2Mac = "00-15-5D-00-02-08";
    private const string RtrMac = "00-15-5D-00-03-FE";
    private const string Blue1Mac = "00-15-5D-00-06-07";
    private const string Blue2Mac = "00-15-5D-00-06-09";
    private const string GatewayMac = "00-15-5D-FF-FF-FF";
    private const string Hv1Mac = "02-00-00-00-01-0A";
    private const string Hv2Mac = "02-00-00-00-01-0B";
    private const string Red = "{11111111-2222-3333-4444-000000000001}";
    private const string Blue = "{11111111-2222-3333-4444-000000000002}";

    private static string Config(bool hv1, bool useExternalRouter = true)
    {
        string ports = hv1
            ? $$"""
                { "name": "red1", "role": "vm", "macAddress": "{{Red1Mac}}", "virtualSubnetId": 5001 },
                { "name": "rtr", "role": "vm", "macAddress": "{{RtrMac}}", "virtualSubnetId": 5003 }
                """
            : $$"""
                { "name": "red2", "role": "vm", "macAddress": "{{Red2Mac}}", "virtualSubnetId": 5002 },
                { "name": "blue2", "role": "vm", "macAddress": "{{Blue2Mac}}", "virtualSubnetId": 6001 }
                """;
        string pas = hv1
            ? """{ "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" }, { "address": "192.168.1.20", "prefixLength": 24, "port": "pnic0" }"""
            : """{ "address": "192.168.1.11", "prefixLength": 24, "port": "pnic0" }""";
        string neighbors = hv1
            ? $$"""{ "address": "192.168.1.11", "macAddress": "{{Hv2Mac}}" }"""
            : $$"""{ "address": "192.168.1.10", "macAddress": "{{Hv1Mac}}" }, { "address": "192.168.1.20", "macAddress": "{{Hv1Mac}}" }, { "address": "192.168.1.30", "macAddress": "{{Hv1Mac}}" }""";
        return $$"""
            {
              "host": { "name": "{{(hv1 ? "hv1" : "hv2")}}" },
              "global": { "gatewayMac": "{{GatewayMac}}", "useExternalRouter": {{(useExternalRouter ? "true" : "false")}} },
              "ports": [
                { "name": "pnic0", "role": "provider", "macAddress": "{{(hv1 ? Hv1Mac : Hv2Mac)}}", "mtu": 1500 },
                {{ports}}
              ],
              "providerAddresses": [ {{pas}} ],
              "providerNeighbors": [ {{neighbors}} ],
              "lookupRecords": [
                { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "{{Red1Mac}}", "providerAddress": "192.168.1.10" },
                { "customerAddress": "fd00:1::7", "virtualSubnetId": 5001, "macAddress": "{{Red1Mac}}", "providerAddress": "192.168.1.10" },
                { "customerAddress": "10.1.2.8", "virtualSubnetId": 5002, "macAddress": "{{Red2Mac}}", "providerAddress": "192.168.1.11" },
                { "customerAddress": "fd00:2::8", "virtualSubnetId": 5002, "macAddress": "{{Red2Mac}}", "providerAddress": "192.168.1.11" },
                { "customerAddress": "10.1.3.254", "virtualSubnetId": 5003, "macAddress": "{{RtrMac}}", "providerAddress": "192.168.1.20" },
                { "customerAddress": "fd00:3::fe", "virtualSubnetId": 5003, "macAddress": "{{RtrMac}}", "providerAddress": "192.168.1.20" },
                { "customerAddress": "10.1.1.7", "virtualSubnetId": 6001, "macAddress": "{{Blue1Mac}}", "providerAddress": "192.168.1.10" },
                { "customerAddress": "10.1.1.9", "virtualSubnetId": 6001, "macAddress": "{{Blue2Mac}}", "providerAddress": "192.168.1.11" }
              ],
              "customerRoutes": [
                { "routingDomainId": "{{Red}}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" },
                { "routingDomainId": "{{Red}}", "virtualSubnetId": 5002, "destinationPrefix": "10.1.2.0/24", "nextHop": "0.0.0.0" },
                { "routingDomainId": "{{Red}}", "virtualSubnetId": 5003, "destinationPrefix": "10.1.3.0/24", "nextHop": "0.0.0.0" },
                { "routingDomainId": "{{Red}}", "virtualSubnetId": 5003, "destinationPrefix": "10.1.0.0/16", "nextHop": "10.1.3.254" },
                { "routingDomainId": "{{Red}}", "virtualSubnetId": 5001, "destinationPrefix": "fd00:1::/64", "nextHop": "::" },
                { "routingDomainId": "{{Red}}", "virtualSubnetId": 5002, "destinationPrefix": "fd00:2::/64", "nextHop": "::" },
                { "routingDomainId": "{{Red}}", "virtualSubnetId": 5003, "destinationPrefix": "fd00:3::/64", "nextHop": "::" },
                { "routingDomainId": "{{Red}}", "virtualSubnetId": 5003, "destinationPrefix": "fd00::/16", "nextHop": "fd00:3::fe" },
                { "routingDomainId": "{{Blue}}", "virtualSubnetId": 6001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }
              ]
            }
            """;
    }

    private static byte[] Udp(string dstMac, string srcMac, string src, string dst) =>
        src.Contains(':', StringComparison.Ordinal)
            ? Concat(Eth(dstMac, srcMac, 0x86DD), Ipv6Of(src, dst, 17, UdpOf(40000, 53, new byte[16])))
            : Concat(Eth(dstMac, srcMac, 0x0800), Ipv4Of(src, dst, 17, UdpOf(40000, 53, new byte[16])));

    private static byte[] NvgreFrom(string outerSrc, uint vsid, byte[] inner) =>
        Concat(Eth(Hv2Mac, Hv1Mac, 0x0800), Ipv4Of(outerSrc, "192.168.1.11", 47, NvgreOf(vsid, 0x11, inner)));

    /// <summary>The frame the router forwards: to the gateway MAC, with the first VM's source.</summary>
    private static byte[] Forwarded(string src, string dst) => Udp(GatewayMac, RtrMac, src, dst);

    private static void TraceAgrees(ForwarderHarness h, string port, byte[] frame, string? drop)
    {
        var trace = PacketTracer.Trace(h.Forwarder.Policy, port, frame);
        Assert.That((trace.Explained.DropReason, trace.Agrees), Is.EqualTo((drop, true)), trace.ToString());
    }

    [TestCase("10.1.1.7", "10.1.2.8", 26, 4)]
    [TestCase("fd00:1::7", "fd00:2::8", 22, 16)]
    public void The_router_vm_forwards_a_vm_cross_subnet_traffic_with_the_vm_source(string src, string dst, int srcOffset, int length)
    {
        var hv1 = ForwarderHarness.FromJson(Config(hv1: true));

        // red1's cross-subnet packet goes to the router, on this host.
        var toRouter = hv1.Send("red1", Udp(GatewayMac, Red1Mac, src, dst));
        Assert.That(toRouter, Has.Count.EqualTo(1));
        Assert.That(toRouter[0].Port, Is.EqualTo(hv1.Port("rtr")));
        Assert.That(toRouter[0].Frame[..6], Is.EqualTo(Mac(RtrMac)));

        // The router sends it on, still from red1's CA: out to red2's host, from the router's PA.
        byte[] forwarded = Forwarded(src, dst);
        var output = hv1.Send("rtr", forwarded);
        Assert.That(output, Has.Count.EqualTo(1), "not spoofed_source");
        Assert.That(output[0].Port, Is.EqualTo(hv1.Port("pnic0")));
        byte[] frame = output[0].Frame;
        Assert.That(new System.Net.IPAddress(frame.AsSpan(14 + 12, 4)).ToString(), Is.EqualTo("192.168.1.20"), "outer source: the router's PA");
        Assert.That(new System.Net.IPAddress(frame.AsSpan(14 + 16, 4)).ToString(), Is.EqualTo("192.168.1.11"));
        Assert.That(GreVsid(frame), Is.EqualTo(5002u));
        byte[] inner = frame[(14 + 20 + 8)..];
        Assert.That(inner[..6], Is.EqualTo(Mac(Red2Mac)));
        Assert.That(inner[6..12], Is.EqualTo(Mac(RtrMac)), "inner source MAC: the router's, not the gateway MAC: what tells its forwarding from a gateway's traffic on its PA");
        Assert.That(inner[srcOffset..(srcOffset + length)], Is.EqualTo(Addr(src)), "inner source: red1's CA");
        Assert.That(hv1.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.Zero);
        TraceAgrees(hv1, "rtr", forwarded, null);

        // hv2 takes it from the router's PA, though red1's record says 192.168.1.10.
        var hv2 = ForwarderHarness.FromJson(Config(hv1: false));
        byte[] arriving = NvgreFrom("192.168.1.20", 5002, inner);
        var delivered = hv2.Send("pnic0", arriving);
        Assert.That(delivered, Has.Count.EqualTo(1), "not pa_mismatch");
        Assert.That(delivered[0].Port, Is.EqualTo(hv2.Port("red2")));
        Assert.That(delivered[0].Frame, Is.EqualTo(inner));
        TraceAgrees(hv2, "pnic0", arriving, null);
    }

    [Test]
    public void Without_use_external_router_the_same_frames_are_spoofed_and_pa_mismatch()
    {
        var hv1 = ForwarderHarness.FromJson(Config(hv1: true, useExternalRouter: false));
        byte[] forwarded = Forwarded("10.1.1.7", "10.1.2.8");
        Assert.That(hv1.Send("rtr", forwarded), Is.Empty);
        Assert.That(hv1.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(1));
        TraceAgrees(hv1, "rtr", forwarded, "spoofed_source");

        var hv2 = ForwarderHarness.FromJson(Config(hv1: false, useExternalRouter: false));
        byte[] arriving = NvgreFrom("192.168.1.20", 5002, Udp(Red2Mac, RtrMac, "10.1.1.7", "10.1.2.8"));
        Assert.That(hv2.Send("pnic0", arriving), Is.Empty);
        Assert.That(hv2.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(1));
        TraceAgrees(hv2, "pnic0", arriving, "pa_mismatch");
    }

    [TestCase("rtr", RtrMac, "10.1.1.9", Description = "Blue's CA: another routing domain's")]
    [TestCase("rtr", RtrMac, "8.8.8.8", Description = "outside the virtual network: the GatewayWildcard VM's to send")]
    [TestCase("rtr", RtrMac, "10.1.2.1", Description = "a gateway address: the dataplane's")]
    [TestCase("rtr", RtrMac, "10.1.2.255", Description = "a subnet's broadcast address: no host's")]
    [TestCase("red1", Red1Mac, "10.1.2.8", Description = "red1 is no router")]
    public void Only_a_router_speaks_for_its_routing_domain_vms(string port, string mac, string source)
    {
        var hv1 = ForwarderHarness.FromJson(Config(hv1: true));
        byte[] frame = Udp(GatewayMac, mac, source, "10.1.2.8");
        Assert.That(hv1.Send(port, frame), Is.Empty);
        Assert.That(hv1.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(1));
        TraceAgrees(hv1, port, frame, "spoofed_source");
    }

    [Test]
    public void The_router_does_not_answer_arp_for_the_addresses_it_forwards()
    {
        // Sending on behalf of a VM is forwarding; ARP from a VM's address would claim it.
        var hv1 = ForwarderHarness.FromJson(Config(hv1: true));
        byte[] arp = Concat(Eth("FF-FF-FF-FF-FF-FF", RtrMac, 0x0806), ArpOf(1, RtrMac, "10.1.1.7", "00-00-00-00-00-00", "10.1.3.1"));
        Assert.That(hv1.Send("rtr", arp), Is.Empty);
        Assert.That(hv1.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(1));
    }

    [Test]
    public void A_router_speaks_only_for_the_families_it_has_a_record_of()
    {
        // Without its IPv6 record the router routes no IPv6: its PA carries no IPv6 source but its own.
        static string V4Router(bool hv1) => Config(hv1).Replace(
            $$"""{ "customerAddress": "fd00:3::fe", "virtualSubnetId": 5003, "macAddress": "{{RtrMac}}", "providerAddress": "192.168.1.20" },""", "", StringComparison.Ordinal);
        var hv1 = ForwarderHarness.FromJson(V4Router(hv1: true));
        byte[] forwarded = Forwarded("fd00:1::7", "fd00:2::8");
        Assert.That(hv1.Send("rtr", forwarded), Is.Empty);
        Assert.That(hv1.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(1));
        TraceAgrees(hv1, "rtr", forwarded, "spoofed_source");

        var hv2 = ForwarderHarness.FromJson(V4Router(hv1: false));
        byte[] arriving = NvgreFrom("192.168.1.20", 5002, Udp(Red2Mac, RtrMac, "fd00:1::7", "fd00:2::8"));
        Assert.That(hv2.Send("pnic0", arriving), Is.Empty);
        Assert.That(hv2.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(1));
        TraceAgrees(hv2, "pnic0", arriving, "pa_mismatch");
        var v4 = hv2.Send("pnic0", NvgreFrom("192.168.1.20", 5002, Udp(Red2Mac, RtrMac, "10.1.1.7", "10.1.2.8")));
        Assert.That(v4, Has.Count.EqualTo(1), "IPv4 still");
    }

    [TestCase("192.168.1.30", 5002u, RtrMac, "10.1.1.7", "10.1.2.8", Description = "a PA no router has")]
    [TestCase("192.168.1.10", 5002u, RtrMac, "10.1.2.8", "10.1.2.8", Description = "red1's PA, not the router's, for red2's own CA")]
    [TestCase("192.168.1.20", 6001u, RtrMac, "10.1.1.7", "10.1.1.9", Description = "Red's router into Blue's VSID, with blue1's CA")]
    [TestCase("192.168.1.20", 5002u, GatewayMac, "10.1.1.7", "10.1.2.8", Description = "the router's PA, but routed by its host as a gateway's traffic from outside (an external port or GatewayWildcard VM on that PA)")]
    [TestCase("192.168.1.20", 5002u, Red1Mac, "10.1.1.7", "10.1.2.8", Description = "the router's PA, another VM's MAC")]
    public void Nvgre_with_a_vm_source_from_anywhere_but_its_pa_or_the_domain_router_is_pa_mismatch(string outerSource, uint vsid, string innerSourceMac, string innerSource, string innerDestination)
    {
        var hv2 = ForwarderHarness.FromJson(Config(hv1: false));
        string dstMac = vsid == 6001 ? Blue2Mac : Red2Mac;
        byte[] arriving = NvgreFrom(outerSource, vsid, Udp(dstMac, innerSourceMac, innerSource, innerDestination));
        Assert.That(hv2.Send("pnic0", arriving), Is.Empty);
        Assert.That(hv2.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(1));
        TraceAgrees(hv2, "pnic0", arriving, "pa_mismatch");
    }

    /// <summary>The configuration with more entries spliced into its <c>lookupRecords</c> and a <c>virtualSubnets</c> section.</summary>
    private static string With(string json, string records = "", string virtualSubnets = "") =>
        json.Replace("\"lookupRecords\": [", "\"lookupRecords\": [ " + records, StringComparison.Ordinal)
            .Replace("\"customerRoutes\": [", (virtualSubnets.Length == 0 ? "" : "\"virtualSubnets\": [ " + virtualSubnets + " ], ") + "\"customerRoutes\": [", StringComparison.Ordinal);

    [Test]
    public void A_router_forwarding_icmp_between_cas_equal_to_pas_is_tenant_traffic_not_a_migration_message()
    {
        // X (192.168.1.20, VSID 5001, on hv1) and Y (192.168.1.11, VSID 5002, red2 on hv2): CAs
        // equal to the router's and hv2's PAs. X's ICMP 3/10 to Y, forwarded by the router, is
        // shaped like an MS-NVGREE UNREACHABLE from .20 to .11; it was consumed as one.
        string records = $$"""
            { "customerAddress": "192.168.1.20", "virtualSubnetId": 5001, "macAddress": "{{Red1Mac}}", "providerAddress": "192.168.1.10" },
            { "customerAddress": "192.168.1.11", "virtualSubnetId": 5002, "macAddress": "{{Red2Mac}}", "providerAddress": "192.168.1.11" },
            """;
        var hv2 = ForwarderHarness.FromJson(With(Config(hv1: false), records));
        byte[] quote = Ipv4Of("192.168.1.11", "192.168.1.20", 17, UdpOf(1, 2, new byte[8]));
        byte[] icmp = Concat([3, 10, 0, 0, 0, 0, 0, 0], quote);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), ReferenceChecksum(icmp));
        byte[] inner = Concat(Eth(Red2Mac, RtrMac, 0x0800), Ipv4Of("192.168.1.20", "192.168.1.11", 1, icmp));
        byte[] arriving = NvgreFrom("192.168.1.20", 5002, inner);

        var output = hv2.Send("pnic0", arriving);
        Assert.That(output.Select(o => o.Port), Is.EqualTo(new[] { hv2.Port("red2") }), "delivered to red2");
        Assert.That(output[0].Frame, Is.EqualTo(inner));
        Assert.That(hv2.Forwarder.Counters.Migration.UnreachablesReceived, Is.Zero);
        TraceAgrees(hv2, "pnic0", arriving, null);
    }

    [Test]
    public void A_router_floods_nothing_from_another_vms_ca()
    {
        // Broadcast and multicast are link-scope: a router forwards none, so none may carry a
        // VM's CA from it (an echo to ff02::1 "from" red1 would have every VM answer red1).
        string floods = """{ "virtualSubnetId": 5002, "flooding": true }, { "virtualSubnetId": 5003, "flooding": true }""";
        var hv1 = ForwarderHarness.FromJson(With(Config(hv1: true), virtualSubnets: floods));
        byte[] broadcast = Udp("FF-FF-FF-FF-FF-FF", RtrMac, "10.1.1.7", "255.255.255.255");
        Assert.That(hv1.Send("rtr", broadcast), Is.Empty);
        Assert.That(hv1.Forwarder.Counters.Drop(DropReason.SpoofedSource), Is.EqualTo(1));
        TraceAgrees(hv1, "rtr", broadcast, "spoofed_source");

        var hv2 = ForwarderHarness.FromJson(With(Config(hv1: false), virtualSubnets: floods));
        byte[] arriving = NvgreFrom("192.168.1.20", 5002, Udp("FF-FF-FF-FF-FF-FF", RtrMac, "10.1.1.7", "255.255.255.255"));
        Assert.That(hv2.Send("pnic0", arriving), Is.Empty);
        Assert.That(hv2.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(1));
        TraceAgrees(hv2, "pnic0", arriving, "pa_mismatch");
    }

    /// <summary>
    /// hv1's (192.168.1.20's) MS-NVGREE REDIRECT to hv2: (VSID <paramref name="vsid"/>,
    /// <paramref name="ca"/>) moved to <paramref name="target"/>, quoting hv2's packet to it.
    /// </summary>
    private static byte[] RedirectToHv2(uint vsid, string ca, string target, string innerDestinationMac = Hv2Mac)
    {
        byte[] offending = Ipv4Of("192.168.1.11", "192.168.1.20", 47, NvgreOf(vsid, 0x11, Udp(RtrMac, GatewayMac, "10.1.2.8", ca)));
        byte[] icmp = Concat([5, 10, 0, 0], Addr(target), offending);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), ReferenceChecksum(icmp));
        return NvgreFrom("192.168.1.20", vsid, Concat(Eth(innerDestinationMac, Hv1Mac, 0x0800), Ipv4Of("192.168.1.20", "192.168.1.11", 1, icmp, ttl: 128, flagsFragment: 0)));
    }

    private static string Trusting(string json) =>
        json.Replace("\"useExternalRouter\": true", "\"useExternalRouter\": true, \"trustRedirects\": true", StringComparison.Ordinal);

    [Test]
    public void After_a_redirect_moves_the_router_its_forwarding_is_taken_from_its_new_pa()
    {
        // The router moved from 192.168.1.20 to .21; its old host's REDIRECT (trusted) moved hv2's
        // traffic for it. What it forwards now comes from .21, which no record names.
        var hv2 = ForwarderHarness.FromJson(Trusting(Config(hv1: false)));
        byte[] forwarded = NvgreFrom("192.168.1.21", 5002, Udp(Red2Mac, RtrMac, "10.1.1.7", "10.1.2.8"));
        Assert.That(hv2.Send("pnic0", forwarded), Is.Empty, "before the REDIRECT: pa_mismatch");

        byte[] redirect = RedirectToHv2(5003, "10.1.3.254", "192.168.1.21");
        Assert.That(hv2.Send("pnic0", redirect), Is.Empty);
        Assert.That(hv2.Forwarder.Counters.Migration.RedirectsApplied, Is.EqualTo(1), "taken in VSID 5003, where hv2 has no port: that of the traffic it routed to the router");
        TraceAgrees(hv2, "pnic0", redirect, null);

        var output = hv2.Send("pnic0", forwarded);
        Assert.That(output.Select(o => o.Port), Is.EqualTo(new[] { hv2.Port("red2") }), "the router's forwarding from its new PA");
        Assert.That(hv2.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(1), "only the first");
        Assert.That(hv2.Send("pnic0", NvgreFrom("192.168.1.20", 5002, Udp(Red2Mac, RtrMac, "10.1.1.7", "10.1.2.8"))), Is.Not.Empty,
            "from its old PA as well, as its own record's PA stays in the policy");
    }

    [Test]
    public void A_router_with_an_l2only_record_forwards_an_l2only_vms_address_without_taking_its_binding()
    {
        // l2 (VSID 5003, L2Only) sends from 10.1.3.50, learned as its binding; the router, which
        // has an L2Only record as well, forwards that traffic. Learning before the router's vouch
        // moved the binding to the router, and 10.1.3.50's traffic went to the router from then on.
        const string L2Mac = "00-15-5D-00-03-50";
        string json = With(Config(hv1: true), $$"""
            { "customerAddress": "0.0.0.0", "virtualSubnetId": 5003, "macAddress": "{{L2Mac}}", "providerAddress": "192.168.1.20", "type": "L2Only" },
            { "customerAddress": "0.0.0.0", "virtualSubnetId": 5003, "macAddress": "{{RtrMac}}", "providerAddress": "192.168.1.20", "type": "L2Only" },
            """).Replace("""{ "name": "rtr",""", $$"""{ "name": "l2", "role": "vm", "macAddress": "{{L2Mac}}", "virtualSubnetId": 5003 }, { "name": "rtr",""", StringComparison.Ordinal);
        var hv1 = ForwarderHarness.FromJson(json);
        Assert.That(hv1.Send("l2", Udp(GatewayMac, L2Mac, "10.1.3.50", "10.1.1.7")).Select(o => o.Port), Is.EqualTo(new[] { hv1.Port("rtr") }), "to the router");
        Assert.That(hv1.Send("rtr", Forwarded("10.1.3.50", "10.1.1.7")).Select(o => o.Port), Is.EqualTo(new[] { hv1.Port("red1") }), "forwarded on");

        var back = hv1.Send("rtr", Udp(L2Mac, RtrMac, "10.1.3.254", "10.1.3.50"));
        Assert.That(back.Select(o => o.Port), Is.EqualTo(new[] { hv1.Port("l2") }), "10.1.3.50 is still l2's");
    }

    [Test]
    public void Nvgre_from_the_wrong_pa_in_a_vsid_without_a_routing_domain_is_pa_mismatch_after_a_redirect_too()
    {
        // A REDIRECT applied, then a stale sender's frame in a VSID with no customer route: the
        // router check looked for routers of routing domain -1 and threw, which stops a worker.
        const string NoDomainMac = "00-15-5D-00-08-11";
        string json = With(Trusting(Config(hv1: false)), $$"""
            { "customerAddress": "10.8.1.5", "virtualSubnetId": 8001, "macAddress": "00-15-5D-00-08-05", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.8.1.11", "virtualSubnetId": 8001, "macAddress": "{{NoDomainMac}}", "providerAddress": "192.168.1.11" },
            """).Replace("""{ "name": "blue2",""", $$"""{ "name": "nd", "role": "vm", "macAddress": "{{NoDomainMac}}", "virtualSubnetId": 8001 }, { "name": "blue2",""", StringComparison.Ordinal);
        var hv2 = ForwarderHarness.FromJson(json);
        hv2.Send("pnic0", RedirectToHv2(5003, "10.1.3.254", "192.168.1.21"));
        Assert.That(hv2.Forwarder.Redirects.Count, Is.EqualTo(1));

        byte[] stale = NvgreFrom("192.168.1.30", 8001, Udp(NoDomainMac, "00-15-5D-00-08-05", "10.8.1.5", "10.8.1.11"));
        Assert.That(hv2.Send("pnic0", stale), Is.Empty);
        Assert.That(hv2.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(1));
    }

    [Test]
    public void A_unicast_neighbor_solicitation_from_the_routers_pa_with_another_vms_ca_is_pa_mismatch()
    {
        // Neighbor discovery is link-scope: its host never lets the router send one from another
        // VM's CA, and a host does not take one as the router's forwarding either.
        byte[] ns = Concat([135, 0, 0, 0, 0, 0, 0, 0], Addr("fd00:2::8"));
        byte[] arriving = NvgreFrom("192.168.1.20", 5002, Concat(Eth(Red2Mac, RtrMac, 0x86DD), Icmpv6Of("fd00:1::7", "fd00:2::8", ns, hopLimit: 255)));
        var hv2 = ForwarderHarness.FromJson(Config(hv1: false));
        Assert.That(hv2.Send("pnic0", arriving), Is.Empty);
        Assert.That(hv2.Forwarder.Counters.Drop(DropReason.PaMismatch), Is.EqualTo(1));
        TraceAgrees(hv2, "pnic0", arriving, "pa_mismatch");
    }

    [Test]
    public void Messages_come_in_a_vsid_without_a_port_here_only_of_a_routing_domain_with_one()
    {
        // VSID 7001 is a routing domain of its own where hv2 has no port: no traffic of hv2's
        // goes there, and a REDIRECT in it would only fill hv2's table.
        string json = With(Trusting(Config(hv1: false)), """
            { "customerAddress": "10.7.1.5", "virtualSubnetId": 7001, "macAddress": "00-15-5D-00-07-05", "providerAddress": "192.168.1.20" },
            """).Replace("\"customerRoutes\": [", """
            "customerRoutes": [ { "routingDomainId": "{11111111-2222-3333-4444-000000000007}", "virtualSubnetId": 7001, "destinationPrefix": "10.7.1.0/24", "nextHop": "0.0.0.0" },
            """, StringComparison.Ordinal);
        var hv2 = ForwarderHarness.FromJson(json);
        byte[] redirect = RedirectToHv2(7001, "10.7.1.5", "192.168.1.21");
        Assert.That(hv2.Send("pnic0", redirect), Is.Empty);
        Assert.That((hv2.Forwarder.Counters.Drop(DropReason.UnknownVsid), hv2.Forwarder.Counters.Migration.RedirectsReceived), Is.EqualTo((1L, 0L)));
        TraceAgrees(hv2, "pnic0", redirect, "unknown_vsid");
    }

    [Test]
    public void A_message_with_a_broadcast_inner_destination_in_a_vsid_that_does_not_flood_is_flooding_disabled_in_the_trace_too()
    {
        var hv2 = ForwarderHarness.FromJson(Trusting(Config(hv1: false)));
        byte[] redirect = RedirectToHv2(5003, "10.1.3.254", "192.168.1.21", innerDestinationMac: "FF-FF-FF-FF-FF-FF");
        Assert.That(hv2.Send("pnic0", redirect), Is.Empty);
        Assert.That(hv2.Forwarder.Counters.Drop(DropReason.FloodingDisabled), Is.EqualTo(1));
        TraceAgrees(hv2, "pnic0", redirect, "flooding_disabled");
    }

    /// <summary>hv1 with rtr also the GatewayWildcard VM (the default route names its own CA), and a VM 10.1.3.9 of its VSID on hv2; with an L2Only record for rtr too when <paramref name="l2Only"/>.</summary>
    private static string GatewayRouter(bool l2Only = false) => With(Config(hv1: true), $$"""
            { "customerAddress": "0.0.0.0", "virtualSubnetId": 5003, "macAddress": "{{RtrMac}}", "providerAddress": "192.168.1.20", "type": "GatewayWildcard" },
            { "customerAddress": "10.1.3.9", "virtualSubnetId": 5003, "macAddress": "00-15-5D-00-03-09", "providerAddress": "192.168.1.11" },
            {{(l2Only ? $$"""{ "customerAddress": "0.0.0.0", "virtualSubnetId": 5003, "macAddress": "{{RtrMac}}", "providerAddress": "192.168.1.20", "type": "L2Only" },""" : "")}}
            """).Replace("\"customerRoutes\": [", $$"""
            "customerRoutes": [ { "routingDomainId": "{{Red}}", "virtualSubnetId": 5003, "destinationPrefix": "0.0.0.0/0", "nextHop": "10.1.3.254" },
            """, StringComparison.Ordinal);

    [Test]
    public void A_gateway_vm_that_is_a_router_sends_outside_traffic_on_link_with_the_gateway_mac()
    {
        // Its on-link frame from an outside address to a VM of its VSID on hv2 carried its own
        // MAC, the mark of its forwarding: a host that counts the address as a VM's (an L2Only
        // VM's binding learned there, not here) took the Internet's frame as forwarded from that VM.
        var hv1 = ForwarderHarness.FromJson(GatewayRouter());
        byte[] outside = Udp("00-15-5D-00-03-09", RtrMac, "8.8.8.8", "10.1.3.9");
        var output = hv1.Send("rtr", outside);
        Assert.That(output.Select(o => o.Port), Is.EqualTo(new[] { hv1.Port("pnic0") }));
        Assert.That(output[0].Frame[(14 + 20 + 8 + 6)..(14 + 20 + 8 + 12)], Is.EqualTo(Mac(GatewayMac)), "inner source MAC: the gateway MAC, not the router's");
        var trace = PacketTracer.Trace(hv1.Forwarder.Policy, "rtr", outside);
        Assert.That(trace.ToString(), Does.Contain("the gateway MAC, not its own"), "the trace says so");

        var forwarded = hv1.Send("rtr", Udp("00-15-5D-00-03-09", RtrMac, "10.1.1.7", "10.1.3.9"));
        Assert.That(forwarded[0].Frame[(14 + 20 + 8 + 6)..(14 + 20 + 8 + 12)], Is.EqualTo(Mac(RtrMac)), "red1's CA, forwarded: the router's MAC");
    }

    [Test]
    public void The_gateway_vm_routers_icmp_error_for_a_packet_too_big_goes_to_its_own_mac()
    {
        // The mark was written before the MTU decision, and the error took it for its destination.
        var hv1 = ForwarderHarness.FromJson(GatewayRouter());
        // From an address of its own subnet without a record (outside the network, its gateway address answers).
        byte[] big = Concat(Eth("00-15-5D-00-03-09", RtrMac, 0x0800), Ipv4Of("10.1.3.77", "10.1.3.9", 17, UdpOf(40000, 53, new byte[1472])));
        var output = hv1.Send("rtr", big);
        Assert.That(output.Select(o => o.Port), Is.EqualTo(new[] { hv1.Port("rtr") }), "fragmentation needed, back to the VM");
        Assert.That(output[0].Frame[..6], Is.EqualTo(Mac(RtrMac)));
        Assert.That(hv1.Forwarder.Counters.Drop(DropReason.MtuExceeded), Is.EqualTo(1));
    }

    [Test]
    public void A_gateway_vm_router_with_an_l2only_record_keeps_its_mac_on_its_outside_traffic()
    {
        // Another host learns its addresses by that MAC (its L2Only record), as it may.
        var hv1 = ForwarderHarness.FromJson(GatewayRouter(l2Only: true));
        var output = hv1.Send("rtr", Udp("00-15-5D-00-03-09", RtrMac, "8.8.8.8", "10.1.3.9"));
        Assert.That(output[0].Frame[(14 + 20 + 8 + 6)..(14 + 20 + 8 + 12)], Is.EqualTo(Mac(RtrMac)));
    }

    [Test]
    public void Ipv4_protocol_58_from_a_router_is_no_neighbor_discovery()
    {
        // ICMPv6 is IPv6's: an IPv4 packet of protocol 58 whose first byte is 135 is a forwarded packet like any other.
        var hv2 = ForwarderHarness.FromJson(Config(hv1: false));
        byte[] inner = Concat(Eth(Red2Mac, RtrMac, 0x0800), Ipv4Of("10.1.1.7", "10.1.2.8", 58, [135, 0, 0, 0, 0, 0, 0, 0]));
        byte[] arriving = NvgreFrom("192.168.1.20", 5002, inner);
        Assert.That(hv2.Send("pnic0", arriving).Select(o => o.Port), Is.EqualTo(new[] { hv2.Port("red2") }));
        TraceAgrees(hv2, "pnic0", arriving, null);
    }

    [Test]
    public void Frames_routed_to_a_router_that_moved_away_are_relayed_to_its_new_pa_without_a_redirect()
    {
        // hv1 ran the router on 192.168.1.20; the policy now puts it on .21. Within the grace
        // period, frames hv2 routed through it (inner destination a VM's CA, inner destination
        // MAC the router's) were no_lookup_record and an UNREACHABLE; they are relayed, as frames
        // for the router's own CA are. A REDIRECT would name the VM's CA, which has no record in
        // the router's VSID, and be ignored: none is sent.
        string before = Config(hv1: true).Replace("\"providerNeighbors\": [", "\"providerNeighbors\": [ { \"address\": \"192.168.1.21\", \"macAddress\": \"02-00-00-00-01-0C\" },", StringComparison.Ordinal);
        string after = before.Replace($$""""customerAddress": "10.1.3.254", "virtualSubnetId": 5003, "macAddress": "{{RtrMac}}", "providerAddress": "192.168.1.20"""", $$""""customerAddress": "10.1.3.254", "virtualSubnetId": 5003, "macAddress": "{{RtrMac}}", "providerAddress": "192.168.1.21"""", StringComparison.Ordinal);
        Assert.That(after, Is.Not.EqualTo(before));
        long now = 1_800_000_000_000_000_000;
        var store = new NvDataplane.Policy.PolicyStore(NvDataplane.Policy.PolicySnapshot.Build(NvDataplane.Policy.ConfigLoader.Load(before).Config!), () => now);
        var hv1 = new ForwarderHarness(store);
        store.Replace(NvDataplane.Policy.ConfigLoader.Load(after).Config!);

        byte[] inner = Udp(RtrMac, GatewayMac, "10.1.2.8", "10.1.1.7");
        byte[] arriving = Concat(Eth(Hv1Mac, Hv2Mac, 0x0800), Ipv4Of("192.168.1.11", "192.168.1.20", 47, NvgreOf(5003, 0x11, inner)));
        var output = hv1.Send("pnic0", arriving, now + 1);

        Assert.That(output.Select(o => o.Port), Is.EqualTo(new[] { hv1.Port("pnic0") }), "relayed, and nothing else");
        Assert.That(new System.Net.IPAddress(output[0].Frame.AsSpan(14 + 16, 4)).ToString(), Is.EqualTo("192.168.1.21"));
        Assert.That(new System.Net.IPAddress(output[0].Frame.AsSpan(14 + 12, 4)).ToString(), Is.EqualTo("192.168.1.11"), "the sender's PA kept");
        Assert.That(output[0].Frame[(14 + 20 + 8)..], Is.EqualTo(inner));
        var m = hv1.Forwarder.Counters.Migration;
        Assert.That((m.Relayed, m.RedirectsSent, m.UnreachablesSent), Is.EqualTo((1L, 0L, 0L)));
        var trace = PacketTracer.Trace(hv1.Forwarder.Policy, "pnic0", arriving, now + 1);
        Assert.That((trace.Explained.DropReason, trace.Agrees), Is.EqualTo(((string?)null, true)), trace.ToString());
    }
}
