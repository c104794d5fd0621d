using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>NVGRE over an IPv6 provider network: the outer extension headers decide whether this PA is the packet's end.</summary>
public class OuterIpv6Tests
{
    private const string VmMac = "00-15-5D-00-00-01", PeerVmMac = "00-15-5D-00-00-02", NicMac = "02-00-00-00-01-0A", PeerMac = "02-00-00-00-01-0B";
    private const string Pa = "2001:db8:ffff::10", PeerPa = "2001:db8:ffff::11";

    private static HostConfig Config() => new(
        "hv1",
        GlobalSettings.Default,
        [new PortConfig("pnic0", PortRole.Provider, null, MacAddress.Parse(NicMac), 1500, null, null), new PortConfig("red1", PortRole.Vm, null, MacAddress.Parse(VmMac), 1500, 5001, null)],
        [new ProviderAddressConfig(IpAddr.Parse(Pa), 64, 0, "pnic0")],
        [],
        [new ProviderNeighborConfig(IpAddr.Parse(PeerPa), MacAddress.Parse(PeerMac))],
        [
            new LookupRecordConfig(IpAddr.Parse("10.1.1.7"), 5001, MacAddress.Parse(VmMac), IpAddr.Parse(Pa), TranslationRule.Encap, RecordType.Static),
            new LookupRecordConfig(IpAddr.Parse("10.1.1.8"), 5001, MacAddress.Parse(PeerVmMac), IpAddr.Parse(PeerPa), TranslationRule.Encap, RecordType.Static),
        ],
        [new CustomerRouteConfig(Guid.NewGuid(), 5001, IpPrefix.Parse("10.1.1.0/24"), IpAddr.Any4, 255)]);

    /// <summary>NVGRE from the peer's PA to ours behind a routing header with <paramref name="segmentsLeft"/>.</summary>
    private static byte[] Nvgre(byte segmentsLeft)
    {
        byte[] inner = Concat(Eth(VmMac, PeerVmMac, 0x0800), Ipv4Of("10.1.1.8", "10.1.1.7", 17, UdpOf(1, 2, new byte[8])));
        byte[] routing = [47, 0, 4, segmentsLeft, 0, 0, 0, 0];
        return Concat(Eth(NicMac, PeerMac, 0x86DD), Ipv6Of(PeerPa, Pa, 43, Concat(routing, NvgreOf(5001, 7, inner))));
    }

    [Test]
    public void Nvgre_behind_a_routing_header_with_segments_left_is_not_taken_and_with_none_it_is()
    {
        var h = new ForwarderHarness(Config());
        Assert.That(h.Send("pnic0", Nvgre(1)), Is.Empty, "this PA is a waypoint (RFC 8200 4.4)");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.MalformedHeader), Is.EqualTo(1));
        var delivered = h.Send("pnic0", Nvgre(0));
        Assert.That(delivered.Select(o => o.Port), Is.EqualTo(new[] { h.Port("red1") }), "the last segment: delivered");
    }
}
