using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// One entry of <c>routingDomains</c>: settings of a routing domain that some customer route
/// names. Today these are what DHCP answers tell the domain's VMs besides their address.
/// </summary>
/// <param name="DnsServers">IPv4 DNS servers (DHCP option 6), in the order given; may be empty.</param>
/// <param name="DomainName">The DNS domain name (DHCP option 15), or null.</param>
public sealed record RoutingDomainConfig(Guid RoutingDomainId, IReadOnlyList<IpAddr> DnsServers, string? DomainName)
{
    /// <summary>As many IPv4 addresses as one option 6 holds (255 bytes).</summary>
    public const int MaxDnsServers = 63;

    /// <summary>The longest DNS name (RFC 1035 section 2.3.4), which also fits one option 15.</summary>
    public const int MaxDomainNameLength = 253;
}
