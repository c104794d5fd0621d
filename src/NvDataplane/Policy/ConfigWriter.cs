using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// Writes a <see cref="HostConfig"/> as the configuration file of SPEC section 2, the inverse of
/// <see cref="ConfigLoader"/>: loading the text gives back an equal configuration.
/// </summary>
/// <remarks>
/// The layout is the SPEC example's: sections and fields in its order (the sections beyond it,
/// <c>acls</c>, <c>routingDomains</c> and <c>virtualSubnets</c>, after it and only when they have
/// entries), two-space indentation, one array entry per line, MACs as <c>00-15-5D-00-00-01</c>,
/// rules and types by their HNV names. Every value the model holds is written, defaults included,
/// so the text shows what runs; what the model leaves out (a port without a device, a record
/// without a VM name) is left out. The same configuration always gives the same text.
/// </remarks>
public static class ConfigWriter
{
    private const string Indent = "  ";

    public static string Write(HostConfig config)
    {
        var sections = new List<string>
        {
            Section("host", new Entry().Add("name", Text(config.HostName))),
            Section("global", Global(config.Global)),
            Section("ports", config.Ports.Select(Port)),
            Section("providerAddresses", config.ProviderAddresses.Select(ProviderAddress)),
            Section("providerRoutes", config.ProviderRoutes.Select(ProviderRoute)),
            Section("providerNeighbors", config.ProviderNeighbors.Select(ProviderNeighbor)),
            Section("lookupRecords", config.LookupRecords.Select(LookupRecord)),
            Section("customerRoutes", config.CustomerRoutes.Select(CustomerRoute)),
        };
        if (config.Acls.Count != 0)
        {
            sections.Add(Section("acls", config.Acls.Select(Acl)));
        }

        if (config.RoutingDomains.Count != 0)
        {
            sections.Add(Section("routingDomains", config.RoutingDomains.Select(RoutingDomain)));
        }

        if (config.VirtualSubnets.Count != 0)
        {
            sections.Add(Section("virtualSubnets", config.VirtualSubnets.Select(VirtualSubnet)));
        }

        return "{\n" + string.Join(",\n", sections) + "\n}\n";
    }

    /// <summary>A JSON string literal; characters beyond ASCII are written as they are.</summary>
    private static string Text(string value) =>
        "\"" + JsonEncodedText.Encode(value, JavaScriptEncoder.UnsafeRelaxedJsonEscaping).ToString() + "\"";

    private static string Section(string name, Entry value) => $"{Indent}{Text(name)}: {value}";

    private static string Section(string name, IEnumerable<Entry> entries)
    {
        var lines = entries.Select(e => $"{Indent}{Indent}{e}").ToList();
        string array = lines.Count == 0 ? "[]" : "[\n" + string.Join(",\n", lines) + $"\n{Indent}]";
        return $"{Indent}{Text(name)}: {array}";
    }

    private static Entry Global(GlobalSettings global) => new Entry()
        .Add("gatewayMac", Text(global.GatewayMac))
        .Add("outerTtl", Number(global.OuterTtl))
        .Add("useExternalRouter", global.UseExternalRouter ? "true" : "false")
        .Add("dhcpLeaseSeconds", Number(global.DhcpLeaseSeconds))
        .Add("migrationGraceSeconds", Number(global.MigrationGraceSeconds))
        .Add("trustRedirects", global.TrustRedirects ? "true" : "false");

    private static Entry Port(PortConfig port)
    {
        var entry = new Entry()
            .Add("name", Text(port.Name))
            .Add("role", Text(RoleName(port.Role)))
            .Add("device", port.Device is null ? null : Text(port.Device))
            .Add("macAddress", Text(port.MacAddress))
            .Add("mtu", Number(port.Mtu))
            .Add("virtualSubnetId", port.VirtualSubnetId is { } vsid ? Number(vsid) : null)
            .Add("vmName", port.VmName is null ? null : Text(port.VmName));
        if (port.External is { } external)
        {
            // ConfigExternalPortReader: "address" is the first family (IPv4 when the port has it), "address6" the IPv6 leg beside IPv4.
            var first = external.V4 ?? external.V6;
            var second = external.V4 is null ? null : external.V6;
            AddExternalAddress(entry, first, "address", "prefixLength", "nextHop");
            AddExternalAddress(entry, second, "address6", "prefixLength6", "nextHop6");
            entry.Add("vlanId", Number(external.VlanId));
        }

        return entry;
    }

    private static void AddExternalAddress(Entry entry, ExternalAddress? address, string addressField, string lengthField, string hopField)
    {
        if (address is null)
        {
            return;
        }

        entry.Add(addressField, Text(address.Address))
            .Add(lengthField, Number(address.PrefixLength))
            .Add(hopField, address.HasNextHop ? Text(address.NextHop) : null);
    }

    private static Entry ProviderAddress(ProviderAddressConfig pa) => new Entry()
        .Add("address", Text(pa.Address))
        .Add("prefixLength", Number(pa.PrefixLength))
        .Add("vlanId", Number(pa.VlanId))
        .Add("port", Text(pa.Port));

