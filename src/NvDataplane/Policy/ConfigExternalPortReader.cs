using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// Reads the fields only an <c>external</c> port has (<c>address</c>, <c>prefixLength</c>,
/// <c>nextHop</c> of either family; <c>address6</c>, <c>prefixLength6</c>, <c>nextHop6</c>, the
/// IPv6 leg of a port whose <c>address</c> is IPv4; <c>vlanId</c>) and checks the port against
/// the rest of the policy: its VSID must belong to a routing domain, and a GatewayWildcard record
/// of that VSID must carry the port's MAC for each family, since the port plays HNV's gateway VM
/// inside the tenant.
/// </summary>
internal static class ConfigExternalPortReader
{
    private const int MaxVlanId = 4094;

    public static readonly string[] Fields = ["address", "prefixLength", "nextHop", "address6", "prefixLength6", "nextHop6", "vlanId"];

    /// <summary>The external addressing of an external port; for other roles, each of these fields is reported.</summary>
    public static ExternalPortConfig? Read(ConfigObjectReader port, PortRole? role)
    {
        if (role != PortRole.External)
        {
            foreach (string field in Fields)
            {
                if (role is not null && port.Has(field))
                {
                    port.Report(field, $"only an external port has {field}; remove it (this is a {(role == PortRole.Vm ? "vm" : "provider")} port)");
                }
            }

            return null;
        }

        bool ok = ReadAddress(port, "address", "prefixLength", "nextHop", out var first);
        ExternalAddress? second = null;
        if (port.Has("address6") || port.Has("prefixLength6") || port.Has("nextHop6"))
        {
            ok &= ReadAddress(port, "address6", "prefixLength6", "nextHop6", out second);
            if (second is { Address.IsV4: true })
            {
                port.Report("address6", $"{second.Address} is not an IPv6 address; address6 is the port's IPv6 address, next to an IPv4 address");
                ok = false;
            }
            else if (first is { Address.IsV4: false })
            {
                port.Report("address6", $"address {first.Address} is already IPv6; give the IPv4 address in address and the IPv6 one in address6");
                ok = false;
            }
        }

        long? vlanId = port.Integer("vlanId", 0, MaxVlanId, whenAbsent: 0);
        if (!ok || first is null || vlanId is not { } v)
        {
            return null;
        }

        return first.Address.IsV4 ? new ExternalPortConfig(first, second, (ushort)v) : new ExternalPortConfig(null, first, (ushort)v);
    }

    /// <summary>One family's address, prefix length and optional next hop; false when any is wrong.</summary>
    private static bool ReadAddress(ConfigObjectReader port, string addressField, string lengthField, string hopField, out ExternalAddress? result)
    {
        result = null;
        var address = port.Address(addressField, required: true);
        if (address is { IsUnspecified: true })
        {
            port.Report(addressField, $"{address} is the unspecified address; give the address this port owns on the external network");
            address = null;
        }

        long? prefixLength = port.Integer(lengthField, 0, address?.BitLength ?? 128, required: true);
        var nextHop = port.Address(hopField, required: false);
        if (address is not { } a || prefixLength is not { } length)
        {
            return false;
        }

        var prefix = new IpPrefix(a, (int)length);
        if (nextHop is { } hop)
        {
            if (hop.IsV4 != a.IsV4)
            {
                port.Report(hopField, $"{hop} is not of the family of {addressField} {a}; give a next hop inside {prefix}");
                return false;
            }

            if (!prefix.Contains(hop) || hop == a)
            {
                port.Report(hopField, $"{hop} is not on the port's network; give another address inside {prefix}");
                return false;
            }
        }

        result = new ExternalAddress(a, (int)length, nextHop ?? (a.IsV4 ? IpAddr.Any4 : IpAddr.Any6));
        return true;
    }

    /// <summary>Checks each external port's VSID against the customer routes and lookup records.</summary>
    public static void Check(
        IReadOnlyList<ConfigPortReader.Draft> ports,
        IReadOnlyList<LookupRecordConfig?> records,
        IReadOnlyList<CustomerRouteConfig?> routes,
        ConfigProblemList problems)
    {
        foreach (var port in ports)
        {
            if (port.Config is not { Role: PortRole.External, VirtualSubnetId: uint vsid, External: { } external })
            {
                continue;
            }

            string path = ConfigJsonPath.Property(port.Path, "virtualSubnetId");
            if (!routes.Any(r => r is not null && r.VirtualSubnetId == vsid))
            {
                problems.Add(path, $"{vsid} belongs to no routing domain; add a customer route for it, so the external port knows which tenant it serves");
                continue;
            }

            foreach (var address in new[] { external.V4, external.V6 })
            {
                bool v4 = address?.Address.IsV4 ?? false;
                if (address is not null && !records.Any(r => r is { Type: RecordType.GatewayWildcard } && r.VirtualSubnetId == vsid && r.MacAddress == port.Config.MacAddress && r.CustomerAddress.IsV4 == v4))
                {
                    problems.Add(path, $"{vsid} has no {(v4 ? "IPv4" : "IPv6")} GatewayWildcard lookup record with the port's MAC {port.Config.MacAddress}; add one (customerAddress {(v4 ? "0.0.0.0" : "::")}, this host's PA) so traffic from the external network is accepted");
                }
            }
        }
    }
}
