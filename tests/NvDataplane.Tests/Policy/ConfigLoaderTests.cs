using System.Text.Json.Nodes;
using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Policy;

public partial class ConfigLoaderTests
{
    /// <summary>The example of SPEC.md section 2, verbatim.</summary>
    internal const string SpecExample = """
        {
          "host": { "name": "hv1" },
          "global": { "gatewayMac": "00-15-5D-FF-FF-FF", "outerTtl": 64, "useExternalRouter": false },
          "ports": [
            { "name": "pnic0", "role": "provider", "device": "afpacket:eth1", "macAddress": "02-00-00-00-01-0A", "mtu": 1500 },
            { "name": "red1",  "role": "vm", "device": "tap:red1", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001, "vmName": "Red-1" },
            { "name": "blue1", "role": "vm", "device": "tap:blue1", "macAddress": "00-15-5D-00-01-01", "virtualSubnetId": 6001, "vmName": "Blue-1" }
          ],
          "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "vlanId": 0, "port": "pnic0" } ],
          "providerRoutes":    [ { "destinationPrefix": "0.0.0.0/0", "nextHop": "192.168.1.1", "metric": 5 } ],
          "providerNeighbors": [ { "address": "192.168.1.11", "macAddress": "02-00-00-00-01-0B" } ],
          "lookupRecords": [
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01",
              "providerAddress": "192.168.1.10", "rule": "TranslationMethodEncap", "type": "Static", "vmName": "Red-1" },
            { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02",
              "providerAddress": "192.168.1.11", "rule": "TranslationMethodEncap" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001,
              "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0", "metric": 255 }
          ]
        }
        """;

    private static readonly Guid Red = new("11111111-2222-3333-4444-000000000000");

    // ---- valid files -------------------------------------------------------------------------

    [Test]
    public void Spec_example_loads_with_every_field_in_the_typed_model()
    {
        var result = ConfigLoader.Load(SpecExample);

        Assert.That(result.Problems, Is.Empty);
        Assert.That(result.Succeeded, Is.True);
        var c = result.Config!;
        Assert.That(c.HostName, Is.EqualTo("hv1"));
        Assert.That(c.Global, Is.EqualTo(new GlobalSettings(MacAddress.Parse("00-15-5D-FF-FF-FF"), 64, false)));
        Assert.That(c.Ports, Is.EqualTo(new[]
        {
            new PortConfig("pnic0", PortRole.Provider, "afpacket:eth1", MacAddress.Parse("02-00-00-00-01-0A"), 1500, null, null),
            new PortConfig("red1", PortRole.Vm, "tap:red1", MacAddress.Parse("00-15-5D-00-00-01"), 1500, 5001, "Red-1"),
            new PortConfig("blue1", PortRole.Vm, "tap:blue1", MacAddress.Parse("00-15-5D-00-01-01"), 1500, 6001, "Blue-1"),
        }));
        Assert.That(c.ProviderAddresses, Is.EqualTo(new[] { new ProviderAddressConfig(IpAddr.Parse("192.168.1.10"), 24, 0, "pnic0") }));
        Assert.That(c.ProviderRoutes, Is.EqualTo(new[] { new ProviderRouteConfig(IpPrefix.Parse("0.0.0.0/0"), IpAddr.Parse("192.168.1.1"), 5) }));
        Assert.That(c.ProviderNeighbors, Is.EqualTo(new[] { new ProviderNeighborConfig(IpAddr.Parse("192.168.1.11"), MacAddress.Parse("02-00-00-00-01-0B")) }));
        Assert.That(c.LookupRecords, Is.EqualTo(new[]
        {
            new LookupRecordConfig(IpAddr.Parse("10.1.1.7"), 5001, MacAddress.Parse("00-15-5D-00-00-01"), IpAddr.Parse("192.168.1.10"), TranslationRule.Encap, RecordType.Static, "Red-1"),
            new LookupRecordConfig(IpAddr.Parse("10.1.1.8"), 5001, MacAddress.Parse("00-15-5D-00-00-02"), IpAddr.Parse("192.168.1.11"), TranslationRule.Encap, RecordType.Static),
        }));
        Assert.That(c.CustomerRoutes, Is.EqualTo(new[] { new CustomerRouteConfig(Red, 5001, IpPrefix.Parse("10.1.1.0/24"), IpAddr.Any4, 255) }));
    }

    [Test]
    public void Empty_object_is_a_valid_configuration_with_defaults()
    {
        var result = ConfigLoader.Load("{}");

        Assert.That(result.Problems, Is.Empty);
        var c = result.Config!;
        Assert.That(c.HostName, Is.EqualTo(Environment.MachineName));
        Assert.That(c.Global, Is.EqualTo(new GlobalSettings(MacAddress.Parse("00-15-5D-FF-FF-FF"), 64, false)));
        Assert.That(c.Ports, Is.Empty);
        Assert.That(c.ProviderAddresses, Is.Empty);
        Assert.That(c.ProviderRoutes, Is.Empty);
        Assert.That(c.ProviderNeighbors, Is.Empty);
        Assert.That(c.LookupRecords, Is.Empty);
        Assert.That(c.CustomerRoutes, Is.Empty);
    }

    [Test]
    public void Defaults_apply_to_every_optional_field()
    {
        var result = ConfigLoader.Load("""
            {
              "host": {},
              "global": {},
              "ports": [
                { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A" },
                { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001 }
              ],
              "providerAddresses": [ { "address": "2001:db8::10", "prefixLength": 64, "port": "pnic0" } ],
              "providerRoutes": [ { "destinationPrefix": "2001:db8:1::/48", "nextHop": "2001:db8::1" } ],
              "lookupRecords": [ { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10" } ],
              "customerRoutes": [ { "routingDomainId": "11111111-2222-3333-4444-000000000000", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" } ]
            }
            """);

        Assert.That(result.Problems, Is.Empty);
        var c = result.Config!;
        Assert.That(c.HostName, Is.EqualTo(Environment.MachineName));
        Assert.That(c.Global, Is.EqualTo(GlobalSettings.Default));
        Assert.That(c.Ports[0], Is.EqualTo(new PortConfig("pnic0", PortRole.Provider, null, MacAddress.Parse("02-00-00-00-01-0A"), 1500, null, null)));
        Assert.That(c.Ports[1], Is.EqualTo(new PortConfig("red1", PortRole.Vm, null, MacAddress.Parse("00-15-5D-00-00-01"), 1500, 5001, null)));
        Assert.That(c.ProviderAddresses[0], Is.EqualTo(new ProviderAddressConfig(IpAddr.Parse("2001:db8::10"), 64, 0, "pnic0")));
        Assert.That(c.ProviderRoutes[0].Metric, Is.Zero);
        Assert.That(c.LookupRecords[0].Rule, Is.EqualTo(TranslationRule.Encap));
        Assert.That(c.LookupRecords[0].Type, Is.EqualTo(RecordType.Static));
        Assert.That(c.LookupRecords[0].VmName, Is.Null);
        Assert.That(c.CustomerRoutes[0].Metric, Is.EqualTo(255));
        Assert.That(c.CustomerRoutes[0].RoutingDomainId, Is.EqualTo(Red));
    }

