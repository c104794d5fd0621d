using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// A unicast destination the sender's VSID has no record of is `isolation` when the CA has a
/// record in another routing domain (FORWARDING 1.10), else `no_lookup_record` — whatever the
/// order of the records: 10.1.2.7 has one in Red's VSID 5002 and one in Blue's 6002, and Red's
/// red1 asking for it must be told isolation with either record first.
/// </summary>
public class MissClassificationTests
{
    private const string Red1Mac = "00-15-5D-00-00-01";

    private static string Config(bool blueFirst)
    {
        string red = """{ "customerAddress": "10.1.2.7", "virtualSubnetId": 5002, "macAddress": "00-15-5D-00-02-07", "providerAddress": "192.168.1.11" }""";
        string blue = """{ "customerAddress": "10.1.2.7", "virtualSubnetId": 6002, "macAddress": "00-15-5D-00-06-07", "providerAddress": "192.168.1.11" }""";
        return $$"""
            {
              "host": { "name": "hv1" },
              "ports": [
                { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A" },
                { "name": "red1", "role": "vm", "macAddress": "{{Red1Mac}}", "virtualSubnetId": 5001 }
              ],
              "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
              "providerNeighbors": [ { "address": "192.168.1.11", "macAddress": "02-00-00-00-01-0B" } ],
              "lookupRecords": [
                { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "{{Red1Mac}}", "providerAddress": "192.168.1.10" },
                {{(blueFirst ? blue : red)}},
                {{(blueFirst ? red : blue)}},
                { "customerAddress": "10.1.2.8", "virtualSubnetId": 5002, "macAddress": "00-15-5D-00-02-08", "providerAddress": "192.168.1.11" }
              ],
              "customerRoutes": [
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" },
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5002, "destinationPrefix": "10.1.2.0/24", "nextHop": "0.0.0.0" },
                { "routingDomainId": "{22222222-2222-3333-4444-000000000000}", "virtualSubnetId": 6002, "destinationPrefix": "10.1.2.0/24", "nextHop": "0.0.0.0" }
              ]
            }
            """;
    }

    private static byte[] FromRed1(string destination) =>
        Concat(Eth("00-15-5D-00-02-07", Red1Mac, 0x0800), Ipv4Of("10.1.1.7", destination, 17, UdpOf(1, 2, new byte[8])));

    [TestCase(false, TestName = "A CA with a record in another routing domain is isolation with the same domain's record first")]
    [TestCase(true, TestName = "A CA with a record in another routing domain is isolation with the other domain's record first")]
    public void A_miss_is_isolation_whatever_the_record_order(bool blueFirst)
    {
        var loaded = ConfigLoader.Load(Config(blueFirst));
        Assert.That(loaded.Problems, Is.Empty);
        var h = new ForwarderHarness(loaded.Config!);
        Assert.That(h.Send("red1", FromRed1("10.1.2.7")), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.Isolation), Is.EqualTo(1));
        Assert.That(h.Send("red1", FromRed1("10.1.2.8")), Is.Empty, "a CA of Red's other VSID only");
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.EqualTo(1));

        var trace = PacketTracer.Trace(h.Forwarder.Policy, "red1", FromRed1("10.1.2.7"));
        Assert.That(trace.Explained.DropReason, Is.EqualTo("isolation"));
        Assert.That(trace.Steps.Any(s => s.Text.Contains("VSID 6002 has one")), Is.True, "names Blue's VSID");
        Assert.That(trace.Agrees, Is.True);
    }

    [Test]
    public void A_version_whose_routes_join_the_two_vsids_in_one_domain_sees_no_other_tenant()
    {
        // The same records, index by index, share the CA tables with the version before; the
        // routes now put VSID 6002 in Red's domain, so 10.1.2.7 is no other tenant's any more.
        var before = ConfigLoader.Load(Config(blueFirst: false)).Config!;
        var first = PolicySnapshot.Build(before);
        var joined = before with
        {
            CustomerRoutes = [.. before.CustomerRoutes.Select(r => r.VirtualSubnetId == 6002 ? r with { RoutingDomainId = before.CustomerRoutes[0].RoutingDomainId, DestinationPrefix = IpPrefix.Parse("10.1.6.0/24") } : r)],
        };
        var h = new ForwarderHarness(new PolicyStore(PolicySnapshot.Build(joined, 2, first)));
        Assert.That(h.Send("red1", FromRed1("10.1.2.7")), Is.Empty);
        Assert.That(h.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.EqualTo(1));
        Assert.That(h.Forwarder.Counters.Drop(DropReason.Isolation), Is.Zero);
    }
}
