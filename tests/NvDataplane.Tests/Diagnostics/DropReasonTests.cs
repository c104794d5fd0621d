using System.Text.RegularExpressions;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using NvDataplane.Tests.Pipeline;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Diagnostics;

/// <summary>
/// <see cref="DropReason"/> is the single source of the SPEC section 5 names; every member has a
/// unique snake_case name and a counter, and every counter the pipeline can reach today moves by
/// exactly one for one crafted frame.
/// </summary>
public partial class DropReasonTests
{
    /// <summary>SPEC.md section 5, literally.</summary>
    private static readonly string[] SpecNames =
    [
        "truncated", "malformed_header", "unsupported_ethertype", "vlan_tagged", "spoofed_source",
        "arp_unresolved", "no_lookup_record", "no_route", "isolation", "ttl_expired", "mtu_exceeded",
        "not_local_pa", "bad_gre_header", "not_nvgre", "reserved_vsid", "unknown_vsid", "outer_fragment",
        "inner_vlan_tagged", "pa_mismatch", "no_provider_route", "neighbor_unresolved", "acl_deny",
        "tx_full",
    ];

    /// <summary>Reasons no frame can produce yet (none today; say why when one is added).</summary>
    private static readonly DropReason[] NotProducibleYet = [];

    private const string RedMac = "00-15-5D-00-00-01";
    private const string BlueMac = "00-15-5D-00-01-01";
    private const string Red2Mac = "00-15-5D-00-00-02";
    private const string PnicMac = "02-00-00-00-01-0A";
    private const string RouterMac = "02-00-00-00-01-0B";
    private const string GatewayMac = "00-15-5D-FF-FF-FF";
    private const string Nat6Mac = "00-15-5D-00-07-01";

    [GeneratedRegex("^[a-z]+(_[a-z0-9]+)*$")]
    private static partial Regex SnakeCase();

    [Test]
    public void Every_reason_has_a_unique_snake_case_name()
    {
        var names = DropReasons.All.Select(DropReasons.Name).ToList();
        Assert.That(names, Has.Count.EqualTo(Enum.GetValues<DropReason>().Length - 1), "every member but None");
        Assert.That(names, Is.Unique);
        Assert.That(names, Has.All.Matches(SnakeCase()));
        foreach (var reason in DropReasons.All)
        {
            Assert.That(DropReasons.TryParse(DropReasons.Name(reason), out var back), Is.True, reason.ToString());
            Assert.That(back, Is.EqualTo(reason));
        }
    }

    [Test]
    public void Every_reason_has_a_counter_slot()
    {
        var counters = new DataplaneCounters(1);
        Assert.That(counters.Drops, Has.Length.EqualTo(DropReasons.Count));
        Assert.That(DropReasons.All.Max(r => (int)r), Is.EqualTo(DropReasons.Count - 1));
    }

    [Test]
    public void Every_spec_section_5_name_exists()
    {
        foreach (string name in SpecNames)
        {
            Assert.That(DropReasons.TryParse(name, out var reason), Is.True, name);
            Assert.That(DropReasons.Name(reason), Is.EqualTo(name));
        }

        Assert.That(DropReasons.TryParse("none", out _), Is.False, "None is not a drop reason");
    }

