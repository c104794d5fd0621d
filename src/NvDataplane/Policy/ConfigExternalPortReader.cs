using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// Reads the fields only an <c>external</c> port has (<c>address</c>, <c>prefixLength</c>,
/// <c>nextHop</c>, <c>vlanId</c>) and checks the port against the rest of the policy: its VSID
/// must belong to a routing domain, and the GatewayWildcard record of that VSID must carry the
/// port's MAC, since the port plays HNV's gateway VM inside the tenant.
/// </summary>
internal static class ConfigExternalPortReader
{
    private const int MaxVlanId = 4094;

    public static readonly string[] Fields = ["address", "prefixLength", "nextHop", "vlanId"];

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

        var address = port.Address("address", required: true);
        if (address is { IsUnspecified: true })
        {
            port.Report("address", $"{address} is the unspecified address; give the address this port owns on the external network");
            address = null;
        }

        long? prefixLength = port.Integer("prefixLength", 0, address?.BitLength ?? 128, required: true);
        var nextHop = port.Address("nextHop", required: false);
        long? vlanId = port.Integer("vlanId", 0, MaxVlanId, whenAbsent: 0);
        if (address is not { } a || prefixLength is not { } length)
        {
            return null;
        }

        var prefix = new IpPrefix(a, (int)length);
        if (nextHop is { } hop)
        {
            if (hop.IsV4 != a.IsV4)
            {
                port.Report("nextHop", $"{hop} is not of the family of address {a}; give a next hop inside {prefix}");
                return null;
            }

            if (!prefix.Contains(hop) || hop == a)
            {
                port.Report("nextHop", $"{hop} is not on the port's network; give another address inside {prefix}");
                return null;
            }
        }

        return vlanId is { } v ? new ExternalPortConfig(a, (int)length, nextHop ?? (a.IsV4 ? IpAddr.Any4 : IpAddr.Any6), (ushort)v) : null;
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

            bool v4 = external.Address.IsV4;
            if (!records.Any(r => r is { Type: RecordType.GatewayWildcard } && r.VirtualSubnetId == vsid && r.MacAddress == port.Config.MacAddress && r.CustomerAddress.IsV4 == v4))
            {
                problems.Add(path, $"{vsid} has no {(v4 ? "IPv4" : "IPv6")} GatewayWildcard lookup record with the port's MAC {port.Config.MacAddress}; add one (customerAddress {(v4 ? "0.0.0.0" : "::")}, this host's PA) so traffic from the external network is accepted");
            }
        }
    }
}
