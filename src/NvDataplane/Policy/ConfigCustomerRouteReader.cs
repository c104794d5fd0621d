using System.Globalization;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// Reads <c>customerRoutes</c>, (RDID, VSID, prefix) → next hop CA, metric, and checks that
/// every VSID belongs to exactly one routing domain.
/// </summary>
internal static class ConfigCustomerRouteReader
{
    private static readonly string[] Fields = ["routingDomainId", "virtualSubnetId", "destinationPrefix", "nextHop", "metric"];

    public static List<CustomerRouteConfig?> Read(ConfigObjectReader root, ConfigProblemList problems)
    {
        var configs = new List<CustomerRouteConfig?>();
        var domains = new Dictionary<uint, (Guid Rdid, string Path)>();
        var keys = new Dictionary<(Guid, uint, IpPrefix), string>();
        foreach (var route in root.ArrayOfObjects("customerRoutes", Fields))
        {
            int before = problems.Count;
            var rdid = route.Guid("routingDomainId", required: true);
            uint? vsid = route.VirtualSubnetId("virtualSubnetId", required: true);
            var prefix = route.Prefix("destinationPrefix", required: true);
            var nextHop = route.Address("nextHop", required: true);
            long? metric = route.Integer("metric", 0, uint.MaxValue, whenAbsent: CustomerRouteConfig.DefaultMetric);
            CheckOneDomain(route, rdid, vsid, domains);
            if (rdid is { } kr && vsid is { } kv && prefix is { } kp && !keys.TryAdd((kr, kv, kp), route.Path))
            {
                // HNV refuses a second New-NetVirtualizationCustomerRoute with the same key; taking
                // the better metric of two would silently undo the first.
                route.Report("destinationPrefix", string.Create(
                    CultureInfo.InvariantCulture,
                    $"{kp} in virtual subnet {kv} of routing domain {kr:B} is already routed by {keys[(kr, kv, kp)]}; each (routingDomainId, virtualSubnetId, destinationPrefix) appears once"));
            }

            if (prefix is { } p && nextHop is { } n && p.IsV4 != n.IsV4)
            {
                string onLink = p.IsV4 ? "0.0.0.0" : "::";
                route.Report("nextHop", $"{n} is {ConfigFamily.Name(n)} but the destination prefix {p} is {ConfigFamily.Name(p.Address)}; use a next hop of the prefix's family ({onLink} for on-link)");
            }

            configs.Add(problems.Count == before && rdid is { } r && vsid is { } v && prefix is { } dp && nextHop is { } nh && metric is { } m
                ? new CustomerRouteConfig(r, v, dp, nh, (uint)m)
                : null);
        }

        return configs;
    }

    private static void CheckOneDomain(ConfigObjectReader route, Guid? rdid, uint? vsid, Dictionary<uint, (Guid Rdid, string Path)> domains)
    {
        if (rdid is not { } r || vsid is not { } v)
        {
            return;
        }

        if (!domains.TryAdd(v, (r, route.Path)) && domains[v].Rdid != r)
        {
            var first = domains[v];
            route.Report("virtualSubnetId", string.Create(
                CultureInfo.InvariantCulture,
                $"{v} is already in routing domain {first.Rdid:B} ({first.Path}), here in {r:B}; a virtual subnet belongs to exactly one routing domain"));
        }
    }
}