    private static HostConfig Config()
    {
        var rd1 = Guid.Parse("11111111-2222-3333-4444-000000000000");
        var rd2 = Guid.Parse("11111111-2222-3333-4444-000000000001");
        IpAddr pa10 = IpAddr.Parse("192.168.1.10");
        IpAddr pa11 = IpAddr.Parse("192.168.1.11");
        LookupRecordConfig Rec(string ca, uint vsid, string mac, IpAddr pa, TranslationRule rule = TranslationRule.Encap) =>
            new(IpAddr.Parse(ca), vsid, MacAddress.Parse(mac), pa, rule, RecordType.Static);
        return new HostConfig(
            "hv1",
            GlobalSettings.Default,
            [
                new PortConfig("pnic0", PortRole.Provider, null, MacAddress.Parse(PnicMac), 1500, null, null),
                new PortConfig("red1", PortRole.Vm, null, MacAddress.Parse(RedMac), 1500, 5001, "Red-1"),
                new PortConfig("blue1", PortRole.Vm, null, MacAddress.Parse(BlueMac), 1500, 6001, "Blue-1"),
                new PortConfig("nat6", PortRole.Vm, null, MacAddress.Parse(Nat6Mac), 1500, 7001, "Green-1"), // IPv6 behind IP rewrite
            ],
            [new ProviderAddressConfig(pa10, 24, 0, "pnic0"), new ProviderAddressConfig(IpAddr.Parse("2001:db8:ffff::71"), 64, 0, "pnic0")],
            [],
            [new ProviderNeighborConfig(pa11, MacAddress.Parse(RouterMac))],
            [
                Rec("10.1.1.7", 5001, RedMac, pa10),
                Rec("10.1.1.8", 5001, Red2Mac, pa11),
                Rec("10.1.1.7", 6001, BlueMac, pa10),
                Rec("10.1.1.8", 6001, "00-15-5D-00-01-02", pa11),
                Rec("10.1.1.9", 5001, "00-15-5D-00-00-09", pa11),                        // Red only: isolation from Blue
                Rec("10.1.1.20", 5001, "00-15-5D-00-00-20", IpAddr.Parse("172.16.0.1")),  // no provider route
                Rec("10.1.1.21", 5001, "00-15-5D-00-00-21", IpAddr.Parse("192.168.1.50")), // on-link, no neighbor
                Rec("10.1.1.22", 5001, "00-15-5D-00-00-22", pa10),                         // local PA, no port
                Rec("10.1.1.23", 5001, "00-15-5D-00-00-23", IpAddr.Parse("192.168.1.23"), TranslationRule.Nat),
                Rec("2001:db8:7::1", 7001, Nat6Mac, IpAddr.Parse("2001:db8:ffff::71"), TranslationRule.Nat),
                Rec("2001:db8:7::2", 7001, "00-15-5D-00-07-02", IpAddr.Parse("2001:db8:ffff::72"), TranslationRule.Nat),
            ],
            [
                new CustomerRouteConfig(rd1, 5001, IpPrefix.Parse("10.1.1.0/24"), IpAddr.Any4, 255),
                new CustomerRouteConfig(rd1, 5001, IpPrefix.Parse("172.30.0.0/16"), IpAddr.Parse("10.1.1.23"), 10), // a router behind IP rewrite
                new CustomerRouteConfig(rd2, 6001, IpPrefix.Parse("10.1.1.0/24"), IpAddr.Any4, 255),
                new CustomerRouteConfig(Guid.Parse("11111111-2222-3333-4444-000000000002"), 7001, IpPrefix.Parse("2001:db8:7::/64"), IpAddr.Parse("::"), 255),
            ])
        {
            // Red may not send to the discard port (UDP 9); everything else is allowed.
            Acls = [new AclRuleConfig(5001, 100, AclDirection.Outbound, IpProtocol.Udp, null, null, PortRange.All, new PortRange(9, 9), AclAction.Deny)],
        };
    }

    private static byte[] RedUdp(string dst, string dstMac = Red2Mac, byte ttl = 64, int payload = 18) =>
        Concat(Eth(dstMac, RedMac, 0x0800), Ipv4Of("10.1.1.7", dst, 17, UdpOf(1000, 2000, new byte[payload]), ttl: ttl));

    /// <summary>NVGRE from 192.168.1.11 to our PA carrying 10.1.1.8 → 10.1.1.7 of <paramref name="vsid"/>.</summary>
    private static byte[] Nvgre(uint vsid = 5001, string outerSrc = "192.168.1.11", ushort flags = 0x2000, ushort proto = 0x6558, ushort outerFlags = 0x4000, ushort innerType = 0x0800)
    {
        byte[] innerIp = Ipv4Of("10.1.1.8", "10.1.1.7", 17, UdpOf(1, 2, new byte[8]));
        byte[] inner = innerType == 0x8100
            ? Concat(Mac(RedMac), Mac(Red2Mac), Hex("8100 0005 0800"), innerIp)
            : Concat(Eth(RedMac, Red2Mac, innerType), innerIp);
        return Concat(Eth(PnicMac, RouterMac, 0x0800), Ipv4Of(outerSrc, "192.168.1.10", 47, NvgreOf(vsid, 7, inner, flags, proto), flagsFragment: outerFlags));
    }

