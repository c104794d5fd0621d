using System.Text.Json.Nodes;
using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Policy;

// The `acls` section: the typed model, defaults, and one case per kind of bad rule, each with
// its JSON path and the message saying what would be valid. The spec example's VSIDs are 5001
// (port red1, records, route) and 6001 (port blue1).
public partial class ConfigLoaderTests
{
    [Test]
    public void Acls_load_into_the_typed_model_with_defaults()
    {
        var result = LoadSpecWith(c => c["acls"] = JsonNode.Parse("""
            [
              { "virtualSubnetId": 5001, "priority": 100, "direction": "inbound", "protocol": "tcp",
                "sourcePrefix": "10.1.1.0/24", "destinationPrefix": "10.1.1.7/32", "sourcePorts": "1024-65535",
                "destinationPorts": "22", "action": "deny", "name": "no-ssh" },
              { "virtualSubnetId": 6001, "priority": 0, "direction": "Both", "action": "ALLOW" },
              { "virtualSubnetId": 5001, "priority": 65535, "direction": "outbound", "protocol": 17,
                "destinationPrefix": "2001:db8::/32", "destinationPorts": 53, "sourcePorts": " 5 - 7 ", "action": "allow" },
              { "virtualSubnetId": 5001, "priority": 7, "direction": "outbound", "protocol": "ICMPv6", "action": "deny" }
            ]
            """));

        Assert.That(result.Problems, Is.Empty);
        Assert.That(result.Config!.Acls, Is.EqualTo(new[]
        {
            new AclRuleConfig(5001, 100, AclDirection.Inbound, IpProtocol.Tcp, IpPrefix.Parse("10.1.1.0/24"), IpPrefix.Parse("10.1.1.7/32"),
                new PortRange(1024, 65535), new PortRange(22, 22), AclAction.Deny, "no-ssh"),
            new AclRuleConfig(6001, 0, AclDirection.Both, null, null, null, PortRange.All, PortRange.All, AclAction.Allow),
            new AclRuleConfig(5001, 65535, AclDirection.Outbound, IpProtocol.Udp, null, IpPrefix.Parse("2001:db8::/32"),
                new PortRange(5, 7), new PortRange(53, 53), AclAction.Allow),
            new AclRuleConfig(5001, 7, AclDirection.Outbound, IpProtocol.Icmpv6, null, null, PortRange.All, PortRange.All, AclAction.Deny),
        }));
    }

    [Test]
    public void Acl_naming_a_vsid_nothing_else_uses_lists_the_known_ones()
    {
        var problem = SingleProblem(c => Acls(c, """{ "virtualSubnetId": 7777, "priority": 1, "direction": "both", "action": "deny" }"""),
            "$.acls[0].virtualSubnetId");

        Assert.That(problem.Message, Is.EqualTo("7777 is not the virtual subnet of any port, lookup record or customer route; use one of: 5001, 6001"));
    }

    [Test]
    public void Acl_vsid_is_known_from_a_lookup_record_alone()
    {
        var result = LoadSpecWith(c =>
        {
            Record(c, 1)["virtualSubnetId"] = 7001;
            Acls(c, """{ "virtualSubnetId": 7001, "priority": 1, "direction": "both", "action": "deny" }""");
        });

        Assert.That(result.Problems, Is.Empty);
    }

    [Test]
    public void Acl_vsid_is_not_judged_while_a_record_that_might_name_it_is_broken()
    {
        var problems = Problems(c =>
        {
            Record(c, 1)["virtualSubnetId"] = 7001;
            Record(c, 1)["macAddress"] = "nonsense";
            Acls(c, """{ "virtualSubnetId": 7001, "priority": 1, "direction": "both", "action": "deny" }""");
        });

        Assert.That(problems.Select(p => p.Path), Is.EqualTo(new[] { "$.lookupRecords[1].macAddress" }));
    }

    [Test]
    public void Acl_vsid_must_not_be_reserved()
    {
        var problem = SingleProblem(c => Acls(c, """{ "virtualSubnetId": 100, "priority": 1, "direction": "both", "action": "deny" }"""),
            "$.acls[0].virtualSubnetId");

        Assert.That(problem.Message, Is.EqualTo("100 is reserved; use 4096..16777214"));
    }

