using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>Address family names as shown in problems.</summary>
internal static class ConfigFamily
{
    public static string Name(IpAddr address) => address.IsV4 ? "IPv4" : "IPv6";
}