    public static IEnumerable<TestCaseData> Producible()
    {
        TestCaseData C(DropReason r, string port, byte[] frame) => new TestCaseData(r, port, frame).SetArgDisplayNames(DropReasons.Name(r));

        yield return C(DropReason.Truncated, "red1", new byte[10]);
        var badSum = RedUdp("10.1.1.8");
        badSum[14 + 10] ^= 0xFF;
        yield return C(DropReason.MalformedHeader, "red1", badSum);
        yield return C(DropReason.UnsupportedEthertype, "red1", Concat(Eth(Red2Mac, RedMac, 0x88B5), new byte[46]));
        yield return C(DropReason.VlanTagged, "red1", Concat(Mac(Red2Mac), Mac(RedMac), Hex("8100 0064 0800"), RedUdp("10.1.1.8")[14..]));
        yield return C(DropReason.SpoofedSource, "red1", Concat(Eth(Red2Mac, "00-15-5D-00-00-66", 0x0800), RedUdp("10.1.1.8")[14..]));
        yield return C(DropReason.ArpUnresolved, "red1", Concat(Eth("FF-FF-FF-FF-FF-FF", RedMac, 0x0806), ArpOf(1, RedMac, "10.1.1.7", "00-00-00-00-00-00", "10.1.1.99")));
        yield return C(DropReason.NoLookupRecord, "red1", RedUdp("10.1.1.99"));
        yield return C(DropReason.NoRoute, "red1", RedUdp("10.2.0.1", GatewayMac));
        yield return C(DropReason.Isolation, "blue1", Concat(Eth(Red2Mac, BlueMac, 0x0800), Ipv4Of("10.1.1.7", "10.1.1.9", 17, UdpOf(1, 2, new byte[8]))));
        yield return C(DropReason.TtlExpired, "red1", RedUdp("10.1.1.8", GatewayMac, ttl: 1));
        yield return C(DropReason.MtuExceeded, "red1", RedUdp("10.1.1.8", payload: 1480 - 28));
        yield return C(DropReason.NotLocalPa, "pnic0", Concat(Eth(PnicMac, RouterMac, 0x0800), Ipv4Of("192.168.1.11", "192.168.1.99", 17, UdpOf(1, 2, []))));
        yield return C(DropReason.BadGreHeader, "pnic0", Nvgre(flags: 0x3000));
        yield return C(DropReason.NotNvgre, "pnic0", Nvgre(proto: 0x0800));
        yield return C(DropReason.ReservedVsid, "pnic0", Nvgre(vsid: 100));
        yield return C(DropReason.UnknownVsid, "pnic0", Nvgre(vsid: 7777));
        yield return C(DropReason.OuterFragment, "pnic0", Nvgre(outerFlags: 0x2000));
        yield return C(DropReason.InnerVlanTagged, "pnic0", Nvgre(innerType: 0x8100));
        yield return C(DropReason.PaMismatch, "pnic0", Nvgre(outerSrc: "192.168.1.12"));
        yield return C(DropReason.NoProviderRoute, "red1", RedUdp("10.1.1.20"));
        yield return C(DropReason.NeighborUnresolved, "red1", RedUdp("10.1.1.21"));
        yield return C(DropReason.FloodingDisabled, "red1", RedUdp("10.1.1.8", "FF-FF-FF-FF-FF-FF"));
        yield return C(DropReason.NotForHost, "pnic0", Concat(Eth("02-00-00-00-01-99", RouterMac, 0x0800), Nvgre()[14..]));
        yield return C(DropReason.NoLocalPort, "red1", RedUdp("10.1.1.22"));
        yield return C(DropReason.NatSourceNotUnique, "red1", RedUdp("10.1.1.23"));
        yield return C(DropReason.NatNextHop, "red1", RedUdp("172.30.0.5", GatewayMac));
        yield return C(DropReason.NatNeighborDiscovery, "nat6", Concat(Eth("00-15-5D-00-07-02", Nat6Mac, 0x86DD),
            Icmpv6Of("2001:db8:7::1", "2001:db8:7::2", Concat([133, 0, 0, 0, 0, 0, 0, 0]), hopLimit: 255)));
        yield return C(DropReason.VmNeighborDiscovery, "nat6", Concat(Eth("33-33-00-00-00-01", Nat6Mac, 0x86DD),
            Icmpv6Of("2001:db8:7::1", "ff02::1", Concat([136, 0, 0, 0, 0x20, 0, 0, 0], Addr("2001:db8:7::1")), hopLimit: 255)));
        yield return C(DropReason.AclDeny, "red1", Concat(Eth(Red2Mac, RedMac, 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 17, UdpOf(1000, 9, new byte[8]))));
        yield return C(DropReason.DhcpMalformed, "red1", DhcpFrames.Frame(RedMac, DhcpFrames.Message(RedMac, op: 2, options: DhcpFrames.Usual(DhcpFrames.Type(1)))));
        yield return C(DropReason.DhcpRelease, "red1", DhcpFrames.Frame(RedMac, DhcpFrames.Message(RedMac, ciaddr: "10.1.1.7", options: DhcpFrames.Usual(DhcpFrames.Type(7))), src: "10.1.1.7"));
        yield return C(DropReason.DhcpDecline, "red1", DhcpFrames.Frame(RedMac, DhcpFrames.Message(RedMac, options: DhcpFrames.Usual(DhcpFrames.Type(4)))));
        // tx_full: see Tx_full_moves_only_its_counter (needs a full queue first).
    }

    [Test]
    public void The_crafted_frames_differ_from_delivered_ones_only_in_what_they_break()
    {
        var h = new ForwarderHarness(Config());
        Assert.That(h.Send("red1", RedUdp("10.1.1.8")), Has.Count.EqualTo(1), "plain encap");
        Assert.That(h.Send("red1", RedUdp("10.1.1.8", GatewayMac)), Has.Count.EqualTo(1), "routed encap");
        Assert.That(h.Send("pnic0", Nvgre()), Has.Count.EqualTo(1), "decap");
        Assert.That(h.Forwarder.Counters.TotalDrops, Is.EqualTo(0));
        Assert.That(h.Forwarder.Counters.Forwarded, Is.EqualTo(3));
    }

