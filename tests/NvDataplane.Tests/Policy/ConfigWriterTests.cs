using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Policy;

/// <summary>HostConfig → the configuration file of SPEC section 2: exact text, and loaded back to the same configuration.</summary>
public class ConfigWriterTests
{
    private static readonly Guid Red = new("11111111-2222-3333-4444-000000000000");
    private static readonly Guid Green = new("11111111-2222-3333-4444-000000000002");

    /// <summary>SPEC.md's example as written back: defaults spelled out (dhcpLeaseSeconds, mtu, type), one entry per line.</summary>
    private const string SpecExampleWritten = """
        {
          "host": { "name": "hv1" },
          "global": { "gatewayMac": "00-15-5D-FF-FF-FF", "outerTtl": 64, "useExternalRouter": false, "dhcpLeaseSeconds": 86400, "migrationGraceSeconds": 30, "trustRedirects": false },
          "ports": [
            { "name": "pnic0", "role": "provider", "device": "afpacket:eth1", "macAddress": "02-00-00-00-01-0A", "mtu": 1500 },
            { "name": "red1", "role": "vm", "device": "tap:red1", "macAddress": "00-15-5D-00-00-01", "mtu": 1500, "virtualSubnetId": 5001, "vmName": "Red-1" },
            { "name": "blue1", "role": "vm", "device": "tap:blue1", "macAddress": "00-15-5D-00-01-01", "mtu": 1500, "virtualSubnetId": 6001, "vmName": "Blue-1" }
          ],
          "providerAddresses": [
            { "address": "192.168.1.10", "prefixLength": 24, "vlanId": 0, "port": "pnic0" }
          ],
          "providerRoutes": [
            { "destinationPrefix": "0.0.0.0/0", "nextHop": "192.168.1.1", "metric": 5 }
          ],
          "providerNeighbors": [
            { "address": "192.168.1.11", "macAddress": "02-00-00-00-01-0B" }
          ],
          "lookupRecords": [
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10", "rule": "TranslationMethodEncap", "type": "Static", "vmName": "Red-1" },
            { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.11", "rule": "TranslationMethodEncap", "type": "Static" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0", "metric": 255 }
          ]
        }

        """;

