using System.Text.Json.Nodes;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Policy;

/// <summary>The <c>virtualSubnets</c> section: per-VSID settings (flooding), validated like the rest of the file.</summary>
public partial class ConfigLoaderTests
{
    private static JsonArray Subnets(params string[] entries) => JsonNode.Parse("[" + string.Join(",", entries) + "]")!.AsArray();

    [Test]
    public void Virtual_subnets_load_with_flooding_off_unless_given()
    {
        var result = LoadSpecWith(c => c["virtualSubnets"] = Subnets("""{ "virtualSubnetId": 5001, "flooding": true }""", """{ "virtualSubnetId": 6001 }"""));

        Assert.That(result.Problems, Is.Empty);
        Assert.That(result.Config!.VirtualSubnets, Is.EqualTo(new[] { new VirtualSubnetConfig(5001, true), new VirtualSubnetConfig(6001, false) }));
    }

    [Test]
    public void Without_virtual_subnets_no_vsid_floods()
    {
        Assert.That(ConfigLoader.Load(SpecExample).Config!.VirtualSubnets, Is.Empty);
    }

    [Test]
    public void A_vsid_named_only_by_a_customer_route_is_known()
    {
        var result = LoadSpecWith(c =>
        {
            c["customerRoutes"]![0]!["virtualSubnetId"] = 5002;
            c["virtualSubnets"] = Subnets("""{ "virtualSubnetId": 5002, "flooding": true }""");
        });

        Assert.That(result.Problems, Is.Empty);
    }

    [TestCase("""{ "virtualSubnetId": 7001, "flooding": true }""", "[0].virtualSubnetId",
        "7001 is not the virtual subnet of any port, lookup record or customer route; use one of: 5001, 6001")]
    [TestCase("""{ "virtualSubnetId": 5001, "flooding": true }, { "virtualSubnetId": 5001 }""", "[1].virtualSubnetId",
        "5001 is already given by $.virtualSubnets[0]; each virtual subnet appears once")]
    [TestCase("""{ "virtualSubnetId": 42, "flooding": true }""", "[0].virtualSubnetId", "42 is reserved; use 4096..16777214")]
    [TestCase("""{ "virtualSubnetId": 16777215 }""", "[0].virtualSubnetId", "16777215 is reserved; use 4096..16777214")]
    [TestCase("""{ "virtualSubnetId": 16777216 }""", "[0].virtualSubnetId", "16777216 is out of range (a VSID is 24 bits); use 4096..16777214")]
    [TestCase("""{ "virtualSubnetId": 5001, "floding": true }""", "[0].floding",
        "unknown field; did you mean \"flooding\"? valid fields are virtualSubnetId, flooding")]
    public void A_bad_entry_is_reported_at_its_path_with_what_would_be_valid(string entries, string path, string message)
    {
        var problem = SingleProblem(c => c["virtualSubnets"] = Subnets(entries), "$.virtualSubnets" + path);

        Assert.That(problem.Message, Is.EqualTo(message));
    }

    [Test]
    public void Flooding_must_be_a_boolean_and_the_vsid_is_required()
    {
        var problems = Problems(c => c["virtualSubnets"] = Subnets("""{ "flooding": "yes" }"""));

        Assert.That(problems.Select(p => p.ToString()), Is.EqualTo(new[]
        {
            "$.virtualSubnets[0].flooding: expected true or false, got the string \"yes\"",
            "$.virtualSubnets[0].virtualSubnetId: is required; give an integer in 4096..16777214",
        }));
    }

    [Test]
    public void A_vsid_only_a_broken_record_names_is_not_reported_twice()
    {
        // The record's own problem is the one to fix; its VSID may well be the one named here.
        var problem = SingleProblem(
            c =>
            {
                Record(c, 1)["virtualSubnetId"] = 7001;
                Record(c, 1)["macAddress"] = "not a mac";
                c["virtualSubnets"] = Subnets("""{ "virtualSubnetId": 7001, "flooding": true }""");
            },
            "$.lookupRecords[1].macAddress");

        Assert.That(problem.Message, Does.StartWith("\"not a mac\" is not a MAC address"));
    }

    [Test]
    public void The_section_must_be_an_array_of_objects()
    {
        var problem = SingleProblem(c => c["virtualSubnets"] = new JsonObject(), "$.virtualSubnets");

        Assert.That(problem.Message, Is.EqualTo("expected an array of objects, got an object"));
    }
}
