using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>Reads <c>providerAddresses</c>: the PAs this host owns and the provider port each lives on.</summary>
internal static class ConfigProviderAddressReader
{
    private const int MaxVlanId = 4094;

    private static readonly string[] Fields = ["address", "prefixLength", "vlanId", "port"];

    public static List<ProviderAddressConfig?> Read(ConfigObjectReader root, ConfigProblemList problems, IReadOnlyList<ConfigPortReader.Draft> ports)
    {
        var configs = new List<ProviderAddressConfig?>();
        var seen = new Dictionary<IpAddr, string>();
        foreach (var entry in root.ArrayOfObjects("providerAddresses", Fields))
        {
            int before = problems.Count;
            var address = ReadAddress(entry, seen);
            long? prefixLength = entry.Integer("prefixLength", 0, address?.BitLength ?? 128, required: true);
            long? vlanId = entry.Integer("vlanId", 0, MaxVlanId, whenAbsent: 0);
            string? port = ReadPort(entry, ports);

            configs.Add(problems.Count == before && address is { } a && prefixLength is { } p && vlanId is { } v && port is not null
                ? new ProviderAddressConfig(a, (int)p, (ushort)v, port)
                : null);
        }

        return configs;
    }

    private static IpAddr? ReadAddress(ConfigObjectReader entry, Dictionary<IpAddr, string> seen)
    {
        var address = entry.Address("address", required: true);
        if (address is not { } a)
        {
            return null;
        }

        if (a.IsUnspecified)
        {
            entry.Report("address", $"{a} is the unspecified address; give an address this host owns on the provider network");
        }
        else if (!seen.TryAdd(a, entry.Path))
        {
            entry.Report("address", $"{a} is already given by {seen[a]}; each provider address appears once");
        }

        return a;
    }

    /// <summary>The port must be one of the ports with role provider.</summary>
    private static string? ReadPort(ConfigObjectReader entry, IReadOnlyList<ConfigPortReader.Draft> ports)
    {
        string? name = entry.String("port", required: true, "the name of a provider port");
        if (name is null)
        {
            return null;
        }

        string providerPorts = string.Join(", ", ports.Where(p => p.Role == PortRole.Provider && p.Name is not null).Select(p => p.Name));
        string valid = providerPorts.Length == 0 ? "no port has role provider; add one to ports" : $"use one of: {providerPorts}";
        var port = ports.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.Ordinal));
        if (port is null)
        {
            entry.Report("port", $"{ConfigValueText.Quote(name)} is not a port; {valid}");
            return null;
        }

        if (port.Role is PortRole.Vm or PortRole.External)
        {
            entry.Report("port", $"{ConfigValueText.Quote(name)} is {(port.Role == PortRole.Vm ? "a vm" : "an external")} port ({port.Path}); a provider address lives on a provider port; {valid}");
            return null;
        }

        return name;
    }
}