    /// <summary>Every section and every optional field of the model, written by hand.</summary>
    private const string EverythingWritten = """
        {
          "host": { "name": "hv-ä1" },
          "global": { "gatewayMac": "00-15-5D-FF-FF-FE", "outerTtl": 32, "useExternalRouter": true, "dhcpLeaseSeconds": 4294967295, "migrationGraceSeconds": 0, "trustRedirects": true },
          "ports": [
            { "name": "pnic0", "role": "provider", "device": "afpacket:eth1", "macAddress": "02-00-00-00-01-0A", "mtu": 9000 },
            { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "mtu": 1500, "virtualSubnetId": 5001, "vmName": "Rød \"1\" \\ x" },
            { "name": "ext0", "role": "external", "device": "tap:ext0", "macAddress": "02-00-00-00-02-01", "mtu": 1500, "virtualSubnetId": 7001, "address": "203.0.113.2", "prefixLength": 24, "nextHop": "203.0.113.1", "address6": "2001:db8:1::2", "prefixLength6": 64, "vlanId": 100 },
            { "name": "ext6", "role": "external", "macAddress": "02-00-00-00-02-02", "mtu": 1500, "virtualSubnetId": 7002, "address": "2001:db8:2::2", "prefixLength": 64, "nextHop": "2001:db8:2::1", "vlanId": 0 }
          ],
          "providerAddresses": [
            { "address": "192.168.1.10", "prefixLength": 24, "vlanId": 12, "port": "pnic0" },
            { "address": "192.168.1.20", "prefixLength": 24, "vlanId": 0, "port": "pnic0" },
            { "address": "2001:db8::10", "prefixLength": 64, "vlanId": 0, "port": "pnic0" }
          ],
          "providerRoutes": [
            { "destinationPrefix": "0.0.0.0/0", "nextHop": "192.168.1.1", "metric": 5 },
            { "destinationPrefix": "2001:db8:ff::/48", "nextHop": "2001:db8::1", "metric": 0 }
          ],
          "providerNeighbors": [],
          "lookupRecords": [
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10", "rule": "TranslationMethodEncap", "type": "Static", "vmName": "Red-1", "customerId": "{C0FFEE00-0000-0000-0000-000000000001}", "context": "rack 4" },
            { "customerAddress": "10.1.1.20", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.20", "rule": "TranslationMethodNat", "type": "Static" },
            { "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-03", "providerAddress": "192.168.1.11", "rule": "TranslationMethodEncap", "type": "L2Only" },
            { "customerAddress": "0.0.0.0", "virtualSubnetId": 7001, "macAddress": "02-00-00-00-02-01", "providerAddress": "192.168.1.10", "rule": "TranslationMethodEncap", "type": "GatewayWildcard" },
            { "customerAddress": "::", "virtualSubnetId": 7001, "macAddress": "02-00-00-00-02-01", "providerAddress": "2001:db8::10", "rule": "TranslationMethodEncap", "type": "GatewayWildcard" },
            { "customerAddress": "::", "virtualSubnetId": 7002, "macAddress": "02-00-00-00-02-02", "providerAddress": "2001:db8::10", "rule": "TranslationMethodEncap", "type": "GatewayWildcard" },
            { "customerAddress": "fd00::7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "2001:db8::10", "rule": "TranslationMethodEncap", "type": "Dynamic" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0", "metric": 255 },
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 7001, "destinationPrefix": "0.0.0.0/0", "nextHop": "0.0.0.0", "metric": 10 },
            { "routingDomainId": "{11111111-2222-3333-4444-000000000002}", "virtualSubnetId": 7002, "destinationPrefix": "::/0", "nextHop": "::", "metric": 255 }
          ],
          "acls": [
            { "virtualSubnetId": 5001, "priority": 100, "direction": "inbound", "protocol": "tcp", "sourcePrefix": "10.1.2.0/24", "destinationPorts": 22, "action": "deny", "name": "no-ssh" },
            { "virtualSubnetId": 5001, "priority": 200, "direction": "both", "protocol": 47, "action": "allow" },
            { "virtualSubnetId": 5001, "priority": 300, "direction": "outbound", "protocol": "udp", "destinationPrefix": "10.1.1.0/24", "sourcePorts": "1024-65535", "action": "allow", "name": "udp-out" },
            { "virtualSubnetId": 5001, "priority": 400, "direction": "inbound", "protocol": "icmpv6", "sourcePrefix": "fd00::/64", "action": "deny" }
          ],
          "routingDomains": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "dnsServers": ["10.1.1.53", "10.1.1.54"], "domainName": "red.example.com" }
          ],
          "virtualSubnets": [
            { "virtualSubnetId": 5001, "flooding": true }
          ]
        }

        """;

    private static MacAddress Mac(string text) => MacAddress.Parse(text);

    private static IpAddr Ip(string text) => IpAddr.Parse(text);