    [TestCase("sourcePrefix", "10.1.1.0", "\"10.1.1.0\" has no prefix length")]
    [TestCase("sourcePrefix", "10.1.1.5/24", "\"10.1.1.5/24\" has host bits set; use 10.1.1.0/24")]
    [TestCase("destinationPrefix", "10.1.1.0/33", "\"10.1.1.0/33\" has a bad prefix length; use 0..32")]
    [TestCase("destinationPrefix", "any", "\"any\" has no prefix length")]
    public void Acl_prefix_must_be_a_cidr_prefix(string field, string prefix, string meaning)
    {
        var problem = SingleProblem(c => Acls(c, $$"""{ "virtualSubnetId": 5001, "priority": 1, "direction": "both", "action": "deny", "{{field}}": "{{prefix}}" }"""),
            "$.acls[0]." + field);

        Assert.That(problem.Message, Does.StartWith(meaning));
    }

    [Test]
    public void Acl_prefixes_of_two_families_are_reported_at_the_destination()
    {
        var problem = SingleProblem(
            c => Acls(c, """{ "virtualSubnetId": 5001, "priority": 1, "direction": "both", "action": "deny", "sourcePrefix": "10.1.1.0/24", "destinationPrefix": "2001:db8::/64" }"""),
            "$.acls[0].destinationPrefix");

        Assert.That(problem.Message, Is.EqualTo("2001:db8::/64 is IPv6 but the source prefix 10.1.1.0/24 is IPv4; a rule matches one address family, so use prefixes of one family (or two rules)"));
    }

    [TestCase("icmp", "2001:db8::/64", "icmp is ICMP for IPv4 but the rule's prefixes are IPv6 (2001:db8::/64); use icmpv6")]
    [TestCase("icmpv6", "10.1.1.0/24", "icmpv6 is ICMP for IPv6 but the rule's prefixes are IPv4 (10.1.1.0/24); use icmp")]
    public void Acl_icmp_flavour_must_match_the_prefix_family(string protocol, string prefix, string message)
    {
        var problem = SingleProblem(
            c => Acls(c, $$"""{ "virtualSubnetId": 5001, "priority": 1, "direction": "both", "action": "deny", "protocol": "{{protocol}}", "sourcePrefix": "{{prefix}}" }"""),
            "$.acls[0].protocol");

        Assert.That(problem.Message, Is.EqualTo(message));
    }

    [TestCase("\"icmp\"", "sourcePorts", "ports apply to tcp and udp only, and the rule's protocol is icmp; remove sourcePorts or set protocol to tcp or udp")]
    [TestCase("47", "destinationPorts", "ports apply to tcp and udp only, and the rule's protocol is 47; remove destinationPorts or set protocol to tcp or udp")]
    [TestCase("null", "destinationPorts", "ports apply to tcp and udp only, and the rule's protocol is any (the default); remove destinationPorts or set protocol to tcp or udp")]
    public void Acl_ports_need_tcp_or_udp(string protocol, string field, string message)
    {
        var problem = SingleProblem(
            c => Acls(c, $$"""{ "virtualSubnetId": 5001, "priority": 1, "direction": "both", "action": "deny", "protocol": {{protocol}}, "{{field}}": "22" }"""),
            "$.acls[0]." + field);

        Assert.That(problem.Message, Is.EqualTo(message));
    }

    [TestCase("\"1024-80\"", "\"1024-80\" runs backwards; write the low port first: \"80-1024\"")]
    [TestCase("\"1-70000\"", "\"1-70000\" is out of range; ports are 0..65535")]
    [TestCase("70000", "70000 is out of range; use 0..65535")]
    [TestCase("-1", "-1 is out of range; use 0..65535")]
    [TestCase("\"ssh\"", "\"ssh\" is not a port or port range; use a port 0..65535 or a range such as \"1024-65535\"")]
    [TestCase("\"22-\"", "\"22-\" is not a port or port range; use a port 0..65535 or a range such as \"1024-65535\"")]
    [TestCase("\"1-2-3\"", "\"1-2-3\" is not a port or port range; use a port 0..65535 or a range such as \"1024-65535\"")]
    [TestCase("[22]", "expected a port 0..65535 or a range such as \"1024-65535\", got an array")]
    public void Acl_ports_are_a_port_or_a_low_to_high_range(string ports, string message)
    {
        var problem = SingleProblem(
            c => Acls(c, $$"""{ "virtualSubnetId": 5001, "priority": 1, "direction": "both", "action": "deny", "protocol": "tcp", "destinationPorts": {{ports}} }"""),
            "$.acls[0].destinationPorts");

        Assert.That(problem.Message, Is.EqualTo(message));
    }