    [Test]
    public void Accepts_mac_spellings_short_rules_any_case_comments_and_trailing_commas()
    {
        var result = ConfigLoader.Load("""
            // A comment before the document.
            {
              "global": { "gatewayMac": "00155dffffff", "outerTtl": 255, "useExternalRouter": true, },
              "ports": [
                { "name": "red1", "role": "VM", "macAddress": "00:15:5d:00:00:01", "virtualSubnetId": 5001, "mtu": 9000 }, /* trailing */
              ],
              "lookupRecords": [
                { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00155D000001",
                  "providerAddress": "192.168.1.10", "rule": "nat", "type": "dynamic", "customerId": "{C0FFEE}", "context": "red tenant" },
                { "customerAddress": "::", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-09",
                  "providerAddress": "192.168.1.20", "rule": "Encap", "type": "GATEWAYWILDCARD" },
                { "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-0A",
                  "providerAddress": "192.168.1.20", "rule": "translationmethodencap", "type": "L2Only" },
              ],
            }
            """);

        Assert.That(result.Problems, Is.Empty);
        var c = result.Config!;
        Assert.That(c.Global, Is.EqualTo(new GlobalSettings(MacAddress.Parse("00-15-5D-FF-FF-FF"), 255, true)));
        Assert.That(c.Ports[0].MacAddress, Is.EqualTo(MacAddress.Parse("00-15-5D-00-00-01")));
        Assert.That(c.Ports[0].Mtu, Is.EqualTo(9000));
        Assert.That(c.LookupRecords[0], Is.EqualTo(new LookupRecordConfig(
            IpAddr.Parse("10.1.1.7"), 5001, MacAddress.Parse("00-15-5D-00-00-01"), IpAddr.Parse("192.168.1.10"),
            TranslationRule.Nat, RecordType.Dynamic, null, "{C0FFEE}", "red tenant")));
        Assert.That(c.LookupRecords[1].Type, Is.EqualTo(RecordType.GatewayWildcard));
        Assert.That(c.LookupRecords[1].CustomerAddress, Is.EqualTo(IpAddr.Any6));
        Assert.That(c.LookupRecords[2].Rule, Is.EqualTo(TranslationRule.Encap));
        Assert.That(c.LookupRecords[2].Type, Is.EqualTo(RecordType.L2Only));
    }

