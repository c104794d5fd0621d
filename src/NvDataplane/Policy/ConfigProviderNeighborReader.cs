using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>Reads <c>providerNeighbors</c>: static PA → MAC entries on the provider network.</summary>
internal static class ConfigProviderNeighborReader
{
    private static readonly string[] Fields = ["address", "macAddress"];

    public static List<ProviderNeighborConfig?> Read(ConfigObjectReader root, ConfigProblemList problems)
    {
        var configs = new List<ProviderNeighborConfig?>();
        var seen = new Dictionary<IpAddr, string>();
        foreach (var neighbor in root.ArrayOfObjects("providerNeighbors", Fields))
        {
            int before = problems.Count;
            var address = neighbor.Address("address", required: true);
            if (address is { } a)
            {
                CheckAddress(neighbor, a, seen);
            }

            var mac = neighbor.Mac("macAddress", required: true, unicast: true);
            configs.Add(problems.Count == before && address is { } na && mac is { } m ? new ProviderNeighborConfig(na, m) : null);
        }

        return configs;
    }

    private static void CheckAddress(ConfigObjectReader neighbor, IpAddr address, Dictionary<IpAddr, string> seen)
    {
        if (address.IsUnspecified)
        {
            neighbor.Report("address", $"{address} is the unspecified address; give the neighbor's provider address");
        }
        else if (!seen.TryAdd(address, neighbor.Path))
        {
            neighbor.Report("address", $"{address} is already given by {seen[address]}; each neighbor appears once");
        }
    }
}
