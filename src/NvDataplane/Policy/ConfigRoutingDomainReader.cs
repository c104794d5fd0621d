using System.Globalization;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// Reads <c>routingDomains</c>: per routing domain, the DNS servers and domain name DHCP hands
/// to its VMs. Each entry names a routing domain some customer route has, once; DNS servers are
/// distinct IPv4 unicast addresses (DHCPv4 option 6 carries nothing else).
/// </summary>
internal static class ConfigRoutingDomainReader
{
    private const int MaxLabelLength = 63;
    private const string DomainNameExample = "a DNS name of letters, digits and hyphens in dot-separated labels, such as corp.example.com";

    private static readonly string[] Fields = ["routingDomainId", "dnsServers", "domainName"];

    /// <param name="routes">The customer routes as read; an unreadable one (null) makes the check for unknown domains stand down, since its domain is not known.</param>
    public static List<RoutingDomainConfig?> Read(ConfigObjectReader root, ConfigProblemList problems, IReadOnlyList<CustomerRouteConfig?> routes)
    {
        var configs = new List<RoutingDomainConfig?>();
        var seen = new Dictionary<Guid, string>();
        HashSet<Guid>? known = routes.Contains(null) ? null : routes.Select(r => r!.RoutingDomainId).ToHashSet();
        foreach (var domain in root.ArrayOfObjects("routingDomains", Fields))
        {
            int before = problems.Count;
            var id = domain.Guid("routingDomainId", required: true);
            if (id is { } g)
            {
                CheckDomain(domain, g, known, seen);
            }

            var dns = ReadDnsServers(domain, problems);
            string? name = ReadDomainName(domain);
            configs.Add(problems.Count == before && id is { } rdid ? new RoutingDomainConfig(rdid, dns, name) : null);
        }

        return configs;
    }

    private static void CheckDomain(ConfigObjectReader domain, Guid id, HashSet<Guid>? known, Dictionary<Guid, string> seen)
    {
        if (known is not null && !known.Contains(id))
        {
            string valid = known.Count == 0
                ? "no customer route names a routing domain yet; add the routes first"
                : "use the routingDomainId of a customer route: " + string.Join(", ", known.Select(k => k.ToString("B")));
            domain.Report("routingDomainId", $"{id:B} is not the routing domain of any customer route; {valid}");
        }
        else if (!seen.TryAdd(id, domain.Path))
        {
            domain.Report("routingDomainId", $"{id:B} is already configured by {seen[id]}; each routing domain appears once");
        }
    }

    private static List<IpAddr> ReadDnsServers(ConfigObjectReader domain, ConfigProblemList problems)
    {
        var servers = new List<IpAddr>();
        var items = domain.ArrayOfAddresses("dnsServers");
        var seen = new Dictionary<IpAddr, string>();
        foreach (var (address, path) in items)
        {
            if (address is not { } a)
            {
                continue;
            }

            if (a.IsV6)
            {
                problems.Add(path, $"{a} is IPv6; DHCPv4 option 6 carries IPv4 addresses only, so give the IPv4 address of a DNS server");
            }
            else if (a.IsUnspecified || a.V4 == 0xFFFF_FFFF || (a.V4 >> 28) == 0xE)
            {
                problems.Add(path, $"{a} is not a unicast address; give the IPv4 address of a DNS server");
            }
            else if (!seen.TryAdd(a, path))
            {
                problems.Add(path, $"{a} is already given at {seen[a]}; list each DNS server once");
            }
            else
            {
                servers.Add(a);
            }
        }

        if (items.Count > RoutingDomainConfig.MaxDnsServers)
        {
            domain.Report("dnsServers", string.Create(
                CultureInfo.InvariantCulture,
                $"has {items.Count} servers; DHCP option 6 holds at most {RoutingDomainConfig.MaxDnsServers}"));
        }

        return servers;
    }

    private static string? ReadDomainName(ConfigObjectReader domain)
    {
        string? name = domain.String("domainName", expected: DomainNameExample);
        if (name is null)
        {
            return null;
        }

        if (!IsDomainName(name))
        {
            string hint = name.EndsWith('.') && name.Length > 1 ? $"; leave out the final dot: {ConfigValueText.Quote(name.TrimEnd('.'))}" : string.Empty;
            domain.Report("domainName", $"{ConfigValueText.Quote(name)} is not {DomainNameExample}{hint}");
            return null;
        }

        return name;
    }

    /// <summary>RFC 1123 host-name syntax: 1..63-character labels of letters, digits and inner hyphens, at most 253 in all.</summary>
    private static bool IsDomainName(string name)
    {
        if (name.Length is 0 or > RoutingDomainConfig.MaxDomainNameLength)
        {
            return false;
        }

        foreach (string label in name.Split('.'))
        {
            if (label.Length is 0 or > MaxLabelLength || label[0] == '-' || label[^1] == '-')
            {
                return false;
            }

            foreach (char c in label)
            {
                if (!char.IsAsciiLetterOrDigit(c) && c != '-')
                {
                    return false;
                }
            }
        }

        return true;
    }
}
