using System.Text.Json.Nodes;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Policy;

/// <summary>One GatewayWildcard record per routing domain and address family (the dataplane kept the first and silently ignored any other).</summary>
public partial class ConfigLoaderTests
{
    /// <summary>The golden external-gateway configuration (Red: VSIDs 5001 and 5099, whose GatewayWildcard records are $.lookupRecords[5] and [9]; Blue: VSID 6001) with <paramref name="records"/> appended.</summary>
    internal static string ExternalGatewayWith(params string[] records)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Captures, "external-gateway", "config.json")))!.AsObject();
        var list = config["lookupRecords"]!.AsArray();
        foreach (string record in records)
        {
            list.Add(JsonNode.Parse(record));
        }

        return config.ToJsonString();
    }

    private static string Wildcard(string ca, uint vsid, string mac = "02-00-00-00-EE-02") =>
        $$"""{ "customerAddress": "{{ca}}", "virtualSubnetId": {{vsid}}, "macAddress": "{{mac}}", "providerAddress": "192.168.1.10", "type": "GatewayWildcard" }""";

    [Test]
    public void A_second_gateway_wildcard_of_a_routing_domain_and_family_is_refused_naming_both_entries()
    {
        var result = ConfigLoader.Load(ExternalGatewayWith(Wildcard("0.0.0.0", 5001), Wildcard("::", 5001)));
        Assert.That(result.Problems.Select(p => p.ToString()), Is.EqualTo(new[]
        {
            "$.lookupRecords[10].type: a second IPv4 GatewayWildcard record of routing domain {11111111-2222-3333-4444-000000000000}: $.lookupRecords[5] (virtual subnet 5099) is already its gateway, here in virtual subnet 5001; one gateway per routing domain and address family: remove one, or route through the other's gateway CA",
            "$.lookupRecords[11].type: a second IPv6 GatewayWildcard record of routing domain {11111111-2222-3333-4444-000000000000}: $.lookupRecords[9] (virtual subnet 5099) is already its gateway, here in virtual subnet 5001; one gateway per routing domain and address family: remove one, or route through the other's gateway CA",
        }));
    }

    [Test]
    public void Gateway_wildcards_of_other_routing_domains_and_of_vsids_without_one_are_accepted()
    {
        // Blue (VSID 6001) may have its own gateway; VSIDs 7001 and 7002 have no customer route,
        // so no routing domain, and their wildcard records serve nothing.
        var result = ConfigLoader.Load(ExternalGatewayWith(Wildcard("0.0.0.0", 6001), Wildcard("::", 6001), Wildcard("0.0.0.0", 7001), Wildcard("0.0.0.0", 7002)));
        Assert.That(result.Problems, Is.Empty);
    }
}