    [Test]
    public void LoadFile_reads_a_file()
    {
        string path = Path.Combine(Path.GetTempPath(), $"nvdp-config-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, SpecExample);
        try
        {
            var result = ConfigLoader.LoadFile(path);
            Assert.That(result.Problems, Is.Empty);
            Assert.That(result.Config!.HostName, Is.EqualTo("hv1"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void Problem_shows_as_path_colon_message()
    {
        var problem = new ConfigProblem("$.lookupRecords[3].virtualSubnetId", "42 is reserved; use 4096..16777214");
        Assert.That(problem.ToString(), Is.EqualTo("$.lookupRecords[3].virtualSubnetId: 42 is reserved; use 4096..16777214"));
    }

    // ---- files that cannot be read ---------------------------------------------------------------

    [Test]
    public void Missing_file_is_one_problem_at_the_root()
    {
        string path = Path.Combine(Path.GetTempPath(), $"nvdp-missing-{Guid.NewGuid():N}", "config.json");

        var result = ConfigLoader.LoadFile(path);

        Assert.That(result.Config, Is.Null);
        Assert.That(result.Problems, Has.Count.EqualTo(1));
        Assert.That(result.Problems[0].Path, Is.EqualTo("$"));
        Assert.That(result.Problems[0].Message, Does.Contain(path).And.Contain("does not exist"));
    }

    [Test]
    public void Invalid_json_is_one_problem_with_line_and_byte()
    {
        var result = ConfigLoader.Load("{\n  \"ports\": [\n    { \"name\": \"p\" \"role\": \"vm\" }\n  ]\n}");

        Assert.That(result.Config, Is.Null);
        Assert.That(result.Problems, Has.Count.EqualTo(1));
        Assert.That(result.Problems[0].Path, Is.EqualTo("$"));
        Assert.That(result.Problems[0].Message, Is.EqualTo("not valid JSON at line 3, byte 19: '\"' is invalid after a value. Expected either ',', '}', or ']'."));
    }

    [TestCase("")]
    [TestCase("   ")]
    [TestCase(null)]
    public void Empty_text_is_one_problem(string? json)
    {
        var result = ConfigLoader.Load(json!);

        Assert.That(result.Problems.Select(p => p.ToString()), Is.EqualTo(new[] { "$: the configuration is empty; give a JSON object such as { \"ports\": [ ... ] }" }));
    }

    [TestCase("[]", "expected an object, got an array")]
    [TestCase("42", "expected an object, got the number 42")]
    [TestCase("null", "expected an object, got null")]
    public void Document_that_is_not_an_object_is_reported_at_the_root(string json, string message)
    {
        var result = ConfigLoader.Load(json);

        Assert.That(result.Problems.Select(p => p.ToString()), Is.EqualTo(new[] { $"$: {message}" }));
    }

    // ---- field names and JSON types --------------------------------------------------------------

    [Test]
    public void Unknown_field_names_the_valid_ones_and_the_nearest()
    {
        var problems = Problems(c => Rename(Port(c, 0), "macAddress", "mcaAddress"));

        Assert.That(problems.Select(p => p.ToString()), Is.EqualTo(new[]
        {
            "$.ports[0].mcaAddress: unknown field; did you mean \"macAddress\"? valid fields are name, role, device, macAddress, mtu, virtualSubnetId, vmName, address, prefixLength, nextHop, address6, prefixLength6, nextHop6, vlanId",
            "$.ports[0].macAddress: is required; give a MAC address such as 00-15-5D-00-00-01, 00:15:5d:00:00:01 or 00155D000001",
        }));
    }

    [Test]
    public void Field_names_are_camelCase()
    {
        var problems = Problems(c => Rename(c["global"]!.AsObject(), "outerTtl", "OuterTtl"));

        Assert.That(problems.Select(p => p.ToString()), Is.EqualTo(new[]
        {
            "$.global.OuterTtl: unknown field; did you mean \"outerTtl\"? valid fields are gatewayMac, outerTtl, useExternalRouter, dhcpLeaseSeconds, migrationGraceSeconds, trustRedirects",
        }));
    }

    [Test]
    public void Unknown_top_level_section_is_reported()
    {
        var problem = SingleProblem(c => c["lookupRecord"] = new JsonArray(), "$.lookupRecord");

        Assert.That(problem.Message, Does.StartWith("unknown field; did you mean \"lookupRecords\"?"));
    }

    [Test]
    public void Field_given_twice_is_reported()
    {
        var result = ConfigLoader.Load("""{ "host": { "name": "a", "name": "b" } }""");

        Assert.That(result.Problems.Select(p => p.ToString()), Is.EqualTo(new[] { "$.host.name: is given more than once in this object; keep one" }));
    }

    [Test]
    public void Number_given_as_string_is_a_wrong_type()
    {
        var problem = SingleProblem(c => Port(c, 0)["mtu"] = "1500", "$.ports[0].mtu");

        Assert.That(problem.Message, Is.EqualTo("expected an integer in 576..65535, got the string \"1500\""));
    }

    [Test]
    public void String_given_as_number_is_a_wrong_type()
    {
        var problem = SingleProblem(c => Record(c, 1)["vmName"] = 7, "$.lookupRecords[1].vmName");

        Assert.That(problem.Message, Is.EqualTo("expected a string, got the number 7"));
    }

    [Test]
    public void Section_that_is_not_an_array_is_a_wrong_type()
    {
        var problem = SingleProblem(c => c["providerNeighbors"] = new JsonObject(), "$.providerNeighbors");

        Assert.That(problem.Message, Is.EqualTo("expected an array of objects, got an object"));
    }

    [Test]
    public void Boolean_given_as_string_is_a_wrong_type()
    {
        var problem = SingleProblem(c => c["global"]!["useExternalRouter"] = "no", "$.global.useExternalRouter");

        Assert.That(problem.Message, Is.EqualTo("expected true or false, got the string \"no\""));
    }

    [TestCase("1.5", "1.5 is not an integer; use 0..4294967295")]
    [TestCase("5e-1", "5e-1 is not an integer; use 0..4294967295")]
    [TestCase("5e1", "5e1 is written with a fraction or an exponent; write the integer (50) with digits only")]
    [TestCase("5001.0", "5001.0 is written with a fraction or an exponent; write the integer (5001) with digits only")]
    [TestCase("-1", "-1 is out of range; use 0..4294967295")]
    [TestCase("99999999999999999999", "99999999999999999999 is out of range; use 0..4294967295")]
    [TestCase("5001e999999", "5001e999999 is out of range; use 0..4294967295")]
    [TestCase("1e19", "1e19 is out of range; use 0..4294967295")]
    [TestCase("123456789012345678901234567890", "123456789012... (30 characters) is out of range; use 0..4294967295")]
    public void Metric_must_be_an_unsigned_integer(string number, string message)
    {
        var problem = SingleProblem(c => c["providerRoutes"]![0]!["metric"] = JsonNode.Parse(number), "$.providerRoutes[0].metric");

        Assert.That(problem.Message, Is.EqualTo(message));
    }

    [Test]
    public void Required_field_missing_is_reported_at_object_path_dot_field()
    {
        var problem = SingleProblem(c => Port(c, 1).Remove("macAddress"), "$.ports[1].macAddress");

        Assert.That(problem.Message, Does.StartWith("is required; give a MAC address such as 00-15-5D-00-00-01"));
    }

    [Test]
    public void Required_field_given_as_null_is_reported()
    {
        var problem = SingleProblem(c => Record(c, 0)["providerAddress"] = null, "$.lookupRecords[0].providerAddress");

        Assert.That(problem.Message, Does.StartWith("is null but required"));
    }

    // ---- host and global -------------------------------------------------------------------------

    [Test]
    public void Empty_host_name_is_reported()
    {
        var problem = SingleProblem(c => c["host"]!["name"] = " ", "$.host.name");

        Assert.That(problem.Message, Does.Contain("is empty"));
    }

    [TestCase(0)]
    [TestCase(256)]
    public void Outer_ttl_must_be_1_to_255(int ttl)
    {
        var problem = SingleProblem(c => c["global"]!["outerTtl"] = ttl, "$.global.outerTtl");

        Assert.That(problem.Message, Is.EqualTo($"{ttl} is out of range; use 1..255"));
    }

    [Test]
    public void Gateway_mac_must_be_unicast()
    {
        var problem = SingleProblem(c => c["global"]!["gatewayMac"] = "FF-FF-FF-FF-FF-FF", "$.global.gatewayMac");

        Assert.That(problem.Message, Does.Contain("broadcast").And.Contain("use a unicast MAC"));
    }

    // ---- ports -----------------------------------------------------------------------------------

    [TestCase("eth 0")]
    [TestCase("")]
    [TestCase("a23456789012345678901234567890123")]
    public void Port_name_must_be_1_to_32_safe_characters(string name)
    {
        var problem = SingleProblem(c => Port(c, 2)["name"] = name, "$.ports[2].name");

        Assert.That(problem.Message, Does.Contain("is not a valid port name; use 1..32 of A-Z a-z 0-9 _ . -"));
    }

    [Test]
    public void Port_names_are_unique()
    {
        var problem = SingleProblem(c => Port(c, 2)["name"] = "red1", "$.ports[2].name");

        Assert.That(problem.Message, Is.EqualTo("\"red1\" is already the name of $.ports[1]; port names must be unique"));
    }

    [Test]
    public void Port_role_must_be_provider_vm_or_external()
    {
        var problem = SingleProblem(c => Port(c, 0)["role"] = "uplink", "$.ports[0].role");

        Assert.That(problem.Message, Is.EqualTo("\"uplink\" is not valid; use provider, vm or external"));
    }

    [TestCase("eth1", "names no known device kind")]
    [TestCase("netmap:eth1", "names no known device kind")]
    [TestCase("tap:", "has no name after \"tap:\"")]
    [TestCase("afpacket:a-very-long-interface", "at most 15 bytes")]
    [TestCase("tap:au1éééééééé", "is 19 bytes of UTF-8 and Linux interface names are at most 15 bytes")] // 11 characters: the kernel counts bytes
    public void Port_device_must_be_afpacket_tap_or_pcap_with_a_name(string device, string meaning)
    {
        var problem = SingleProblem(c => Port(c, 0)["device"] = device, "$.ports[0].device");

        Assert.That(problem.Message, Does.Contain(meaning));
    }

    [Test]
    public void Two_ports_on_one_device_are_reported()
    {
        var problem = SingleProblem(c => Port(c, 2)["device"] = "tap:red1", "$.ports[2].device");

        Assert.That(problem.Message, Does.Contain("already the device of $.ports[1]"));
    }

    [TestCase("pcap:eth1")]
    [TestCase("tap:eth1")]
    public void Two_ports_on_one_interface_through_different_device_kinds_are_reported(string device)
    {
        // The provider port is afpacket:eth1: a VM port on eth1 too would put decapsulated tenant
        // frames raw on the provider wire.
        var problem = SingleProblem(c => Port(c, 1)["device"] = device, "$.ports[1].device");

        Assert.That(problem.Message, Is.EqualTo(
            $"\"{device}\" names interface eth1, already the device of $.ports[0] (\"afpacket:eth1\"); "
            + "each port needs its own device: two ports on one interface would put the frames of one on the wire of the other"));
    }

    [TestCase("01-00-5E-00-00-01", "a multicast MAC")]
    [TestCase("FF-FF-FF-FF-FF-FF", "the broadcast MAC")]
    [TestCase("00-00-00-00-00-00", "the all-zero MAC")]
    public void Port_mac_must_be_unicast_and_not_zero(string mac, string meaning)
    {
        var problem = SingleProblem(c => Port(c, 1)["macAddress"] = mac, "$.ports[1].macAddress");

        Assert.That(problem.Message, Does.Contain(meaning).And.Contain("use a unicast MAC"));
    }

    [TestCase("00-15-5D-00-00")]
    [TestCase("00:15-5d:00:00:01")]
    [TestCase("hello")]
    public void Port_mac_must_be_spelled_as_a_mac(string mac)
    {
        var problem = SingleProblem(c => Port(c, 1)["macAddress"] = mac, "$.ports[1].macAddress");

        Assert.That(problem.Message, Does.Contain("is not a MAC address; use a MAC address such as 00-15-5D-00-00-01"));
    }

    [Test]
    public void Two_ports_with_one_mac_are_reported_at_the_second()
    {
        var problem = SingleProblem(c => Port(c, 2)["macAddress"] = "00:15:5d:00:00:01", "$.ports[2].macAddress");

        Assert.That(problem.Message, Is.EqualTo("00-15-5D-00-00-01 is already the MAC of $.ports[1]; each port needs its own MAC address"));
    }

    [TestCase(575)]
    [TestCase(65536)]
    public void Port_mtu_must_be_576_to_65535(int mtu)
    {
        var problem = SingleProblem(c => Port(c, 0)["mtu"] = mtu, "$.ports[0].mtu");

        Assert.That(problem.Message, Is.EqualTo($"{mtu} is out of range; use 576..65535"));
    }

    [Test]
    public void Vm_port_needs_a_vsid()
    {
        var problem = SingleProblem(c => Port(c, 1).Remove("virtualSubnetId"), "$.ports[1].virtualSubnetId");

        Assert.That(problem.Message, Is.EqualTo("is required; give an integer in 4096..16777214"));
    }

    [Test]
    public void Vm_port_vsid_must_not_be_reserved()
    {
        var problem = SingleProblem(c => Port(c, 2)["virtualSubnetId"] = 4095, "$.ports[2].virtualSubnetId");

        Assert.That(problem.Message, Is.EqualTo("4095 is reserved; use 4096..16777214"));
    }

    [Test]
    public void Provider_port_has_no_vsid()
    {
        var problem = SingleProblem(c => Port(c, 0)["virtualSubnetId"] = 5001, "$.ports[0].virtualSubnetId");

        Assert.That(problem.Message, Does.Contain("a provider port has no virtual subnet; remove virtualSubnetId"));
    }

    // ---- provider addresses, routes, neighbors ---------------------------------------------------

    [Test]
    public void Provider_address_naming_an_unknown_port_lists_the_provider_ports()
    {
        var problem = SingleProblem(c => c["providerAddresses"]![0]!["port"] = "pnic9", "$.providerAddresses[0].port");

        Assert.That(problem.Message, Is.EqualTo("\"pnic9\" is not a port; use one of: pnic0"));
    }

    [Test]
    public void Provider_address_on_a_vm_port_is_reported()
    {
        var problem = SingleProblem(c => c["providerAddresses"]![0]!["port"] = "red1", "$.providerAddresses[0].port");

        Assert.That(problem.Message, Does.Contain("is a vm port ($.ports[1])").And.Contain("use one of: pnic0"));
    }

    [TestCase("192.168.1.10", 33, "33 is out of range; use 0..32")]
    [TestCase("2001:db8::10", 129, "129 is out of range; use 0..128")]
    public void Provider_prefix_length_depends_on_the_family(string address, int length, string message)
    {
        var problem = SingleProblem(
            c =>
            {
                c["providerAddresses"]![0]!["address"] = address;
                c["providerAddresses"]![0]!["prefixLength"] = length;
            },
            "$.providerAddresses[0].prefixLength");

        Assert.That(problem.Message, Is.EqualTo(message));
    }

    [Test]
    public void Provider_vlan_must_be_0_to_4094()
    {
        var problem = SingleProblem(c => c["providerAddresses"]![0]!["vlanId"] = 4095, "$.providerAddresses[0].vlanId");

        Assert.That(problem.Message, Is.EqualTo("4095 is out of range; use 0..4094"));
    }

    [Test]
    public void Duplicate_provider_address_is_reported_at_the_second()
    {
        var problem = SingleProblem(
            c => c["providerAddresses"]!.AsArray().Add(JsonNode.Parse("""{ "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" }""")),
            "$.providerAddresses[1].address");

        Assert.That(problem.Message, Is.EqualTo("192.168.1.10 is already given by $.providerAddresses[0]; each provider address appears once"));
    }

    [Test]
    public void Provider_route_next_hop_must_match_the_prefix_family()
    {
        var problem = SingleProblem(c => c["providerRoutes"]![0]!["nextHop"] = "2001:db8::1", "$.providerRoutes[0].nextHop");

        Assert.That(problem.Message, Does.Contain("is IPv6 but the destination prefix 0.0.0.0/0 is IPv4"));
    }

    [TestCase("10.0.0.0", "has no prefix length")]
    [TestCase("10.0.0.0/33", "has a bad prefix length; use 0..32")]
    [TestCase("10.0.0.1/8", "has host bits set; use 10.0.0.0/8")]
    public void Provider_route_prefix_must_be_cidr(string prefix, string meaning)
    {
        var problem = SingleProblem(c => c["providerRoutes"]![0]!["destinationPrefix"] = prefix, "$.providerRoutes[0].destinationPrefix");

        Assert.That(problem.Message, Does.Contain(meaning));
    }

    [Test]
    public void Duplicate_provider_neighbor_is_reported_at_the_second()
    {
        var problem = SingleProblem(
            c => c["providerNeighbors"]!.AsArray().Add(JsonNode.Parse("""{ "address": "192.168.1.11", "macAddress": "02-00-00-00-01-0C" }""")),
            "$.providerNeighbors[1].address");

        Assert.That(problem.Message, Does.Contain("already given by $.providerNeighbors[0]"));
    }

    // ---- lookup records --------------------------------------------------------------------------

    [TestCase(42, "42 is reserved; use 4096..16777214")]
    [TestCase(0, "0 is reserved; use 4096..16777214")]
    [TestCase(16777215, "16777215 is reserved; use 4096..16777214")]
    [TestCase(16777216, "16777216 is out of range (a VSID is 24 bits); use 4096..16777214")]
    public void Record_vsid_outside_4096_to_16777214_is_reported(int vsid, string message)
    {
        var problem = SingleProblem(c => Record(c, 1)["virtualSubnetId"] = vsid, "$.lookupRecords[1].virtualSubnetId");

        Assert.That(problem.Message, Is.EqualTo(message));
    }

    [Test]
    public void Two_records_for_one_vsid_and_ca_are_reported_at_the_second()
    {
        var problem = SingleProblem(c => Record(c, 1)["customerAddress"] = "10.1.1.7", "$.lookupRecords[1].customerAddress");

        Assert.That(problem.Message, Is.EqualTo(
            "10.1.1.7 in virtual subnet 5001 is already mapped by $.lookupRecords[0]; each (virtualSubnetId, customerAddress) appears once"));
    }

    [Test]
    public void Same_ca_in_two_virtual_subnets_is_fine()
    {
        var result = LoadSpecWith(c =>
        {
            Record(c, 1)["customerAddress"] = "10.1.1.7";
            Record(c, 1)["virtualSubnetId"] = 6001;
        });

        Assert.That(result.Problems, Is.Empty);
    }

    [Test]
    public void Nat_record_sharing_its_pa_names_the_other_record()
    {
        var problem = SingleProblem(
            c =>
            {
                Record(c, 1)["rule"] = "TranslationMethodNat";
                Record(c, 1)["providerAddress"] = "192.168.1.10";
            },
            "$.lookupRecords[1].providerAddress");

        Assert.That(problem.Message, Is.EqualTo(
            "192.168.1.10 is also the provider address of $.lookupRecords[0]; a TranslationMethodNat record needs a PA of its own"));
    }

    [Test]
    public void Nat_record_sharing_its_pa_with_a_later_record_names_it()
    {
        var problem = SingleProblem(
            c =>
            {
                Record(c, 0)["rule"] = "Nat";
                Record(c, 1)["providerAddress"] = "192.168.1.10";
            },
            "$.lookupRecords[0].providerAddress");

        Assert.That(problem.Message, Does.Contain("also the provider address of $.lookupRecords[1]"));
    }

    [Test]
    public void Nat_record_with_pa_of_another_family_is_reported()
    {
        var problem = SingleProblem(
            c =>
            {
                Record(c, 1)["rule"] = "Nat";
                Record(c, 1)["providerAddress"] = "2001:db8::11";
            },
            "$.lookupRecords[1].providerAddress");

        Assert.That(problem.Message, Does.StartWith("2001:db8::11 is IPv6 but the customer address 10.1.1.8 is IPv4"));
    }

    [Test]
    public void Gateway_wildcard_needs_the_unspecified_ca()
    {
        var problem = SingleProblem(c => Record(c, 1)["type"] = "GatewayWildcard", "$.lookupRecords[1].customerAddress");

        Assert.That(problem.Message, Is.EqualTo("10.1.1.8 is not a wildcard; a GatewayWildcard record has customer address 0.0.0.0 or ::"));
    }

    [TestCase("0.0.0.0")]
    [TestCase("::")]
    public void A_gateway_wildcard_record_cannot_use_ip_rewrite(string ca)
    {
        // IP rewrite maps one CA to its own PA; the gateway stands for every outside address,
        // so a rewritten packet would lose the address it was for (both ways).
        var problem = SingleProblem(
            c =>
            {
                Record(c, 1)["customerAddress"] = ca;
                Record(c, 1)["type"] = "GatewayWildcard";
                Record(c, 1)["rule"] = "Nat";
                Record(c, 1)["providerAddress"] = ca == "::" ? "2001:db8::11" : "192.168.1.11";
            },
            "$.lookupRecords[1].rule");

        Assert.That(problem.Message, Does.StartWith("a GatewayWildcard record cannot use TranslationMethodNat"));
    }

    [TestCase("0.0.0.0")]
    [TestCase("::")]
    public void Unspecified_ca_needs_type_gateway_wildcard(string ca)
    {
        var problem = SingleProblem(c => Record(c, 1)["customerAddress"] = ca, "$.lookupRecords[1].customerAddress");

        Assert.That(problem.Message, Does.StartWith($"{ca} is the wildcard address, only valid with type GatewayWildcard"));
    }

    [TestCase("224.0.0.251")]
    [TestCase("255.255.255.255")]
    [TestCase("ff02::1")]
    public void A_broadcast_or_multicast_ca_is_refused_as_provider_multicast_is_not_supported(string ca)
    {
        var problem = SingleProblem(c => Record(c, 0)["customerAddress"] = ca, "$.lookupRecords[0].customerAddress");

        Assert.That(problem.Message, Does.StartWith($"{ca} is a broadcast or multicast address; HNV's records that send a VSID's broadcast and multicast through a provider multicast group are not supported here"));
    }

    [TestCase("239.1.1.1")]
    [TestCase("ff0e::101")]
    public void A_multicast_pa_is_refused(string pa)
    {
        var problem = SingleProblem(c => Record(c, 0)["providerAddress"] = pa, "$.lookupRecords[0].providerAddress");

        Assert.That(problem.Message, Does.StartWith($"{pa} is a broadcast or multicast address; provider multicast is not supported here"));
    }

    [Test]
    public void Unspecified_pa_is_reported()
    {
        var problem = SingleProblem(c => Record(c, 0)["providerAddress"] = "0.0.0.0", "$.lookupRecords[0].providerAddress");

        Assert.That(problem.Message, Does.StartWith("0.0.0.0 is the unspecified address"));
    }

    [Test]
    public void Record_rule_must_be_encap_or_nat()
    {
        var problem = SingleProblem(c => Record(c, 0)["rule"] = "Tunnel", "$.lookupRecords[0].rule");

        Assert.That(problem.Message, Is.EqualTo("\"Tunnel\" is not valid; use TranslationMethodEncap or TranslationMethodNat (or Encap / Nat)"));
    }

    [Test]
    public void Record_type_must_be_one_of_four()
    {
        var problem = SingleProblem(c => Record(c, 0)["type"] = "Permanent", "$.lookupRecords[0].type");

        Assert.That(problem.Message, Is.EqualTo("\"Permanent\" is not valid; use Static, Dynamic, L2Only or GatewayWildcard"));
    }

    [Test]
    public void Record_mac_must_be_unicast()
    {
        var problem = SingleProblem(c => Record(c, 1)["macAddress"] = "33:33:00:00:00:01", "$.lookupRecords[1].macAddress");

        Assert.That(problem.Message, Does.Contain("a multicast MAC"));
    }

    [TestCase("10.1.1", "\"10.1.1\" is not an IPv4 or IPv6 address")]
    [TestCase("10.1.1.0/24", "\"10.1.1.0/24\" is not an IPv4 or IPv6 address")]
    // .NET reads these as addresses; each lost something without a word (the IPv4-mapped one was taken for 10.1.1.9).
    [TestCase("::ffff:10.1.1.9", "\"::ffff:10.1.1.9\" is an IPv4-mapped IPv6 address, which is never on the wire; give the IPv4 address 10.1.1.9")]
    [TestCase("fe80::9%eth1", "\"fe80::9%eth1\" has a zone ID (%eth1), which names an interface of one host; give the address alone, fe80::9")]
    [TestCase("[2001:db8::9]:80", "\"[2001:db8::9]:80\" is written with brackets, as in a URL; give the address alone, such as 2001:db8::9")]
    public void Record_ca_must_be_an_address(string ca, string meaning)
    {
        var problem = SingleProblem(c => Record(c, 0)["customerAddress"] = ca, "$.lookupRecords[0].customerAddress");

        Assert.That(problem.Message, Does.StartWith(meaning));
    }

    [TestCase("providerAddresses", 0, "address", "fe80::a%2")]
    [TestCase("lookupRecords", 1, "providerAddress", "::ffff:192.168.1.11")]
    [TestCase("customerRoutes", 0, "nextHop", "[::]")]
    public void Provider_and_route_addresses_refuse_what_dotnet_reads_with_a_loss(string section, int index, string field, string text)
    {
        var problem = SingleProblem(c => c[section]![index]![field] = text, $"$.{section}[{index}].{field}");

        Assert.That(problem.Message, Does.StartWith($"\"{text}\" ").And.Not.Contain("is not an IPv4 or IPv6 address"));
    }

    [Test]
    public void A_prefix_with_an_ipv4_mapped_address_says_so_rather_than_bad_length()
    {
        var problem = SingleProblem(c => c["customerRoutes"]![0]!["destinationPrefix"] = "::ffff:10.1.1.0/120", "$.customerRoutes[0].destinationPrefix");

        Assert.That(problem.Message, Is.EqualTo("\"::ffff:10.1.1.0/120\": the address is an IPv4-mapped IPv6 address, which is never on the wire; give the IPv4 address 10.1.1.0"));
    }

    [TestCase("host", "name", "hv\u001b[2J1", "U+001B", TestName = "{m}(host.name ESC)")]
    [TestCase("lookupRecords", "vmName", "Red\u00001", "U+0000", TestName = "{m}(record vmName NUL)")]
    [TestCase("ports", "vmName", "Red\u00851", "U+0085", TestName = "{m}(port vmName NEL)")]
    public void Names_and_notes_refuse_control_characters_which_validate_would_print_raw(string section, string field, string text, string character)
    {
        // An ESC in host.name cleared the terminal when validate printed "valid: host ...".
        string path = section == "host" ? "$.host.name" : $"$.{section}[1].{field}";
        var problem = SingleProblem(c => (section == "host" ? c["host"]! : c[section]![1]!)[field] = text, path);

        Assert.That(problem.Message, Is.EqualTo($"contains the control character {character}; use printable characters"));
    }

    // ---- customer routes -------------------------------------------------------------------------

    [Test]
    public void Vsid_in_two_routing_domains_names_both()
    {
        var problem = SingleProblem(
            c => c["customerRoutes"]!.AsArray().Add(JsonNode.Parse("""
                { "routingDomainId": "22222222-2222-3333-4444-000000000000", "virtualSubnetId": 5001,
                  "destinationPrefix": "10.1.2.0/24", "nextHop": "0.0.0.0" }
                """)),
            "$.customerRoutes[1].virtualSubnetId");

        Assert.That(problem.Message, Is.EqualTo(
            "5001 is already in routing domain {11111111-2222-3333-4444-000000000000} ($.customerRoutes[0]), "
            + "here in {22222222-2222-3333-4444-000000000000}; a virtual subnet belongs to exactly one routing domain"));
    }

    [Test]
    public void A_customer_route_key_appears_once()
    {
        // HNV refuses a second route with the same (RDID, VSID, prefix); a better metric here
        // would otherwise silently win over the first.
        var problem = SingleProblem(
            c => c["customerRoutes"]!.AsArray().Add(JsonNode.Parse("""
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001,
                  "destinationPrefix": "10.1.1.0/24", "nextHop": "10.1.1.8", "metric": 10 }
                """)),
            "$.customerRoutes[1].destinationPrefix");

        Assert.That(problem.Message, Is.EqualTo(
            "10.1.1.0/24 in virtual subnet 5001 of routing domain {11111111-2222-3333-4444-000000000000} is already routed by $.customerRoutes[0]; "
            + "each (routingDomainId, virtualSubnetId, destinationPrefix) appears once"));
    }

    [Test]
    public void Port_names_macs_and_devices_are_checked_against_the_first_port_that_has_them()
    {
        var problems = Problems(c =>
        {
            var ports = c["ports"]!.AsArray();
            for (int i = 0; i < 3; i++)
            {
                var copy = ports[1]!.DeepClone();
                ports.Add(copy);
            }
        });

        Assert.That(problems.Count(p => p.Path.EndsWith(".name", StringComparison.Ordinal)), Is.EqualTo(3), "one problem per later port");
        Assert.That(problems.Where(p => p.Path.EndsWith(".name", StringComparison.Ordinal)).Select(p => p.Message), Has.All.Contain("is already the name of $.ports[1]"));
    }

    [Test]
    public void Customer_route_vsid_must_not_be_reserved()
    {
        var problem = SingleProblem(c => c["customerRoutes"]![0]!["virtualSubnetId"] = 100, "$.customerRoutes[0].virtualSubnetId");

        Assert.That(problem.Message, Is.EqualTo("100 is reserved; use 4096..16777214"));
    }

    [TestCase("red")]
    [TestCase("(11111111-2222-3333-4444-000000000000)")]
    public void Routing_domain_must_be_a_guid(string rdid)
    {
        var problem = SingleProblem(c => c["customerRoutes"]![0]!["routingDomainId"] = rdid, "$.customerRoutes[0].routingDomainId");

        Assert.That(problem.Message, Does.Contain("is not a GUID; use a GUID such as {11111111-2222-3333-4444-000000000000} (braces optional)"));
    }

    [Test]
    public void Customer_route_next_hop_must_match_the_prefix_family()
    {
        var problem = SingleProblem(c => c["customerRoutes"]![0]!["nextHop"] = "::", "$.customerRoutes[0].nextHop");

        Assert.That(problem.Message, Does.Contain("is IPv6 but the destination prefix 10.1.1.0/24 is IPv4").And.Contain("0.0.0.0 for on-link"));
    }

    // ---- DHCP: lease time and routing domains ---------------------------------------------------

    private const string RedRdid = "{11111111-2222-3333-4444-000000000000}";

    private static JsonObject Domain(string rdid = RedRdid, JsonArray? dns = null, string? domainName = null)
    {
        var d = new JsonObject { ["routingDomainId"] = rdid };
        if (dns is not null)
        {
            d["dnsServers"] = dns;
        }

        if (domainName is not null)
        {
            d["domainName"] = domainName;
        }

        return d;
    }

    [Test]
    public void Routing_domains_and_the_lease_time_load_into_the_typed_model()
    {
        var result = LoadSpecWith(c =>
        {
            c["global"]!["dhcpLeaseSeconds"] = 3600;
            c["routingDomains"] = new JsonArray(Domain(dns: new JsonArray("10.1.1.53", "10.1.1.54"), domainName: "red.example"));
        });

        Assert.That(result.Problems, Is.Empty);
        var c = result.Config!;
        Assert.That(c.Global.DhcpLeaseSeconds, Is.EqualTo(3600));
        var d = c.RoutingDomains.Single();
        Assert.That(d.RoutingDomainId, Is.EqualTo(Red));
        Assert.That(d.DnsServers, Is.EqualTo(new[] { IpAddr.Parse("10.1.1.53"), IpAddr.Parse("10.1.1.54") }));
        Assert.That(d.DomainName, Is.EqualTo("red.example"));
    }

    [Test]
    public void Without_dhcp_settings_the_lease_is_a_day_and_no_domain_has_settings()
    {
        var c = ConfigLoader.Load(SpecExample).Config!;

        Assert.That(c.Global.DhcpLeaseSeconds, Is.EqualTo(86400));
        Assert.That(c.RoutingDomains, Is.Empty);
        var bare = LoadSpecWith(r => r["routingDomains"] = new JsonArray(Domain())).Config!.RoutingDomains.Single();
        Assert.That((bare.DnsServers, bare.DomainName), Is.EqualTo((Array.Empty<IpAddr>(), (string?)null)));
    }

    [TestCase(59, "59 is out of range; use 60..4294967295")]
    [TestCase(4294967296, "4294967296 is out of range; use 60..4294967295")]
    [TestCase(-1, "-1 is out of range; use 60..4294967295")]
    public void Dhcp_lease_must_be_60_to_4294967295_seconds(long lease, string message)
    {
        var problem = SingleProblem(c => c["global"]!["dhcpLeaseSeconds"] = lease, "$.global.dhcpLeaseSeconds");

        Assert.That(problem.Message, Is.EqualTo(message));
    }

    [Test]
    public void Migration_settings_default_to_30_s_of_grace_and_no_trust_in_redirects()
    {
        var c = ConfigLoader.Load(SpecExample).Config!;
        Assert.That((c.Global.MigrationGraceSeconds, c.Global.TrustRedirects), Is.EqualTo((30u, false)));

        var set = LoadSpecWith(r =>
        {
            r["global"]!["migrationGraceSeconds"] = 0;
            r["global"]!["trustRedirects"] = true;
        }).Config!;
        Assert.That((set.Global.MigrationGraceSeconds, set.Global.TrustRedirects), Is.EqualTo((0u, true)));
    }

    [TestCase(3601, "$.global.migrationGraceSeconds", "3601 is out of range; use 0..3600")]
    [TestCase(-1, "$.global.migrationGraceSeconds", "-1 is out of range; use 0..3600")]
    public void Migration_grace_must_be_0_to_3600_seconds(long seconds, string path, string message)
    {
        var problem = SingleProblem(c => c["global"]!["migrationGraceSeconds"] = seconds, path);

        Assert.That(problem.Message, Is.EqualTo(message));
    }

    [Test]
    public void Trust_redirects_must_be_a_boolean()
    {
        var problem = SingleProblem(c => c["global"]!["trustRedirects"] = "yes", "$.global.trustRedirects");

        Assert.That(problem.Message, Does.Contain("true or false"));
    }

    [Test]
    public void Infinite_dhcp_lease_is_accepted()
    {
        Assert.That(LoadSpecWith(c => c["global"]!["dhcpLeaseSeconds"] = 4294967295L).Config!.Global.DhcpLeaseSeconds, Is.EqualTo(uint.MaxValue));
    }

    [Test]
    public void Routing_domain_that_no_customer_route_names_is_reported()
    {
        var problem = SingleProblem(c => c["routingDomains"] = new JsonArray(Domain("{99999999-2222-3333-4444-000000000000}")), "$.routingDomains[0].routingDomainId");

        Assert.That(problem.Message, Is.EqualTo(
            "{99999999-2222-3333-4444-000000000000} is not the routing domain of any customer route; use the routingDomainId of a customer route: {11111111-2222-3333-4444-000000000000}"));
    }

    [Test]
    public void Routing_domain_given_twice_is_reported_at_the_second()
    {
        var problem = SingleProblem(c => c["routingDomains"] = new JsonArray(Domain(), Domain("11111111-2222-3333-4444-000000000000")), "$.routingDomains[1].routingDomainId");

        Assert.That(problem.Message, Is.EqualTo("{11111111-2222-3333-4444-000000000000} is already configured by $.routingDomains[0]; each routing domain appears once"));
    }

    [Test]
    public void Routing_domain_needs_its_id()
    {
        var problem = SingleProblem(c => c["routingDomains"] = new JsonArray(new JsonObject { ["dnsServers"] = new JsonArray("10.1.1.53") }), "$.routingDomains[0].routingDomainId");

        Assert.That(problem.Message, Does.StartWith("is required; give a GUID"));
    }

    [Test]
    public void Routing_domain_with_an_unknown_field_is_reported()
    {
        var problem = SingleProblem(c => c["routingDomains"] = new JsonArray(new JsonObject { ["routingDomainId"] = RedRdid, ["dnsServer"] = "10.1.1.53" }), "$.routingDomains[0].dnsServer");

        Assert.That(problem.Message, Is.EqualTo("unknown field; did you mean \"dnsServers\"? valid fields are routingDomainId, dnsServers, domainName"));
    }

    [TestCase("2001:db8::53", "2001:db8::53 is IPv6; DHCPv4 option 6 carries IPv4 addresses only, so give the IPv4 address of a DNS server")]
    [TestCase("0.0.0.0", "0.0.0.0 is not a unicast address; give the IPv4 address of a DNS server")]
    [TestCase("255.255.255.255", "255.255.255.255 is not a unicast address; give the IPv4 address of a DNS server")]
    [TestCase("224.0.0.251", "224.0.0.251 is not a unicast address; give the IPv4 address of a DNS server")]
    [TestCase("10.1.1", "\"10.1.1\" is not an IPv4 or IPv6 address; use an IPv4 or IPv6 address such as 10.1.1.7 or 2001:db8::7")]
    [TestCase("10.1.1.53", "10.1.1.53 is already given at $.routingDomains[0].dnsServers[0]; list each DNS server once")]
    public void Dns_server_must_be_a_distinct_ipv4_unicast_address(string address, string message)
    {
        var problem = SingleProblem(c => c["routingDomains"] = new JsonArray(Domain(dns: new JsonArray("10.1.1.53", address))), "$.routingDomains[0].dnsServers[1]");

        Assert.That(problem.Message, Is.EqualTo(message));
    }

    [Test]
    public void Dns_servers_are_strings_in_an_array_of_at_most_63()
    {
        var wrongItem = SingleProblem(c => c["routingDomains"] = new JsonArray(Domain(dns: new JsonArray(53))), "$.routingDomains[0].dnsServers[0]");
        Assert.That(wrongItem.Message, Is.EqualTo("expected an IPv4 or IPv6 address such as 10.1.1.7 or 2001:db8::7, got the number 53"));

        var notArray = SingleProblem(c => c["routingDomains"] = new JsonArray(new JsonObject { ["routingDomainId"] = RedRdid, ["dnsServers"] = "10.1.1.53" }), "$.routingDomains[0].dnsServers");
        Assert.That(notArray.Message, Is.EqualTo("expected an array of addresses, got the string \"10.1.1.53\""));

        var many = new JsonArray([.. Enumerable.Range(1, 64).Select(i => (JsonNode?)JsonValue.Create($"10.1.2.{i}"))]);
        var tooMany = SingleProblem(c => c["routingDomains"] = new JsonArray(Domain(dns: many)), "$.routingDomains[0].dnsServers");
        Assert.That(tooMany.Message, Is.EqualTo("has 64 servers; DHCP option 6 holds at most 63"));
    }

    [TestCase("red.example.")]
    [TestCase("-red.example")]
    [TestCase("red..example")]
    [TestCase("red_zone.example")]
    [TestCase("")]
    [TestCase("r\u00e9d.example")]
    public void Domain_name_must_be_a_dns_name(string name)
    {
        var problem = SingleProblem(c => c["routingDomains"] = new JsonArray(Domain(domainName: System.Text.RegularExpressions.Regex.Unescape(name))), "$.routingDomains[0].domainName");

        Assert.That(problem.Message, Does.Contain("is not a DNS name of letters, digits and hyphens in dot-separated labels, such as corp.example.com"));
        if (name.EndsWith('.'))
        {
            Assert.That(problem.Message, Does.EndWith("; leave out the final dot: \"red.example\""));
        }
    }

    [Test]
    public void Domain_name_labels_are_at_most_63_and_the_name_at_most_253_characters()
    {
        string label63 = new('a', 63);
        string name253 = string.Join('.', label63, label63, label63, new string('b', 61));
        Assert.That(LoadSpecWith(c => c["routingDomains"] = new JsonArray(Domain(domainName: name253))).Problems, Is.Empty);
        SingleProblem(c => c["routingDomains"] = new JsonArray(Domain(domainName: name253 + "b")), "$.routingDomains[0].domainName");
        SingleProblem(c => c["routingDomains"] = new JsonArray(Domain(domainName: new string('a', 64) + ".example")), "$.routingDomains[0].domainName");
    }

    [Test]
    public void Unknown_routing_domain_is_not_reported_while_a_customer_route_is_unreadable()
    {
        // The broken route's routing domain cannot be known, so the domain is not called unknown.
        var problems = Problems(c =>
        {
            c["customerRoutes"]![0]!["metric"] = -1;
            c["routingDomains"] = new JsonArray(Domain("{99999999-2222-3333-4444-000000000000}"));
        });

        Assert.That(problems.Select(p => p.Path), Is.EqualTo(new[] { "$.customerRoutes[0].metric" }));
    }

    // ---- all at once -----------------------------------------------------------------------------

    [Test]
    public void Every_problem_is_reported_at_once_in_document_order()
    {
        // providerAddresses comes before the ports it names; the reader reads ports first, the report follows the file.
        var result = ConfigLoader.Load("""
            {
              "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "nosuch" } ],
              "ports": [
                { "name": "p0", "role": "provider", "macAddress": "FF-FF-FF-FF-FF-FF", "mtu": 100 },
                { "name": "p0", "role": "vm", "macAddress": "00-15-5D-00-00-01" }
              ],
              "lookupRecords": [
                { "customerAddress": "10.1.1.7", "virtualSubnetId": 42, "macAddress": "00-15-5D-00-00-01",
                  "providerAddress": "0.0.0.0", "bogus": 1 }
              ],
              "customerRoutes": [
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24" }
              ],
              "global": { "outerTtl": 0 }
            }
            """);

        Assert.That(result.Config, Is.Null);
        Assert.That(result.Problems.Select(p => p.Path), Is.EqualTo(new[]
        {
            "$.providerAddresses[0].port",
            "$.ports[0].macAddress",
            "$.ports[0].mtu",
            "$.ports[1].name",
            "$.ports[1].virtualSubnetId",
            "$.lookupRecords[0].virtualSubnetId",
            "$.lookupRecords[0].providerAddress",
            "$.lookupRecords[0].bogus",
            "$.customerRoutes[0].nextHop",
            "$.global.outerTtl",
        }));
        Assert.That(result.Problems.Select(p => p.Message), Is.EqualTo(new[]
        {
            "\"nosuch\" is not a port; use one of: p0",
            "FF-FF-FF-FF-FF-FF is the broadcast MAC address; use a unicast MAC (low bit of the first byte clear), not all zeros",
            "100 is out of range; use 576..65535",
            "\"p0\" is already the name of $.ports[0]; port names must be unique",
            "is required; give an integer in 4096..16777214",
            "42 is reserved; use 4096..16777214",
            "0.0.0.0 is the unspecified address; give the provider address of the host the VM runs on",
            "unknown field; valid fields are customerAddress, virtualSubnetId, macAddress, providerAddress, rule, type, vmName, customerId, context",
            "is required; give an IPv4 or IPv6 address such as 10.1.1.7 or 2001:db8::7",
            "0 is out of range; use 1..255",
        }));
    }

    // ---- robustness ------------------------------------------------------------------------------

    [TestCase("{\"ports\": [1, \"x\", null, []]}")]
    [TestCase("{\"ports\": [{\"name\": {}, \"role\": [], \"macAddress\": true, \"mtu\": null}]}")]
    [TestCase("{\"host\": \"hv1\", \"global\": [], \"customerRoutes\": 5}")]
    [TestCase("{\"a\\u0000b'\": 1}")]
    [TestCase("{\"host\": {\"name\": \"\\ud800\"}, \"\\udc00x\": 1}")]
    [TestCase("{\"ports\": [{\"name\": \"\\ud800\", \"role\": \"vm\", \"macAddress\": \"\\udfff\", \"virtualSubnetId\": 5001}]}")]
    [TestCase("{\"lookupRecords\": [{\"customerAddress\": \"fe80::1%eth0\", \"virtualSubnetId\": 1e400}]}")]
    public void Strange_documents_give_problems_not_exceptions(string json)
    {
        ConfigLoadResult? result = null;
        Assert.DoesNotThrow(() => result = ConfigLoader.Load(json));
        Assert.That(result!.Config, Is.Null);
        Assert.That(result.Problems, Is.Not.Empty);
    }

    [Test]
    public void Half_a_surrogate_pair_is_reported_at_its_string()
    {
        var result = ConfigLoader.Load("""{ "host": { "name": "hv\ud800" } }""");

        Assert.That(result.Problems.Select(p => p.ToString()), Is.EqualTo(new[]
        {
            "$.host.name: the string contains a \\u escape of half a UTF-16 surrogate pair; write the character itself or a complete pair",
        }));
    }

    [Test]
    public void Deeply_nested_document_gives_a_problem_not_an_exception()
    {
        string json = string.Concat(Enumerable.Repeat("[", 10_000)) + string.Concat(Enumerable.Repeat("]", 10_000));

        var result = ConfigLoader.Load(json);

        Assert.That(result.Problems.Single().Message, Does.StartWith("not valid JSON"));
    }

    [Test]
    public void Mangled_copies_of_the_spec_example_never_throw()
    {
        var random = new Random(20240601);
        for (int i = 0; i < 2000; i++)
        {
            char[] text = SpecExample.ToCharArray();
            for (int edits = random.Next(1, 4); edits > 0; edits--)
            {
                text[random.Next(text.Length)] = "{}[]\",:0123456789-abcdefx./ "[random.Next(28)];
            }

            string json = new(text);
            Assert.DoesNotThrow(() => ConfigLoader.Load(json), json);
        }
    }

    // ---- helpers ---------------------------------------------------------------------------------

    private static ConfigLoadResult LoadSpecWith(Action<JsonObject> change)
    {
        var root = JsonNode.Parse(SpecExample)!.AsObject();
        change(root);
        return ConfigLoader.Load(root.ToJsonString());
    }

    private static IReadOnlyList<ConfigProblem> Problems(Action<JsonObject> change)
    {
        var result = LoadSpecWith(change);
        Assert.That(result.Config, Is.Null);
        return result.Problems;
    }

    /// <summary>Applies <paramref name="change"/> to the spec example and expects exactly one problem, at <paramref name="path"/>.</summary>
    private static ConfigProblem SingleProblem(Action<JsonObject> change, string path)
    {
        var problems = Problems(change);
        Assert.That(problems.Select(p => p.Path), Is.EqualTo(new[] { path }), () => string.Join(Environment.NewLine, problems));
        return problems[0];
    }

    private static JsonObject Port(JsonObject config, int index) => config["ports"]![index]!.AsObject();

    private static JsonObject Record(JsonObject config, int index) => config["lookupRecords"]![index]!.AsObject();

    /// <summary>Renames a field in place, keeping its value and position.</summary>
    private static void Rename(JsonObject obj, string from, string to)
    {
        var pairs = obj.ToList();
        obj.Clear();
        foreach (var (name, value) in pairs)
        {
            obj[name == from ? to : name] = value;
        }
    }
}
