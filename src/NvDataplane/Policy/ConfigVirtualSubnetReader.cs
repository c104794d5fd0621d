using System.Globalization;

namespace NvDataplane.Policy;

/// <summary>
/// Reads <c>virtualSubnets</c>, settings per VSID (today: <c>flooding</c>). Each VSID appears
/// once and must be one that a port, lookup record or customer route of the file uses: a setting
/// for a subnet nothing else names is a typo.
/// </summary>
internal static class ConfigVirtualSubnetReader
{
    private static readonly string[] Fields = ["virtualSubnetId", "flooding"];

    public static List<VirtualSubnetConfig?> Read(
        ConfigObjectReader root,
        ConfigProblemList problems,
        IReadOnlyList<ConfigPortReader.Draft> ports,
        IReadOnlyList<LookupRecordConfig?> records,
        IReadOnlyList<CustomerRouteConfig?> routes)
    {
        var known = KnownVsids(ports, records, routes);
        var configs = new List<VirtualSubnetConfig?>();
        var seen = new Dictionary<uint, string>();
        foreach (var subnet in root.ArrayOfObjects("virtualSubnets", Fields))
        {
            int before = problems.Count;
            uint? vsid = ReadVsid(subnet, known, seen);
            bool? flooding = subnet.Boolean("flooding", whenAbsent: false);
            configs.Add(problems.Count == before && vsid is { } v && flooding is { } f ? new VirtualSubnetConfig(v, f) : null);
        }

        return configs;
    }

    /// <summary>
    /// Every VSID a port, record or route names; null when one of those entries could not be read,
    /// since its VSID might be the one named here (its own problem is reported already).
    /// </summary>
    private static SortedSet<uint>? KnownVsids(IReadOnlyList<ConfigPortReader.Draft> ports, IReadOnlyList<LookupRecordConfig?> records, IReadOnlyList<CustomerRouteConfig?> routes)
    {
        if (ports.Any(p => p.Config is null) || records.Any(r => r is null) || routes.Any(r => r is null))
        {
            return null;
        }

        var known = new SortedSet<uint>(ports.Select(p => p.Config!.VirtualSubnetId).OfType<uint>());
        known.UnionWith(records.Select(r => r!.VirtualSubnetId));
        known.UnionWith(routes.Select(r => r!.VirtualSubnetId));
        return known;
    }

    private static uint? ReadVsid(ConfigObjectReader subnet, SortedSet<uint>? known, Dictionary<uint, string> seen)
    {
        uint? vsid = subnet.VirtualSubnetId("virtualSubnetId", required: true);
        if (vsid is not { } v)
        {
            return null;
        }

        if (!seen.TryAdd(v, subnet.Path))
        {
            subnet.Report("virtualSubnetId", string.Create(CultureInfo.InvariantCulture, $"{v} is already given by {seen[v]}; each virtual subnet appears once"));
            return null;
        }

        if (known is not null && !known.Contains(v))
        {
            string valid = known.Count == 0
                ? "the file names no virtual subnet yet; add the ports, lookup records or customer routes of this VSID"
                : "use one of: " + string.Join(", ", known.Select(k => k.ToString(CultureInfo.InvariantCulture)));
            subnet.Report("virtualSubnetId", string.Create(CultureInfo.InvariantCulture, $"{v} is not the virtual subnet of any port, lookup record or customer route; {valid}"));
            return null;
        }

        return v;
    }
}