    [TestCase("direction", "\"in\"", "\"in\" is not valid; use inbound, outbound or both")]
    [TestCase("action", "\"drop\"", "\"drop\" is not valid; use allow or deny")]
    [TestCase("protocol", "\"sctp\"", "\"sctp\" is not valid; use tcp, udp, icmp, icmpv6, any or a protocol number 0..255")]
    [TestCase("protocol", "256", "256 is out of range; use 0..255")]
    [TestCase("priority", "65536", "65536 is out of range; use 0..65535")]
    [TestCase("priority", "\"high\"", "expected an integer in 0..65535, got the string \"high\"")]
    public void Acl_choices_and_numbers_say_what_is_valid(string field, string value, string message)
    {
        var problem = SingleProblem(
            c =>
            {
                var rule = JsonNode.Parse("""{ "virtualSubnetId": 5001, "priority": 1, "direction": "both", "action": "deny" }""")!.AsObject();
                rule[field] = JsonNode.Parse(value);
                c["acls"] = new JsonArray(rule);
            },
            "$.acls[0]." + field);

        Assert.That(problem.Message, Is.EqualTo(message));
    }

    [Test]
    public void Acl_needs_vsid_priority_direction_and_action()
    {
        var problems = Problems(c => Acls(c, """{ "protocol": "tcp" }"""));

        Assert.That(problems.Select(p => p.ToString()), Is.EqualTo(new[]
        {
            "$.acls[0].virtualSubnetId: is required; give an integer in 4096..16777214",
            "$.acls[0].priority: is required; give an integer in 0..65535",
            "$.acls[0].direction: is required; give inbound, outbound or both",
            "$.acls[0].action: is required; give allow or deny",
        }));
    }

    [Test]
    public void Acl_unknown_field_names_the_valid_ones()
    {
        var problem = SingleProblem(
            c => Acls(c, """{ "virtualSubnetId": 5001, "priority": 1, "direction": "both", "action": "deny", "destinationPort": "22" }"""),
            "$.acls[0].destinationPort");

        Assert.That(problem.Message, Is.EqualTo(
            "unknown field; did you mean \"destinationPorts\"? valid fields are virtualSubnetId, priority, direction, protocol, sourcePrefix, destinationPrefix, sourcePorts, destinationPorts, action, name"));
    }

    [TestCase("\"\"", "is empty; give the rule a name, or leave name out to show it as VSID/priority")]
    [TestCase("\"a\\nb\"", "contains the control character U+000A; use printable characters")]
    public void Acl_name_must_be_printable(string name, string message)
    {
        var problem = SingleProblem(
            c => Acls(c, $$"""{ "virtualSubnetId": 5001, "priority": 1, "direction": "both", "action": "deny", "name": {{name}} }"""),
            "$.acls[0].name");

        Assert.That(problem.Message, Is.EqualTo(message));
    }

    [Test]
    public void Acl_names_are_unique()
    {
        var problem = SingleProblem(
            c => Acls(
                c,
                """{ "virtualSubnetId": 5001, "priority": 1, "direction": "both", "action": "deny", "name": "ssh" }""",
                """{ "virtualSubnetId": 6001, "priority": 1, "direction": "both", "action": "deny", "name": "ssh" }"""),
            "$.acls[1].name");

        Assert.That(problem.Message, Is.EqualTo("\"ssh\" is already the name of $.acls[0]; ACL rule names must be unique"));
    }

    [Test]
    public void Acl_problems_are_all_reported_at_once_in_document_order()
    {
        var problems = Problems(c => Acls(
            c,
            """{ "name": "x", "virtualSubnetId": 9999, "priority": 1, "direction": "both", "action": "deny", "protocol": "icmp", "sourcePorts": "1" }""",
            """{ "virtualSubnetId": 5001, "priority": -1, "direction": "both", "action": "deny", "sourcePrefix": "10.0.0.0/8", "destinationPrefix": "::/0" }""",
            """{ "virtualSubnetId": 6001, "priority": 1, "direction": "both", "action": "deny", "protocol": "udp", "sourcePorts": "9-8", "bogus": true }"""));

        Assert.That(problems.Select(p => p.Path), Is.EqualTo(new[]
        {
            "$.acls[0].virtualSubnetId",
            "$.acls[0].sourcePorts",
            "$.acls[1].priority",
            "$.acls[1].destinationPrefix",
            "$.acls[2].sourcePorts",
            "$.acls[2].bogus",
        }));
    }

    /// <summary>Sets the <c>acls</c> section to the given rules.</summary>
    private static void Acls(JsonObject config, params string[] rules) =>
        config["acls"] = new JsonArray([.. rules.Select(r => JsonNode.Parse(r))]);
}
