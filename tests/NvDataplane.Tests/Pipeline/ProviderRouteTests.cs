using NvDataplane.Headers;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// Which next hop an encapsulated frame goes to when the remote PA is inside the local PA's
/// prefix: on-link (SPEC section 1, "without [a provider route], PAs inside a local PA prefix are
/// on-link"), unless a provider route holds it with a longer prefix, as in any longest-prefix
/// router; a route of the same length or shorter (a default route) does not take it off-link.
/// </summary>
public class ProviderRouteTests
{
    internal static readonly MacAddress VmMac = MacAddress.Parse("00-15-5D-00-00-01");
    private static readonly MacAddress RouterMac = MacAddress.Parse("02-00-00-00-01-01");
    private static readonly MacAddress RemoteMac = MacAddress.Parse("02-00-00-00-01-C8");

    internal static HostConfig Config(bool v6, string? routePrefix)
    {
        var pa = IpAddr.Parse(v6 ? "2001:db8:ffff::10" : "192.168.1.10");
        var router = IpAddr.Parse(v6 ? "2001:db8:ffff::1" : "192.168.1.1");
        var remote = IpAddr.Parse(v6 ? "2001:db8:ffff::200" : "192.168.1.200");
        return new HostConfig(
            "hv1",
            GlobalSettings.Default,
            [new PortConfig("pnic0", PortRole.Provider, null, MacAddress.Parse("02-00-00-00-01-0A"), 1500, null, null), new PortConfig("red1", PortRole.Vm, null, VmMac, 1500, 5001, null)],
            [new ProviderAddressConfig(pa, v6 ? 64 : 24, 0, "pnic0")],
            routePrefix is null ? [] : [new ProviderRouteConfig(IpPrefix.Parse(routePrefix), router, 0)],
            [new ProviderNeighborConfig(router, RouterMac), new ProviderNeighborConfig(remote, RemoteMac)],
            [
                new LookupRecordConfig(IpAddr.Parse("10.1.1.7"), 5001, VmMac, pa, TranslationRule.Encap, RecordType.Static),
                new LookupRecordConfig(IpAddr.Parse("10.1.1.8"), 5001, MacAddress.Parse("00-15-5D-00-00-02"), remote, TranslationRule.Encap, RecordType.Static),
            ],
            [new CustomerRouteConfig(Guid.NewGuid(), 5001, IpPrefix.Parse("10.1.1.0/24"), IpAddr.Any4, 255)]);
    }

    [TestCase(false, null, "on-link", TestName = "IPv4, no provider route: on-link")]
    [TestCase(false, "0.0.0.0/0", "on-link", TestName = "IPv4, a default route: on-link")]
    [TestCase(false, "192.168.1.0/24", "on-link", TestName = "IPv4, a route as long as the local prefix: on-link")]
    [TestCase(false, "192.168.1.128/25", "router", TestName = "IPv4, a longer route holding the PA: through its next hop")]
    [TestCase(false, "192.168.1.0/25", "on-link", TestName = "IPv4, a longer route not holding the PA: on-link")]
    [TestCase(true, "::/0", "on-link", TestName = "IPv6, a default route: on-link")]
    [TestCase(true, "2001:db8:ffff::/80", "router", TestName = "IPv6, a longer route holding the PA: through its next hop")]
    public void A_remote_PA_inside_the_local_prefix_is_on_link_unless_a_longer_provider_route_holds_it(bool v6, string? route, string expected)
    {
        var h = new ForwarderHarness(Config(v6, route));
        var frame = SyntheticTraffic.BuildUdpFrame(VmMac, MacAddress.Parse("00-15-5D-00-00-02"), IpAddr.Parse("10.1.1.7"), IpAddr.Parse("10.1.1.8"), 64);
        var output = h.Send("red1", frame);
        Assert.That(output, Has.Count.EqualTo(1), "one encapsulated frame");
        Assert.That(output[0].Port, Is.EqualTo(h.Port("pnic0")));
        var expectedMac = expected == "router" ? RouterMac : RemoteMac;
        Assert.That(MacAddress.Read(output[0].Frame), Is.EqualTo(expectedMac), "the outer destination MAC: " + expected);
        int outerDestination = v6 ? 14 + 24 : 14 + 16;
        var remote = IpAddr.Parse(v6 ? "2001:db8:ffff::200" : "192.168.1.200");
        Assert.That(v6 ? IpAddr.ReadV6(output[0].Frame.AsSpan(outerDestination)) : IpAddr.ReadV4(output[0].Frame.AsSpan(outerDestination)), Is.EqualTo(remote), "the outer destination stays the remote PA");
    }
}