    private static HostConfig Everything() => new(
        "hv-ä1",
        new GlobalSettings(Mac("00-15-5D-FF-FF-FE"), 32, true) { DhcpLeaseSeconds = uint.MaxValue, MigrationGraceSeconds = 0, TrustRedirects = true },
        [
            new PortConfig("pnic0", PortRole.Provider, "afpacket:eth1", Mac("02-00-00-00-01-0A"), 9000, null, null),
            new PortConfig("red1", PortRole.Vm, null, Mac("00-15-5D-00-00-01"), 1500, 5001, "Rød \"1\" \\ x"),
            new PortConfig("ext0", PortRole.External, "tap:ext0", Mac("02-00-00-00-02-01"), 1500, 7001, null, new ExternalPortConfig(
                new ExternalAddress(Ip("203.0.113.2"), 24, Ip("203.0.113.1")), new ExternalAddress(Ip("2001:db8:1::2"), 64, IpAddr.Any6), 100)),
            new PortConfig("ext6", PortRole.External, null, Mac("02-00-00-00-02-02"), 1500, 7002, null, new ExternalPortConfig(
                null, new ExternalAddress(Ip("2001:db8:2::2"), 64, Ip("2001:db8:2::1")), 0)),
        ],
        [
            new ProviderAddressConfig(Ip("192.168.1.10"), 24, 12, "pnic0"),
            new ProviderAddressConfig(Ip("192.168.1.20"), 24, 0, "pnic0"),
            new ProviderAddressConfig(Ip("2001:db8::10"), 64, 0, "pnic0"),
        ],
        [
            new ProviderRouteConfig(IpPrefix.Parse("0.0.0.0/0"), Ip("192.168.1.1"), 5),
            new ProviderRouteConfig(IpPrefix.Parse("2001:db8:ff::/48"), Ip("2001:db8::1"), 0),
        ],
        [],
        [
            new LookupRecordConfig(Ip("10.1.1.7"), 5001, Mac("00-15-5D-00-00-01"), Ip("192.168.1.10"), TranslationRule.Encap, RecordType.Static, "Red-1", "{C0FFEE00-0000-0000-0000-000000000001}", "rack 4"),
            new LookupRecordConfig(Ip("10.1.1.20"), 5001, Mac("00-15-5D-00-00-02"), Ip("192.168.1.20"), TranslationRule.Nat, RecordType.Static),
            new LookupRecordConfig(IpAddr.Any4, 5001, Mac("00-15-5D-00-00-03"), Ip("192.168.1.11"), TranslationRule.Encap, RecordType.L2Only),
            new LookupRecordConfig(IpAddr.Any4, 7001, Mac("02-00-00-00-02-01"), Ip("192.168.1.10"), TranslationRule.Encap, RecordType.GatewayWildcard),
            new LookupRecordConfig(IpAddr.Any6, 7001, Mac("02-00-00-00-02-01"), Ip("2001:db8::10"), TranslationRule.Encap, RecordType.GatewayWildcard),
            new LookupRecordConfig(IpAddr.Any6, 7002, Mac("02-00-00-00-02-02"), Ip("2001:db8::10"), TranslationRule.Encap, RecordType.GatewayWildcard),
            new LookupRecordConfig(Ip("fd00::7"), 5001, Mac("00-15-5D-00-00-01"), Ip("2001:db8::10"), TranslationRule.Encap, RecordType.Dynamic),
        ],
        [
            new CustomerRouteConfig(Red, 5001, IpPrefix.Parse("10.1.1.0/24"), IpAddr.Any4, 255),
            new CustomerRouteConfig(Red, 7001, IpPrefix.Parse("0.0.0.0/0"), IpAddr.Any4, 10),
            new CustomerRouteConfig(Green, 7002, IpPrefix.Parse("::/0"), IpAddr.Any6, 255), // a routing domain has one gateway per family
        ])
    {
        Acls =
        [
            new AclRuleConfig(5001, 100, AclDirection.Inbound, IpProtocol.Tcp, IpPrefix.Parse("10.1.2.0/24"), null, PortRange.All, new PortRange(22, 22), AclAction.Deny, "no-ssh"),
            new AclRuleConfig(5001, 200, AclDirection.Both, IpProtocol.Gre, null, null, PortRange.All, PortRange.All, AclAction.Allow),
            new AclRuleConfig(5001, 300, AclDirection.Outbound, IpProtocol.Udp, null, IpPrefix.Parse("10.1.1.0/24"), new PortRange(1024, 65535), PortRange.All, AclAction.Allow, "udp-out"),
            new AclRuleConfig(5001, 400, AclDirection.Inbound, IpProtocol.Icmpv6, IpPrefix.Parse("fd00::/64"), null, PortRange.All, PortRange.All, AclAction.Deny),
        ],
        RoutingDomains = [new RoutingDomainConfig(Red, [Ip("10.1.1.53"), Ip("10.1.1.54")], "red.example.com")],
        VirtualSubnets = [new VirtualSubnetConfig(5001, true)],
    };

