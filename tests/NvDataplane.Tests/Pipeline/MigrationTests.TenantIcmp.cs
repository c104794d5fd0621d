using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// A tenant's own ICMP that looks like an MS-NVGREE message (FORWARDING 8.4): tenants may hold
/// addresses equal to PAs (HNV lets the spaces overlap), so Red-7 on hv2 with CA 192.168.1.11
/// (hv2's PA) can send ICMP 5/10 or 3/10 to Red-5, CA 192.168.1.10 (hv1's PA), and hv2 carries it
/// honestly: outer and inner addresses are then the two PAs. The inner source MAC — a VM's, or
/// the gateway MAC, where a message has its sending NVE's — makes it tenant traffic; so it does
/// for the VMs on hv3 that may send from hv3's PA, 192.168.1.12, without a record of that CA.
/// </summary>
public partial class MigrationTests
{
    private const string Red5Mac = "00-15-5D-00-00-05", Red7Mac = "00-15-5D-00-00-07";
    private const string L2OnlyMac = "00-15-5D-00-00-0A", WildcardMac = "00-15-5D-00-00-0B", GatewayMac = "00-15-5D-FF-FF-FF";

    /// <summary>
    /// red5 (192.168.1.10 on hv1), Red-7 (192.168.1.11 on hv2), and on hv3 an L2Only VM and the
    /// routing domain's GatewayWildcard VM, all in VSID 5001.
    /// </summary>
    private static (string Ports, string Records) TenantsAtPas => (
        $$"""
        , { "name": "red5", "role": "vm", "macAddress": "{{Red5Mac}}", "virtualSubnetId": 5001 }
        """,
        $$"""
        , { "customerAddress": "{{Hv1}}", "virtualSubnetId": 5001, "macAddress": "{{Red5Mac}}", "providerAddress": "{{Hv1}}" },
          { "customerAddress": "{{Hv2}}", "virtualSubnetId": 5001, "macAddress": "{{Red7Mac}}", "providerAddress": "{{Hv2}}" },
          { "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "{{L2OnlyMac}}", "providerAddress": "{{Hv3}}", "type": "L2Only" },
          { "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "{{WildcardMac}}", "providerAddress": "{{Hv3}}", "type": "GatewayWildcard" }
        """);