    [TestCaseSource(nameof(Producible))]
    public void One_frame_moves_exactly_its_counter(DropReason reason, string port, byte[] frame)
    {
        var h = new ForwarderHarness(Config());
        var c = h.Forwarder.Counters;
        long[] drops = (long[])c.Drops.Clone();
        long forwarded = c.Forwarded;
        long answered = c.Answered;

        var output = h.Send(port, frame);
        if (reason == DropReason.NeighborUnresolved)
        {
            // The frame waits while ARP asks for its next hop (the one frame that leaves); the
            // drop is counted when the wait ends unanswered.
            Assert.That(output, Has.Count.EqualTo(1), "an ARP request for the next hop");
            Assert.That(output[0].Port, Is.EqualTo(h.Port("pnic0")));
            Assert.That((output[0].Frame[12], output[0].Frame[13]), Is.EqualTo(((byte)0x08, (byte)0x06)));
            Assert.That(h.Forwarder.ParkedCount, Is.EqualTo(1));
            h.Forwarder.ExpireParked(long.MaxValue);
            output = [];
        }

        var expected = (long[])drops.Clone();
        expected[(int)reason]++;
        Assert.That(c.Drops, Is.EqualTo(expected), $"only {DropReasons.Name(reason)} moved");
        Assert.That((c.Forwarded, c.Answered), Is.EqualTo((forwarded, answered)), "neither forwarded nor answered");
        if (reason is DropReason.MtuExceeded or DropReason.TtlExpired)
        {
            // The frame is dropped; the ICMP "fragmentation needed" or "time exceeded" goes back to the sender.
            Assert.That(output, Has.Count.EqualTo(1));
            Assert.That(output[0].Port, Is.EqualTo(h.Port("red1")));
            Assert.That((output[0].Frame[14 + 20], output[0].Frame[14 + 21]), Is.EqualTo(reason == DropReason.MtuExceeded ? ((byte)3, (byte)4) : ((byte)11, (byte)0)));
        }
        else
        {
            Assert.That(output, Is.Empty, "a dropped frame leaves nowhere");
        }
    }

    [Test]
    public void Tx_full_moves_only_its_counter()
    {
        var config = Config();
        var fwd = new Forwarder(new PolicyStore(PolicySnapshot.Build(config)), new BufferPool(Forwarder.TxQueueCapacity + 8));
        byte[] frame = RedUdp("10.1.1.8");
        int red1 = fwd.Policy.FindPort("red1");
        fwd.BeginBatch();
        for (int i = 0; i < Forwarder.TxQueueCapacity; i++)
        {
            var b = fwd.Pool.Rent()!;
            b.TrySet(frame);
            fwd.Process(red1, b);
        }

        var c = fwd.Counters;
        Assert.That(c.Forwarded, Is.EqualTo(Forwarder.TxQueueCapacity));
        long[] drops = (long[])c.Drops.Clone();
        var last = fwd.Pool.Rent()!;
        last.TrySet(frame);
        fwd.Process(red1, last);

        drops[(int)DropReason.TxFull]++;
        Assert.That(c.Drops, Is.EqualTo(drops));
        Assert.That(c.Forwarded, Is.EqualTo(Forwarder.TxQueueCapacity));
        Assert.That(fwd.PendingTransmit(0).Length, Is.EqualTo(Forwarder.TxQueueCapacity));
        for (int p = 0; p < fwd.PortCount; p++)
        {
            fwd.CompleteTransmit(p);
        }

        Assert.That(fwd.Pool.Available, Is.EqualTo(fwd.Pool.Size), "every buffer back in the pool");
    }

    [Test]
    public void Every_reason_is_either_produced_above_or_listed_as_not_producible_yet()
    {
        // pool_exhausted, no_flood_target: FloodingTests (they need a VSID that floods);
        // policy_changed, bad_neighbor_answer: NeighborResolutionTests (a frame waits for its next hop first).
        var covered = Producible().Select(t => (DropReason)t.Arguments[0]!).Append(DropReason.TxFull)
            .Append(DropReason.PoolExhausted).Append(DropReason.NoFloodTarget).Append(DropReason.PolicyChanged).Append(DropReason.BadNeighborAnswer).ToHashSet();
        Assert.That(covered.Intersect(NotProducibleYet), Is.Empty);
        Assert.That(DropReasons.All.Except(covered).Except(NotProducibleYet), Is.Empty,
            "a new DropReason needs a crafted frame here (or an entry in NotProducibleYet saying why not)");
    }
}