    [Test]
    public void Spec_example_is_written_in_its_field_order_with_the_defaults_spelled_out()
    {
        var loaded = ConfigLoader.Load(ConfigLoaderTests.SpecExample);
        Assert.That(loaded.Problems, Is.Empty);

        Assert.That(ConfigWriter.Write(loaded.Config!), Is.EqualTo(SpecExampleWritten));
    }

    [Test]
    public void Every_section_and_optional_field_is_written()
    {
        Assert.That(ConfigWriter.Write(Everything()), Is.EqualTo(EverythingWritten));
    }

    [Test]
    public void What_is_written_loads_back_to_the_same_configuration()
    {
        var original = Everything();
        var loaded = ConfigLoader.Load(ConfigWriter.Write(original));

        Assert.That(loaded.Problems, Is.Empty);
        var c = loaded.Config!;
        Assert.That(c.HostName, Is.EqualTo(original.HostName));
        Assert.That(c.Global, Is.EqualTo(original.Global));
        Assert.That(c.Ports, Is.EqualTo(original.Ports));
        Assert.That(c.ProviderAddresses, Is.EqualTo(original.ProviderAddresses));
        Assert.That(c.ProviderRoutes, Is.EqualTo(original.ProviderRoutes));
        Assert.That(c.ProviderNeighbors, Is.EqualTo(original.ProviderNeighbors));
        Assert.That(c.LookupRecords, Is.EqualTo(original.LookupRecords));
        Assert.That(c.CustomerRoutes, Is.EqualTo(original.CustomerRoutes));
        Assert.That(c.Acls, Is.EqualTo(original.Acls));
        Assert.That(c.VirtualSubnets, Is.EqualTo(original.VirtualSubnets));
        var domain = c.RoutingDomains.Single();
        Assert.That((domain.RoutingDomainId, domain.DomainName), Is.EqualTo((Red, "red.example.com")));
        Assert.That(domain.DnsServers, Is.EqualTo(original.RoutingDomains[0].DnsServers));
    }

    [TestCaseSource(nameof(ScenarioConfigs))]
    public void Every_scenario_config_is_written_so_that_it_loads_and_writes_the_same_again(string scenario)
    {
        var first = ConfigLoader.LoadFile(Path.Combine(TestPaths.Captures, scenario, "config.json"));
        Assert.That(first.Problems, Is.Empty);
        string written = ConfigWriter.Write(first.Config!);

        var again = ConfigLoader.Load(written);

        Assert.That(again.Problems, Is.Empty, written);
        Assert.That(ConfigWriter.Write(again.Config!), Is.EqualTo(written));
        Assert.That(again.Config!.LookupRecords, Is.EqualTo(first.Config!.LookupRecords));
        Assert.That(again.Config.Ports, Is.EqualTo(first.Config.Ports));
    }

    [Test]
    public void Sections_beyond_the_spec_example_are_left_out_when_empty_and_the_core_ones_are_not()
    {
        var empty = new HostConfig("h", GlobalSettings.Default, [], [], [], [], [], []);

        string text = ConfigWriter.Write(empty);

        Assert.That(text, Does.Contain("\"ports\": [],\n").And.Contain("\"customerRoutes\": []\n}"));
        Assert.That(text, Does.Not.Contain("acls").And.Not.Contain("routingDomains").And.Not.Contain("virtualSubnets"));
        Assert.That(ConfigLoader.Load(text).Problems, Is.Empty);
    }

    private static IEnumerable<string> ScenarioConfigs() =>
        Directory.GetDirectories(TestPaths.Captures)
            .Where(d => File.Exists(Path.Combine(d, "config.json")))
            .Select(Path.GetFileName)
            .OfType<string>()
            .Order(StringComparer.Ordinal);
}
