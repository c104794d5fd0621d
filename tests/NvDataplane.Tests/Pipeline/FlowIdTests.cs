using System.Buffers.Binary;
using NvDataplane.Headers;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// SPEC section 4: the GRE key is VSID &lt;&lt; 8 | FlowID, the FlowID is the same for every packet of
/// a flow and spread over the 256 values across flows; the outer IPv6 flow label likewise.
/// Everything goes through the Forwarder and is read back from the emitted bytes.
/// </summary>
public class FlowIdTests
{
    private const string VmMac = "00-15-5D-00-00-01";
    private const string AnyRemoteMac = "00-15-5D-10-00-05";
    private const int Flows = 10_000;

    private static string RemoteCa(int i) => SyntheticTraffic.RemoteCa(i).ToString();

    private static byte[] Frame(string dst, byte protocol, ushort sport, ushort dport, int payload, byte ttl, byte fill, byte tos = 0)
    {
        var data = Enumerable.Repeat(fill, payload).ToArray();
        byte[] l4 = protocol == 6 ? TcpOf(sport, dport, data) : UdpOf(sport, dport, data);
        return Concat(Eth(AnyRemoteMac, VmMac, 0x0800), Ipv4Of("10.0.0.7", dst, protocol, l4, ttl: ttl, tos: tos));
    }

    /// <summary>An IPv6 PA host: local PA 2001:db8:ffff::10/64, remote PAs 2001:db8:aaaa::N behind a provider router.</summary>
    private static HostConfig Ipv6PaConfig(int records)
    {
        var v4 = SyntheticTraffic.BuildConfig(TrafficScenario.Encap, records);
        var localPa = IpAddr.Parse("2001:db8:ffff::10");
        var router = IpAddr.Parse("2001:db8:ffff::1");
        var remoteBase = IpAddr.Parse("2001:db8:aaaa::100");
        var lookup = v4.LookupRecords
            .Select((r, i) => r with { ProviderAddress = i == 0 ? localPa : remoteBase.Add((ulong)(i % 64)) })
            .ToList();
        return v4 with
        {
            ProviderAddresses = [new ProviderAddressConfig(localPa, 64, 0, "pnic0")],
            ProviderRoutes = [new ProviderRouteConfig(IpPrefix.Parse("::/0"), router, 0)],
            ProviderNeighbors = [new ProviderNeighborConfig(router, MacAddress.Parse("02-00-00-00-01-01"))],
            LookupRecords = lookup,
        };
    }

    private static (ForwarderHarness H, int Vm, int Pnic) Setup(HostConfig config)
    {
        var h = new ForwarderHarness(config);
        return (h, h.Port("vm"), h.Port("pnic0"));
    }

    /// <summary>Sends one frame and returns the GRE key and (for IPv6) the outer flow label of the one frame emitted on the provider port.</summary>
    private static (uint Key, uint FlowLabel) Encapsulate(ForwarderHarness h, int vm, int pnic, byte[] frame)
    {
        var output = h.Send(vm, frame);
        Assert.That(output, Has.Count.EqualTo(1), "one encapsulated frame");
        Assert.That(output[0].Port, Is.EqualTo(pnic));
        byte[] f = output[0].Frame;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12));
        int gre = type == 0x86DD ? 14 + 40 : 14 + 20;
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(gre)), Is.EqualTo(0x2000_6558u), "NVGRE header");
        uint label = type == 0x86DD ? BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(14)) & 0xFFFFF : 0;
        return (BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(gre + 4)), label);
    }

    private static IEnumerable<byte[]> OneFlow(byte protocol)
    {
        var rng = new Random(protocol);
        for (int i = 0; i < 200; i++)
        {
            yield return Frame(RemoteCa(5), protocol, 40000, 443, rng.Next(0, 1400), (byte)rng.Next(1, 256), (byte)rng.Next(256), (byte)(rng.Next(64) << 2));
        }
    }

    [TestCase((byte)17)]
    [TestCase((byte)6)]
    public void FlowId_is_constant_within_a_flow_and_key_carries_the_vsid(byte protocol)
    {
        var (h, vm, pnic) = Setup(SyntheticTraffic.BuildConfig(TrafficScenario.Encap, 1000));
        var keys = OneFlow(protocol).Select(f => Encapsulate(h, vm, pnic, f).Key).ToList();
        Assert.That(keys.Select(k => k >> 8), Has.All.EqualTo(SyntheticTraffic.Vsid), "upper 24 bits = VSID");
        Assert.That(keys.Select(k => k & 0xFF).Distinct().Count(), Is.EqualTo(1), "one FlowID for the whole flow");
    }

    [TestCase((byte)17)]
    [TestCase((byte)6)]
    public void Outer_ipv6_flow_label_and_flow_id_are_constant_within_a_flow(byte protocol)
    {
        var (h, vm, pnic) = Setup(Ipv6PaConfig(1000));
        var results = OneFlow(protocol).Select(f => Encapsulate(h, vm, pnic, f)).ToList();
        Assert.That(results.Select(r => r.Key >> 8), Has.All.EqualTo(SyntheticTraffic.Vsid));
        Assert.That(results.Select(r => r.Key & 0xFF).Distinct().Count(), Is.EqualTo(1), "one FlowID");
        Assert.That(results.Select(r => r.FlowLabel).Distinct().Count(), Is.EqualTo(1), "one flow label");
    }

    private static IEnumerable<byte[]> DistinctFlows()
    {
        var rng = new Random(6437);
        var seen = new HashSet<(int, int, int)>();
        while (seen.Count < Flows)
        {
            var flow = (rng.Next(1000), rng.Next(1024, 65536), rng.Next(1, 65536));
            if (seen.Add(flow))
            {
                yield return Frame(RemoteCa(flow.Item1), 17, (ushort)flow.Item2, (ushort)flow.Item3, 16, 64, 0);
            }
        }
    }

    [Test]
    public void FlowId_spreads_over_the_256_values()
    {
        var (h, vm, pnic) = Setup(SyntheticTraffic.BuildConfig(TrafficScenario.Encap, 1000));
        var counts = new int[256];
        foreach (var f in DistinctFlows())
        {
            uint key = Encapsulate(h, vm, pnic, f).Key;
            Assert.That(key >> 8, Is.EqualTo(SyntheticTraffic.Vsid));
            counts[key & 0xFF]++;
        }

        Assert.That(counts.Count(c => c > 0), Is.GreaterThanOrEqualTo(200), "FlowID values used by 10,000 flows");
        Assert.That(counts.Max(), Is.LessThan(Flows / 256 * 3), "no FlowID takes a lion's share");
    }

    [Test]
    public void Outer_ipv6_flow_label_and_flow_id_spread_across_flows()
    {
        var (h, vm, pnic) = Setup(Ipv6PaConfig(1000));
        var ids = new HashSet<uint>();
        var labels = new HashSet<uint>();
        foreach (var f in DistinctFlows())
        {
            var (key, label) = Encapsulate(h, vm, pnic, f);
            ids.Add(key & 0xFF);
            labels.Add(label);
        }

        Assert.That(ids, Has.Count.GreaterThanOrEqualTo(200), "FlowID values");
        // 10,000 flows in 2^20 labels: about 50 birthday collisions are expected.
        Assert.That(labels, Has.Count.GreaterThanOrEqualTo(9_500), "distinct flow labels");
    }
}