    private static Entry ProviderRoute(ProviderRouteConfig route) => new Entry()
        .Add("destinationPrefix", Text(route.DestinationPrefix))
        .Add("nextHop", Text(route.NextHop))
        .Add("metric", Number(route.Metric));

    private static Entry ProviderNeighbor(ProviderNeighborConfig neighbor) => new Entry()
        .Add("address", Text(neighbor.Address))
        .Add("macAddress", Text(neighbor.MacAddress));

    private static Entry LookupRecord(LookupRecordConfig record) => new Entry()
        .Add("customerAddress", Text(record.CustomerAddress))
        .Add("virtualSubnetId", Number(record.VirtualSubnetId))
        .Add("macAddress", Text(record.MacAddress))
        .Add("providerAddress", Text(record.ProviderAddress))
        .Add("rule", Text(RuleName(record.Rule)))
        .Add("type", Text(record.Type.ToString()))
        .Add("vmName", record.VmName is null ? null : Text(record.VmName))
        .Add("customerId", record.CustomerId is null ? null : Text(record.CustomerId))
        .Add("context", record.Context is null ? null : Text(record.Context));

    private static Entry CustomerRoute(CustomerRouteConfig route) => new Entry()
        .Add("routingDomainId", Text(route.RoutingDomainId))
        .Add("virtualSubnetId", Number(route.VirtualSubnetId))
        .Add("destinationPrefix", Text(route.DestinationPrefix))
        .Add("nextHop", Text(route.NextHop))
        .Add("metric", Number(route.Metric));

    private static Entry Acl(AclRuleConfig rule) => new Entry()
        .Add("virtualSubnetId", Number(rule.VirtualSubnetId))
        .Add("priority", Number(rule.Priority))
        .Add("direction", Text(DirectionName(rule.Direction)))
        .Add("protocol", rule.Protocol is { } protocol ? ProtocolValue(protocol) : null)
        .Add("sourcePrefix", rule.SourcePrefix is { } source ? Text(source) : null)
        .Add("destinationPrefix", rule.DestinationPrefix is { } destination ? Text(destination) : null)
        .Add("sourcePorts", PortsValue(rule.SourcePorts))
        .Add("destinationPorts", PortsValue(rule.DestinationPorts))
        .Add("action", Text(rule.Action == AclAction.Allow ? "allow" : "deny"))
        .Add("name", rule.Name is null ? null : Text(rule.Name));

    private static Entry RoutingDomain(RoutingDomainConfig domain) => new Entry()
        .Add("routingDomainId", Text(domain.RoutingDomainId))
        .Add("dnsServers", "[" + string.Join(", ", domain.DnsServers.Select(Text)) + "]")
        .Add("domainName", domain.DomainName is null ? null : Text(domain.DomainName));

    private static Entry VirtualSubnet(VirtualSubnetConfig subnet) => new Entry()
        .Add("virtualSubnetId", Number(subnet.VirtualSubnetId))
        .Add("flooding", subnet.Flooding ? "true" : "false");

    private static string Text(MacAddress mac) => Text(mac.ToString());

    private static string Text(IpAddr address) => Text(address.ToString());

    private static string Text(IpPrefix prefix) => Text(prefix.ToString());

    private static string Text(Guid id) => Text(id.ToString("B"));

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string RoleName(PortRole role) => role switch
    {
        PortRole.Provider => "provider",
        PortRole.Vm => "vm",
        _ => "external",
    };

    private static string RuleName(TranslationRule rule) =>
        rule == TranslationRule.Nat ? "TranslationMethodNat" : "TranslationMethodEncap";

    private static string DirectionName(AclDirection direction) => direction switch
    {
        AclDirection.Inbound => "inbound",
        AclDirection.Outbound => "outbound",
        _ => "both",
    };

    /// <summary>The names the ACL reader knows, else the number.</summary>
    private static string ProtocolValue(byte protocol) => protocol switch
    {
        IpProtocol.Tcp => Text("tcp"),
        IpProtocol.Udp => Text("udp"),
        IpProtocol.Icmp => Text("icmp"),
        IpProtocol.Icmpv6 => Text("icmpv6"),
        _ => Number(protocol),
    };

    /// <summary>Left out when the rule has no port condition; one port as a number, a range as "low-high".</summary>
    private static string? PortsValue(PortRange ports) =>
        ports.IsAll ? null : ports.Low == ports.High ? Number(ports.Low) : Text(ports.ToString());

    /// <summary>One JSON object on one line: <c>{ "a": 1, "b": "x" }</c>; a null value leaves its field out.</summary>
    private sealed class Entry
    {
        private readonly StringBuilder _text = new("{ ");
        private bool _empty = true;

        public Entry Add(string name, string? value)
        {
            if (value is null)
            {
                return this;
            }

            if (!_empty)
            {
                _text.Append(", ");
            }

            _text.Append(Text(name)).Append(": ").Append(value);
            _empty = false;
            return this;
        }

        public override string ToString() => _empty ? "{}" : _text + " }";
    }
}
