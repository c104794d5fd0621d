using NvDataplane.Policy;

namespace NvDataplane.Tests.Policy;

/// <summary>No record at a gateway address of its VSID: SPEC gives that address to the dataplane, and HNV reserves it.</summary>
public partial class ConfigLoaderTests
{
    private static string SpecExampleWith(string records, string routes = "")
    {
        string json = SpecExample.Replace("\"lookupRecords\": [", "\"lookupRecords\": [ " + records + ",", StringComparison.Ordinal);
        return routes.Length == 0 ? json : json.Replace("\"customerRoutes\": [", "\"customerRoutes\": [ " + routes + ",", StringComparison.Ordinal);
    }

    private static string VmRecord(string ca, uint vsid, string rule = "TranslationMethodEncap", string mac = "00-15-5D-00-00-09") =>
        $$"""{ "customerAddress": "{{ca}}", "virtualSubnetId": {{vsid}}, "macAddress": "{{mac}}", "providerAddress": "192.168.1.12", "rule": "{{rule}}" }""";

    [Test]
    public void A_record_at_the_gateway_address_of_an_on_link_route_of_its_vsid_is_refused()
    {
        var result = ConfigLoader.Load(SpecExampleWith(VmRecord("10.1.1.1", 5001)));

        Assert.That(result.Problems.Select(p => p.ToString()), Is.EqualTo(new[]
        {
            "$.lookupRecords[0].customerAddress: 10.1.1.1 is the gateway address of 10.1.1.0/24 in virtual subnet 5001 (the lowest address of an on-link customer route), which the dataplane owns and answers for; no VM may have it, as in HNV: give the VM another address of the subnet, or, when the on-link route is the newer change, leave it out",
        }));
    }

    [Test]
    public void An_ipv6_or_nat_record_at_a_gateway_address_is_refused_alike()
    {
        // The golden external-gateway policy: Red's VSID 5001 has 10.1.1.0/24 and 2001:db8:1::/64 on link.
        var result = ConfigLoader.Load(ExternalGatewayWith(
            """{ "customerAddress": "2001:db8:1::1", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-09", "providerAddress": "192.168.1.12" }""",
            """{ "customerAddress": "10.1.1.1", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-0A", "providerAddress": "192.168.1.77", "rule": "TranslationMethodNat" }"""));

        Assert.That(result.Problems.Select(p => p.Path + " " + p.Message[..p.Message.IndexOf(" (", StringComparison.Ordinal)]), Is.EqualTo(new[]
        {
            "$.lookupRecords[10].customerAddress 2001:db8:1::1 is the gateway address of 2001:db8:1::/64 in virtual subnet 5001",
            "$.lookupRecords[11].customerAddress 10.1.1.1 is the gateway address of 10.1.1.0/24 in virtual subnet 5001",
        }));
    }

    [Test]
    public void The_same_address_elsewhere_is_accepted()
    {
        // Another VSID without that route; a routed (not on-link) prefix, whose .1 is a VM like
        // any other; an on-link /31 and /32, which have no room for a gateway address; the
        // subnet's second address.
        var result = ConfigLoader.Load(SpecExampleWith(
            string.Join(", ", VmRecord("10.1.1.1", 5002), VmRecord("10.9.0.1", 5001, mac: "00-15-5D-00-00-0A"), VmRecord("10.8.0.1", 5001, mac: "00-15-5D-00-00-0B"),
                VmRecord("10.8.1.1", 5001, mac: "00-15-5D-00-00-0C"), VmRecord("10.1.1.2", 5001, mac: "00-15-5D-00-00-0D")),
            """
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.9.0.0/24", "nextHop": "10.1.1.8" },
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.8.0.0/31", "nextHop": "0.0.0.0" },
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.8.1.1/32", "nextHop": "0.0.0.0" }
            """));

        Assert.That(result.Problems, Is.Empty);
    }
}