    /// <summary>
    /// The inner frame: ICMP type/code from <paramref name="source"/> (Ethernet source
    /// <paramref name="sourceMac"/>) to Red-5 at 192.168.1.10, the 32-bit word naming hv4, quoting
    /// a forged NVGRE packet of Red-3's flow to Red-9 — what a REDIRECT for it would quote.
    /// </summary>
    private static byte[] TenantIcmpInner(byte type, byte code, string sourceMac, string source = Hv2)
    {
        byte[] quote = Encapsulated(Red3ToRed9(7000), Hv2, Hv2Mac)[14..];
        byte[] icmp = Concat([type, code, 0, 0], Addr(Hv4), quote);
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), ReferenceChecksum(icmp));
        return Concat(Eth(Red5Mac, sourceMac, 0x0800), Ipv4Of(source, Hv1, 1, icmp, ttl: 128, flagsFragment: 0));
    }

    /// <summary>The host at <paramref name="pa"/> carrying <paramref name="inner"/> in VSID 5001, from its PA to ours.</summary>
    private static byte[] FromHost(byte[] inner, string pa = Hv2, string mac = Hv2Mac) => Concat(Eth(Hv1Mac, mac, 0x0800), Ipv4Of(pa, Hv1, 47, NvgreOf(5001, 0x11, inner)));

    [TestCase(5, 10, Red7Mac, Hv2, Hv2Mac, TestName = "A VM's ICMP 5/10 between CAs equal to PAs is delivered, not applied as a REDIRECT")]
    [TestCase(3, 10, Red7Mac, Hv2, Hv2Mac, TestName = "A VM's ICMP 3/10 between CAs equal to PAs is delivered, not consumed as an UNREACHABLE")]
    [TestCase(5, 10, L2OnlyMac, Hv3, Hv3Mac, TestName = "An L2Only VM's ICMP 5/10 from a CA equal to its host's PA (no record, a Dynamic binding) is delivered")]
    [TestCase(5, 10, WildcardMac, Hv3, Hv3Mac, TestName = "The GatewayWildcard VM's ICMP 5/10 from its host's PA is delivered")]
    [TestCase(5, 10, GatewayMac, Hv3, Hv3Mac, TestName = "A routed ICMP 5/10 (inner source MAC = gateway MAC) from a PA no record holds is delivered")]
    public void A_tenants_icmp_shaped_like_a_message_is_tenant_traffic(byte type, byte code, string sourceMac, string fromPa, string fromMac)
    {
        var host = new Host(Config(trust: true, tenantsAtPas: true));
        byte[] inner = TenantIcmpInner(type, code, sourceMac, fromPa);

        var output = host.Send("pnic0", FromHost(inner, fromPa, fromMac), T0);

        Assert.That(output.Select(o => (o.Port, Convert.ToHexString(o.Frame))), Is.EqualTo(new[] { (host.Harness.Port("red5"), Convert.ToHexString(inner)) }),
            "decapsulated to red5 as carried");
        Assert.That((host.Counters.RedirectsReceived, host.Counters.RedirectsApplied, host.Counters.UnreachablesReceived), Is.EqualTo((0L, 0L, 0L)), "no message");
        Assert.That((host.Harness.Forwarder.Counters.Forwarded, host.Harness.Forwarder.Counters.Answered), Is.EqualTo((1L, 0L)), "counted as tenant traffic");
        Assert.That(host.Harness.Forwarder.Redirects.Count, Is.Zero);
        Assert.That(ZeroFlowId(host.Send("red3", Red3ToRed9(), T0 + 1).Single().Frame), Is.EqualTo(Encapsulated(Red3ToRed9(), Hv2, Hv2Mac)), "Red-9's traffic keeps the policy's PA");
    }

    [Test]
    public void A_genuine_redirect_from_a_host_whose_pa_a_tenant_also_holds_is_still_applied()
    {
        // Red-7 holds CA 192.168.1.11 in VSID 5001, but hv2's own message comes from hv2's MAC.
        var host = new Host(Config(trust: true, tenantsAtPas: true));
        Assert.That(host.Send("pnic0", RedirectForRed9(Hv2, Hv2Mac, Hv3), T0), Is.Empty, "consumed");
        Assert.That(host.Counters.RedirectsApplied, Is.EqualTo(1));
        Assert.That(ZeroFlowId(host.Send("red3", Red3ToRed9(), T0 + 1).Single().Frame), Is.EqualTo(Encapsulated(Red3ToRed9(), Hv3, Hv3Mac)));
    }

    [Test]
    public void The_trace_tells_a_tenants_icmp_and_a_genuine_message_apart_as_the_forwarder_does()
    {
        var policy = PolicySnapshot.Build(Config(trust: true, tenantsAtPas: true));
        var tenant = PacketTracer.Trace(policy, "pnic0", FromHost(TenantIcmpInner(5, 10, Red7Mac)), T0);
        Assert.That(tenant.Agrees, Is.True, tenant.ToString());
        Assert.That(tenant.Actual.Fate, Is.EqualTo(TraceFate.Forwarded));
        Assert.That(tenant.Steps.Select(s => s.Text), Has.Some.Contains("a VM's own packet between CAs equal to PAs"));

        var message = PacketTracer.Trace(policy, "pnic0", RedirectForRed9(Hv2, Hv2Mac, Hv3), T0);
        Assert.That(message.Agrees, Is.True, message.ToString());
        Assert.That(message.Actual.Fate, Is.EqualTo(TraceFate.Answered), "consumed");
    }
}
