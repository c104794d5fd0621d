using System.Text;
using NvDataplane.Policy;
using NvDataplane.Policy.Sources;

namespace NvDataplane.Tests.Policy.Sources;

/// <summary>The key layout under the prefix: which keys hold which entries, and what keeps a value out.</summary>
public class EtcdKeyLayoutTests
{
    private const string Prefix = "/nvdp";
    private const string Red7 = """{ "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10" }""";

    private static EtcdEntry Parse(string key, string value) => EtcdKeyLayout.Parse(Prefix, key, Encoding.UTF8.GetBytes(value));

    [Test]
    public void A_record_under_its_vsid_and_ca_is_a_lookup_record()
    {
        var e = Parse(EtcdKeyLayout.LookupRecordKey(Prefix, 5001, "10.1.1.7"), Red7);

        Assert.That(e.Problem, Is.Null);
        Assert.That(e.Section, Is.EqualTo(PolicySection.LookupRecords));
        Assert.That(e.Entry.GetProperty("providerAddress").GetString(), Is.EqualTo("192.168.1.10"));
    }

    [Test]
    public void A_route_under_any_name_is_a_customer_route()
    {
        var e = Parse(EtcdKeyLayout.CustomerRouteKey(Prefix, "red-onlink"), """{ "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }""");

        Assert.That(e.Problem, Is.Null);
        Assert.That(e.Section, Is.EqualTo(PolicySection.CustomerRoutes));
    }

    [Test]
    public void An_l2only_record_is_keyed_by_its_mac_too()
    {
        string value = """{ "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-20", "providerAddress": "192.168.1.10", "type": "L2Only" }""";

        Assert.That(Parse("/nvdp/lookupRecords/5001/0.0.0.0/00:15:5d:00:00:20", value).Problem, Is.Null);
        Assert.That(Parse("/nvdp/lookupRecords/5001/0.0.0.0", value).Problem, Is.EqualTo(
            "an L2Only record shares its wildcard CA with the VSID's other L2Only records, so its key ends with its MAC: lookupRecords/VSID/CA/MAC"));
        Assert.That(Parse("/nvdp/lookupRecords/5001/0.0.0.0/00-15-5D-00-00-21", value).Problem, Is.EqualTo(
            "the key's MAC segment \"00-15-5D-00-00-21\" is not the value's macAddress; an L2Only record lives under lookupRecords/VSID/CA/ITS-MAC"));
    }

    [TestCase("/nvdp/providerRoutes/default", Red7, "the key is outside the layout; use /nvdp/lookupRecords/VSID/CA (an L2Only record /nvdp/lookupRecords/VSID/CA/MAC) or /nvdp/customerRoutes/NAME")]
    [TestCase("/nvdp/lookupRecords/5001", Red7, "the key is outside the layout; use /nvdp/lookupRecords/VSID/CA (an L2Only record /nvdp/lookupRecords/VSID/CA/MAC) or /nvdp/customerRoutes/NAME")]
    [TestCase("/nvdp/customerRoutes/", "{}", "the key is outside the layout; use /nvdp/lookupRecords/VSID/CA (an L2Only record /nvdp/lookupRecords/VSID/CA/MAC) or /nvdp/customerRoutes/NAME")]
    [TestCase("/nvdp/lookupRecords/5001/10.1.1.7", "{ \"customerAddress\": ", "the value is not JSON (byte 22 of line 1); write the lookup record as a JSON object with the fields of $.lookupRecords[]")]
    [TestCase("/nvdp/lookupRecords/5001/10.1.1.7", "[1, 2]", "the value is an array; a lookup record is a JSON object with the fields of $.lookupRecords[]")]
    [TestCase("/nvdp/lookupRecords/red/10.1.1.7", Red7, "the key's VSID segment \"red\" is not a number; use lookupRecords/VSID/CA")]
    [TestCase("/nvdp/lookupRecords/5001/host7", Red7, "the key's CA segment \"host7\" is not an IP address; use lookupRecords/VSID/CA")]
    [TestCase("/nvdp/lookupRecords/6001/10.1.1.7", Red7, "the value's virtualSubnetId 5001 is not the key's VSID 6001; a record lives under lookupRecords/ITS-VSID/ITS-CA")]
    [TestCase("/nvdp/lookupRecords/5001/10.1.1.8", Red7, "the value's customerAddress 10.1.1.7 is not the key's CA 10.1.1.8; a record lives under lookupRecords/ITS-VSID/ITS-CA")]
    [TestCase("/nvdp/lookupRecords/5001/10.1.1.7/00-15-5D-00-00-01", Red7, "only an L2Only record takes a MAC segment after its CA; use lookupRecords/VSID/CA")]
    public void A_value_that_does_not_belong_under_its_key_says_why(string key, string value, string problem)
    {
        Assert.That(Parse(key, value).Problem, Is.EqualTo(problem));
    }

    [Test]
    public void A_value_that_is_not_utf8_is_refused()
    {
        var e = EtcdKeyLayout.Parse(Prefix, "/nvdp/lookupRecords/5001/10.1.1.7", [0x7b, 0xff, 0x7d]);

        Assert.That(e.Problem, Is.EqualTo("the value is not UTF-8 text; write a JSON object"));
    }

    [Test]
    public void Ipv6_cas_are_compared_by_value()
    {
        string value = """{ "customerAddress": "2001:DB8::7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10" }""";

        Assert.That(Parse("/nvdp/lookupRecords/5001/2001:db8:0::7", value).Problem, Is.Null);
    }
}
