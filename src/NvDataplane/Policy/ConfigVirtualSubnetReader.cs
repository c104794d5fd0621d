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
        var known = ConfigKnownVsids.Of(ports, records, routes);
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

    private static uint? ReadVsid(ConfigObjectReader subnet, ConfigKnownVsids known, Dictionary<uint, string> seen)
    {
        uint? vsid = known.Read(subnet, "virtualSubnetId");
        if (vsid is { } v && !seen.TryAdd(v, subnet.Path))
        {
            subnet.Report("virtualSubnetId", string.Create(CultureInfo.InvariantCulture, $"{v} is already given by {seen[v]}; each virtual subnet appears once"));
            return null;
        }

        return vsid;
    }
}
