namespace NvDataplane.Policy;

/// <summary>Reads <c>providerRoutes</c>: PA-space prefix, next hop PA, metric.</summary>
internal static class ConfigProviderRouteReader
{
    private static readonly string[] Fields = ["destinationPrefix", "nextHop", "metric"];

    public static List<ProviderRouteConfig?> Read(ConfigObjectReader root, ConfigProblemList problems)
    {
        var configs = new List<ProviderRouteConfig?>();
        foreach (var route in root.ArrayOfObjects("providerRoutes", Fields))
        {
            int before = problems.Count;
            var prefix = route.Prefix("destinationPrefix", required: true);
            var nextHop = route.Address("nextHop", required: true);
            long? metric = route.Integer("metric", 0, uint.MaxValue, whenAbsent: 0);
            if (prefix is { } p && nextHop is { } n && p.IsV4 != n.IsV4)
            {
                route.Report("nextHop", $"{n} is {ConfigFamily.Name(n)} but the destination prefix {p} is {ConfigFamily.Name(p.Address)}; use a next hop of the prefix's family");
            }

            configs.Add(problems.Count == before && prefix is { } dp && nextHop is { } nh && metric is { } m
                ? new ProviderRouteConfig(dp, nh, (uint)m)
                : null);
        }

        return configs;
    }
}
